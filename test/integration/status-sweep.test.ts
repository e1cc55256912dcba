import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAtomFeed } from "../../src/adapters/ais/atom-feed.js";
import { createStatusTrackProcessor } from "../../src/processors/vimond/status-track.js";
import { AwaitedIngests } from "../../src/processors/vimond/status-awaiting.js";
import { createStatusSweeper, type SweepSummary } from "../../src/processors/vimond/status-sweeper.js";
import { stepProcessor } from "../../src/processors/index.js";
import { ingestJobId } from "../../src/queues/job-options.js";
import { redisLease } from "../../src/queues/redis-lease.js";
import { parseEnv } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { startService } from "../../src/runtime/service.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";
import { packageSchema, TERMINAL_STATES, type IngestRecord } from "../../src/records/ingest-record.js";
import {
  createProcessingRecord,
  HARNESS_BUCKET,
  startChainHarness,
  type ChainHarness,
} from "../support/chain-harness.js";

/**
 * Status sweeps (STATUS_SWEEP, issue 15 point 3) against the simulator on real Redis: requests grow
 * with pages, not with in-flight ingests; one sweeper at a time; parked ingests end without one.
 */

const ROUTES = [
  { name: "vimond-main", bucket: HARNESS_BUCKET, target: "vimond", vimond: { mediaFeedId: "{feed}" } },
];
/** Simulated ms at the harness's speed 1000: encoding takes about a real second. */
const SLOW_ENCODING = { modules: { status: { durationsMs: { encoding: 1_000_000 } } } };
/** A Status API that answers 2 requests a second (10 back to back), as a real one limits. */
const RATE_LIMITED = { modules: { status: { rateLimit: { perSecond: 2, burst: 10 } } } };

function harness(label: string, env: Record<string, string>): Promise<ChainHarness> {
  return startChainHarness({
    label,
    routes: ROUTES,
    steps: ["status-track"],
    processors: (d) => [stepProcessor("status-track", createStatusTrackProcessor(d))],
    env,
  });
}

/** Requests the simulator answered for one Status operation, all statuses together. */
function calls(h: ChainHarness, operation: string): number {
  const byStatus = h.sim.stats().requests[`status.${operation}`] ?? {};
  return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
}

/** Imports `count` entries with a video through AIS; resolves with their asset ids once done. */
async function importVideos(h: ChainHarness, count: number): Promise<string[]> {
  const { ais } = h.deps.vimond!;
  const assets: string[] = [];
  for (let start = 0; start < count; start += 50) {
    const now = new Date().toISOString();
    const entries = Array.from({ length: Math.min(50, count - start) }, (_, i) => {
      const id = `sw-${start + i}-${randomUUID().slice(0, 8)}`;
      return { id, title: id, updated: now, video: { url: `https://media.invalid/${id}.mp4` } };
    });
    const xml = buildAtomFeed({ feedId: "urn:feed:sweep", title: "sweep", updated: now, entries });
    const pushed = await ais.pushFeed(h.mediaFeedId, xml);
    const done = await waitFor(`VIDEO tasks of job ${pushed.jobId}`, async () => {
      const videos = (await ais.listTasks(h.mediaFeedId, pushed.jobId)).filter((t) => t.type === "VIDEO");
      return videos.length === entries.length && videos.every((t) => t.state === "done") ? videos : undefined;
    });
    assets.push(...done.map((t) => t.assetId!));
  }
  return assets;
}

/** Records whose only open branch is status-track, each with its job, as job-poll leaves them. */
async function follow(h: ChainHarness, assets: string[], notBefore: number): Promise<string[]> {
  const ids: string[] = [];
  for (const assetId of assets) {
    const id = `sw-${randomUUID()}`;
    await createProcessingRecord(h, id);
    await h.deps.records.setPackage(
      id,
      packageSchema.parse({ entryId: id, title: id, updated: new Date().toISOString() }),
    );
    await h.deps.records.startBranches(id, ["status-track"]);
    await h
      .queue("status-track")
      .add(
        "status-track",
        { ingestId: id, run: 0, assetId, polls: 0, notBefore },
        { jobId: ingestJobId("track", id, 0) },
      );
    ids.push(id);
  }
  return ids;
}

