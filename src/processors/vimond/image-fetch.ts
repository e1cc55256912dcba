import { UnrecoverableError } from "bullmq";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { isImageRejectedError, type ImagesAdapter } from "../../adapters/index.js";
import type { Logger } from "../../log/logger.js";
import type { StepResult } from "../../queues/step.js";
import { luaScript } from "../../queues/lua-script.js";
import { fromEarlierRun, TERMINAL_STATES } from "../../records/ingest-record.js";
import type { RecordUpdate } from "../../records/record-store.js";
import type { ChainDeps } from "../every-target/deps.js";
import { defineHandler } from "../step-table.js";

const BRANCH = "image-fetch";
/** Record field marking a cache invalidation this ingest still owes (`pending`, then `done`). */
const CACHE_FIELD = "img-cache";
/** Fetches of one image within one job before an unknown outcome is left to the job's retry. */
const INLINE_FETCH_ATTEMPTS = 3;
/** Stands for an image without an eTag: its content cannot be compared, so it counts as changed. */
const UNKNOWN_VERSION = "?";

/**
 * Remembers the version now at (asset, location) and returns whether it replaced a different one,
 * marking the ingest's record in the same step. One script, because a crash between the swap and
 * the record write would let a retried job see "same as before" and skip the invalidation.
 * KEYS: asset-location key, record hash. ARGV: version, record field for the location, marker field.
 */
