import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAtomPushProcessor, feedKeys } from "../../src/processors/vimond/atom-push.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { createJobPollProcessor } from "../../src/processors/vimond/job-poll.js";
import { createRemediateProcessor } from "../../src/processors/vimond/remediate.js";
import { jobId } from "../../src/queues/job-options.js";
import { defineProcessor } from "../../src/queues/step.js";
import { STEP, stepProcessor } from "../../src/processors/index.js";
import type { IngestPackage } from "../../src/records/ingest-record.js";
import {
  HARNESS_BUCKET,
  HARNESS_COMPANY,
  startChainHarness,
  type ChainHarness,
} from "../support/chain-harness.js";
import { chainActionCount } from "../support/chain-actions.js";
import { flushFeed, pendOnFeed } from "../support/feed-packages.js";
import { waitFor } from "../support/redis.js";

/** Branch processors of another engineer, reduced to "the branch went fine". */
function branchStubs(deps: ChainDeps) {
  return [
    defineProcessor(STEP["status-track"], async (p) => {
      await deps.records.finishBranch(p.ingestId, "status-track", { ok: true });
      return { outcome: "done" };
    }),
    defineProcessor(STEP["image-fetch"], async (p) => {
      await deps.records.finishBranch(p.ingestId, "image-fetch", { ok: true });
      return { outcome: "done" };
    }),
  ];
}

interface AisStats {
  pushes: { total: number; byEntryVersion: Record<string, number>; duplicateVersions: number };
}

/** The Vimond chain up to job-poll and remediate on one route, with the branches stubbed. */
function startPushHarness(label: string, env: Record<string, string> = {}) {
  return startChainHarness({
    label,
    routes: [{ name: "vimond", bucket: HARNESS_BUCKET, target: "vimond", vimond: { mediaFeedId: "{feed}" } }],
    steps: ["atom-push", "job-poll", "remediate", "status-track", "image-fetch"],
    env,
    processors: (d) => [
      stepProcessor("atom-push", createAtomPushProcessor(d)),
      stepProcessor("job-poll", createJobPollProcessor(d)),
      stepProcessor("remediate", createRemediateProcessor(d)),
      ...branchStubs(d),
    ],
  });
}