async function allEnded(h: ChainHarness, ids: string[]): Promise<IngestRecord[]> {
  return waitFor(
    `${ids.length} ingests to end`,
    async () => {
      const records = await h.deps.records.getMany(ids);
      return records.every((r) => r && TERMINAL_STATES.has(r.state))
        ? (records as IngestRecord[])
        : undefined;
    },
    60_000,
  );
}

function awaitedOf(h: ChainHarness): AwaitedIngests {
  return new AwaitedIngests(h.deps.redis, h.prefix, "vimond");
}

async function simulatorSettled(h: ChainHarness, count: number): Promise<void> {
  await waitFor(`${count} video ingests to complete in the simulator`, () => {
    const byStatus = (h.sim.stats().modules.status as { byStatus: Record<string, number> }).byStatus;
    return (byStatus.COMPLETED ?? 0) >= count ? true : undefined;
  });
}

describe("status sweeps: cost grows with pages, not with in-flight ingests", () => {
  let sweeping: ChainHarness;
  let polling: ChainHarness;
  beforeAll(async () => {
    sweeping = await harness("sweep-cost", {
      STATUS_SWEEP: "true",
      // Long enough that no parked job reads on its own during the test: every answer is a sweep's.
      STATUS_SWEEP_FALLBACK_MS: "600000",
      STATUS_SWEEP_PAGE_LIMIT: "50",
    });
    polling = await harness("poll-cost", {});
  });
  afterAll(async () => {
    await sweeping?.stop();
    await polling?.stop();
  });

  it("settles 200 awaited ingests with a few pages per sweep; per-ingest polling needs 20x more requests", async () => {
    const N = 200;
    // Sweep mode: the jobs register and park without a request of their own.
    await sweeping.scenario(SLOW_ENCODING);
    await sweeping.scenario(RATE_LIMITED);
    const notBefore = Date.now();
    const ids = await follow(sweeping, await importVideos(sweeping, N), notBefore);
    const awaited = awaitedOf(sweeping);
    await waitFor("every ingest registered", async () => ((await awaited.count()) === N ? true : undefined));
    expect(calls(sweeping, "listIngests") + calls(sweeping, "getIngest")).toBe(0);

    const sweeper = createStatusSweeper(sweeping.deps, { owner: "cost" });
    const first = await sweeper.tick();
    await simulatorSettled(sweeping, N);
    const second = await sweeper.tick();
    const records = await allEnded(sweeping, ids);
    expect(records.every((r) => r.state === "completed" && r.branches["status-track"] === "ok")).toBe(true);
    expect(records.every((r) => r.upstream.videoIngestId !== undefined)).toBe(true);
    expect(first.outcome).toBe("swept");
    expect(second.outcome).toBe("swept");
    const pages = (s: SweepSummary) => (s.outcome === "lease_held" ? 0 : s.pages);
    // 200 ingests at 50 a page: 4 pages per sweep (a 5th only if the bound falls on a page end).
    expect(pages(first)).toBeLessThanOrEqual(5);
    expect(pages(second)).toBeLessThanOrEqual(5);
    const sweepRequests = calls(sweeping, "listIngests") + calls(sweeping, "getIngest");
    expect(sweepRequests).toBe(pages(first) + pages(second));
    await waitFor("every entry forgotten", async () => ((await awaited.count()) === 0 ? true : undefined));

    // The same load, polled per ingest.
    await polling.scenario(SLOW_ENCODING);
    const pollingSince = Date.now();
    const polled = await follow(polling, await importVideos(polling, N), pollingSince);
    const polledRecords = await allEnded(polling, polled);
    expect(polledRecords.every((r) => r.state === "completed")).toBe(true);
    const pollRequests = calls(polling, "listIngests") + calls(polling, "getIngest");
    expect(pollRequests).toBeGreaterThanOrEqual(N);
    expect(pollRequests / sweepRequests).toBeGreaterThanOrEqual(20);
    // The sweeps ran against a rate-limited Status API (2/s, burst 10) and were never refused.
    const refused = (h: ChainHarness) =>
      (h.sim.stats().modules.status as { rateLimited: number }).rateLimited;
    expect(refused(sweeping)).toBe(0);
    // The same limit for polling per ingest: a tenth of the ingests runs into it (their first
    // polls alone are more than the burst).
    await polling.scenario(RATE_LIMITED);
    const limitedSince = Date.now();
    await follow(polling, await importVideos(polling, 20), limitedSince);
    await waitFor("a polled ingest refused by the rate limit", () =>
      refused(polling) > 0 ? true : undefined,
    );
  });
});

