import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { Job } from "bullmq";
import { isFinalIngestStatus, vimondTenants, type VideoIngest } from "../../adapters/index.js";
import { backgroundLoop, pause, type BackgroundLoop } from "../../intake/background-loop.js";
import { moduleLogger } from "../../log/logger.js";
import { statusSweepPages, statusSweeps, statusSweepSettled } from "../../metrics/status-sweep-metrics.js";
import { ingestJobId } from "../../queues/job-options.js";
import { redisLease, type RedisLease } from "../../queues/redis-lease.js";
import { TERMINAL_STATES } from "../../records/ingest-record.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay, retryAfterOf } from "../every-target/poll-delay.js";
import { AwaitedIngests, type AwaitedEntry } from "./status-awaiting.js";
import { newestSince, phaseOf } from "./video-ingest-choice.js";

const log = moduleLogger("status-sweep");
const BRANCH = "status-track";

/**
 * Upstream start times and ours come from different clocks: a sweep pages this much further back
 * than the oldest awaited ingest's bound, so a small skew does not hide an ingest from it.
 */
const CLOCK_SKEW_MS = 60_000;
/** Awaited entries whose records a sweep checks per run (oldest first: they bound the paging). */
const PRUNE_CHECKS = 20;
/** Awaited ingests settled at once after the paging. */
const SETTLE_BATCH = 50;

/** What one `tick` did. */
export type SweepSummary =
  | { outcome: "lease_held"; owner: string }
  | {
      outcome: "swept" | "error";
      owner: string;
      startedAt: number;
      endedAt: number;
      awaited: number;
      pages: number;
      /** Awaited ingests whose video ingest had ended: their jobs were woken to settle them. */
      ended: number;
      /** Awaited ingests found still running (phase written when it changed). */
      running: number;
      error?: string;
    };

export interface StatusSweeperOptions {
  /** Tells replicas apart in the lease; default host, pid and a random part. */
  owner?: string;
  /** Called after every tick (tests, logs). */
  onSweep?: (summary: SweepSummary) => void;
  /**
   * Where the lease lives: QUEUE_PREFIX, so that with several partitions one replica sweeps them
   * all (default: the first partition's prefix, which is QUEUE_PREFIX when there is one).
   */
  leasePrefix?: string;
}

/** The per-tenant status sweep (STATUS_SWEEP) of one replica. */
export interface StatusSweeper {
  /** Sweeps every `STATUS_SWEEP_INTERVAL_MS` while this replica holds the lease. */
  start(): void;
  /** Stops the loop and gives the lease up, so another replica takes over at its next tick. */
  stop(): Promise<void>;
  /** One sweep now, if this replica holds (or can take) the lease. */
  tick(): Promise<SweepSummary>;
  readonly lease: RedisLease;
}

/**
 * Instead of one status poll per in-flight ingest, one sweeper per tenant pages `GET /ingests`
 * (seed 002: every ingest of the tenant, newest first, cursor and limit) back to the oldest awaited
 * ingest, and wakes the status-track job of every awaited ingest whose video ingest ended, leaving
 * it what the page said: requests grow with pages (recent activity), not with in-flight ingests.
 * Exactly one replica sweeps at a time (a Redis lease the sweeping replica keeps renewing); when it
 * dies the lease lapses and another takes over, and meanwhile every parked job still reads its own
 * status after `STATUS_SWEEP_FALLBACK_MS`.
 */
