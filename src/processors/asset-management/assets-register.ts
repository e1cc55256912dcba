import { UnrecoverableError } from "bullmq";
import type { AssetsAdapter, AssetView } from "../../adapters/assets/assets-adapter.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { chainActions } from "../../metrics/ingest-metrics.js";
import { ingestJobId } from "../../queues/job-options.js";
import { runOf } from "../../records/ingest-record.js";
import type { StepContext } from "../../queues/step.js";
import type { ChainDeps } from "../every-target/deps.js";
import { defineHandler, type StepHandler } from "../step-table.js";

/** Set on the record just before a register request; its presence means an outcome may be unknown. */
const SENT_FIELD = "am:registerSentAt";
/**
 * How much older than our request an asset found at the location may look and still be ours.
 * Covers clock skew between this worker and the Asset Management server; an asset older than that
 * belongs to an earlier version of the object and must not be adopted.
 */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * `assets-register`: registers the package's video (bucket + key) with Asset Management under
 * the route's parent folder, records the asset id and hands it to `assets-poll`.
 *
 * Register is not idempotent. A request whose outcome is unknown (an ambiguous failure now, or a
 * crash after sending it, seen as `am:registerSentAt` on the record) is reconciled with a lookup by
 * location before anything is registered again, so a retry never creates a second asset.
 */
export function createAssetsRegisterProcessor(deps: ChainDeps): StepHandler<"assets-register"> {
  return defineHandler("assets-register", async ({ ingestId }, ctx) => {
    const assets = deps.assets;
    if (!assets) {
      throw new UnrecoverableError(
        "assets-register needs the Asset Management adapter: set ASSETS_BASE_URL and credentials",
      );
    }
    const record = await deps.records.get(ingestId);
    if (!record) return { outcome: "skipped", reason: "no such ingest" };
    if (await deps.records.isTerminal(ingestId))
      return { outcome: "skipped", reason: `ingest is ${record.state}` };

    let assetId = record.upstream.managedAssetId;
    if (assetId === undefined) {
      const route = deps.routes?.routes.find((r) => r.name === record.route);
      if (route?.target !== "asset-management") {
        await deps.records.fail(
          ingestId,
          `assets-register: route ${record.route} is not an asset-management route`,
        );
        return { outcome: "done", detail: "no route" };
      }
      const location = {
        bucketName: record.bucket,
        // A media-triggered package is its video; a manifest names it.
        objectKey: record.package?.video?.key ?? record.key,
      };
      try {
        assetId = await registerOnce(
          deps,
          assets,
          ingestId,
          { ...location, parentFolder: route.assetManagement.parentFolder },
          ctx,
        );
      } catch (error) {
        // A refusal (400, 403, 404 for a missing object) will not change on retry; neither may a
        // record stay open once the last attempt is spent.
        const refused = isUpstreamError(error) && !error.retryable && !error.ambiguous;
        const lastAttempt = ctx.job.attemptsMade + 1 >= (ctx.job.opts.attempts ?? 1);
        if (!refused && !lastAttempt) throw error;
        await deps.records.fail(
          ingestId,
          `assets-register: ${error instanceof Error ? error.message : String(error)}`,
        );
        return { outcome: "done", detail: "register refused" };
      }
      await deps.records.setUpstream(ingestId, { managedAssetId: assetId });
      await deps.records.history(ingestId, "assets-register", `registered as asset ${assetId}`);
    }
    await deps.records.transition(ingestId, "importing");
    await deps.enqueue(
      "assets-poll",
      { ingestId, run: runOf(record), managedAssetId: assetId, polls: 0 },
      // The run: a retried ingest can find the same asset again (reconciled by location).
      { jobId: ingestJobId("amp", ingestId, runOf(record), assetId), delay: deps.env.POLL_INITIAL_DELAY_MS },
    );
    return { outcome: "done", detail: `asset ${assetId}` };
  });
}

interface RegisterTarget {
  bucketName: string;
  objectKey: string;
  parentFolder: string;
}

/** Registers, unless an earlier request whose outcome was lost already did. */
async function registerOnce(
  deps: ChainDeps,
  assets: AssetsAdapter,
  ingestId: string,
  target: RegisterTarget,
  ctx: StepContext,
): Promise<string> {
  const recordKey = deps.records.key(ingestId);
  const sentBefore = await deps.redis.hget(recordKey, SENT_FIELD);
  if (sentBefore !== null) {
    const found = await reconcile(assets, target, Number(sentBefore));
    if (found) {
      ctx.log.info({ assetId: found.id }, "earlier register took effect; adopting its asset");
      return found.id;
    }
  }
  const sentAt = deps.now();
  await deps.redis.hset(recordKey, SENT_FIELD, String(sentAt));
  try {
    return (await assets.register(target)).assetId;
  } catch (error) {
    if (isUpstreamError(error) && error.ambiguous) {
      const found = await reconcile(assets, target, sentAt);
      if (found) {
        ctx.log.info({ assetId: found.id }, "register answered with an error but took effect");
        return found.id;
      }
    }
    throw error;
  }
}

/** The asset at the location, when it was registered no earlier than `sentAt` (less clock skew). */
async function reconcile(
  assets: AssetsAdapter,
  target: RegisterTarget,
  sentAt: number,
): Promise<AssetView | undefined> {
  const found = await assets.findByLocation(target.bucketName, target.objectKey);
  if (!found) return undefined;
  const createdDate = found.raw.createdDate;
  const created = typeof createdDate === "string" ? Date.parse(createdDate) : Number.NaN;
  if (Number.isFinite(created) && Number.isFinite(sentAt) && created < sentAt - CLOCK_SKEW_MS)
    return undefined;
  chainActions.inc({ action: "reconcile_hit" });
  return found;
}