describe("atom-push", () => {
  let h: ChainHarness;
  let seq = 0;
  let window = 0;

  beforeAll(async () => {
    h = await startPushHarness("atom-push", { ATOM_BATCH_MAX_ENTRIES: "4" });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const aisStats = () => h.sim.stats().modules.ais as unknown as AisStats;
  const pushRequests = (outcome: string) => h.sim.stats().requests["ais.pushV2"]?.[outcome] ?? 0;

  /** What source-watch does for a package: record, package, pending list. */
  async function seed(entryId: string, extra: Partial<IngestPackage> = {}): Promise<string> {
    const id = `ing-${++seq}`;
    await pendOnFeed(h, id, {
      entryId,
      title: `Title of ${entryId}`,
      categories: ["news"],
      metadata: { genre: "drama" },
      updated: new Date(Date.UTC(2024, 0, 1, 0, 0, seq)).toISOString(),
      video: { key: `${entryId}.mp4`, url: `https://media.example/${entryId}.mp4?sig=a&b=c` },
      images: [{ key: `${entryId}.jpg`, url: `https://media.example/${entryId}.jpg`, location: "main" }],
      tombstone: false,
      ...extra,
    });
    return id;
  }

  /** The flush source-watch enqueues for a window of arrivals. */
  async function flush(): Promise<void> {
    await flushFeed(h, ["test", ++window], h.env.ATOM_BATCH_MAX_WAIT_MS);
  }

  async function allEnded(ids: string[]) {
    return waitFor(`${ids.length} ingests to end`, async () => {
      const records = await Promise.all(ids.map((id) => h.deps.records.get(id)));
      const ended = records.filter((r) => r && ["completed", "failed"].includes(r.state));
      return ended.length === ids.length ? records.map((r) => r!) : undefined;
    });
  }

  function expectOnePushPerVersion(entryIds: string[]) {
    const { byEntryVersion } = aisStats().pushes;
    for (const entryId of entryIds) {
      const versions = Object.entries(byEntryVersion).filter(([k]) => k.startsWith(`${entryId}@`));
      expect(versions, entryId).toHaveLength(1);
      expect(versions[0]?.[1], entryId).toBe(1);
    }
  }

  it("batches ten packages into fewer pushes and completes each ingest", async () => {
    const pushesBefore = pushRequests("200");
    const entries = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    const ids: string[] = [];
    for (const entry of entries) ids.push(await seed(entry));
    await flush();

    const records = await allEnded(ids);
    expect(records.map((r) => r.state)).toEqual(Array(10).fill("completed"));
    const pushes = pushRequests("200") - pushesBefore;
    // 4 entries per push at most: 3 pushes for 10 entries, chained without new arrivals.
    expect(pushes).toBe(3);
    expectOnePushPerVersion(entries);
    expect(aisStats().pushes.duplicateVersions).toBe(0);

    const jobs = new Set(records.map((r) => r.upstream.importJobId));
    expect(jobs.size).toBe(3);
    for (const record of records) {
      expect(record.upstream.mediaFeedId).toBe(h.mediaFeedId);
      expect(record.upstream.assetId).toMatch(/^\d+$/);
      expect(record.pushedAt).toBeGreaterThan(0);
      expect(record.steps["atom-push"]?.status).toBe("done");
      expect(record.branches).toMatchObject({ "status-track": "ok", "image-fetch": "ok" });
    }
    expect(await h.deps.redis.exists(feedKeys(h.prefix, h.mediaFeedId).inflight)).toBe(0);
  });

  it("reconciles an ambiguous push instead of pushing again", async () => {
    const hitsBefore = await chainActionCount("reconcile_hit");
    const resetsBefore = pushRequests("reset");
    // The push takes effect upstream, but its answer is lost.
    await h.scenario({ faults: { ais: { pushV2: { errorAfterEffect: { reset: 1 } } } } });
    const entries = ["lost-0", "lost-1", "lost-2"];
    const ids: string[] = [];
    for (const entry of entries) ids.push(await seed(entry));
    await flush();
    await waitFor("the lost push answer", () => pushRequests("reset") > resetsBefore);
    await h.scenario({ faults: { ais: { pushV2: null } } });

    const records = await allEnded(ids);
    expect(records.map((r) => r.state)).toEqual(["completed", "completed", "completed"]);
    expectOnePushPerVersion(entries);
    expect(await chainActionCount("reconcile_hit")).toBeGreaterThan(hitsBefore);
    expect(new Set(records.map((r) => r.upstream.importJobId)).size).toBe(1);
    const history = await h.deps.records.history(ids[0]!);
    expect(history.map((e) => e.message).join("\n")).toMatch(/reconciled: found in import job/);
  });

  it("waits out a 429 burst on push and recovers", async () => {
    const tooManyBefore = pushRequests("429");
    await h.scenario({ faults: { ais: { pushV2: { burst429: { count: 3, retryAfterSeconds: 1 } } } } });
    const entries = ["busy-0", "busy-1"];
    const ids = [await seed(entries[0]!), await seed(entries[1]!)];
    await flush();

    const records = await allEnded(ids);
    await h.scenario({ faults: { ais: { pushV2: null } } });
    expect(records.map((r) => r.state)).toEqual(["completed", "completed"]);
    expect(pushRequests("429") - tooManyBefore).toBe(3);
    expectOnePushPerVersion(entries);
  });

  it("fails the ingests with the upstream's message when AIS rejects the feed", async () => {
    // A feed that is not PUSH answers 403: nothing to retry, the reason must reach the record.
    const res = await fetch(`${h.sim.urls.ais}/company/${HARNESS_COMPANY}/mediaFeeds/${h.mediaFeedId}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${h.sim.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "adapter-test", type: "PUSH", enabled: false }),
    });
    expect(res.status).toBe(200);
    try {
      const id = await seed("rejected-0");
      await flush();
      const [record] = await allEnded([id]);
      expect(record?.state).toBe("failed");
      expect(record?.lastError).toMatch(/AIS rejected the Atom push: .*403.*disabled/);
    } finally {
      await fetch(`${h.sim.urls.ais}/company/${HARNESS_COMPANY}/mediaFeeds/${h.mediaFeedId}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${h.sim.token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "adapter-test", type: "PUSH", enabled: true }),
      });
    }
  });

  it("skips ingests that ended before their push (superseded)", async () => {
    const old = await seed("superseded-0");
    const current = await seed("superseded-1");
    await h.deps.records.transition(old, "superseded");
    await flush();
    const [record] = await allEnded([current]);
    expect(record?.state).toBe("completed");
    const pushed = Object.keys(aisStats().pushes.byEntryVersion);
    expect(pushed.some((k) => k.startsWith("superseded-0@"))).toBe(false);
    expect(pushed.some((k) => k.startsWith("superseded-1@"))).toBe(true);
    expect((await h.deps.records.get(old))?.upstream.importJobId).toBeUndefined();
  });
});