const SWAP_IMAGE_VERSION = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
local replaced = previous and (previous ~= ARGV[1] or ARGV[1] == '${UNKNOWN_VERSION}')
if replaced then redis.call('HSET', KEYS[2], ARGV[3], 'pending') end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
if replaced then return 1 end
return 0
`;

/**
 * Puts the package's images into the asset's image pack (seed 004) and reports the `image-fetch`
 * branch. Safe to run twice: each location fetched by this ingest is recorded on its record and
 * skipped by a retry, and a cache invalidation owed for a replaced image survives a crash.
 * A refused image (HTTP 422) fails the branch naming the location; other errors are retried.
 */
export function createImageFetchProcessor(deps: ChainDeps) {
  const { records, redis, prefix } = deps;
  const swapImageVersion = luaScript(redis, "ingestSwapImageVersion", 2, SWAP_IMAGE_VERSION);

  return defineHandler("image-fetch", async (payload, ctx): Promise<StepResult> => {
    const { ingestId: id, assetId } = payload;
    // Run from job-poll, the record comes with the run (read and written there a moment ago).
    const record = ctx.record ?? (await records.get(id));
    if (!record || TERMINAL_STATES.has(record.state)) {
      return { outcome: "skipped", reason: `ingest is ${record?.state ?? "missing"}` };
    }
    // Cancelled and retried while this job waited: the new run fetches with its own job.
    if (fromEarlierRun(record, payload.run)) return { outcome: "skipped", reason: "ingest runs again" };
    if (!deps.vimond) throw new UnrecoverableError("vimond target needs IMAGES_* settings");
    const service = deps.vimond.images;
    const startedAt = deps.now();
    const images = record.package?.images ?? [];
    /** The pack id, when it is new to the record: written with the next record write. */
    let learned: RecordUpdate["upstream"];
    const finish = async (result: { ok: true } | { ok: false; reason: string }, detail: string) => {
      await records.finishBranch(id, BRANCH, result, {
        timing: { status: result.ok ? "done" : "failed", startedAt, endedAt: deps.now(), detail },
        upstream: learned,
      });
      return { outcome: "done", detail } satisfies StepResult;
    };
    if (images.length === 0) return finish({ ok: true }, "no images");

    const packId = record.upstream.imagePackId ?? (await packFor(service, assetId));
    // packFor stored the pack under the asset already, so a retry finds it even before this write.
    if (record.upstream.imagePackId === undefined) learned = { imagePackId: packId };

    const recordKey = records.key(id);
    let fetched = 0;
    for (const image of images) {
      const field = `img:${image.location}`;
      const sentField = `img-sent:${image.location}`;
      const [done, sent] = await redis.hmget(recordKey, field, sentField);
      if (done !== null) continue;
      // A crash (or lost lock) after the request left may have stored the image already.
      if (sent === null || !(await landedBefore(service, packId, assetId, image.location))) {
        await records.update(id, {
          fields: { [sentField]: String(deps.now()) },
          upstream: learned,
        });
        try {
          await fetchLookingFirst(service, packId, assetId, image.location, image.url);
        } catch (error) {
          if (!isImageRejectedError(error)) throw error;
          return finish(
            { ok: false, reason: `image ${image.location} rejected: ${error.reason}` },
            error.message,
          );
        }
        fetched += 1;
      }
      const replaced = await swapImageVersion(
        `${prefix}:asset-image:${assetId}:${image.location}`,
        recordKey,
        image.eTag ?? UNKNOWN_VERSION,
        field,
        CACHE_FIELD,
      );
      if (replaced === 1) ctx.log.info({ packId, location: image.location }, "image replaced");
    }

    // Once after all fetches: the invalidation drops every variant of the pack at once.
    if ((await redis.hget(recordKey, CACHE_FIELD)) === "pending") {
      const result = await service.invalidateCache(packId);
      await records.setFields(id, { [CACHE_FIELD]: "done" });
      await records.history(id, BRANCH, `image cache of pack ${packId}: ${result.status}`);
    }
    const fetchedDetail = `pack ${packId}: fetched ${fetched} of ${images.length} images`;
    const binding = await bindPack(assetId, packId, record.upstream.boundImagePackId, ctx.log);
    if (!binding.ok)
      return finish({ ok: false, reason: binding.reason }, `${fetchedDetail}; ${binding.reason}`);
    if (binding.bound) learned = { ...learned, boundImagePackId: packId };
    return finish({ ok: true }, `${fetchedDetail}; ${binding.detail}`);
  });

  /**
   * Makes the asset reference its pack (seed 004: "Bind the returned ID to an asset by setting the
   * asset's imagePackId"), after the images are in, so the asset never points at an empty pack it
   * did not point at before. A record that saw the binding already writes nothing; otherwise the
   * adapter reads the asset first, so a rerun after a crash finds it bound and writes nothing too.
   * An unknown asset fails the branch: the images would sit in a pack nothing references.
   */
  async function bindPack(
    assetId: string,
    packId: string,
    recorded: string | undefined,
    log: Logger,
  ): Promise<{ ok: true; bound: boolean; detail: string } | { ok: false; reason: string }> {
    const binding = deps.vimond?.assetBinding;
    if (!binding)
      return { ok: true, bound: false, detail: "not bound to the asset (ASSET_BIND_BASE_URL unset)" };
    if (recorded === packId) return { ok: true, bound: false, detail: `asset ${assetId} bound` };
    const result = await binding.ensureBound(assetId, packId);
    if (result.status === "asset_not_found") {
      return {
        ok: false,
        reason: `asset ${assetId} not found by the asset REST API (${result.path}): pack ${packId} is not bound`,
      };
    }
    if (result.status === "already_bound") return { ok: true, bound: true, detail: `asset ${assetId} bound` };
    if (result.previous !== undefined) {
      log.warn(
        { assetId, packId, previous: result.previous },
        "asset referenced another image pack: re-bound",
      );
      return { ok: true, bound: true, detail: `asset ${assetId} re-bound from pack ${result.previous}` };
    }
    return { ok: true, bound: true, detail: `asset ${assetId} bound` };
  }

  /**
   * Fetches one image; when an attempt's outcome is unknown (a timeout or reset after sending, a
   * 5xx), looks at the pack before sending it again, so a lost answer never stores the source
   * twice. The adapter does not repeat the fetch itself for that reason.
   */
  async function fetchLookingFirst(
    service: ImagesAdapter,
    packId: string,
    assetId: string,
    location: string,
    url: string,
  ): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await service.fetchImage(packId, location, url);
        return;
      } catch (error) {
        const lost = isUpstreamError(error) && error.ambiguous;
        if (!lost || attempt >= INLINE_FETCH_ATTEMPTS) throw error;
        if (await landedBefore(service, packId, assetId, location)) return;
      }
    }
  }

  /**
   * Whether an earlier run's fetch, whose answer was lost, stored the original. Provable only while
   * no earlier version of the asset filled the location (its asset-image key is unset); otherwise
   * the fetch is repeated, which at worst stores the same source twice.
   */
  async function landedBefore(
    service: ImagesAdapter,
    packId: string,
    assetId: string,
    location: string,
  ): Promise<boolean> {
    if ((await redis.exists(`${prefix}:asset-image:${assetId}:${location}`)) === 1) return false;
    const pack = await service.getImagePack(packId);
    return pack?.locations[location]?.imageId !== undefined;
  }

  /**
   * The asset's image pack: one per asset, shared by every version of its package. Concurrent
   * versions may both create one; SET NX makes them agree on the first stored, and the loser's
   * pack is left unused (orphaned; the Image Service has no delete for packs). A crash between
   * creating and storing orphans a pack the same way, which is why the id is stored at once.
   */
  async function packFor(service: ImagesAdapter, assetId: string): Promise<string> {
    const key = `${prefix}:asset-pack:${assetId}`;
    const existing = await redis.get(key);
    if (existing) return existing;
    const created = await service.createImagePack({ assetId });
    if ((await redis.set(key, created.id, "NX")) === "OK") return created.id;
    const winner = await redis.get(key);
    if (!winner) throw new Error(`image pack of asset ${assetId} vanished from ${key}`);
    return winner;
  }
}
