import type { Route } from "../../config/routes.js";
import { ingestJobId, jobId } from "../../queues/job-options.js";
import { luaScript } from "../../queues/lua-script.js";
import type { IngestRecord } from "../../records/ingest-record.js";
import type { RecordUpdate } from "../../records/record-store.js";
import { TRACE_FIELD } from "../../records/ingest-record.js";
import { currentTraceparent } from "../../telemetry/tracing.js";
import type { ChainDeps } from "./deps.js";

/**
 * The hand-off from source-watch to a target's first step. Batching targets share one convention,
 * which the consuming steps rely on:
 *
 * - vimond: the ingest id is RPUSHed to `${prefix}:feed:${mediaFeedId}:pending`; an `atom-push`
 *   job `{ mediaFeedId, companyId }` with id `push-<mediaFeedId>-<window>` and a delay of
 *   `ATOM_BATCH_MAX_WAIT_MS` flushes whatever is pending for the feed when it runs.
 * - aem: the ingest id is RPUSHed to `${prefix}:aem:${folder}:pending`; an `aem-import` job
 *   `{ folder }` with id `aem-<folder>-<window>`, same delay, imports what is pending.
 * - asset-management: no list; one `assets-register` job `{ ingestId }` with id
 *   `reg-<ingestId>-r<run>` (the run: see `ingestJobId`).
 *
 * `<window>` is `floor(now / ATOM_BATCH_MAX_WAIT_MS)`: every hand-off in one window adds the same
 * job id (a no-op after the first), and that job runs after the window has closed, so it sees all
 * of them. Consumers should read the list with LRANGE and trim what they took (LTRIM), and must
 * tolerate an id listed twice or an id whose record is already terminal (superseded, cancelled).
 */

/** The list of ingest ids waiting for the next Atom push of a media feed. */
export function feedPendingKey(prefix: string, mediaFeedId: string): string {
  return `${prefix}:feed:${mediaFeedId}:pending`;
}

/** The list of ingest ids waiting for the next AEM import into a folder. */
export function aemPendingKey(prefix: string, folder: string): string {
  return `${prefix}:aem:${folder}:pending`;
}

/**
 * Pushes the id once per record, however often the hand-off runs (a retried job): the record's
 * `handoff` field remembers the list it went to. KEYS: record hash, pending list; ARGV: ingest id.
 */
const PUSH_ONCE = `
if redis.call('HSETNX', KEYS[1], 'handoff', KEYS[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
`;

function windowOf(deps: ChainDeps): { slot: number; delay: number } {
  const wait = deps.env.ATOM_BATCH_MAX_WAIT_MS;
  // A zero wait still needs a finite slot: one-millisecond windows.
  return { slot: Math.floor(deps.now() / Math.max(1, wait)), delay: wait };
}

/**
 * Queues an assembled record (or tombstone) for its target: state `queued` (with `also`, the
 * caller's own record writes, in the same Redis call), then the pending list and the flush job.
 * Safe to run again for the same record (each effect is idempotent), which is what a retried
 * source-watch job does.
 */
export async function handOff(
  deps: ChainDeps,
  record: { id: IngestRecord["id"]; run: number },
  route: Route,
  also: RecordUpdate = {},
): Promise<void> {
  const ingestId = record.id;
  const pushOnce = luaScript(deps.redis, "ingestHandOffPushOnce", 2, PUSH_ONCE);
  const { slot, delay } = windowOf(deps);
  // With tracing on, the package's trace context goes on its record: steps after a batch (which
  // has one parent, the first package's) use it to rejoin this package's trace.
  const traceparent = currentTraceparent();
  // Queued first: a flush that finds the id must find the record ready for it.
  const queue = (message: string, upstream?: RecordUpdate["upstream"]) =>
    deps.records.update(ingestId, {
      ...also,
      ...(traceparent !== undefined ? { fields: { ...also.fields, [TRACE_FIELD]: traceparent } } : {}),
      ...(upstream ? { upstream } : {}),
      transition: { to: "queued", from: ["received", "waiting-objects"] },
      history: [...(also.history ?? []), { step: "source-watch", message }],
    });
  switch (route.target) {
    case "vimond": {
      const { mediaFeedId } = route.vimond;
      const companyId = route.vimond.companyId ?? deps.env.AIS_COMPANY_ID;
      await queue(`queued for the Atom push of media feed ${mediaFeedId}`, { mediaFeedId });
      await pushOnce(deps.records.key(ingestId), feedPendingKey(deps.prefix, mediaFeedId), ingestId);
      await deps.enqueue(
        "atom-push",
        { mediaFeedId, ...(companyId !== undefined ? { companyId } : {}) },
        { jobId: jobId("push", mediaFeedId, slot), delay },
      );
      return;
    }
    case "aem": {
      const { folder } = route.aem;
      await queue(`queued for the AEM import into ${folder}`);
      await pushOnce(deps.records.key(ingestId), aemPendingKey(deps.prefix, folder), ingestId);
      await deps.enqueue("aem-import", { folder }, { jobId: jobId("aem", folder, slot), delay });
      return;
    }
    case "asset-management": {
      await queue("queued for asset registration");
      await deps.enqueue(
        "assets-register",
        { ingestId, run: record.run },
        { jobId: ingestJobId("reg", ingestId, record.run) },
      );
      return;
    }
  }
}
