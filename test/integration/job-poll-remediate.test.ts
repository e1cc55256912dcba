import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureLogger } from "../../src/log/logger.js";
import { aisUnplacedTasks } from "../../src/metrics/ais-task-metrics.js";
import { createAtomPushProcessor } from "../../src/processors/vimond/atom-push.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { createJobPollProcessor } from "../../src/processors/vimond/job-poll.js";
import { createRemediateProcessor, isTransientTaskError } from "../../src/processors/vimond/remediate.js";
import { requireVimond } from "../../src/processors/vimond/vimond-adapters.js";
import { ingestJobId, jobId } from "../../src/queues/job-options.js";
import { defineProcessor, type StepContext, type StepResult } from "../../src/queues/step.js";
import { STEP, stepProcessor } from "../../src/processors/index.js";
import type { IngestPackage, IngestRecord } from "../../src/records/ingest-record.js";
import {
  HARNESS_BUCKET,
  HARNESS_COMPANY,
  startChainHarness,
  type ChainHarness,
} from "../support/chain-harness.js";
import { captureLog } from "../support/captured-log.js";
import { chainActionCount } from "../support/chain-actions.js";
import { flushFeed, pendOnFeed } from "../support/feed-packages.js";
import { waitFor } from "../support/redis.js";

const STEPS = ["atom-push", "job-poll", "remediate", "status-track", "image-fetch"] as const;
const ROUTES = [
  { name: "vimond", bucket: HARNESS_BUCKET, target: "vimond", vimond: { mediaFeedId: "{feed}" } },
];

/** Branch calls seen by the stubs, by ingest id. */
const branchCalls = new Map<string, string[]>();

/** The branch processors (another engineer's) reduced to "the branch went fine". */
function processors(deps: ChainDeps) {
  const stub = (name: "status-track" | "image-fetch") =>
    defineProcessor(STEP[name], async (p: { ingestId: string }) => {
      branchCalls.set(p.ingestId, [...(branchCalls.get(p.ingestId) ?? []), name]);
      await deps.records.finishBranch(p.ingestId, name, { ok: true });
      return { outcome: "done" as const };
    });
  return [
    stepProcessor("atom-push", createAtomPushProcessor(deps)),
    stepProcessor("job-poll", createJobPollProcessor(deps)),
    stepProcessor("remediate", createRemediateProcessor(deps)),
    stub("status-track"),
    stub("image-fetch"),
  ];
}

let seq = 0;

/** What source-watch does for a package: record, package and pending entry, and a flush of the feed. */
async function submit(h: ChainHarness, entryId: string, extra: Partial<IngestPackage> = {}): Promise<string> {
  const id = await stage(h, entryId, extra);
  await flush(h);
  return id;
}

/** Several packages in one push: all are pending before the one flush. */
async function submitTogether(h: ChainHarness, entryIds: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const entryId of entryIds) ids.push(await stage(h, entryId));
  await flush(h);
  return ids;
}

async function stage(h: ChainHarness, entryId: string, extra: Partial<IngestPackage> = {}): Promise<string> {
  const id = `ing-${++seq}`;
  await pendOnFeed(h, id, {
    entryId,
    title: `Title of ${entryId}`,
    categories: [],
    metadata: {},
    updated: new Date(Date.UTC(2024, 5, 1, 0, 0, seq)).toISOString(),
    video: { key: `${entryId}.mp4`, url: `https://media.example/${entryId}.mp4` },
    images: [],
    tombstone: false,
    ...extra,
  });
  return id;
}

async function flush(h: ChainHarness): Promise<void> {
  await flushFeed(h, ["t", seq], h.env.ATOM_BATCH_MAX_WAIT_MS);
}

async function unplaced(reason: string): Promise<number> {
  const metric = await aisUnplacedTasks.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** Task fields renamed as a tenant's AIS might name them (the simulator's `taskFields`). */
const TENANT_FIELDS = {
  id: "task_id",
  state: "status",
  entryId: "source.guid",
  entryUpdated: "source.updated",
  assetId: "asset.id",
  type: "task_type",
  errorCode: "error.code",
  errorMessage: "error.message",
  retryable: "error.retryable",
  attempts: "attempt_count",
  created: "created_at",
};
const UNPLACED_MESSAGE =
  "AIS import tasks cannot be placed to an ingest of this job (check the task fields against docs/upstreams.md)";
const CLEAR_TASK_SHAPE = { modules: { ais: { taskFields: null, taskTypeNames: null } } };

