import { randomUUID } from "node:crypto";
import { backgroundLoop, pause } from "./background-loop.js";
import type { Redis } from "ioredis";
import type { S3Adapter, S3ListedObject } from "../adapters/s3/s3-adapter.js";
import type { Env } from "../config/env.js";
import { moduleLogger, type Logger } from "../log/logger.js";
import type { EventSink } from "./accept.js";
import { listedObjectEvent } from "./listed-object-event.js";

/** One bucket (and key prefix) the poller lists. */
export interface PollTarget {
  bucket: string;
  prefix: string;
}

/** Options of {@link createBucketPoller}. */
export interface BucketPollerOptions {
  s3: S3Adapter;
  /** A fail-fast (producer) connection. */
  redis: Redis;
  /** Queue prefix; the watermark and lock keys live under it. */
  prefix: string;
  sink: EventSink;
  /** Where `targets` and `intervalMs` come from when not given. */
  env?: Pick<Env, "POLL_BUCKETS" | "POLL_INTERVAL_MS">;
  /** Default: `POLL_BUCKETS`, each parsed with {@link parsePollTarget}. */
  targets?: PollTarget[];
  /** Between passes, and how long one replica owns a target after listing it; default `POLL_INTERVAL_MS`, else 60 s. */
  intervalMs?: number;
  /** Events handed to the sink at once (the watermark moves after each chunk). Default 500. */
  chunkSize?: number;
  log?: Logger;
}

/** What one pass over one target did. */
export interface PollSummary {
  bucket: string;
  prefix: string;
  /** False when another replica holds the target's lock. */
  listed: boolean;
  /** Objects seen in the listing. */
  seen: number;
  /** Events enqueued (objects newer than the watermark). */
  enqueued: number;
}

/**
 * The position up to which a target has been enqueued: the newest (LastModified, key) handed on,
 * plus the versions (`key@eTag`) seen within `SLACK_MS` below it. Listings date objects to the
 * second, so an object written in the same second as the watermark but sorting before it by key
 * would otherwise be skipped for good; the seen set tells such an object from an old one.
 */
interface Watermark {
  lastModified: number;
  key: string;
  seen: string[];
}

/** Covers LastModified's whole-second precision and small clock differences between S3 nodes. */
const SLACK_MS = 2000;

/** `bucket` or `bucket/some/prefix` (as in `POLL_BUCKETS`). */
export function parsePollTarget(spec: string): PollTarget {
  const slash = spec.indexOf("/");
  return slash < 0
    ? { bucket: spec, prefix: "" }
    : { bucket: spec.slice(0, slash), prefix: spec.slice(slash + 1) };
}

/** Redis key of a target's watermark. */
export function watermarkKey(queuePrefix: string, target: PollTarget): string {
  return `${queuePrefix}:poller:${target.bucket}:${target.prefix}`;
}

function lockKey(queuePrefix: string, target: PollTarget): string {
  return `${queuePrefix}:poller-lock:${target.bucket}:${target.prefix}`;
}

/**
 * Takes the lock when free, or renews it when this replica already holds it (its own next pass),
 * for ARGV[2] ms. Returns 1 when held.
 */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Extends the lock only while this replica still owns it. */
const EXTEND_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

function tag(object: S3ListedObject): string {
  return `${object.key}@${object.eTag}`;
}

function isNew(object: S3ListedObject, mark: Watermark | undefined, seen: ReadonlySet<string>): boolean {
  if (mark === undefined) return true;
  const t = object.lastModified.getTime();
  if (t > mark.lastModified) return true;
  return t >= mark.lastModified - SLACK_MS && !seen.has(tag(object));
}