export function createStatusSweeper(
  partitionDeps: ChainDeps | readonly ChainDeps[],
  options: StatusSweeperOptions = {},
): StatusSweeper {
  // With partitions (PARTITIONS) each keeps its own awaited set, next to its records and jobs; one
  // sweep pages the tenant's list once for all of them, so its cost does not grow with N either.
  const parts = [partitionDeps].flat().map((d) => ({
    d,
    awaited: new AwaitedIngests(d.redis, d.prefix, vimondTenants(d.env).status),
    queue: d.queues.get("status-track"),
  }));
  const deps = parts[0]!.d;
  const { env } = deps;
  const tenant = vimondTenants(env).status;
  const owner = options.owner ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  // Outlives a tick's wait, so the sweeping replica keeps it from one sweep to the next.
  const lease = redisLease(
    deps.redis,
    new AwaitedIngests(deps.redis, options.leasePrefix ?? deps.prefix, tenant).keys.lease,
    owner,
    Math.max(2 * env.STATUS_SWEEP_INTERVAL_MS, 5_000),
  );
  type Part = (typeof parts)[number];

  async function sweep(
    startedAt: number,
  ): Promise<Omit<Extract<SweepSummary, { awaited: number }>, "outcome" | "owner" | "endedAt">> {
    const counts = { startedAt, awaited: 0, pages: 0, ended: 0, running: 0 };
    const entries = new Map<string, AwaitedEntry>();
    const partOf = new Map<string, Part>();
    for (const part of parts) {
      await prune(part);
      for (const [id, entry] of await part.awaited.all()) {
        entries.set(id, entry);
        partOf.set(id, part);
      }
    }
    counts.awaited = entries.size;
    if (entries.size === 0) return counts;

    const byAsset = new Map<string, string[]>();
    let bound = Number.POSITIVE_INFINITY;
    const profiles = new Set<string | undefined>();
    for (const [id, entry] of entries) {
      byAsset.set(entry.assetId, [...(byAsset.get(entry.assetId) ?? []), id]);
      bound = Math.min(bound, entry.since);
      profiles.add(entry.profileName);
    }
    bound -= CLOCK_SKEW_MS;
    // The seed filters by profile name: worth it only when every awaited ingest uses the same one.
    const [onlyProfile] = profiles.size === 1 ? [...profiles] : [undefined];

    const found = new Map<string, VideoIngest[]>();
    let cursor: string | undefined;
    let deepest = Number.MAX_SAFE_INTEGER;
    while (counts.pages < env.STATUS_SWEEP_MAX_PAGES) {
      const page = await deps.vimond!.status.listPage({
        limit: env.STATUS_SWEEP_PAGE_LIMIT,
        ...(cursor ? { cursor } : {}),
        ...(onlyProfile ? { profileName: onlyProfile } : {}),
      });
      counts.pages += 1;
      statusSweepPages.inc();
      for (const item of page.items) {
        if (byAsset.has(item.assetId)) found.set(item.assetId, [...(found.get(item.assetId) ?? []), item]);
      }
      cursor = page.cursor;
      const oldest = page.items.at(-1)?.startTime;
      const oldestAt = oldest === undefined ? Number.NaN : Date.parse(oldest);
      if (!Number.isNaN(oldestAt)) deepest = Math.min(deepest, oldestAt);
      if (!cursor || oldestAt < bound) break;
      // A long sweep must not let the lease lapse under it; losing it means another replica sweeps.
      if (!(await lease.renew())) throw new Error("lost the status sweep lease while sweeping");
    }

    const settle = async (id: string, items: VideoIngest[]) => {
      const entry = entries.get(id)!;
      const part = partOf.get(id)!;
      const ingest = newestSince(items, entry.notBefore);
      if (!ingest) return;
      if (isFinalIngestStatus(ingest.status)) {
        await part.awaited.putSeen(id, entry.run, items);
        await wake(part, id, entry.run);
        counts.ended += 1;
        statusSweepSettled.inc({ seen: "ended" });
      } else {
        await recordPhase(part, id, entry, ingest);
        counts.running += 1;
        statusSweepSettled.inc({ seen: "running" });
      }
    };
    const placed = [...byAsset].flatMap(([assetId, ids]) => {
      const items = found.get(assetId);
      return items ? ids.map((id) => [id, items] as const) : [];
    });
    // A few Redis round trips per settled ingest: in parallel batches, not one after another.
    for (let i = 0; i < placed.length; i += SETTLE_BATCH) {
      await Promise.all(placed.slice(i, i + SETTLE_BATCH).map(([id, items]) => settle(id, items)));
    }
    // Parked jobs whose ingests this sweep covered skip their own read until sweeps stop coming.
    for (const part of parts)
      await part.awaited.markSwept({ at: startedAt, reached: cursor ? deepest : null });
    return counts;
  }

  /** Runs the ingest's parked status-track job now; an active job finds the view on its next run. */
  async function wake({ queue }: Part, id: string, run: number): Promise<void> {
    if (!queue) return;
    const job = await Job.fromId(queue, ingestJobId("track", id, run));
    if (!job || !(await job.isDelayed())) return;
    await job.promote().catch((error: Error) => {
      // Started or removed between the check and the promote: it reads the view itself, or ended.
      log.debug({ ingestId: id, err: error.message }, "could not wake a parked status-track job");
    });
  }

  /** The running phase on the record, as status-track writes it, only when it changed. */
  async function recordPhase(
    { d, awaited }: Part,
    id: string,
    entry: AwaitedEntry,
    ingest: VideoIngest,
  ): Promise<void> {
    const phase = phaseOf(ingest);
    if (entry.phase === phase) return;
    const record = await d.records.get(id);
    if (!record || record.branches[BRANCH] !== "pending") return;
    await d.records.update(id, {
      step: {
        name: BRANCH,
        timing: { status: "waiting", startedAt: entry.startedAt, detail: `${ingest.id} ${phase}` },
      },
      ...(record.upstream.videoIngestId !== ingest.id ? { upstream: { videoIngestId: ingest.id } } : {}),
    });
    await awaited.setPhase(id, entry, phase);
  }

  /**
   * Entries whose job can no longer forget them (a job failed for good, a record removed) would
   * hold the paging bound back for ever: the oldest are checked against their records each sweep.
   */
  async function prune({ d, awaited }: Part): Promise<void> {
    const ids = await awaited.oldest(PRUNE_CHECKS);
    const records = await d.records.getMany(ids);
    for (const [i, id] of ids.entries()) {
      const record = records[i];
      const branch = record?.branches[BRANCH];
      const ended = !record || TERMINAL_STATES.has(record.state);
      if (ended || (branch !== undefined && branch !== "pending")) await awaited.forget(id);
    }
  }

  async function tick(): Promise<SweepSummary> {
    if (!(await lease.acquire())) {
      statusSweeps.inc({ outcome: "lease_held" });
      const summary: SweepSummary = { outcome: "lease_held", owner };
      options.onSweep?.(summary);
      return summary;
    }
    const startedAt = deps.now();
    let summary: SweepSummary;
    try {
      const counts = await sweep(startedAt);
      summary = { outcome: "swept", owner, ...counts, endedAt: deps.now() };
    } catch (error) {
      // Nothing is lost: every awaited ingest's job still reads its own status when its fallback
      // delay is up. A Retry-After is simply the next sweep's business.
      const retryAfter = retryAfterOf(error);
      const message = (error as Error).message;
      log.warn(
        { err: message, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) },
        "status sweep failed",
      );
      summary = {
        outcome: "error",
        owner,
        startedAt,
        endedAt: deps.now(),
        awaited: 0,
        pages: 0,
        ended: 0,
        running: 0,
        error: message,
      };
    }
    statusSweeps.inc({ outcome: summary.outcome });
    options.onSweep?.(summary);
    return summary;
  }

  const loop: BackgroundLoop = backgroundLoop(
    async (signal) => {
      let failures = 0;
      while (!signal.aborted) {
        const summary = await tick().catch((error: Error) => {
          // Redis away: the lease cannot be asked for; try again later.
          log.warn({ err: error.message }, "status sweep could not run");
          return undefined;
        });
        failures = summary && summary.outcome !== "error" ? 0 : failures + 1;
        // After failures, back off (capped at the fallback delay) instead of hammering a sick API.
        const delay =
          failures === 0
            ? env.STATUS_SWEEP_INTERVAL_MS
            : Math.min(
                env.STATUS_SWEEP_FALLBACK_MS,
                pollDelay(
                  failures,
                  { initialMs: env.STATUS_SWEEP_INTERVAL_MS, maxMs: env.STATUS_SWEEP_FALLBACK_MS },
                  () => deps.random(),
                ),
              );
        await pause(delay, signal);
      }
    },
    log,
    "status sweeper",
  );

  return {
    lease,
    start: () => loop.start(),
    async stop() {
      await loop.stop();
      await lease
        .release()
        .catch((error: Error) =>
          log.warn({ err: error.message }, "could not release the status sweep lease"),
        );
    },
    tick,
  };
}