describe("atom-push with a batch in flight", () => {
  let h: ChainHarness;
  let seq = 0;

  beforeAll(async () => {
    h = await startPushHarness("atom-push-held");
  });
  afterAll(async () => {
    await h?.stop();
  });

  const queue = () => h.deps.queues.get("atom-push")!;
  const pushRequests = (outcome: string) => h.sim.stats().requests["ais.pushV2"]?.[outcome] ?? 0;

  async function seed(entryId: string): Promise<string> {
    const id = `held-${++seq}`;
    await pendOnFeed(h, id, {
      entryId,
      title: `Title of ${entryId}`,
      categories: [],
      metadata: {},
      updated: new Date(Date.UTC(2024, 0, 2, 0, 0, seq)).toISOString(),
      images: [],
      tombstone: false,
    });
    return id;
  }

  const flush = (name: string): Promise<string> => flushFeed(h, ["held", name]);

  async function ended(ids: string[]) {
    return waitFor(`${ids.length} ingests to end`, async () => {
      const records = await Promise.all(ids.map((id) => h.deps.records.get(id)));
      return records.every((r) => r && ["completed", "failed"].includes(r.state))
        ? records.map((r) => r!)
        : undefined;
    });
  }

  async function finishedJob(id: string) {
    return waitFor(`atom-push job ${id} to finish`, async () => {
      const job = await queue().getJob(id);
      return job && (await job.isCompleted()) ? job : undefined;
    });
  }

  it("ends a flush that finds the batch held instead of re-delaying it; the owner chains the rest", async () => {
    const tooManyBefore = pushRequests("429");
    // The owner's push is refused for a while (Retry-After), so its batch stays in flight.
    await h.scenario({ faults: { ais: { pushV2: { burst429: { count: 2, retryAfterSeconds: 1 } } } } });
    try {
      const first = [await seed("held-a"), await seed("held-b")];
      await flush("owner");
      await waitFor("the owner's refused push", () => pushRequests("429") > tooManyBefore);
      const later = [await seed("held-c")];
      const follower = await finishedJob(await flush("follower"));
      expect(follower.returnvalue).toMatchObject({ outcome: "skipped" });
      expect(String(follower.returnvalue.reason)).toMatch(/chains the next flush/);

      const records = await ended([...first, ...later]);
      expect(records.map((r) => r.state)).toEqual(["completed", "completed", "completed"]);
      // The owner's batch, then the entry that arrived meanwhile, chained by the owner.
      expect(new Set(records.map((r) => r.upstream.importJobId)).size).toBe(2);
    } finally {
      await h.scenario({ faults: { ais: { pushV2: null } } });
    }
  });

  it("leaves a watch job that takes over the batch of an owner that died", async () => {
    const keys = feedKeys(h.prefix, h.mediaFeedId);
    const orphan = await seed("orphan-a");
    // What a dead owner leaves: its batch claimed (not sent) and no job to finish it.
    await h.deps.redis.lpop(keys.pending);
    const startedAt = Date.now();
    await h.deps.redis.set(
      keys.inflight,
      JSON.stringify({ owner: "push-gone", ingestIds: [orphan], startedAt }),
    );
    const follower = await finishedJob(await flush("after-death"));
    expect(follower.returnvalue).toMatchObject({ outcome: "skipped" });

    const watch = await queue().getJob(jobId("push", h.mediaFeedId, "watch", startedAt));
    expect(watch?.data).toMatchObject({ mediaFeedId: h.mediaFeedId, watch: true });
    expect(await watch!.isDelayed()).toBe(true);
    // Not waiting WATCH_DELAY_MS in a test: the watch runs now.
    await watch!.promote();
    const [record] = await ended([orphan]);
    expect(record?.state).toBe("completed");
    expect(await h.deps.redis.exists(keys.inflight)).toBe(0);
  });
});
