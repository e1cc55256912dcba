import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postEvents } from "../../src/bench/chain-bench.js";
import { startLocalRedis, type LocalRedis } from "../../src/runtime/local-redis.js";
import { waitFor } from "../support/redis.js";
import {
  QUICK_UPSTREAMS,
  RUN_PACKAGES,
  countEnded,
  kill9,
  readRecords,
  simStats,
  startReliabilityStack,
  waitForProgress,
  type ReliabilityStack,
} from "./reliability-stack.js";

/** Packages posted before the restart; a further quarter is posted only after it. */
const N = RUN_PACKAGES;
const LATE = Math.ceil(N / 4);

type Worker = Awaited<ReturnType<ReliabilityStack["startWorker"]>>;

/**
 * A private redis-server with `appendonly yes` and `appendfsync always` (every acknowledged write
 * is on disk), killed with SIGKILL in the middle of a run and started again on the same port and
 * directory. The worker process is never restarted: it must reconnect and keep consuming on its
 * own. BullMQ has had releases whose workers silently stopped consuming after a reconnect, so the
 * test demands progress after the restart (packages that end later, and new ones posted later),
 * not a ping.
 */
describe("Redis restart mid-run", () => {
  const run = `redis${Date.now().toString(36)}`;
  const prefix = `{rel-redis-${run}}`;
  let dir: string;
  let redisServer: LocalRedis;
  let stack: ReliabilityStack;
  let worker: Worker | undefined;
  let client: Redis;

  beforeAll(async () => {
    // Our own directory, so stopping the server keeps its AOF for the restart.
    dir = await mkdtemp(join(tmpdir(), "ingest-reliability-redis-"));
    redisServer = await startLocalRedis({ durable: true, dir });
    // Reconnects by itself after the restart; the test reads records through it.
    client = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    client.on("error", () => {});
    stack = await startReliabilityStack(run, N + LATE);
  }, 120_000);

  afterAll(async () => {
    if (worker && worker.child.process.exitCode === null && worker.child.process.signalCode === null)
      await worker.child.stop().catch(() => {});
    await worker?.cleanup();
    await stack?.stop();
    client?.disconnect();
    await redisServer?.stop();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("loses nothing, and the same worker process resumes consuming after the restart", async () => {
    await stack.scenario({ modules: QUICK_UPSTREAMS });
    worker = await stack.startWorker(redisServer.url, prefix);
    const w = worker;
    const output = () => w.child.output().slice(-4000);
    const early = stack.packages.slice(0, N);
    const late = stack.packages.slice(N);

    await postEvents(w.url, w.intakeToken, early, 8);
    const before = await waitForProgress(
      client,
      prefix,
      early,
      "a third of the packages to end",
      (r) => countEnded(r) >= Math.ceil(N / 3),
      90_000,
      output,
    );
    const endedBefore = countEnded(before);

    // SIGKILL: no shutdown save. appendfsync always must be enough to lose nothing acknowledged.
    await kill9({ process: redisServer.process });
    const downAt = Date.now();
    // The worker must notice (readiness fails) before Redis returns: the outage was real to it.
    await waitFor(
      "the worker to report Redis as down",
      async () => (await fetch(`${w.url}/readyz`)).status === 503,
      20_000,
    );
    redisServer = await startLocalRedis({ durable: true, dir, port: redisServer.port });
    const restartedAt = Date.now();
    const downMs = restartedAt - downAt;
    await waitFor("the worker to be ready again", async () => (await fetch(`${w.url}/readyz`)).ok, 30_000);

    // New work after the restart: intake and every step must take it, not only jobs already claimed.
    await postEvents(w.url, w.intakeToken, late, 8);
    const records = await waitForProgress(
      client,
      prefix,
      stack.packages,
      "every package to end after the restart",
      (r) => countEnded(r) === stack.packages.length,
      120_000,
      output,
    );
    const all = await readRecords(client, prefix, stack.packages);
    const states = [...all.values()].filter((r) => r.state !== "completed").map((r) => [r.id, r.state]);
    expect(states).toEqual([]);
    expect(records.size).toBe(stack.packages.length);

    const finishedAfter = [...all.values()].filter((r) => (r.finishedAt ?? 0) > restartedAt).length;
    const stats = await simStats(stack.sim);
    console.info(
      `[reliability] redis-restart: ${N}+${LATE} packages, ${endedBefore} ended before the SIGKILL, ` +
        `Redis down ${downMs} ms, ${finishedAfter} finished after the restart, ` +
        `pushes ${stats.modules.ais.pushes.total} (${stats.modules.ais.pushes.duplicateVersions} duplicate versions), ` +
        `worker pid unchanged: ${w.child.process.exitCode === null}`,
    );
    // Progress after the restart, by the worker that lived through it.
    expect(w.child.process.exitCode).toBeNull();
    // The late packages, and at least some of the early ones that were in flight across the outage.
    expect(finishedAfter).toBeGreaterThan(LATE);
    expect(late.every((p) => all.get(p.ingestId)?.state === "completed")).toBe(true);
    expect(stats.modules.ais.pushes.duplicateVersions).toBe(0);
  }, 240_000);
});
