import { UnrecoverableError } from "bullmq";
import type { RetryAssetResult, VideoIngest } from "../../adapters/index.js";
import { chainActions } from "../../metrics/ingest-metrics.js";
import type { StatusTrackPayload } from "../../queues/payloads.js";
import { vimondTenants } from "../../adapters/vimond-tenant.js";
import type { StepResult } from "../../queues/step.js";
import { fromEarlierRun, runOf, TERMINAL_STATES, type IngestRecord } from "../../records/ingest-record.js";
import type { RecordUpdate } from "../../records/record-store.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay, retryAfterOf } from "../every-target/poll-delay.js";
import { AwaitedIngests } from "./status-awaiting.js";
import { newestSince, phaseOf } from "./video-ingest-choice.js";
import { defineHandler } from "../step-table.js";

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
 *
 * With `STATUS_SWEEP` the job does not poll: it registers the ingest as awaited and parks for
 * `STATUS_SWEEP_FALLBACK_MS`. A sweep that finds the video ingest ended leaves what it saw and wakes
 * the job, which decides exactly as above from that; a job that wakes on its own (no sweep reached
 * it, or no sweeper runs) reads its status once itself, so no ingest is left unpolled.
 */
export function createStatusTrackProcessor(deps: ChainDeps) {
  const { records, env } = deps;
  const settings = { initialMs: env.POLL_INITIAL_DELAY_MS, maxMs: env.POLL_MAX_DELAY_MS };
  const awaited = env.STATUS_SWEEP
    ? new AwaitedIngests(deps.redis, deps.prefix, vimondTenants(env).status)
    : undefined;

  return defineHandler("status-track", async (payload, ctx) => {
    const { ingestId: id, assetId } = payload;
    // Run from job-poll, the record comes with the run (read and written there a moment ago).
    const record = ctx.record ?? (await records.get(id));
    // Superseded by a newer version, cancelled, or gone: nobody waits for this branch any more.
    if (!record || TERMINAL_STATES.has(record.state)) {
      await awaited?.forget(id, payload.run ?? 0);
      return { outcome: "skipped", reason: `ingest is ${record?.state ?? "missing"}` };
    }
    // Cancelled and retried while this job waited: the new run follows its own video ingest.
    if (fromEarlierRun(record, payload.run)) return { outcome: "skipped", reason: "ingest runs again" };
    const run = payload.run ?? runOf(record);
    // With sweeps a parked job may wake after its branch was reported (the record waits for
    // another branch): nothing is left for it to do.
    const branchState = record.branches[BRANCH];
    if (awaited && branchState !== undefined && branchState !== "pending") {
      await awaited.forget(id, run);
      return { outcome: "skipped", reason: `status-track already reported (${branchState})` };
    }
    if (!deps.vimond) throw new UnrecoverableError("vimond target needs AIS_*, STATUS_* settings");
    const { status, ais } = deps.vimond;
    const now = deps.now();
    const startedAt = payload.startedAt ?? now;
    const stuck = now - startedAt >= env.STUCK_DEADLINE_SECONDS * 1000;

    const profileName = profileOf(deps, record);
    /**
     * With sweeps: (re-)registers the ingest for the sweeper and parks for the fallback delay
     * (jittered, so ingests registered together do not read together when no sweep comes).
     */
    const park = async (next: StatusTrackPayload, reason: string, atLeastMs = 0): Promise<StepResult> => {
      await ctx.job.updateData(next);
      await awaited!.register(id, {
        run,
        assetId,
        ...(next.notBefore !== undefined ? { notBefore: next.notBefore } : {}),
        since: next.notBefore ?? record.pushedAt ?? record.createdAt,
        startedAt,
        ...(profileName ? { profileName } : {}),
      });
      const fallback = env.STATUS_SWEEP_FALLBACK_MS * (0.75 + 0.25 * deps.random());
      return {
        outcome: "waiting",
        delayMs: Math.max(atLeastMs, fallback),
        reason: `${reason}; parked for a status sweep`,
      };
    };
    /** Re-delays this job; the poll counter and start time travel in the payload. */
    const wait = async (reason: string, atLeastMs = 0): Promise<StepResult> => {
      const next: StatusTrackPayload = { ...payload, polls: payload.polls + 1, startedAt };
      if (awaited) return park(next, reason, atLeastMs);
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
      await awaited?.forget(id, run);
      return { outcome: "done", detail } satisfies StepResult;
    };

    /** Whether the last sweep started within one fallback delay and read back past this ingest. */
    const coveredByRecentSweep = async (registry: AwaitedIngests): Promise<boolean> => {
      const swept = await registry.lastSwept();
      if (!swept || swept.at < now - env.STATUS_SWEEP_FALLBACK_MS) return false;
      const since = payload.notBefore ?? record.pushedAt ?? record.createdAt;
      return swept.reached === null || since >= swept.reached;
    };
    let ingest: VideoIngest | undefined;
    if (awaited) {
      // What a sweep saw, when it woke this job: decided on without a request of our own. A view
      // with nothing since notBefore (the bound moved meanwhile) is no answer: read instead.
      const seen = await awaited.takeSeen(id, run);
      ingest = seen && newestSince(seen, payload.notBefore);
      // First run: register and wait for the sweeps; only a job that wakes on its own reads.
      if (!ingest && payload.polls === 0 && !stuck) return wait("registered for status sweeps");
      // Woken on its own, but a recent sweep covered this ingest (it was running, or had no video
      // ingest yet): that answer is as fresh as a read would be, so wait for the next sweep instead.
      // Only when sweeps stop coming (no sweeper, or it fails) does the job read for itself.
      if (!ingest && !stuck && (await coveredByRecentSweep(awaited)))
        return wait("followed by status sweeps");
    }
    if (!ingest) {
      let ingests: VideoIngest[];
      try {
        ingests = await status.findIngests({ assetId, ...(profileName ? { profileName } : {}) });
      } catch (error) {
        // A Retry-After the adapter did not wait out is a polite "later", not a failed attempt.
        const retryAfter = retryAfterOf(error);
        if (retryAfter === undefined) throw error;
        return wait(`status API asked to retry after ${retryAfter} ms`, retryAfter);
      }
      ingest = newestSince(ingests, payload.notBefore);
    }

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
      const phase = phaseOf(ingest);
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
      if (awaited) return park(next, `waiting for the ingest that replaces ${ingest.id}`);
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
