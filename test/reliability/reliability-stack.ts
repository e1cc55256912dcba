import type { Redis } from "ioredis";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as BenchStack from "../../src/bench/bench-stack.js";
import type { Child, SimInfo, startWorkerProcess } from "../../src/bench/bench-stack.js";
import { BENCH_BUCKET, putSharedMedia, putSidecars, type BenchPackage } from "../../src/bench/chain-bench.js";
import { TERMINAL_STATES, type IngestRecord } from "../../src/records/ingest-record.js";
import { RecordStore } from "../../src/records/record-store.js";
import { startEmbeddedS3, type EmbeddedS3 } from "../../src/runtime/embedded-s3.js";

const BUILT = resolve(process.cwd(), "dist/bench/bench-stack.js");

/**
 * The bench launchers as built: they spawn `dist/cli/main.js` next to themselves, so they must be
 * loaded from dist (npm test builds first); the types come from the source.
 */
export async function benchStack(): Promise<typeof BenchStack> {
  if (!existsSync(BUILT))
    throw new Error(`${BUILT} is missing: run "npm run build" first (npm test does it).`);
  return (await import(pathToFileURL(BUILT).href)) as typeof BenchStack;
}

/**
 * What the reliability tests share: the simulator as its own process (so killing a worker never
 * touches it), an embedded S3 holding N bench packages, a PUSH media feed and the route to it.
 * Workers are real `ingest-worker run` processes started with `startWorker`.
 */
