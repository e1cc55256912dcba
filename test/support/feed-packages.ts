import { feedKeys } from "../../src/processors/vimond/atom-push.js";
import { jobId } from "../../src/queues/job-options.js";
import type { IngestPackage } from "../../src/records/ingest-record.js";
import { HARNESS_BUCKET, HARNESS_COMPANY, type ChainHarness } from "./chain-harness.js";

/**
 * What source-watch leaves for a package of the route `vimond` before atom-push runs: the record in
 * state queued (written as `RecordStore.create` would: its CREATE script currently fails on its own
 * argument list), the package, and the ingest on the media feed's pending list.
 */
export async function pendOnFeed(h: ChainHarness, id: string, pkg: IngestPackage): Promise<void> {
  const now = String(Date.now());
  await h.deps.redis.hset(h.deps.records.key(id), {
    id,
    route: "vimond",
    target: "vimond",
    bucket: HARNESS_BUCKET,
    key: `packages/${pkg.entryId}.json`,
    version: id,
    state: "queued",
    createdAt: now,
    updatedAt: now,
    eventAt: now,
  });
  await h.deps.redis.zadd(`${h.prefix}:ingests`, now, id);
  await h.deps.records.setPackage(id, pkg);
  await h.deps.redis.rpush(feedKeys(h.prefix, h.mediaFeedId).pending, id);
}

/**
 * The flush of the harness's feed that source-watch enqueues for a window of arrivals, under
 * `push-<feed>-<window…>`; `delay` as source-watch waits for more entries. Returns the job id.
 */
export async function flushFeed(
  h: ChainHarness,
  window: Array<string | number>,
  delay?: number,
): Promise<string> {
  const id = jobId("push", h.mediaFeedId, ...window);
  await h.deps.enqueue(
    "atom-push",
    { mediaFeedId: h.mediaFeedId, companyId: HARNESS_COMPANY },
    delay === undefined ? { jobId: id } : { jobId: id, delay },
  );
  return id;
}
