import type { Redis } from "ioredis";
import type { S3Adapter } from "../adapters/s3/s3-adapter.js";
import { objectVersionKey, type ObjectEvent } from "../intake/object-event.js";
import { jobId } from "../queues/job-options.js";
import type { SourceWatchPayload } from "../queues/payloads.js";
import { SOURCE_WATCH } from "../queues/source-watch-queue.js";
import { TERMINAL_STATES, type IngestRecord, type IngestState } from "../records/ingest-record.js";
import type { PartitionSet } from "./partition-set.js";

/**
 * The operator actions on ingests (retry, cancel, replay), one implementation for the HTTP API and
 * the CLI. Expected refusals are values (`not-found`, `conflict`) with a message for the operator;
 * only infrastructure failures (Redis away) throw.
 */

/** Who asked, for the history line. */
export type ActionVia = "http" | "cli";

/** What an action did, or why it did nothing. */
export type ActionOutcome<T> =
  | ({ ok: true; record: IngestRecord; message: string } & T)
  | { ok: false; reason: "not-found" | "conflict"; message: string; record?: IngestRecord };

/** What the actions need: every partition's records and source-watch queue (with the service's prefixes). */
export interface IngestActionDeps {
  partitions: PartitionSet;
  redis: Redis;
  now?: () => number;
}

/** Only these can be re-run: a completed ingest is done, a superseded one has a newer version. */
export const RETRYABLE: readonly IngestState[] = ["failed", "cancelled"];

/**
 * The object event that produced a record. The ingest id is the object's version key
 * ({@link objectVersionKey}) and the record keeps the version without saying whether it was a
 * versionId or an eTag, so each reading is tried and the one reproducing the id wins. Rebuilding
 * the same event is what makes source-watch re-open this record instead of starting another.
 */
export function eventForRecord(record: IngestRecord, now: number): ObjectEvent | undefined {
  const kinds: Array<ObjectEvent["kind"]> = record.package?.tombstone
    ? ["removed", "created"]
    : ["created", "removed"];
  for (const kind of kinds) {
    for (const field of ["versionId", "eTag", "sequencer"] as const) {
      const event: ObjectEvent = {
        kind,
        eventName: kind === "created" ? "ObjectCreated:Put" : "ObjectRemoved:Delete",
        bucket: record.bucket,
        key: record.key,
        [field]: record.version,
        eventTime: new Date(now).toISOString(),
        source: "replay",
      };
      if (objectVersionKey(event) === record.id) return event;
    }
  }
  return undefined;
}

/**
 * Why a record cannot be retried, or undefined when it can: a running ingest, a completed or
 * superseded one, and a record whose event cannot be rebuilt are refused. The bulk retry's dry run
 * asks this too, so what it predicts is what {@link retryIngest} then does.
 */
export function retryRefusal(record: IngestRecord, now: number): string | undefined {
  const id = record.id;
  if (!TERMINAL_STATES.has(record.state))
    return `ingest ${id} is still running (${record.state}); only a failed or cancelled ingest can be retried (cancel it first)`;
  if (!RETRYABLE.includes(record.state))
    return record.state === "completed"
      ? `ingest ${id} completed; there is nothing to retry`
      : `ingest ${id} was superseded by a newer version of its package; retrying it would publish stale content`;
  if (!eventForRecord(record, now))
    return `cannot rebuild the object event of ingest ${id} (its id is not the version key of s3://${record.bucket}/${record.key}); use 'replay' for the object instead`;
  return undefined;
}

/**
 * Runs a failed or cancelled ingest again from source-watch: re-opens its record (same id, a new
 * history line) and adds a source-watch job for the same object version under a fresh job id
 * `retry-<id>-<n>`, which the `sw-<versionKey>` dedupe of the original delivery cannot swallow.
 * Refused (conflict) for a running ingest, a completed or superseded one, and a record whose
 * event cannot be rebuilt.
 */
