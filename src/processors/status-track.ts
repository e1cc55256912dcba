import { UnrecoverableError } from "bullmq";
import type { RetryAssetResult, VideoIngest } from "../adapters/index.js";
import { chainActions } from "../metrics/ingest-metrics.js";
import type { StatusTrackPayload } from "../queues/payloads.js";
import { defineProcessor, type StepResult } from "../queues/step.js";
import { STEP } from "../queues/steps.js";
import { fromEarlierRun, TERMINAL_STATES, type IngestRecord } from "../records/ingest-record.js";
import type { RecordUpdate } from "../records/record-store.js";
import type { ChainDeps } from "./deps.js";
import { pollDelay, retryAfterOf } from "./poll-delay.js";

const BRANCH = "status-track";

/**
 * Follows the video ingest of an asset in the Status API (seed 002) until it ends, then reports
 * the `status-track` branch of the ingest record:
 * - no ingest yet, or one still pending/running: re-delay (backoff with jitter, `Retry-After`
 *   honoured), recording the ingest id and its phase;
 * - COMPLETED or SKIPPED (an unchanged source): branch ok;
 * - FAILED: retry the asset's import (`TASK_RETRY_MAX` times) and follow the ingest it starts,
 *   then branch failed with the upstream's error text;
 * - CANCELLED: branch failed;
 * - still unfinished after `STUCK_DEADLINE_SECONDS`: cancel it and fail the branch as stuck.
 */