export interface ReliabilityStack {
  sim: SimInfo;
  simChild: Child;
  s3Server: EmbeddedS3;
  s3: S3Adapter;
  mediaFeedId: string;
  packages: BenchPackage[];
  startWorker(
    redisUrl: string,
    prefix: string,
    env?: Record<string, string>,
  ): ReturnType<typeof startWorkerProcess>;
  /** `POST /_sim/scenario` on the simulator. */
  scenario(patch: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Worker settings that keep a run of a few hundred packages short: quick polling, short batching,
 * and a 5 s job lock so a killed worker's jobs come back within seconds instead of BullMQ's 30 s.
 */
export const FAST_WORKER_ENV: Record<string, string> = {
  WORKER_CONCURRENCY: "8",
  POLL_INITIAL_DELAY_MS: "100",
  POLL_MAX_DELAY_MS: "1000",
  ATOM_BATCH_MAX_WAIT_MS: "50",
  // Quick sweeps (the default follows ingests by sweeping): a fallback of a few intervals, as
  // docs/operations.md advises, so a killed sweeper's ingests read for themselves within seconds.
  STATUS_SWEEP_INTERVAL_MS: "500",
  STATUS_SWEEP_FALLBACK_MS: "2000",
  JOB_LOCK_MS: "5000",
  STALLED_INTERVAL_MS: "1000",
  SHUTDOWN_TIMEOUT_MS: "2000",
};

/** Upstream durations in real ms (the simulator runs at speed 1): short, but not zero, so work overlaps. */
/**
 * Packages the Redis-restart and upstream-fault runs post: RELIABILITY_PACKAGES, 200 by default,
 * capped at 400 because those files' test timeouts are fixed.
 */
export const RUN_PACKAGES = Math.min(Number(process.env.RELIABILITY_PACKAGES ?? 200), 400);

export const QUICK_UPSTREAMS = {
  ais: { jobQueuedMs: { min: 200, max: 600 }, taskDurationMs: { min: 300, max: 1000 } },
  status: {
    durationsMs: { retrieval: 100, encoding: { min: 300, max: 1000 }, distribution: 100, playout: 100 },
  },
};

export async function startReliabilityStack(run: string, count: number): Promise<ReliabilityStack> {
  const { createPushFeed, simPost, startSimulatorProcess, startWorkerProcess } = await benchStack();
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const sim = await startSimulatorProcess();
    cleanups.push(() => sim.child.stop());
    const mediaFeedId = await createPushFeed(sim.info, "reliability");
    const s3Server = await startEmbeddedS3({ buckets: [BENCH_BUCKET] });
    cleanups.push(() => s3Server.stop());
    const s3 = createS3Adapter({ region: "us-east-1", endpoint: s3Server.endpoint });
    cleanups.push(async () => s3.close());
    await putSharedMedia(s3);
    const packages = await putSidecars(s3, run, count);
    const routes = [
      { name: "news", bucket: BENCH_BUCKET, prefix: "news/", target: "vimond", vimond: { mediaFeedId } },
    ];
    return {
      sim: sim.info,
      simChild: sim.child,
      s3Server,
      s3,
      mediaFeedId,
      packages,
      startWorker: (redisUrl, prefix, env = {}) =>
        startWorkerProcess({
          redisUrl,
          prefix,
          sim: sim.info,
          s3Endpoint: s3Server.endpoint,
          routes,
          env: { ...FAST_WORKER_ENV, ...env },
        }),
      scenario: (patch) => simPost(sim.info.ais, "/_sim/scenario", patch),
      async stop() {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      },
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    throw error;
  }
}

/** The entry id the bench sidecar of package i carries (`putSidecars` names them `${run}-${i}`). */
export const entryIdOf = (run: string, index: number) => `${run}-${index}`;

export interface SimStats {
  requests: Record<string, Record<string, number>>;
  modules: {
    ais: { pushes: { total: number; byEntryId: Record<string, number>; duplicateVersions: number } };
    images: { fetches: number; duplicateFetches: number; fetchesByPackLocation: Record<string, number> };
  } & Record<string, Record<string, unknown>>;
}

export async function simStats(sim: SimInfo): Promise<SimStats> {
  const res = await fetch(`${sim.ais}/_sim/stats`);
  if (!res.ok) throw new Error(`/_sim/stats answered ${res.status}`);
  return (await res.json()) as SimStats;
}

/** Reads every package's record in one pipeline (cheap enough to call several times a second). */
export async function readRecords(
  redis: Redis,
  prefix: string,
  packages: readonly BenchPackage[],
): Promise<Map<string, IngestRecord>> {
  const store = new RecordStore(redis, prefix);
  const found = new Map<string, IngestRecord>();
  // Bounded parallelism through ioredis' auto-pipelining of concurrent commands.
  const records = await Promise.all(packages.map((p) => store.get(p.ingestId)));
  records.forEach((record, i) => {
    if (record) found.set(packages[i]!.ingestId, record);
  });
  return found;
}

export function countEnded(records: Map<string, IngestRecord>): number {
  let ended = 0;
  for (const record of records.values()) if (TERMINAL_STATES.has(record.state)) ended += 1;
  return ended;
}

/**
 * Polls the records until `enough(records)` holds; fails after the deadline with what it saw and
 * whatever `describe()` adds (worker output), so a stuck run explains itself.
 */
export async function waitForProgress(
  redis: Redis,
  prefix: string,
  packages: readonly BenchPackage[],
  what: string,
  enough: (records: Map<string, IngestRecord>) => boolean,
  timeoutMs: number,
  describe: () => string = () => "",
): Promise<Map<string, IngestRecord>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = await readRecords(redis, prefix, packages);
    if (enough(records)) return records;
    if (Date.now() > deadline) {
      const states = new Map<string, number>();
      for (const r of records.values()) states.set(r.state, (states.get(r.state) ?? 0) + 1);
      throw new Error(
        `timed out waiting for ${what}: ${records.size}/${packages.length} records, states ${JSON.stringify(
          Object.fromEntries(states),
        )}\n${describe()}`,
      );
    }
    // Polling Redis for observed progress, bounded by the deadline above.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Sends SIGKILL and waits for the process to be gone (no graceful shutdown, no lock release). */
export async function kill9(child: { process: ChildProcess }): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise((resolve) => child.process.once("exit", resolve));
  child.process.kill("SIGKILL");
  await exited;
}

/** Upstream requests of one upstream (`ais.`, `status.`, `images.`), without OAuth and control calls. */
export function requestsOf(stats: SimStats, upstream: string): { total: number; ok: number } {
  let total = 0;
  let ok = 0;
  for (const [operation, byOutcome] of Object.entries(stats.requests)) {
    if (!operation.startsWith(`${upstream}.`) || operation.endsWith(".oauthToken")) continue;
    for (const [outcome, n] of Object.entries(byOutcome)) {
      total += n;
      if (/^[23]\d\d$/.test(outcome)) ok += n;
    }
  }
  return { total, ok };
}
