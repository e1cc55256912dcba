import { Queue } from "bullmq";
import type { Cluster, Redis } from "ioredis";
import { ObjectEvent } from "../intake/object-event.js";
import { STEP_NAMES } from "../queues/names.js";
import { layoutKey, partitionOf, partitionPrefixes } from "../queues/partitions.js";
import { SOURCE_WATCH } from "../queues/source-watch-queue.js";
import { notifyOutboxKey } from "../processors/every-target/notify.js";
import { entryIdKey, packageIdOf } from "../processors/every-target/package-identity.js";
import { sequencerKey } from "../processors/every-target/stale-events.js";

/**
 * Changing PARTITIONS (`ingest-worker partitions migrate --to N`). A package's partition is a hash
 * of its bucket and key modulo N, so a new N moves most packages: their records and the keys that
 * remember them across versions (the current-ingest pointer, the entry id, the newest sequencer,
 * the asset's image pack and images) must move with them, or the next version of a package would
 * be taken for a new one and pushed as a second asset.
 *
 * It runs with the chain drained and the workers stopped: every step's queue empty but for
 * source-watch jobs still waiting (events accepted and not started; they are moved as they are,
 * same job ids). Nothing in flight is moved, because nothing is in flight: that is what keeps the
 * move simple and the work safe. Keys a drained chain no longer reads (feed batches, AEM indexes,
 * sweep entries, webhook dedupe) stay behind and expire. Interrupted, it is run again: each record
 * is copied before its old keys go, and what was moved is not found in the old layout again.
 */

/** What stops a migration, one line each; empty when it may run. */
export interface MigrationPlan {
  from: number;
  to: number;
  /** Why it cannot run now (jobs in flight, workers connected). */
  blockers: string[];
  /** Ingest records in the old layout, and how many of them change partition. */
  records: number;
  moving: number;
  /** Waiting source-watch jobs (events accepted, not started). */
  waitingEvents: number;
}

export interface MigrationResult extends MigrationPlan {
  movedRecords: number;
  movedKeys: number;
  movedEvents: number;
}

/** The partition count the keys were written with: the marker, or 1 for an installation from before it. */
export async function storedLayout(redis: Redis, basePrefix: string): Promise<number | undefined> {
  const raw = await redis.get(layoutKey(basePrefix));
  if (raw === null) return undefined;
  const count = Number(raw);
  return Number.isInteger(count) && count >= 1 ? count : undefined;
}

/**
 * The start-up check: a worker with a PARTITIONS that does not match the keys in Redis would put
 * new versions of known packages in partitions where nothing remembers them. The first start
 * records the layout; an installation from before partitions counts as 1.
 */
export async function checkLayout(
  redis: Redis,
  basePrefix: string,
  count: number,
): Promise<string | undefined> {
  const stored = await storedLayout(redis, basePrefix);
  if (stored === undefined) {
    // No marker: a new installation, or one from before partitions, whose keys are the N = 1 layout.
    const legacy = count > 1 && (await redis.zcard(`${basePrefix}:ingests`)) > 0;
    if (legacy) return layoutMismatch(1, count);
    await redis.set(layoutKey(basePrefix), String(count), "NX");
    const now = await storedLayout(redis, basePrefix);
    return now === undefined || now === count ? undefined : layoutMismatch(now, count);
  }
  return stored === count ? undefined : layoutMismatch(stored, count);
}

function layoutMismatch(stored: number, count: number): string {
  return (
    `PARTITIONS=${count}, but the keys in Redis were written with PARTITIONS=${stored}. ` +
    `Either set PARTITIONS=${stored}, or drain the chain, stop every worker and run ` +
    `\`ingest-worker partitions migrate --to ${count}\` (docs/operations.md, Partitions).`
  );
}

/** A step queue per partition of a layout, for counting and moving jobs. */
function openQueues(redis: Redis, prefixes: readonly string[]): Queue[] {
  return prefixes.flatMap((prefix) =>
    STEP_NAMES.map((name) => {
      // No job options: these are only counted and paused; moved events go through moveWaitingEvents.
      const queue = new Queue(name, { connection: redis, prefix });
      queue.on("error", () => {});
      return queue;
    }),
  );
}

