import type { Redis } from "ioredis";
import type { BenchPackage, OfferedLoad } from "./chain-bench.js";
import { percentile, postEvents } from "./chain-bench.js";
import type { Completion, CompletionReceiver } from "./completion-receiver.js";
import { processCpuSeconds, redisCpuSeconds } from "./process-cpu.js";
import { fewestPushes } from "./fewest-pushes.js";
import { callsBetween, callsByCommand, commandCalls } from "./redis-stats.js";

/** What does the work in one run: the chain's worker process(es) or the same-work reference. */
export interface RunSide {
  /** Intake base URLs; events go to them in turn. */
  intakes: readonly string[];
  intakeToken: string;
  /** The processes doing the work, whose CPU is the "worker" figure (summed). */
  workerPids: readonly number[];
}

export interface RunContext {
  redis: Redis;
  simulatorPid: number;
  /** The simulator's AIS base URL, which serves `/_sim/stats` for every module. */
  simulatorUrl: string;
  receiver: CompletionReceiver;
  /** Events per second offered (0: a burst). */
  rate: number;
  timeoutMs: number;
  /** ATOM_BATCH_MAX_ENTRIES of both sides, for `fewestPushes`. */
  maxBatchEntries: number;
}

/** One measured run: N packages from their events to their notifications. */
export interface RunResult {
  packages: number;
  completed: number;
  seconds: number;
  perSecond: number;
  completionsPerSecond: number;
  /** True when packages/s is the offered rate rather than capacity. */
  keepsUpWithRate: boolean;
  offered: OfferedLoad;
  p50PushMs: number;
  p95PushMs: number;
  p99PushMs: number;
  /** The longest event→push wait of the run. */
  maxPushMs: number;
  p50CompleteMs: number;
  p95CompleteMs: number;
  p99CompleteMs: number;
  redisCommandsPerPackage: number;
  redisCommandsByCommand: Record<string, number>;
  /** CPU ms per package: `worker` summed over the worker processes, `workerProcesses` each. */
  cpuMsPerPackage: {
    worker: number;
    workerProcesses: number[];
    simulator: number;
    redis: number;
    bench: number;
  };
  /** Upstream requests by operation during the measured window (feed setup and tokens left out). */
  upstreamRequests: Record<string, number>;
  upstreamPerPackage: number;
  /**
   * The fewest Atom pushes that could have carried these events with no entry waiting longer than
   * this run's longest event→push (fewest-pushes.ts): what the upstream minimum counts.
   */
  fewestPushes: number;
  /** Notification posts received per package (1 unless some were redelivered). */
  notificationsPerPackage: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** Requests per operation the simulator answered so far, setup (tokens, feed creation) left out. */
export async function upstreamCounts(simulatorUrl: string): Promise<Map<string, number>> {
  const stats = (await (await fetch(`${simulatorUrl}/_sim/stats`)).json()) as {
    requests: Record<string, Record<string, number>>;
  };
  const counts = new Map<string, number>();
  for (const [operation, byStatus] of Object.entries(stats.requests)) {
    // Tokens and the benchmark's own feed creation are setup, not the work measured.
    if (operation.endsWith(".oauthToken") || operation.startsWith("ais.createMediaFeed")) continue;
    counts.set(
      operation,
      Object.values(byStatus).reduce((a, b) => a + b, 0),
    );
  }
  return counts;
}

/**
 * Sends `warmup` as a burst and waits for its notifications (JIT, connection pools and caches
 * settle; nothing of it is counted), then measures `packages` offered at the context's rate: from
 * the first event to the last `finishedAt`, CPU per process, Redis commands and upstream requests
 * between two snapshots taken once the previous notifications are all in.
 */
export async function measureRun(
  side: RunSide,
  ctx: RunContext,
  warmup: readonly BenchPackage[],
  packages: readonly BenchPackage[],
): Promise<RunResult> {
  ctx.receiver.clear();
  if (warmup.length > 0) {
    await postEvents(side.intakes, side.intakeToken, [...warmup], 32, 0);
    await ctx.receiver.waitFor(
      warmup.map((p) => p.ingestId),
      ctx.timeoutMs,
    );
  }
  const cpu = async () => ({
    workers: await Promise.all(side.workerPids.map((pid) => processCpuSeconds(pid))),
    simulator: await processCpuSeconds(ctx.simulatorPid),
    redis: await redisCpuSeconds(ctx.redis),
    bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  });
  const cpuBefore = await cpu();
  const callsBefore = await commandCalls(ctx.redis);
  const upstreamBefore = await upstreamCounts(ctx.simulatorUrl);
  const postsBefore = ctx.receiver.posts();

  const offered = await postEvents(side.intakes, side.intakeToken, [...packages], 32, ctx.rate);
  const done: Completion[] = await ctx.receiver.waitFor(
    packages.map((p) => p.ingestId),
    ctx.timeoutMs,
  );

  const callsAfter = await commandCalls(ctx.redis);
  const cpuAfter = await cpu();
  const upstreamAfter = await upstreamCounts(ctx.simulatorUrl);
  const count = packages.length;
  const perPackageMs = (before: number, after: number) => round2(((after - before) * 1000) / count);
  const workerProcesses = cpuAfter.workers.map((after, i) => perPackageMs(cpuBefore.workers[i]!, after));

  const finishedAt = done.map((c) => c.finishedAt);
  const lastFinishedAt = finishedAt.reduce((a, b) => Math.max(a, b), -Infinity);
  const firstFinishedAt = finishedAt.reduce((a, b) => Math.min(a, b), Infinity);
  const seconds = (lastFinishedAt - offered.firstSentAt) / 1000;
  const perSecond = count / seconds;
  // The rate at which packages finished, without the first one's latency: when it matches what
  // was offered, the run kept up, and packages/s is the offered rate, not capacity.
  const completionsPerSecond = count > 1 ? ((count - 1) * 1000) / (lastFinishedAt - firstFinishedAt) : NaN;
  const offeredRate = Number.isFinite(offered.perSecond) ? offered.perSecond : ctx.rate;
  const keepsUpWithRate =
    ctx.rate > 0 && (perSecond >= 0.95 * offeredRate || completionsPerSecond >= 0.95 * offeredRate);
  const pushMs = done.filter((c) => c.pushedAt !== undefined).map((c) => c.pushedAt! - c.eventAt);
  const maxPushMs = pushMs.reduce((a, b) => Math.max(a, b), 0);
  const doneMs = done.map((c) => c.finishedAt - c.eventAt);

  const upstreamRequests: Record<string, number> = {};
  for (const [operation, n] of upstreamAfter) {
    const ran = n - (upstreamBefore.get(operation) ?? 0);
    if (ran > 0) upstreamRequests[operation] = ran;
  }
  const upstreamTotal = Object.values(upstreamRequests).reduce((a, b) => a + b, 0);

  return {
    packages: count,
    completed: done.filter((c) => c.state === "completed").length,
    seconds,
    perSecond,
    completionsPerSecond,
    keepsUpWithRate,
    offered,
    p50PushMs: percentile(pushMs, 50),
    p95PushMs: percentile(pushMs, 95),
    p99PushMs: percentile(pushMs, 99),
    maxPushMs,
    p50CompleteMs: percentile(doneMs, 50),
    p95CompleteMs: percentile(doneMs, 95),
    p99CompleteMs: percentile(doneMs, 99),
    redisCommandsPerPackage: callsBetween(callsBefore, callsAfter) / count,
    redisCommandsByCommand: Object.fromEntries(
      [...callsByCommand(callsBefore, callsAfter)]
        .sort((a, b) => b[1] - a[1])
        .map(([command, n]) => [command, round2(n / count)]),
    ),
    cpuMsPerPackage: {
      worker: round2(workerProcesses.reduce((a, b) => a + b, 0)),
      workerProcesses,
      simulator: perPackageMs(cpuBefore.simulator, cpuAfter.simulator),
      redis: perPackageMs(cpuBefore.redis, cpuAfter.redis),
      bench: perPackageMs(cpuBefore.bench, cpuAfter.bench),
    },
    upstreamRequests,
    upstreamPerPackage: upstreamTotal / count,
    fewestPushes: fewestPushes(
      done.map((c) => c.eventAt),
      maxPushMs,
      ctx.maxBatchEntries,
    ),
    notificationsPerPackage: (ctx.receiver.posts() - postsBefore) / count,
  };
}
