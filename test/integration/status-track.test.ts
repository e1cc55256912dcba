import { randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildAtomFeed } from "../../src/adapters/ais/atom-feed.js";
import type { VimondAdapters } from "../../src/adapters/index.js";
import { jobId } from "../../src/queues/job-options.js";
import type { StatusTrackPayload } from "../../src/queues/payloads.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import type { ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import {
  processingRecordWithPackage,
  startAfterJobPollHarness,
  terminalRecord,
} from "../support/vimond-steps.js";

let h: ChainHarness;
let vimond: VimondAdapters;

beforeAll(async () => {
  h = await startAfterJobPollHarness("status-track", ["status-track", "image-fetch", "notify"]);
  vimond = h.deps.vimond!;
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(async () => {
  await h.scenario({ modules: { status: null } });
});

/** Requests the simulator answered for one operation, all statuses together. */
function calls(upstream: string, operation: string): number {
  const byStatus = h.sim.stats().requests[`${upstream}.${operation}`] ?? {};
  return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
}

/**
 * Imports an entry with a video through AIS, which is what makes the Status API show a video
 * ingest. `statusSettings` apply to the ingest this import creates (the simulator plans an ingest
 * when the VIDEO task is pushed) and are removed right after, so later ingests are plain.
 */
async function importVideo(entryId: string, statusSettings?: Record<string, unknown>): Promise<string> {
  if (statusSettings) await h.scenario({ modules: { status: statusSettings } });
  const now = new Date().toISOString();
  const xml = buildAtomFeed({
    feedId: "urn:feed:status-track",
    title: "status-track",
    updated: now,
    entries: [
      { id: entryId, title: entryId, updated: now, video: { url: `https://media.invalid/${entryId}.mp4` } },
    ],
  });
  const pushed = await vimond.ais.pushFeed(h.mediaFeedId, xml);
  if (statusSettings) await h.scenario({ modules: { status: null } });
  const task = await waitFor(`VIDEO task of ${entryId} done`, async () => {
    const tasks = await vimond.ais.listTasks(h.mediaFeedId, pushed.jobId);
    const video = tasks.find((t) => t.type === "VIDEO");
    return video?.state === "done" ? video : undefined;
  });
  expect(task.assetId).toBeDefined();
  return task.assetId!;
}

/** A record whose only open branch is status-track, as job-poll leaves it. */
async function newRecord(): Promise<string> {
  const id = `st-${randomUUID()}`;
  await processingRecordWithPackage(h, id, {}, ["status-track"]);
  return id;
}

async function track(payload: StatusTrackPayload | Omit<StatusTrackPayload, "polls">): Promise<Job> {
  const job = await h.queue("status-track").add("status-track", payload, {
    jobId: jobId("track", payload.ingestId),
  });
  return job;
}

const terminal = (id: string): Promise<IngestRecord> => terminalRecord(h, id);

describe("status-track", () => {
  it("follows a completed video ingest: branch ok, record completed, ingest id recorded", async () => {
    const assetId = await importVideo(`done-${randomUUID()}`);
    const id = await newRecord();
    await track({ ingestId: id, assetId });

    const record = await terminal(id);
    expect(record.state).toBe("completed");
    expect(record.branches["status-track"]).toBe("ok");
    const [ingest] = await vimond.status.findIngests({ assetId });
    expect(record.upstream.videoIngestId).toBe(ingest?.id);
    expect(record.steps["status-track"]).toMatchObject({ status: "done" });
    expect(record.steps["status-track"]?.detail).toContain("COMPLETED");
  });

  it("treats a SKIPPED video ingest (unchanged source) as done", async () => {
    const assetId = await importVideo(`skip-${randomUUID()}`, { fractions: { skipped: 1 } });
    const id = await newRecord();
    await track({ ingestId: id, assetId });

    const record = await terminal(id);
    expect(record.state).toBe("completed");
    expect(record.steps["status-track"]?.detail).toContain("SKIPPED");
  });

  it("records the running phase while waiting, and fails when someone cancels the ingest", async () => {
    const assetId = await importVideo(`run-${randomUUID()}`, { durationsMs: { encoding: 1e9 } });
    const id = await newRecord();
    await track({ ingestId: id, assetId });

    const running = await waitFor("the ENCODING phase on the record", async () => {
      const record = await h.deps.records.get(id);
      return record?.steps["status-track"]?.detail?.includes("ENCODING") ? record : undefined;
    });
    expect(running.steps["status-track"]).toMatchObject({ status: "waiting" });
    expect(running.state).toBe("processing");
    const videoIngestId = running.upstream.videoIngestId!;
    expect(videoIngestId).toBeDefined();

    await vimond.status.cancel(videoIngestId);
    const record = await terminal(id);
    expect(record.state).toBe("failed");
    expect(record.lastError).toContain("video ingest cancelled");
  });

  it("cancels a video ingest that passed the stuck deadline and fails the branch as stuck", async () => {
    const assetId = await importVideo(`stuck-${randomUUID()}`, { durationsMs: { encoding: 1e9 } });
    const id = await newRecord();
    const cancelsBefore = h.sim.stats().modules.status?.cancels as number;
    // Polling began longer ago than the deadline allows.
    const startedAt = Date.now() - (h.env.STUCK_DEADLINE_SECONDS + 1) * 1000;
    await track({ ingestId: id, assetId, startedAt });

    const record = await terminal(id);
    expect(record.state).toBe("failed");
    expect(record.lastError).toMatch(/status-track failed: stuck/);
    expect(record.lastError).toContain("ENCODING");
    expect(record.attempts.ingest_cancel).toBe(1);
    expect(h.sim.stats().modules.status?.cancels).toBe(cancelsBefore + 1);
    const ingest = await vimond.status.getIngest(record.upstream.videoIngestId!);
    expect(ingest.status).toBe("cancelled");
  });

  it("retries the asset's import once when the video ingest failed; fails with the upstream's error when nothing re-ran", async () => {
    const assetId = await importVideo(`fail-${randomUUID()}`, { fractions: { failed: 1 } });
    const id = await newRecord();
    const retriesBefore = calls("ais", "retryAssetImport");
    await track({ ingestId: id, assetId });

    const record = await terminal(id);
    expect(record.state).toBe("failed");
    // The simulator's error text reaches the record.
    expect(record.lastError).toContain("ENCODING failed (simulated)");
    expect(record.lastError).toContain("re-ran no task");
    expect(record.attempts.asset_retry).toBe(1);
    expect(calls("ais", "retryAssetImport")).toBe(retriesBefore + 1);
  });

  it("stops retrying after TASK_RETRY_MAX asset retries and fails with the upstream's error", async () => {
    const assetId = await importVideo(`exhausted-${randomUUID()}`, { fractions: { failed: 1 } });
    const id = await newRecord();
    for (let i = 0; i < h.env.TASK_RETRY_MAX; i += 1) await h.deps.records.countAttempt(id, "asset_retry");
    const retriesBefore = calls("ais", "retryAssetImport");
    await track({ ingestId: id, assetId });

    const record = await terminal(id);
    expect(record.state).toBe("failed");
    expect(record.lastError).toMatch(
      /status-track failed: video ingest \S+ failed: ENCODING failed \(simulated\)$/,
    );
    expect(calls("ais", "retryAssetImport")).toBe(retriesBefore);
  });

  it("ignores ingests older than notBefore and follows the one a new import starts", async () => {
    const entryId = `again-${randomUUID()}`;
    const assetId = await importVideo(entryId, { fractions: { failed: 1 } });
    const [old] = await vimond.status.findIngests({ assetId });
    const id = await newRecord();
    const retriesBefore = calls("ais", "retryAssetImport");
    await track({ ingestId: id, assetId, notBefore: Date.now() });

    // Several polls see only the old, failed ingest and keep waiting instead of acting on it.
    await waitFor(
      "a few polls",
      async () =>
        ((await h.queue("status-track").getJob(jobId("track", id)))?.data as StatusTrackPayload).polls >= 3,
    );
    expect((await h.deps.records.get(id))?.state).toBe("processing");

    expect(await importVideo(entryId)).toBe(assetId);
    const record = await terminal(id);
    expect(record.state).toBe("completed");
    expect(record.upstream.videoIngestId).toBeDefined();
    expect(record.upstream.videoIngestId).not.toBe(old?.id);
    expect(calls("ais", "retryAssetImport")).toBe(retriesBefore);
  });

  it("skips a record that is already terminal without asking the Status API", async () => {
    const id = await newRecord();
    await h.deps.records.transition(id, "superseded");
    const listsBefore = calls("status", "listIngests");
    const job = await track({ ingestId: id, assetId: "999999" });

    const returned = await waitFor("the job to finish", async () => {
      const state = await job.getState();
      return state === "completed"
        ? ((await h.queue("status-track").getJob(job.id!))?.returnvalue as unknown)
        : undefined;
    });
    expect(returned).toMatchObject({ outcome: "skipped" });
    expect(calls("status", "listIngests")).toBe(listsBefore);
  });
});