export async function retryIngest(
  deps: IngestActionDeps,
  id: string,
  via: ActionVia,
): Promise<ActionOutcome<{ jobId: string; retry: number }>> {
  const now = deps.now ?? Date.now;
  const partition = await deps.partitions.forIngest(id);
  const record = await partition?.records.get(id);
  if (!partition || !record) return { ok: false, reason: "not-found", message: `no ingest with id ${id}` };
  const { records, sourceWatch } = partition;
  const refusal = retryRefusal(record, now());
  const event = refusal === undefined ? eventForRecord(record, now()) : undefined;
  if (!event)
    return { ok: false, reason: "conflict", record, message: refusal ?? `cannot rebuild the event of ${id}` };

  // Re-opened as `received` with the previous run's traces cleared (RecordStore.reopen).
  const reopened = await records.reopen(id, RETRYABLE);
  if (!reopened.ok)
    return reopened.state === undefined
      ? { ok: false, reason: "not-found", message: `no ingest with id ${id}` }
      : {
          ok: false,
          reason: "conflict",
          message: `ingest ${id} changed to ${reopened.state} meanwhile; not retried`,
        };
  const { retry } = reopened;
  const retryJobId = jobId("retry", id, retry);
  await records.history(id, "retry", `retry ${retry} requested via ${via}: running again from source-watch`);
  try {
    await sourceWatch.add(SOURCE_WATCH.name, { event, polls: 0 } satisfies SourceWatchPayload, {
      jobId: retryJobId,
    });
  } catch (error) {
    // Re-opened but not queued would sit in `received` forever; fail it so it can be retried again.
    await records
      .fail(
        id,
        `retry ${retry} could not be queued: ${error instanceof Error ? error.message : String(error)}`,
        "retry",
      )
      .catch(() => undefined);
    throw error;
  }
  return {
    ok: true,
    record: (await records.get(id)) ?? record,
    jobId: retryJobId,
    retry,
    message: `ingest ${id} is running again (retry ${retry})`,
  };
}

/**
 * Cancels a running ingest: the record becomes `cancelled` (terminal), so every later step finds it
 * final and stops. Upstream work already started is not cancelled. Refused for a terminal ingest.
 */
export async function cancelIngest(
  deps: IngestActionDeps,
  id: string,
  via: ActionVia,
): Promise<ActionOutcome<object>> {
  const records = (await deps.partitions.forIngest(id))?.records;
  const record = await records?.get(id);
  if (!records || !record) return { ok: false, reason: "not-found", message: `no ingest with id ${id}` };
  const refused = (state: IngestState): ActionOutcome<object> => ({
    ok: false,
    reason: "conflict",
    record,
    message: `ingest ${id} already ended (${state}); only a running ingest can be cancelled`,
  });
  if (TERMINAL_STATES.has(record.state)) return refused(record.state);
  if (!(await records.transition(id, "cancelled"))) {
    const current = await records.get(id);
    return refused(current?.state ?? record.state);
  }
  await records.history(id, "cancel", `cancelled via ${via}`);
  const cancelled = (await records.get(id)) ?? record;
  return { ok: true, record: cancelled, message: `ingest ${id} cancelled` };
}

/** `s3://bucket/key` → parts; the key may be empty (a backfill of a whole bucket). */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/s.exec(url);
  if (!match?.[1]) return undefined;
  return { bucket: match[1], key: match[2] ?? "" };
}

/** What a replay found and did. */
export type ReplayOutcome =
  | { kind: "queued"; ingestId: string; jobId: string; event: ObjectEvent }
  | { kind: "exists"; ingestId: string; record: IngestRecord }
  | { kind: "missing" };

/**
 * Feeds one object to source-watch as if S3 had just announced it (source `replay`), e.g. after an
 * event was lost or a route was fixed. The object's current version is read with HEAD. The job id
 * carries the time so a retained `sw-<versionKey>` job from an earlier delivery cannot swallow the
 * replay; the ingest record (keyed by the version) still makes a second run of the same version a
 * no-op, which is why a version that already has a record is reported instead of queued.
 */
export async function replayObject(
  deps: IngestActionDeps & { s3: Pick<S3Adapter, "head"> },
  bucket: string,
  key: string,
): Promise<ReplayOutcome> {
  const now = (deps.now ?? Date.now)();
  const head = await deps.s3.head(bucket, key);
  if (!head.exists) return { kind: "missing" };
  const event: ObjectEvent = {
    kind: "created",
    eventName: "ObjectCreated:Put",
    bucket,
    key,
    size: head.size,
    ...(head.eTag !== "" ? { eTag: head.eTag } : {}),
    ...(head.versionId !== undefined ? { versionId: head.versionId } : {}),
    eventTime: (head.lastModified ?? new Date(now)).toISOString(),
    source: "replay",
  };
  const ingestId = objectVersionKey(event);
  const partition = deps.partitions.forObject(bucket, key);
  const record = await partition.records.get(ingestId);
  if (record) return { kind: "exists", ingestId, record };
  const replayJobId = jobId("replay", ingestId, now);
  await partition.sourceWatch.add(SOURCE_WATCH.name, { event, polls: 0 } satisfies SourceWatchPayload, {
    jobId: replayJobId,
  });
  return { kind: "queued", ingestId, jobId: replayJobId, event };
}