/** What a migration from the stored layout to `to` would do, and what stops it. */
export async function planMigration(
  redis: Redis,
  basePrefix: string,
  to: number,
  options: { allowWorkers?: boolean } = {},
): Promise<MigrationPlan> {
  const from = (await storedLayout(redis, basePrefix)) ?? 1;
  const queues = openQueues(redis, partitionPrefixes(basePrefix, from));
  try {
    const blockers: string[] = [];
    let waitingEvents = 0;
    for (const queue of queues) {
      const counts = await queue.getJobCounts(
        "active",
        "delayed",
        "prioritized",
        "waiting-children",
        "waiting",
      );
      const busy =
        (counts.active ?? 0) +
        (counts.delayed ?? 0) +
        (counts.prioritized ?? 0) +
        (counts["waiting-children"] ?? 0);
      const waiting = counts.waiting ?? 0;
      if (queue.name === SOURCE_WATCH.name) waitingEvents += waiting;
      const inFlight = busy + (queue.name === SOURCE_WATCH.name ? 0 : waiting);
      if (inFlight > 0)
        blockers.push(
          `${queue.opts.prefix}:${queue.name} still holds ${inFlight} job(s) in flight; let the chain drain`,
        );
      if (!options.allowWorkers) {
        // CLIENT LIST of the node serving the queue: BullMQ names its worker connections.
        const workers = await queue.getWorkersCount().catch(() => 0);
        if (workers > 0)
          blockers.push(
            `${queue.opts.prefix}:${queue.name} has ${workers} worker(s) connected; stop every worker first`,
          );
      }
    }
    // Notifications a dead worker left unsettled are handed to jobs by a worker of this layout's
    // outbox sweep; the new layout's workers sweep other keys, so they would never be sent.
    for (const prefix of partitionPrefixes(basePrefix, from)) {
      const unsettled = await redis.zcard(notifyOutboxKey(prefix));
      if (unsettled > 0)
        blockers.push(
          `${notifyOutboxKey(prefix)} still holds ${unsettled} notification(s); start a worker of this layout to hand them on`,
        );
    }
    let records = 0;
    let moving = 0;
    for (const [index, prefix] of partitionPrefixes(basePrefix, from).entries()) {
      const ids = await redis.zrange(`${prefix}:ingests`, "0", "-1");
      records += ids.length;
      for (const id of ids) {
        const [bucket, key] = await redis.hmget(`${prefix}:ingest:${id}`, "bucket", "key");
        if (bucket == null || key == null) continue;
        if (
          partitionPrefixes(basePrefix, to)[partitionOf(bucket, key, to)] !==
          partitionPrefixes(basePrefix, from)[index]
        )
          moving += 1;
      }
    }
    return { from, to, blockers, records, moving, waitingEvents };
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}

/** Moves one key with its value and time to live (DUMP/RESTORE works across cluster nodes). */
async function moveKey(redis: Redis, from: string, to: string): Promise<boolean> {
  const dump = await redis.dumpBuffer(from);
  if (dump === null) return false;
  const ttl = await redis.pttl(from);
  await redis.restore(to, ttl > 0 ? ttl : 0, dump, "REPLACE");
  await redis.del(from);
  return true;
}

/** Every key under `pattern` on every master (a cluster's keys of one slot live on one of them). */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const nodes = "nodes" in redis ? (redis as unknown as Cluster).nodes("master") : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, batch] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
  }
  return keys;
}

/** A glob pattern matching `text` literally (hash tags contain braces, which are not special, but be safe). */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * Runs the migration the plan describes, or throws with its blockers. Returns what it moved and
 * leaves the layout marker at `to`.
 */