async function ended(h: ChainHarness, id: string): Promise<IngestRecord> {
  return waitFor(`ingest ${id} to end`, async () => {
    const record = await h.deps.records.get(id);
    return record && ["completed", "failed", "cancelled"].includes(record.state) ? record : undefined;
  });
}

describe("job-poll and remediate", () => {
  let h: ChainHarness;

  beforeAll(async () => {
    h = await startChainHarness({ label: "job-poll", routes: ROUTES, steps: [...STEPS], processors });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("completes a metadata-only package without branches", async () => {
    const id = await submit(h, "meta-only", { video: undefined });
    const record = await ended(h, id);
    expect(record.state).toBe("completed");
    expect(record.branches).toEqual({});
    expect(branchCalls.get(id)).toBeUndefined();
    expect(record.steps["job-poll"]?.status).toBe("done");
  });

  it("starts status-track and image-fetch with the asset id", async () => {
    const id = await submit(h, "with-branches", {
      images: [{ key: "p.jpg", url: "https://media.example/p.jpg", location: "main" }],
    });
    const record = await ended(h, id);
    expect(record.state).toBe("completed");
    expect(record.upstream.assetId).toMatch(/^\d+$/);
    expect(record.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
    expect(branchCalls.get(id)?.sort()).toEqual(["image-fetch", "status-track"]);
  });

  it("retries a VIDEO task that fails once, then completes", async () => {
    const retriesBefore = await chainActionCount("task_retry");
    await h.scenario({
      modules: { ais: { outcomes: { "flaky-video": { failFirst: 1, taskTypes: ["VIDEO"] } } } },
    });
    const id = await submit(h, "flaky-video");
    const record = await ended(h, id);
    expect(record.state).toBe("completed");
    expect(record.attempts.task_retry).toBe(1);
    expect(await chainActionCount("task_retry")).toBe(retriesBefore + 1);
    expect(h.sim.stats().requests["ais.retryImportTask"]?.["200"]).toBeGreaterThanOrEqual(1);
    expect(branchCalls.get(id)).toEqual(["status-track"]);
    const history = (await h.deps.records.history(id)).map((e) => e.message).join("\n");
    expect(history).toMatch(/retried VIDEO task \d+ \(1\/3\): TRANSIENT_ERROR/);
  });

  it("fails a permanently failing task with a reason naming it", async () => {
    await h.scenario({
      modules: { ais: { outcomes: { "broken-video": { failPermanently: true, taskTypes: ["VIDEO"] } } } },
    });
    const id = await submit(h, "broken-video");
    const record = await ended(h, id);
    expect(record.state).toBe("failed");
    expect(record.lastError).toMatch(
      /^VIDEO task failed permanently: INVALID_INPUT Import failed permanently/,
    );
    expect(record.attempts.task_retry).toBeUndefined();
    expect(branchCalls.get(id)).toBeUndefined();
  });

  it("cancels the video ingest the import started when another task fails permanently", async () => {
    const cancelsBefore = await chainActionCount("ingest_cancel");
    // The video keeps encoding (10 simulated hours) long after the metadata task failed.
    await h.scenario({
      modules: {
        ais: { outcomes: { "broken-meta": { failPermanently: true, taskTypes: ["METADATA"] } } },
        status: { durationsMs: { encoding: 36_000_000 } },
      },
    });
    try {
      const id = await submit(h, "broken-meta");
      const record = await ended(h, id);
      expect(record.state).toBe("failed");
      expect(record.lastError).toMatch(/^METADATA task failed permanently: INVALID_INPUT/);
      expect(await chainActionCount("ingest_cancel")).toBe(cancelsBefore + 1);
      const videoIngestId = record.upstream.videoIngestId;
      expect(videoIngestId).toBeDefined();
      const ingest = await requireVimond(h.deps).status.getIngest(videoIngestId!);
      expect(ingest.status).toBe("cancelled");
    } finally {
      await h.scenario({ modules: { status: { durationsMs: null } } });
    }
  });

  it("completes a tombstone without branches", async () => {
    const first = await submit(h, "to-delete");
    expect((await ended(h, first)).state).toBe("completed");
    const tombstone = await submit(h, "to-delete", { tombstone: true, video: undefined });
    const record = await ended(h, tombstone);
    expect(record.state).toBe("completed");
    expect(record.branches).toEqual({});
    expect(branchCalls.get(tombstone)).toBeUndefined();
    const tasks = await requireVimond(h.deps).ais.listTasks(h.mediaFeedId, record.upstream.importJobId!);
    expect(tasks.map((t) => t.type)).toEqual(["UNPUBLISH"]);
  });

  it("places tasks sent under other field names: nested, snake_case, lower-case types", async () => {
    const retriesBefore = await chainActionCount("task_retry");
    await h.scenario({
      modules: {
        ais: {
          taskFields: TENANT_FIELDS,
          taskTypeNames: { VIDEO: "video", METADATA: "metadata", IMAGE: "image" },
          outcomes: { "alt-names": { failFirst: 1, taskTypes: ["VIDEO"] } },
        },
      },
    });
    try {
      const id = await submit(h, "alt-names", {
        images: [{ key: "p.jpg", url: "https://media.example/p.jpg", location: "main" }],
      });
      const record = await ended(h, id);
      expect(record.state).toBe("completed");
      expect(record.upstream.assetId).toMatch(/^\d+$/);
      expect(record.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
      // The failed VIDEO task was recognised, its retry sent by its id, and its error read.
      expect(record.attempts.task_retry).toBe(1);
      expect(await chainActionCount("task_retry")).toBe(retriesBefore + 1);
      const history = (await h.deps.records.history(id)).map((e) => e.message).join("\n");
      expect(history).toMatch(/retried VIDEO task \d+ \(1\/3\): TRANSIENT_ERROR/);
    } finally {
      await h.scenario(CLEAR_TASK_SHAPE);
    }
  });

  it("gives a one-entry job's tasks to its ingest when none names the entry, and counts them once", async () => {
    const before = await unplaced("no_entry");
    await h.scenario({ modules: { ais: { taskFields: { entryId: null, entryUpdated: null } } } });
    try {
      const id = await submit(h, "no-entry-field");
      const record = await ended(h, id);
      expect(record.state).toBe("completed");
      expect(record.upstream.assetId).toMatch(/^\d+$/);
      expect(branchCalls.get(id)).toEqual(["status-track"]);
      // METADATA and VIDEO: each counted once.
      expect(await unplaced("no_entry")).toBe(before + 2);
    } finally {
      await h.scenario(CLEAR_TASK_SHAPE);
    }
  });

  it("aborts a one-entry job whose tasks name no entry when its ingest fails for good", async () => {
    const abortsBefore = await chainActionCount("job_abort");
    // METADATA fails for good while VIDEO never finishes: the job is still running when remediate
    // gives up, and its only other unfinished task is this ingest's own.
    await h.scenario({
      modules: {
        ais: {
          taskFields: { entryId: null, entryUpdated: null },
          outcomes: {
            "nameless-stall": { failPermanently: true, taskTypes: ["METADATA"] },
          },
        },
      },
    });
    // Ten simulated hours of VIDEO import.
    await h.scenario({ modules: { ais: { taskDurationMs: { VIDEO: 36_000_000 } } } });
    try {
      const id = await submit(h, "nameless-stall");
      const { ais } = requireVimond(h.deps);
      const importJobId = await waitFor(
        "the push",
        async () => (await h.deps.records.get(id))?.upstream.importJobId,
      );
      const failed = await waitFor("the METADATA task to fail", async () => {
        const tasks = await ais.listTasks(h.mediaFeedId, importJobId);
        return tasks.find((t) => t.state === "failed");
      });
      expect(failed.entryId).toBeUndefined();
      expect((await ais.getJob(h.mediaFeedId, importJobId)).state).toBe("running");
      await h.deps.enqueue(
        "remediate",
        {
          ingestId: id,
          mediaFeedId: h.mediaFeedId,
          companyId: HARNESS_COMPANY,
          importJobId,
          taskId: failed.id,
          taskType: failed.type,
          errorCode: "INVALID_INPUT",
        },
        { jobId: jobId("fix", "nameless", failed.id) },
      );
      const record = await ended(h, id);
      expect(record.state).toBe("failed");
      expect(record.lastError).toMatch(/^METADATA task failed permanently: INVALID_INPUT/);
      expect(await chainActionCount("job_abort")).toBe(abortsBefore + 1);
      expect((await ais.getJob(h.mediaFeedId, importJobId)).state).toBe("aborted");
      const history = (await h.deps.records.history(id)).map((e) => e.message).join("\n");
      expect(history).toContain(`aborted import job ${importJobId}`);
    } finally {
      await h.scenario({ modules: { ais: { ...CLEAR_TASK_SHAPE.modules.ais, taskDurationMs: null } } });
    }
  });

  it("takes the video branch from the package when no task names a type", async () => {
    await h.scenario({ modules: { ais: { taskFields: { type: null } } } });
    try {
      const video = await submit(h, "typeless-video");
      const meta = await submit(h, "typeless-meta", { video: undefined });
      const [withVideo, without] = [await ended(h, video), await ended(h, meta)];
      expect(withVideo.state).toBe("completed");
      expect(branchCalls.get(video)).toEqual(["status-track"]);
      expect(without.state).toBe("completed");
      expect(branchCalls.get(meta)).toBeUndefined();
    } finally {
      await h.scenario(CLEAR_TASK_SHAPE);
    }
  });

  it("classifies task errors", () => {
    expect(isTransientTaskError({ errorCode: "TRANSIENT_ERROR", retryable: true })).toBe(true);
    expect(isTransientTaskError({ errorCode: "TRANSIENT_ERROR" })).toBe(true);
    expect(isTransientTaskError({ errorCode: "INVALID_INPUT" })).toBe(false);
    expect(isTransientTaskError({ errorCode: "WHATEVER", retryable: false })).toBe(false);
  });
});

describe("job-poll stuck deadline", () => {
  let h: ChainHarness;

  beforeAll(async () => {
    h = await startChainHarness({
      label: "job-poll-stuck",
      routes: ROUTES,
      steps: [...STEPS],
      processors,
      env: { STUCK_DEADLINE_SECONDS: "1" },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("aborts a stalled import job and fails its ingest as stuck", async () => {
    const abortsBefore = await chainActionCount("job_abort");
    await h.scenario({ modules: { ais: { outcomes: { stalled: { stall: true } } } } });
    const id = await submit(h, "stalled");
    const record = await ended(h, id);
    expect(record.state).toBe("failed");
    expect(record.lastError).toMatch(
      /^stuck: import job \d+ not settled after \d+ s \(state RUNNING\); aborted/,
    );
    expect(await chainActionCount("job_abort")).toBe(abortsBefore + 1);
    const job = await requireVimond(h.deps).ais.getJob(h.mediaFeedId, record.upstream.importJobId!);
    expect(job.state).toBe("aborted");
    expect(h.sim.stats().requests["status.cancelIngest"]).toBeUndefined();
  });

  it("keeps the ingests of a job whose tasks name no entry waiting, then fails them at the deadline", async () => {
    const before = await unplaced("no_entry");
    const abortsBefore = h.sim.stats().requests["ais.abortImportJob"]?.["200"] ?? 0;
    const readsBefore = h.sim.stats().requests["ais.listImportTasks"]?.["200"] ?? 0;
    await h.scenario({ modules: { ais: { taskFields: { entryId: null, entryUpdated: null } } } });
    const lines: string[] = [];
    captureLog("warn", lines, { split: true });
    try {
      const ids = await submitTogether(h, ["nameless-a", "nameless-b"]);
      const records = await Promise.all(ids.map((id) => ended(h, id)));
      const jobIds = new Set(records.map((r) => r.upstream.importJobId));
      expect(jobIds.size, "both entries went out in one push").toBe(1);
      for (const record of records) {
        expect(record.state).toBe("failed");
        expect(record.lastError).toMatch(
          /^import job \d+ is DONE, but none of its tasks could be placed to entry nameless-[ab] \(.+\): 4 task\(s\) name no entry of this job; check the task fields against docs\/upstreams\.md$/,
        );
        expect(record.steps["job-poll"]?.status).toBe("failed");
      }
      // Re-polled until the deadline, yet each of the four tasks is counted once.
      expect(h.sim.stats().requests["ais.listImportTasks"]?.["200"] ?? 0).toBeGreaterThan(readsBefore + 1);
      expect(await unplaced("no_entry")).toBe(before + 4);
      // The job had settled: nothing is aborted or cancelled for a field-name mismatch.
      const job = await requireVimond(h.deps).ais.getJob(h.mediaFeedId, [...jobIds][0]!);
      expect(job.state).toBe("done");
      expect(h.sim.stats().requests["ais.abortImportJob"]?.["200"] ?? 0).toBe(abortsBefore);
      // One warn line for the job (not one per poll), naming the job and the tasks' field names.
      const warned = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === UNPLACED_MESSAGE);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({
        level: "warn",
        module: "job-poll",
        importJobId: job.id,
        unplaced: 4,
      });
      const logged = warned[0]?.tasks as { reason: string; taskId: string; keys: string[] }[];
      expect(logged).toHaveLength(4);
      for (const task of logged) {
        expect(task.reason).toBe("no_entry");
        expect(task.taskId).toMatch(/^\d+$/);
        expect(task.keys).toEqual(expect.arrayContaining(["id", "state", "type", "assetId"]));
        expect(task.keys).not.toContain("entryId");
      }
    } finally {
      configureLogger({});
      await h.scenario(CLEAR_TASK_SHAPE);
    }
  });
});

describe("job-poll with inline branches", () => {
  let h: ChainHarness;
  /** Branch runs by ingest: `inline:<branch>` from job-poll, `job:<branch>` as a job of its own. */
  const runs = new Map<string, string[]>();
  const note = (id: string, what: string) => runs.set(id, [...(runs.get(id) ?? []), what]);
  /** The record job-poll handed each inline run, by `<ingest>:<branch>`. */
  const handed = new Map<string, IngestRecord | undefined>();

  /**
   * Branch processors that report ok, except that an entry named `wait-*` asks to wait on its
   * first (inline) status-track run and one named `boom-*` throws on its first image-fetch run.
   */
  async function branchRun(
    deps: ChainDeps,
    name: "status-track" | "image-fetch",
    p: { ingestId: string; polls?: number },
    ctx: StepContext,
  ): Promise<StepResult> {
    const asJob = ctx.job.id !== undefined;
    note(p.ingestId, `${asJob ? "job" : "inline"}:${name}`);
    if (!asJob) handed.set(`${p.ingestId}:${name}`, ctx.record);
    const record = await deps.records.get(p.ingestId);
    const entryId = record?.package?.entryId ?? "";
    if (!asJob && name === "status-track" && entryId.startsWith("wait-")) {
      await ctx.job.updateData({ ...p, polls: (p.polls ?? 0) + 1 });
      return { outcome: "waiting", delayMs: 20, reason: "not yet" };
    }
    if (!asJob && name === "image-fetch" && entryId.startsWith("boom-")) throw new Error("upstream hiccup");
    await deps.records.finishBranch(p.ingestId, name, { ok: true });
    return { outcome: "done" };
  }

  beforeAll(async () => {
    h = await startChainHarness({
      label: "job-poll-inline",
      routes: ROUTES,
      steps: [...STEPS],
      processors: (d) => {
        const statusTrack = defineProcessor(STEP["status-track"], (p, ctx) =>
          branchRun(d, "status-track", p, ctx),
        );
        const imageFetch = defineProcessor(STEP["image-fetch"], (p, ctx) =>
          branchRun(d, "image-fetch", p, ctx),
        );
        return [
          stepProcessor("atom-push", createAtomPushProcessor(d)),
          stepProcessor(
            "job-poll",
            createJobPollProcessor(d, { inlineBranches: { statusTrack, imageFetch } }),
          ),
          stepProcessor("remediate", createRemediateProcessor(d)),
          statusTrack,
          imageFetch,
        ];
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const images = [{ key: "p.jpg", url: "https://media.example/p.jpg", location: "main" }];
  const branchJob = (kind: string, id: string) =>
    h.deps.queues.get(kind === "track" ? "status-track" : "image-fetch")!.getJob(ingestJobId(kind, id, 0));

  it("runs both branches inside job-poll, without a job per branch", async () => {
    const id = await submit(h, "inline-a", { images });
    const record = await ended(h, id);
    expect(record.state).toBe("completed");
    expect(record.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
    expect(runs.get(id)?.sort()).toEqual(["inline:image-fetch", "inline:status-track"]);
    expect(await branchJob("track", id)).toBeUndefined();
    expect(await branchJob("img", id)).toBeUndefined();
    // Each inline run gets the record as job-poll wrote it, so it need not read it again.
    for (const name of ["status-track", "image-fetch"]) {
      expect(handed.get(`${id}:${name}`), name).toMatchObject({
        id,
        state: "processing",
        upstream: { assetId: record.upstream.assetId },
        branches: { "status-track": "pending", "image-fetch": "pending" },
      });
    }
  });

  it("turns an inline branch that waits or fails into its job, with the data it left", async () => {
    const waiting = await stage(h, "wait-b");
    const failing = await stage(h, "boom-c", { images });
    await flush(h);
    const [w, f] = [await ended(h, waiting), await ended(h, failing)];
    expect([w.state, f.state]).toEqual(["completed", "completed"]);
    expect(runs.get(waiting)).toEqual(["inline:status-track", "job:status-track"]);
    expect(runs.get(failing)?.filter((r) => r.endsWith("image-fetch"))).toEqual([
      "inline:image-fetch",
      "job:image-fetch",
    ]);
    // The poll counter the inline run left travels in the job it became.
    expect((await branchJob("track", waiting))?.data).toMatchObject({ ingestId: waiting, polls: 1 });
    expect((await branchJob("img", failing))?.data).toMatchObject({ ingestId: failing });
  });
});
