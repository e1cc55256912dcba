import { UnrecoverableError } from "bullmq";
import type { AssetJob, AssetsAdapter, AssetView } from "../../adapters/assets/assets-adapter.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { chainActions } from "../../metrics/ingest-metrics.js";
import type { StepResult } from "../../queues/step.js";
import type { AssetsPollPayload } from "../../queues/payloads.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay } from "../every-target/poll-delay.js";
import { fromEarlierRun, TERMINAL_STATES } from "../../records/ingest-record.js";
import { defineHandler, type StepHandler } from "../step-table.js";

/** The job-history entry a reprocess was started for; an Error still showing it is not a new one. */
const REPROCESSED_FIELD = "am:reprocessedAfter";

/**
 * Errors that a reprocess cannot fix: the object itself is wrong or out of reach. Everything else
 * (timeouts, an unavailable or throttled service, internal errors, and reasons the server does not
 * explain) is treated as transient: a processing pipeline failing once says little about the
 * next run, and `TASK_RETRY_MAX` bounds how often that guess is acted on.
 */
const PERMANENT_ERROR =
  /unsupported|not supported|invalid|corrupt|malformed|unrecogni[sz]ed|unknown (format|codec)|no such|not found|does not exist|missing|access denied|forbidden|permission|unauthori[sz]ed|too large|exceeds/i;

/** Whether an asset processing error is worth a reprocess (see {@link PERMANENT_ERROR}). */
export function isTransientAssetError(reason: string): boolean {
  // Object names in the message ("s3://bucket/missing-intro.mp4") say nothing about the error.
  return !PERMANENT_ERROR.test(reason.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, ""));
}

/**
 * `assets-poll`: follows a registered asset until Available (→ completed) or Error. On Error it
 * reads the job history for the reason; a transient one gets a `Reprocess` (at most
 * `TASK_RETRY_MAX`, counted as the `reprocess` attempt), anything else fails the ingest with it.
 */
export function createAssetsPollProcessor(deps: ChainDeps): StepHandler<"assets-poll"> {
  return defineHandler("assets-poll", async (payload, ctx) => {
    const assets = deps.assets;
    if (!assets) {
      throw new UnrecoverableError(
        "assets-poll needs the Asset Management adapter: set ASSETS_BASE_URL and credentials",
      );
    }
    const { ingestId, managedAssetId } = payload;
    const record = await deps.records.get(ingestId);
    // Ended, gone, or retried by an operator since this job was made (the new run polls its own).
    if (!record || TERMINAL_STATES.has(record.state) || fromEarlierRun(record, payload.run)) {
      return { outcome: "skipped", reason: `ingest is ${record?.state ?? "gone"}` };
    }
    if (record.upstream.managedAssetId !== managedAssetId) {
      return {
        outcome: "skipped",
        reason: `the ingest follows asset ${record.upstream.managedAssetId ?? "none"}`,
      };
    }

    const now = deps.now();
    const startedAt = payload.startedAt ?? now;
    if (now - startedAt > deps.env.STUCK_DEADLINE_SECONDS * 1000) {
      await deps.records.fail(
        ingestId,
        `assets-poll: asset ${managedAssetId} not Available within ${deps.env.STUCK_DEADLINE_SECONDS} s`,
      );
      return { outcome: "done", detail: "stuck" };
    }

    let asset: AssetView;
    try {
      asset = await assets.getAsset(managedAssetId);
    } catch (error) {
      if (isUpstreamError(error) && error.status === 404) {
        await deps.records.fail(ingestId, `assets-poll: asset ${managedAssetId} no longer exists (404)`);
        return { outcome: "done", detail: "asset gone" };
      }
      throw error;
    }

    const wait = async (reason: string, polls = payload.polls + 1): Promise<StepResult> => {
      await ctx.job.updateData({ ...payload, polls, startedAt });
      const delayMs = pollDelay(
        polls - 1,
        { initialMs: deps.env.POLL_INITIAL_DELAY_MS, maxMs: deps.env.POLL_MAX_DELAY_MS },
        () => deps.random(),
      );
      return { outcome: "waiting", delayMs, reason };
    };

    switch (asset.status) {
      case "available":
        await deps.records.transition(ingestId, "completed");
        return { outcome: "done", detail: `asset ${managedAssetId} available` };
      case "creating":
        await deps.records.transition(ingestId, "processing", { from: ["importing", "queued"] });
        return wait(asset.statusName ?? asset.status);
      case "registering":
      case "busy":
      case "unknown":
        // Unknown statuses are counted by the adapter; the stuck deadline bounds the wait.
        return wait(asset.statusName ?? asset.status);
      case "unavailable":
        await deps.records.fail(
          ingestId,
          `assets-poll: asset ${managedAssetId} is ${asset.statusName ?? "unavailable"}`,
        );
        return { outcome: "done", detail: "unavailable" };
      case "error":
        return onError(deps, assets, payload, asset, wait);
    }
  });
}

/** The newest failed processing job, whose error says why the asset is in Error. */
function lastFailure(history: AssetJob[]): AssetJob | undefined {
  for (let i = history.length - 1; i >= 0; i -= 1) {
    const job = history[i];
    if (job && (job.error !== undefined || /fail|error/i.test(job.status ?? ""))) return job;
  }
  return history[history.length - 1];
}

async function onError(
  deps: ChainDeps,
  assets: AssetsAdapter,
  payload: AssetsPollPayload,
  asset: AssetView,
  wait: (reason: string, polls?: number) => Promise<StepResult>,
): Promise<StepResult> {
  const { ingestId, managedAssetId } = payload;
  const failed = lastFailure(await assets.jobHistory(managedAssetId));
  const reason = failed?.error ?? asset.errorMessage ?? "processing error (no reason in the job history)";
  const recordKey = deps.records.key(ingestId);
  const marker = failed?.id ?? failed?.startTime;
  // The server may still show the run we already reprocessed for; that is no new failure.
  if (marker !== undefined && (await deps.redis.hget(recordKey, REPROCESSED_FIELD)) === marker) {
    return wait("reprocess not started yet");
  }
  if (!isTransientAssetError(reason)) {
    await deps.records.fail(ingestId, `asset error: ${reason}`);
    return { outcome: "done", detail: "permanent error" };
  }
  const attempt = await deps.records.countAttempt(ingestId, "reprocess");
  if (attempt > deps.env.TASK_RETRY_MAX) {
    await deps.records.fail(ingestId, `asset error after ${attempt - 1} reprocess runs: ${reason}`);
    return { outcome: "done", detail: "reprocess budget spent" };
  }
  const result = await assets.reprocess([managedAssetId]);
  const refused = result.failed.find((f) => f.id.toLowerCase() === managedAssetId.toLowerCase());
  if (refused) {
    if (/busy/i.test(refused.reason)) return wait(`reprocess refused: ${refused.reason}`);
    await deps.records.fail(ingestId, `asset error: ${reason}; reprocess refused: ${refused.reason}`);
    return { outcome: "done", detail: "reprocess refused" };
  }
  chainActions.inc({ action: "reprocess" });
  if (marker !== undefined) await deps.redis.hset(recordKey, REPROCESSED_FIELD, marker);
  await deps.records.history(
    ingestId,
    "assets-poll",
    `reprocess ${attempt}/${deps.env.TASK_RETRY_MAX} after: ${reason}`,
  );
  // A fresh run: poll it from the short end of the backoff again.
  return wait(`reprocessing (${attempt})`, 1);
}