export async function migratePartitions(
  redis: Redis,
  basePrefix: string,
  to: number,
  options: { allowWorkers?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<MigrationResult> {
  const plan = await planMigration(redis, basePrefix, to, options);
  if (plan.blockers.length > 0) throw new Error(`cannot migrate now:\n  ${plan.blockers.join("\n  ")}`);
  const oldPrefixes = partitionPrefixes(basePrefix, plan.from);
  const newPrefixes = partitionPrefixes(basePrefix, to);
  const result: MigrationResult = { ...plan, movedRecords: 0, movedKeys: 0, movedEvents: 0 };
  // Workers started meanwhile with either layout refuse to start until the marker says `to`.
  await redis.set(layoutKey(basePrefix), `migrating-${plan.from}-${to}`);
  let done = 0;
  for (const oldPrefix of oldPrefixes) {
    const index = `${oldPrefix}:ingests`;
    const entries = await redis.zrange(index, "0", "-1", "WITHSCORES");
    const assetsMoved = new Set<string>();
    for (let i = 0; i < entries.length; i += 2) {
      const id = entries[i]!;
      const score = entries[i + 1]!;
      const record = `${oldPrefix}:ingest:${id}`;
      const [bucket, key, route, assetId] = await redis.hmget(record, "bucket", "key", "route", "up:assetId");
      done += 1;
      options.onProgress?.(done, plan.records);
      if (bucket == null || key == null) {
        await redis.zrem(index, id); // an index entry whose record expired
        continue;
      }
      const newPrefix = newPrefixes[partitionOf(bucket, key, to)]!;
      if (newPrefix === oldPrefix) continue;
      const moves: Array<[string, string]> = [
        [`${oldPrefix}:ingest:${id}:history`, `${newPrefix}:ingest:${id}:history`],
        [sequencerKey(oldPrefix, { bucket, key }), sequencerKey(newPrefix, { bucket, key })],
      ];
      if (route != null) {
        const packageId = packageIdOf(route, bucket, key);
        moves.push(
          [`${oldPrefix}:package:${packageId}`, `${newPrefix}:package:${packageId}`],
          [entryIdKey(oldPrefix, packageId), entryIdKey(newPrefix, packageId)],
        );
      }
      if (assetId != null && !assetsMoved.has(assetId)) {
        assetsMoved.add(assetId);
        moves.push([`${oldPrefix}:asset-pack:${assetId}`, `${newPrefix}:asset-pack:${assetId}`]);
        const images = await scanKeys(redis, `${globEscape(`${oldPrefix}:asset-image:${assetId}:`)}*`);
        for (const image of images) moves.push([image, newPrefix + image.slice(oldPrefix.length)]);
      }
      // The record and its index entry last: a rerun after a crash finds the record still in the
      // old index and moves whatever of its keys had not gone yet.
      for (const [from, dest] of moves) if (await moveKey(redis, from, dest)) result.movedKeys += 1;
      await redis.zadd(`${newPrefix}:ingests`, score, id);
      if (await moveKey(redis, record, `${newPrefix}:ingest:${id}`)) result.movedKeys += 1;
      await redis.zrem(index, id);
      result.movedRecords += 1;
    }
  }
  result.movedEvents = await moveWaitingEvents(redis, oldPrefixes, newPrefixes, to);
  await carryPauses(redis, oldPrefixes, newPrefixes);
  await redis.set(layoutKey(basePrefix), String(to));
  return result;
}

/**
 * A step paused in the old layout (source-watch, by the documented procedure) is paused in the new
 * one too, so the moved events wait for the operator's resume instead of starting with the workers.
 */
async function carryPauses(
  redis: Redis,
  oldPrefixes: readonly string[],
  newPrefixes: readonly string[],
): Promise<void> {
  const before = openQueues(redis, oldPrefixes);
  const after = openQueues(redis, newPrefixes);
  try {
    for (const name of STEP_NAMES) {
      const paused = await Promise.all(before.filter((q) => q.name === name).map((q) => q.isPaused()));
      if (paused.some(Boolean)) await Promise.all(after.filter((q) => q.name === name).map((q) => q.pause()));
    }
  } finally {
    await Promise.all([...before, ...after].map((queue) => queue.close()));
  }
}

/** Re-adds every waiting source-watch job of the old layout to its new partition (same id, same data). */
async function moveWaitingEvents(
  redis: Redis,
  oldPrefixes: readonly string[],
  newPrefixes: readonly string[],
  to: number,
): Promise<number> {
  const { name } = SOURCE_WATCH;
  const open = (prefix: string) => {
    const queue = new Queue(name, { connection: redis, prefix, defaultJobOptions: SOURCE_WATCH.jobOptions });
    queue.on("error", () => {});
    return queue;
  };
  const targets = newPrefixes.map(open);
  let moved = 0;
  try {
    for (const oldPrefix of oldPrefixes) {
      const source = open(oldPrefix);
      try {
        // Read once, then move: the list shrinks as jobs leave it, so paging it would skip some.
        const jobs = await source.getJobs(["waiting"], 0, -1);
        for (const job of jobs) {
          const event = ObjectEvent.safeParse((job.data as { event?: unknown }).event);
          if (!event.success) throw new Error(`source-watch job ${job.id} holds no readable event`);
          const target = targets[partitionOf(event.data.bucket, event.data.key, to)]!;
          if (target.opts.prefix === oldPrefix) continue;
          // A job of that id retained there (completed, from an earlier layout) would swallow the add.
          const clash = job.id !== undefined && (await target.getJob(job.id)) !== undefined;
          const jobId = job.id === undefined ? undefined : clash ? `${job.id}-moved-${to}` : job.id;
          await target.add(name, job.data, jobId !== undefined ? { jobId } : {});
          await job.remove();
          moved += 1;
        }
      } finally {
        await source.close();
      }
    }
  } finally {
    await Promise.all(targets.map((queue) => queue.close()));
  }
  return moved;
}