describe("status sweeps: one sweeper at a time, and none needed", () => {
  let h: ChainHarness;
  let fallback: ChainHarness;
  beforeAll(async () => {
    h = await harness("sweep-lease", {
      STATUS_SWEEP: "true",
      STATUS_SWEEP_FALLBACK_MS: "600000",
      STATUS_SWEEP_INTERVAL_MS: "20",
    });
    fallback = await harness("sweep-fallback", { STATUS_SWEEP: "true", STATUS_SWEEP_FALLBACK_MS: "300" });
  });
  afterAll(async () => {
    await h?.stop();
    await fallback?.stop();
  });

  it("two sweepers on one Redis never sweep at once; the other takes over when the holder stops", async () => {
    // One awaited ingest, so that a sweep has pages to read (made slow to widen any overlap).
    const notBefore = Date.now();
    await follow(h, await importVideos(h, 1), notBefore);
    await waitFor("the ingest registered", async () =>
      (await awaitedOf(h).count()) === 1 ? true : undefined,
    );
    await h.scenario({ faults: { status: { listIngests: { latencyMs: 100 } } } });
    const seen: SweepSummary[] = [];
    const a = createStatusSweeper(h.deps, { owner: "a", onSweep: (s) => seen.push(s) });
    const b = createStatusSweeper(h.deps, { owner: "b", onSweep: (s) => seen.push(s) });

    const both = await Promise.all([a.tick(), b.tick()]);
    expect(both.map((s) => s.outcome).sort()).toEqual(["lease_held", "swept"]);
    const holder = both[0].outcome === "swept" ? a : b;
    const other = holder === a ? b : a;
    expect((await holder.tick()).outcome).toBe("swept");
    expect((await other.tick()).outcome).toBe("lease_held");

    // Both loops running: the sweeps they make never overlap in time.
    seen.length = 0;
    a.start();
    b.start();
    await waitFor("six sweeps", () =>
      seen.filter((s) => s.outcome === "swept").length >= 6 ? true : undefined,
    );
    await holder.stop();
    const before = seen.length;
    await waitFor("the other replica to take over", () =>
      seen.slice(before).some((s) => s.outcome === "swept" && s.owner === other.lease.owner)
        ? true
        : undefined,
    );
    await other.stop();
    const sweeps = seen
      .filter((s): s is Extract<SweepSummary, { startedAt: number }> => s.outcome === "swept")
      .sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < sweeps.length; i++)
      expect(sweeps[i]!.startedAt).toBeGreaterThanOrEqual(sweeps[i - 1]!.endedAt);
    expect(seen.some((s) => s.outcome === "lease_held")).toBe(true);
    await h.scenario({ faults: { status: null } });
  });

  it("records a running ingest's phase from a sweep, and settles it by the next sweep once it ends", async () => {
    await h.scenario({ modules: { status: { durationsMs: { encoding: 3_600_000_000 } } } });
    const notBefore = Date.now();
    const [id] = await follow(h, await importVideos(h, 1), notBefore);
    await h.scenario({ modules: { status: null } });
    await waitFor("the ingest registered", async () => ((await awaitedOf(h).entry(id!)) ? true : undefined));
    const sweeper = createStatusSweeper(h.deps, { owner: "phase" });
    const first = await sweeper.tick();
    expect(first).toMatchObject({ outcome: "swept", running: 1, ended: 0 });
    const record = await h.deps.records.get(id!);
    expect(record?.steps["status-track"]).toMatchObject({ status: "waiting" });
    expect(record?.steps["status-track"]?.detail).toMatch(/ ENCODING \d+%$/);
    expect(record?.upstream.videoIngestId).toBeDefined();
    // Someone cancels it upstream: the next sweep sees it ended and its job fails the branch.
    expect((await h.deps.vimond!.status.cancel(record!.upstream.videoIngestId!)).status).toBe("cancelled");
    const reads = calls(h, "listIngests");
    expect(await sweeper.tick()).toMatchObject({ outcome: "swept", ended: 1 });
    const [ended] = await allEnded(h, [id!]);
    expect(ended).toMatchObject({
      state: "failed",
      branches: { "status-track": "failed: video ingest cancelled" },
    });
    // The job decided from the sweep's page: no read of its own.
    expect(calls(h, "listIngests")).toBe(reads + 1);
    await waitFor("the entry forgotten", async () => ((await awaitedOf(h).entry(id!)) ? undefined : true));
    await sweeper.stop();
  });

  it("takes the asset retry path for a FAILED ingest a sweep found, as status-track's own read would", async () => {
    await h.scenario({ modules: { status: { fractions: { failed: 1 } } } });
    const notBefore = Date.now();
    const [id] = await follow(h, await importVideos(h, 1), notBefore);
    await h.scenario({ modules: { status: null } });
    await waitFor("the ingest registered", async () => ((await awaitedOf(h).entry(id!)) ? true : undefined));
    const retriesBefore = h.sim.stats().requests["ais.retryAssetImport"]?.["200"] ?? 0;
    const sweeper = createStatusSweeper(h.deps, { owner: "retry" });
    const reads = calls(h, "listIngests");
    await waitFor("the failed ingest seen by a sweep", async () => {
      const swept = await sweeper.tick();
      return swept.outcome === "swept" && swept.ended === 1 ? true : undefined;
    });
    const sweeps = calls(h, "listIngests") - reads;
    const [record] = await allEnded(h, [id!]);
    // The simulator's AIS re-runs no task for an asset whose VIDEO task succeeded, so the retry
    // path ends the branch with the upstream's error, exactly as in status-track's own test.
    expect(record!.state).toBe("failed");
    expect(record!.lastError).toContain("ENCODING failed (simulated)");
    expect(record!.lastError).toContain("re-ran no task");
    expect(record!.attempts.asset_retry).toBe(1);
    expect(h.sim.stats().requests["ais.retryAssetImport"]?.["200"] ?? 0).toBe(retriesBefore + 1);
    expect(calls(h, "listIngests") - reads).toBe(sweeps);
    await sweeper.stop();
  });

  it("a lapsed lease is taken by another owner, and the first owner's release leaves it alone", async () => {
    const key = `${h.prefix}:lease-probe`;
    const first = redisLease(h.deps.redis, key, "first", 100);
    const second = redisLease(h.deps.redis, key, "second", 60_000);
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    await waitFor("the lease to lapse", async () =>
      (await h.deps.redis.exists(key)) === 0 ? true : undefined,
    );
    expect(await second.acquire()).toBe(true);
    expect(await first.renew()).toBe(false);
    await first.release();
    expect(await h.deps.redis.get(key)).toBe("second");
    await second.release();
    expect(await h.deps.redis.exists(key)).toBe(0);
  });

  it("a parked ingest that sweeps keep covering does not read on its own; once they stop, it does", async () => {
    await fallback.scenario({ modules: { status: { durationsMs: { encoding: 3_600_000_000 } } } });
    const notBefore = Date.now();
    const [id] = await follow(fallback, await importVideos(fallback, 1), notBefore);
    await fallback.scenario({ modules: { status: null } });
    await waitFor("the ingest registered", async () =>
      (await awaitedOf(fallback).entry(id!)) ? true : undefined,
    );
    const job = () => fallback.queue("status-track").getJob(ingestJobId("track", id!, 0));
    const before = calls(fallback, "listIngests");
    const sweeper = createStatusSweeper(fallback.deps, { owner: "covering" });
    let pages = 0;
    // Sweeps keep coming while the job wakes on its own (fallback 300 ms) three more times.
    const woken = ((await job())?.data as { polls: number }).polls;
    await waitFor("the job to wake on its own three times", async () => {
      const swept = await sweeper.tick();
      if (swept.outcome === "swept") pages += swept.pages;
      return ((await job())?.data as { polls: number }).polls >= woken + 3 ? true : undefined;
    });
    expect(calls(fallback, "listIngests") - before).toBe(pages);
    // No more sweeps: within a fallback delay or two the job reads for itself.
    await waitFor("the job's own read", () =>
      calls(fallback, "listIngests") - before > pages ? true : undefined,
    );
    const ingestId = (await fallback.deps.records.get(id!))?.upstream.videoIngestId;
    expect(ingestId).toBeDefined();
    await fallback.deps.vimond!.status.cancel(ingestId!);
    const [ended] = await allEnded(fallback, [id!]);
    expect(ended?.state).toBe("failed");
    await sweeper.stop();
  });

  it("with the sweeper gone, parked ingests still end through their own fallback reads", async () => {
    await fallback.scenario(SLOW_ENCODING);
    const N = 20;
    const notBefore = Date.now();
    const ids = await follow(fallback, await importVideos(fallback, N), notBefore);
    await waitFor("every ingest registered", async () =>
      (await awaitedOf(fallback).count()) === N ? true : undefined,
    );
    // One sweep while they encode records their phase, then the sweeper is gone for good.
    const sweeper = createStatusSweeper(fallback.deps, { owner: "dies" });
    const only = await sweeper.tick();
    await sweeper.stop();
    const records = await allEnded(fallback, ids);
    expect(records.every((r) => r.state === "completed" && r.branches["status-track"] === "ok")).toBe(true);
    const pages = only.outcome === "lease_held" ? 0 : only.pages;
    // Every ingest the sweep did not settle read its own status at least once.
    const settledBySweep = only.outcome === "lease_held" ? 0 : only.ended;
    expect(calls(fallback, "listIngests") - pages).toBeGreaterThanOrEqual(N - settledBySweep);
    // Each job forgets its entry right after reporting the branch.
    await waitFor("every entry forgotten", async () =>
      (await awaitedOf(fallback).count()) === 0 ? true : undefined,
    );
  });
});

