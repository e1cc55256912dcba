import type { Redis } from "ioredis";
import type { S3Adapter, S3ListedObject } from "../adapters/s3/s3-adapter.js";
import type { RoutesFile } from "../config/routes.js";
import type { EventSink } from "../intake/accept.js";
import { listedObjectEvent } from "../intake/listed-object-event.js";
import { objectVersionKey, type ObjectEvent } from "../intake/object-event.js";
import type { IngestState } from "../records/ingest-record.js";
import type { RecordStore } from "../records/record-store.js";
import { matchRoute } from "../routing/match-route.js";

/** Counts a backfill reports as it goes and at the end. */
export interface BackfillProgress {
  /** Objects listed so far (this run). */
  listed: number;
  /** Trigger objects with no ingest yet, handed to the sink (on a dry run: those that would be). */
  enqueued: number;
  /** Objects whose version already has an ingest record: not queued again (see `retry`). */
  ingested: number;
  /** Objects no route takes: the worker would only count them as unrouted. */
  unrouted: number;
  /** Objects under a manifest route that are not its trigger (a video or image a sidecar names). */
  members: number;
  /** Folder markers (`key/` of size 0): never packages. */
  skipped: number;
  /** Objects whose LastModified is outside the `--since`/`--until` window: not looked at further. */
  outsideWindow: number;
  pages: number;
  /** The last key done, which is also the checkpoint. */
  lastKey?: string;
}

/** An object that already has an ingest for its current version. */
export interface BackfillIngested {
  key: string;
  ingestId: string;
  state: IngestState;
}

/** Which object went where, for the report (this run's objects only). */
export interface BackfillLists {
  queued: string[];
  ingested: BackfillIngested[];
  unrouted: string[];
  members: string[];
}

/** Options of {@link backfill}. */
export interface BackfillOptions {
  s3: Pick<S3Adapter, "list">;
  /** The intake sink: same `sw-<versionKey>` job ids as live events, so overlaps collapse. */
  sink: EventSink;
  redis: Redis;
  /** The worker's routes: an object no route takes as a trigger is reported, not queued. */
  routes: RoutesFile | null;
  /** Where existing ingests are looked up, so a version already ingested is not queued again. */
  records: Pick<RecordStore, "getMany">;
  /** The queue prefix; the checkpoint lives under it. */
  prefix: string;
  bucket: string;
  keyPrefix: string;
  /** Only objects last modified at or after this time (ms)… */
  modifiedSince?: number;
  /** …and before this one (ms, exclusive). S3 cannot filter a listing, so every key is still listed. */
  modifiedUntil?: number;
  /** List and count only: nothing is enqueued and the checkpoint is neither read nor moved. */
  dryRun?: boolean;
  onPage?: (progress: Readonly<BackfillProgress>) => void;
  now?: () => number;
}

/** The result: final counts, the objects of each kind, and where it resumed from, if it did. */
export interface BackfillResult extends BackfillProgress {
  resumedAfter?: string;
  lists: BackfillLists;
}

/** Kept a week: long enough to resume an interrupted run, short enough not to pile up. */
const CHECKPOINT_TTL_SECONDS = 7 * 24 * 3600;

/**
 * The Redis key holding the last key a backfill of `s3://bucket/keyPrefix` finished. A run with a
 * LastModified window has its own checkpoint, so it never resumes a run that queued another window.
 */
export function backfillCheckpointKey(
  prefix: string,
  bucket: string,
  keyPrefix: string,
  window: { since?: number; until?: number } = {},
): string {
  const base = `${prefix}:backfill:${bucket}/${keyPrefix}`;
  if (window.since === undefined && window.until === undefined) return base;
  return `${base}@${window.since ?? ""}..${window.until ?? ""}`;
}

/**
 * Turns every object under a prefix into an ObjectCreated event, one ListObjectsV2 page at a time.
 * After each page is durably enqueued its last key becomes the checkpoint, so an interrupted run
 * started again continues after it (S3 lists in key order); a finished run deletes the checkpoint
 * so the next backfill of the prefix starts over. Re-listing an object is harmless: its job id is
 * the same as the live event's.
 *
 * Only what the worker would act on is queued: an object no route takes, a package member (the
 * source-watch step skips both) or a version that already has an ingest record is reported in its
 * own list instead, so "queued" means work was actually started.
 */
export async function backfill(options: BackfillOptions): Promise<BackfillResult> {
  const checkpointKey = backfillCheckpointKey(options.prefix, options.bucket, options.keyPrefix, {
    ...(options.modifiedSince !== undefined ? { since: options.modifiedSince } : {}),
    ...(options.modifiedUntil !== undefined ? { until: options.modifiedUntil } : {}),
  });
  const inWindow = (object: S3ListedObject): boolean => {
    const at = object.lastModified.getTime();
    return (
      (options.modifiedSince === undefined || at >= options.modifiedSince) &&
      (options.modifiedUntil === undefined || at < options.modifiedUntil)
    );
  };
  const resumedAfter = options.dryRun ? undefined : ((await options.redis.get(checkpointKey)) ?? undefined);
  const progress: BackfillProgress = {
    listed: 0,
    enqueued: 0,
    ingested: 0,
    unrouted: 0,
    members: 0,
    skipped: 0,
    outsideWindow: 0,
    pages: 0,
  };
  const lists: BackfillLists = { queued: [], ingested: [], unrouted: [], members: [] };
  let continuationToken: string | undefined;
  do {
    const page = await options.s3.list(options.bucket, options.keyPrefix, {
      ...(continuationToken !== undefined
        ? { continuationToken }
        : resumedAfter !== undefined
          ? { startAfter: resumedAfter }
          : {}),
    });
    const files = page.objects.filter((o) => !(o.key.endsWith("/") && o.size === 0));
    const objects = files.filter(inWindow);
    progress.listed += page.objects.length;
    progress.skipped += page.objects.length - files.length;
    progress.outsideWindow += files.length - objects.length;
    progress.pages += 1;
    const triggers: ObjectEvent[] = [];
    for (const object of objects) {
      const event = listedObjectEvent(options.bucket, object);
      const match = matchRoute(options.routes, event);
      if (match === undefined) lists.unrouted.push(object.key);
      else if (match.role === "member") lists.members.push(object.key);
      else triggers.push(event);
    }
    const existing = await options.records.getMany(triggers.map((event) => objectVersionKey(event)));
    const fresh: ObjectEvent[] = [];
    triggers.forEach((event, i) => {
      const record = existing[i];
      if (record) lists.ingested.push({ key: event.key, ingestId: record.id, state: record.state });
      else fresh.push(event);
    });
    if (!options.dryRun && fresh.length) await options.sink.enqueue(fresh);
    lists.queued.push(...fresh.map((event) => event.key));
    progress.enqueued = lists.queued.length;
    progress.ingested = lists.ingested.length;
    progress.unrouted = lists.unrouted.length;
    progress.members = lists.members.length;
    const last = page.objects.at(-1);
    if (last) {
      progress.lastKey = last.key;
      if (!options.dryRun) await options.redis.set(checkpointKey, last.key, "EX", CHECKPOINT_TTL_SECONDS);
    }
    options.onPage?.(progress);
    continuationToken = page.nextContinuationToken;
  } while (continuationToken !== undefined);
  if (!options.dryRun) await options.redis.del(checkpointKey);
  return { ...progress, lists, ...(resumedAfter !== undefined ? { resumedAfter } : {}) };
}