export function createStatusTrackProcessor(deps: ChainDeps) {
  const { records, env } = deps;
  const settings = { initialMs: env.POLL_INITIAL_DELAY_MS, maxMs: env.POLL_MAX_DELAY_MS };

  return defineProcessor(STEP["status-track"], async (payload, ctx) => {
    const { ingestId: id, assetId } = payload;
    const record = await records.get(id);
    // Superseded by a newer version, cancelled, or gone: nobody waits for this branch any more.
    if (!record || TERMINAL_STATES.has(record.state)) {
      return { outcome: "skipped", reason: `ingest is ${record?.state ?? "missing"}` };
    }
    // Cancelled and retried while this job waited: the new run follows its own video ingest.
    if (fromEarlierRun(record, payload.run)) return { outcome: "skipped", reason: "ingest runs again" };
    if (!deps.vimond) throw new UnrecoverableError("vimond target needs AIS_*, STATUS_* settings");
    const { status, ais } = deps.vimond;
    const now = deps.now();
    const startedAt = payload.startedAt ?? now;
    const stuck = now - startedAt >= env.STUCK_DEADLINE_SECONDS * 1000;

    /** Re-delays this job; the poll counter and start time travel in the payload. */
    const wait = async (reason: string, atLeastMs = 0): Promise<StepResult> => {
      const next: StatusTrackPayload = { ...payload, polls: payload.polls + 1, startedAt };
      await ctx.job.updateData(next);
      const delayMs = Math.max(
        atLeastMs,
        pollDelay(payload.polls, settings, () => deps.random()),
      );
      return { outcome: "waiting", delayMs, reason };
    };
    /** The video ingest id, when it is new to the record: written with the next record write. */
    let learned: RecordUpdate["upstream"];
    const finish = async (result: { ok: true } | { ok: false; reason: string }, detail: string) => {
      await records.finishBranch(id, BRANCH, result, {
        timing: { status: result.ok ? "done" : "failed", startedAt, endedAt: deps.now(), detail },
        upstream: learned,
      });
      return { outcome: "done", detail } satisfies StepResult;
    };

    let ingests: VideoIngest[];
    try {
      const profileName = profileOf(deps, record);
      ingests = await status.findIngests({ assetId, ...(profileName ? { profileName } : {}) });
    } catch (error) {
      // A Retry-After the adapter did not wait out is a polite "later", not a failed attempt.
      const retryAfter = retryAfterOf(error);
      if (retryAfter === undefined) throw error;
      return wait(`status API asked to retry after ${retryAfter} ms`, retryAfter);
    }
    const ingest = newestSince(ingests, payload.notBefore);

    if (!ingest) {
      if (stuck)
        return finish({ ok: false, reason: stuckReason(env.STUCK_DEADLINE_SECONDS) }, "no video ingest");
      return wait("no video ingest yet");
    }
    if (record.upstream.videoIngestId !== ingest.id) learned = { videoIngestId: ingest.id };

    switch (ingest.status) {
      case "completed":
      case "skipped":
        return finish({ ok: true }, `video ingest ${ingest.id} ${ingest.rawStatus}`);
      case "cancelled":
        return finish({ ok: false, reason: "video ingest cancelled" }, `video ingest ${ingest.id} cancelled`);
      case "failed":
        return onFailed(ingest);
      default:
        return onRunning(ingest);
    }

    async function onRunning(ingest: VideoIngest): Promise<StepResult> {
      const phase = `${ingest.stage ?? ingest.rawStatus}${ingest.progress === undefined ? "" : ` ${ingest.progress}%`}`;
      if (stuck) {
        await status.cancel(ingest.id);
        await records.countAttempt(id, "ingest_cancel");
        chainActions.inc({ action: "ingest_cancel" });
        await records.update(id, {
          history: [{ step: BRANCH, message: `cancelled video ingest ${ingest.id} (stuck in ${phase})` }],
          upstream: learned,
        });
        const reason = `${stuckReason(env.STUCK_DEADLINE_SECONDS)}: video ingest ${ingest.id} still ${phase}`;
        return finish({ ok: false, reason }, `cancelled video ingest ${ingest.id}`);
      }
      await records.update(id, {
        step: { name: BRANCH, timing: { status: "waiting", startedAt, detail: `${ingest.id} ${phase}` } },
        upstream: learned,
      });
      return wait(`video ingest ${ingest.id} ${phase}`);
    }

    async function onFailed(ingest: VideoIngest): Promise<StepResult> {
      const error = `video ingest ${ingest.id} failed: ${ingest.error ?? ingest.rawStatus}`;
      const attempt = await records.countAttempt(id, "asset_retry");
      if (attempt > env.TASK_RETRY_MAX) return finish({ ok: false, reason: error }, error);
      // Taken before the call: the ingest the retry starts begins after it, the failed one before.
      const retriedAt = deps.now();
      const result = await ais.retryAsset(assetId);
      chainActions.inc({ action: "asset_retry" });
      await records.update(id, {
        history: [
          {
            step: BRANCH,
            message: `${error}; retried the asset's import (${attempt}/${env.TASK_RETRY_MAX})`,
          },
        ],
        upstream: learned,
      });
      if (retriedNothing(result)) {
        return finish({ ok: false, reason: `${error} (the asset retry re-ran no task)` }, error);
      }
      // The payload is updated after the retry, so a crash in between retries again (bounded by
      // the counter above) rather than waiting for an ingest nobody started.
      const next: StatusTrackPayload = { ...payload, notBefore: retriedAt, polls: 0, startedAt };
      await ctx.job.updateData(next);
      const delayMs = pollDelay(0, settings, () => deps.random());
      return { outcome: "waiting", delayMs, reason: `waiting for the ingest that replaces ${ingest.id}` };
    }
  });
}

/** The route's video profile, when it names one (an asset may have ingests for several). */
function profileOf(deps: ChainDeps, record: IngestRecord): string | undefined {
  const route = deps.routes?.routes.find((r) => r.name === record.route);
  return route?.target === "vimond" ? route.vimond.profileName : undefined;
}

/**
 * The newest ingest that started at or after `notBefore` (the list is newest first). Ingests
 * without a start time cannot be placed, so they count only when there is no bound.
 */
function newestSince(ingests: VideoIngest[], notBefore: number | undefined): VideoIngest | undefined {
  if (notBefore === undefined) return ingests[0];
  return ingests.find((ingest) => {
    const at = ingest.startTime === undefined ? Number.NaN : Date.parse(ingest.startTime);
    return at >= notBefore;
  });
}

/**
 * AIS says which tasks an asset retry re-ran (the simulator does; seed 000 documents no body).
 * An explicit empty list means no new video ingest will come, so waiting for one would only
 * delay the failure until the stuck deadline.
 */
function retriedNothing(result: RetryAssetResult): boolean {
  const raw = result.raw as { retriedTaskIds?: unknown } | null | undefined;
  return Array.isArray(raw?.retriedTaskIds) && raw.retriedTaskIds.length === 0;
}

function stuckReason(deadlineSeconds: number): string {
  return `stuck: not finished within STUCK_DEADLINE_SECONDS (${deadlineSeconds} s)`;
}