function byPosition(a: S3ListedObject, b: S3ListedObject): number {
  const dt = a.lastModified.getTime() - b.lastModified.getTime();
  return dt !== 0 ? dt : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Lists each target with ListObjectsV2 and enqueues `ObjectCreated:Put` events for objects past
 * the target's watermark (LastModified, then key), which is persisted in Redis after each chunk
 * is durable, so a crash re-enqueues at most one chunk (deduplicated by job id).
 *
 * Replicas share the work through a lock per target (set-if-free with a PX of `intervalMs`), kept, not released,
 * after a pass: whoever lists a target owns it for one interval, so the bucket is listed about
 * once per interval however many replicas run.
 *
 * Limitation: S3 dates an object by when its upload began, so an object whose upload started
 * before the newest object already seen (a long multipart upload) sorts behind the watermark and
 * is missed; `ingest-worker backfill` covers such cases.
 */
export class BucketPoller {
  private readonly impl: ReturnType<typeof pollerLoop>;

  constructor(options: BucketPollerOptions) {
    this.impl = pollerLoop(options);
  }

  /** Starts the interval loop (no-op when running). */
  start(): void {
    this.impl.start();
  }

  /** Ends the interval loop; resolves after the pass in progress. */
  stop(): Promise<void> {
    return this.impl.stop();
  }

  /** One pass over every target (the loop calls this; tests and backfills may too). */
  pollOnce(): Promise<PollSummary[]> {
    return this.impl.pollOnce();
  }
}

function pollerLoop(options: BucketPollerOptions) {
  const log = options.log ?? moduleLogger("bucket-poller");
  const targets = options.targets ?? (options.env?.POLL_BUCKETS ?? []).map(parsePollTarget);
  const intervalMs = options.intervalMs ?? options.env?.POLL_INTERVAL_MS ?? 60_000;
  const chunkSize = options.chunkSize ?? 500;
  const owner = randomUUID();

  async function readWatermark(target: PollTarget): Promise<Watermark | undefined> {
    const raw = await options.redis.get(watermarkKey(options.prefix, target));
    if (raw === null) return undefined;
    try {
      const parsed = JSON.parse(raw) as Partial<Watermark>;
      if (typeof parsed.lastModified === "number" && typeof parsed.key === "string")
        return {
          lastModified: parsed.lastModified,
          key: parsed.key,
          seen: Array.isArray(parsed.seen) ? parsed.seen.filter((s) => typeof s === "string") : [],
        };
    } catch {
      // fall through: a corrupt watermark means listing from the start; job ids dedupe the rest
    }
    log.warn({ bucket: target.bucket, prefix: target.prefix }, "unreadable poller watermark; starting over");
    return undefined;
  }

  async function pollTarget(target: PollTarget): Promise<PollSummary> {
    const summary: PollSummary = { ...target, listed: false, seen: 0, enqueued: 0 };
    const lock = lockKey(options.prefix, target);
    const got = await options.redis.eval(ACQUIRE, 1, lock, owner, intervalMs);
    if (got !== 1) return summary;
    summary.listed = true;

    const mark = await readWatermark(target);
    const seen = new Set(mark?.seen ?? []);
    const listed: S3ListedObject[] = [];
    const fresh: S3ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await options.s3.list(
        target.bucket,
        target.prefix,
        token !== undefined ? { continuationToken: token } : {},
      );
      summary.seen += page.objects.length;
      for (const object of page.objects) {
        if (isNew(object, mark, seen)) fresh.push(object);
        else if (mark !== undefined && object.lastModified.getTime() >= mark.lastModified - 2 * SLACK_MS)
          listed.push(object);
      }
      token = page.nextContinuationToken;
      // A long listing keeps the target: another replica must not start listing it too.
      if (token !== undefined) await options.redis.eval(EXTEND_IF_OWNER, 1, lock, owner, intervalMs);
    } while (token !== undefined);

    fresh.sort(byPosition);
    for (let i = 0; i < fresh.length; i += chunkSize) {
      const chunk = fresh.slice(i, i + chunkSize);
      await options.sink.enqueue(chunk.map((object) => listedObjectEvent(target.bucket, object)));
      const last = chunk[chunk.length - 1] as S3ListedObject;
      // Never backwards: an unseen object inside the slack window may sort before the old mark.
      const top = mark !== undefined && mark.lastModified > last.lastModified.getTime() ? mark : undefined;
      const lastModified = top?.lastModified ?? last.lastModified.getTime();
      // Handed on so far: seen in earlier passes, or enqueued in this one up to this chunk.
      const handed = [...listed, ...fresh.slice(0, i + chunk.length)];
      const next: Watermark = {
        lastModified,
        key: top?.key ?? last.key,
        seen: handed.filter((o) => o.lastModified.getTime() >= lastModified - SLACK_MS).map(tag),
      };
      await options.redis.set(watermarkKey(options.prefix, target), JSON.stringify(next));
      summary.enqueued += chunk.length;
    }
    if (summary.enqueued > 0)
      log.info(
        { bucket: target.bucket, prefix: target.prefix, enqueued: summary.enqueued },
        "poller enqueued new objects",
      );
    return summary;
  }

  async function pollOnce(): Promise<PollSummary[]> {
    const summaries: PollSummary[] = [];
    for (const target of targets) summaries.push(await pollTarget(target));
    return summaries;
  }

  async function run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await pollOnce();
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ err: (error as Error).message, failures }, "bucket poll failed");
      }
      // After failures, wait at least the interval and back off up to 8 intervals.
      await pause(intervalMs * 2 ** Math.min(failures, 3), signal);
    }
  }

  const handle = backgroundLoop(run, log, "bucket poller");
  return {
    start: handle.start,
    stop: handle.stop,
    pollOnce,
  };
}