describe("status sweeps in the service", () => {
  it("runs a sweeper with STATUS_SWEEP=true and gives its lease up when it stops", async () => {
    const h = await harness("sweep-service-sim", {});
    const prefix = uniquePrefix("sweep-service");
    try {
      const env = parseEnv({
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: prefix,
        HTTP_HOST: "127.0.0.1",
        HTTP_PORT: "0",
        AIS_BASE_URL: h.sim.urls.ais,
        AIS_TOKEN: h.sim.token,
        STATUS_BASE_URL: h.sim.urls.status,
        STATUS_TOKEN: h.sim.token,
        IMAGES_BASE_URL: h.sim.urls.images,
        IMAGES_TOKEN: h.sim.token,
        STATUS_SWEEP: "true",
        STATUS_SWEEP_INTERVAL_MS: "20",
      });
      const routes = parseRoutes({ routes: [{ ...ROUTES[0], vimond: { mediaFeedId: h.mediaFeedId } }] });
      const service = await startService({ env, routes });
      const lease = new AwaitedIngests(service.deps.redis, prefix, "vimond").keys.lease;
      const owner = await waitFor("the service's sweeper to hold the lease", () =>
        service.deps.redis.get(lease),
      );
      expect(owner).toContain(String(process.pid));
      const redis = h.deps.redis;
      await service.stop();
      expect(await redis.exists(lease)).toBe(0);
    } finally {
      await h.stop();
      await cleanupPrefix(prefix);
    }
  });
});
