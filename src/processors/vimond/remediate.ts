import type { AisAdapter, FeedScope, ImportTask } from "../../adapters/ais/ais-adapter.js";
import { isSettled } from "../../adapters/ais/ais-states.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { isFinalIngestStatus } from "../../adapters/status/status-states.js";
import { chainActions } from "../../metrics/ingest-metrics.js";
import { jobId } from "../../queues/job-options.js";
import type { RemediatePayload } from "../../queues/payloads.js";
import type { StepContext, StepResult } from "../../queues/step.js";
import { failAtStep } from "../../records/fail-at-step.js";
import { fromEarlierRun, TERMINAL_STATES, type IngestRecord } from "../../records/ingest-record.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay } from "../every-target/poll-delay.js";
import { placeTasks } from "./task-placement.js";
import { requireVimond } from "./vimond-adapters.js";
import { defineHandler } from "../step-table.js";

const STEP_NAME = "remediate";

/**
 * Error codes that no retry can fix, whatever `retryable` says: the input itself is wrong or the
 * thing to act on does not exist.
 */
export const PERMANENT_TASK_ERRORS: ReadonlySet<string> = new Set([
  "INVALID_INPUT",
  "ASSET_NOT_FOUND",
  "UNSUPPORTED_FORMAT",
  "FORBIDDEN",
  "NOT_FOUND",
]);

/** Whether retrying the task may help: AIS did not say no, and the code is not a known dead end. */
export function isTransientTaskError(payload: Pick<RemediatePayload, "retryable" | "errorCode">): boolean {
  if (payload.retryable === false) return false;
  return payload.errorCode === undefined || !PERMANENT_TASK_ERRORS.has(payload.errorCode.toUpperCase());
}

/**
 * The ingest's tasks in its import job, placed as job-poll placed them: by entry id and version, and
 * in a one-entry job all of them even when they name no entry (job-poll sends a task here only once
 * the ingest had tasks, so a job whose tasks name no entry got here as a one-entry job).
 */
function ourTasks(record: IngestRecord, tasks: ImportTask[]): ImportTask[] {
  if (!record.package) return [];
  return placeTasks(1, [{ id: record.id, pkg: record.package }], tasks).byIngest.get(record.id) ?? [];
}

/**
 * remediate: one failed import task of one ingest. A transient failure is retried (bounded by
 * TASK_RETRY_MAX per ingest) and followed by a fresh job-poll after a backoff; anything else gives
 * up: the import job is aborted when still running for this ingest alone, a video ingest the import
 * started is cancelled, and the ingest fails with the task's error.
 *
 * The retry is not idempotent, so the job marks on the record what it did; a rerun of the same job
 * (a crash, a lost answer) looks at the task first and does not retry a task that already restarted.
 */
export function createRemediateProcessor(deps: ChainDeps) {
  const { records, env } = deps;

  const scopeOf = (payload: RemediatePayload): FeedScope =>
    payload.companyId ? { companyId: payload.companyId } : {};

  async function findTask(ais: AisAdapter, payload: RemediatePayload): Promise<ImportTask | undefined> {
    const tasks = await ais.listTasks(payload.mediaFeedId, payload.importJobId, scopeOf(payload));
    return tasks.find((task) => task.id === payload.taskId);
  }

  async function followUp(payload: RemediatePayload, attempt: number): Promise<void> {
    await deps.enqueue(
      "job-poll",
      {
        mediaFeedId: payload.mediaFeedId,
        ...(payload.companyId ? { companyId: payload.companyId } : {}),
        importJobId: payload.importJobId,
        ingestIds: [payload.ingestId],
        polls: 0,
      },
      {
        jobId: jobId("poll", payload.importJobId, payload.ingestId, attempt),
        // Backoff grows with each retry of the ingest, so a struggling upstream is not hammered.
        delay: pollDelay(
          attempt,
          { initialMs: env.POLL_INITIAL_DELAY_MS, maxMs: env.POLL_MAX_DELAY_MS },
          () => deps.random(),
        ),
      },
    );
  }

  async function retry(
    payload: RemediatePayload,
    ctx: StepContext,
    marker: string,
    startedAt: number,
  ): Promise<StepResult> {
    const { ais } = requireVimond(deps);
    const id = payload.ingestId;
    const previous = await deps.redis.hget(records.key(id), marker);
    let attempt: number;
    if (previous === null) {
      attempt = await records.countAttempt(id, "task_retry");
      await records.setFields(id, { [marker]: `counted ${attempt}` });
    } else {
      attempt = Number(previous.split(" ")[1]);
      // A rerun: the retry may have gone out before the crash; a task no longer failed was retried.
      const task = await findTask(ais, payload);
      if (previous.startsWith("retried") || (task && task.state !== "failed" && task.state !== "aborted")) {
        await followUp(payload, attempt);
        return { outcome: "done", detail: `task ${payload.taskId} already retried` };
      }
    }
    if (attempt > env.TASK_RETRY_MAX)
      return giveUp(payload, ctx, startedAt, `after ${env.TASK_RETRY_MAX} retries`);

    try {
      await ais.retryTask(payload.taskId);
    } catch (error) {
      // AIS refusing the retry (the task is gone, or not retryable) will not change on a rerun.
      if (isUpstreamError(error) && !error.retryable && !error.ambiguous) {
        return giveUp(payload, ctx, startedAt, `retry refused: ${error.message}`);
      }
      throw error;
    }
    chainActions.inc({ action: "task_retry" });
    await records.setFields(id, { [marker]: `retried ${attempt}` });
    await records.history(
      id,
      STEP_NAME,
      `retried ${payload.taskType} task ${payload.taskId} (${attempt}/${env.TASK_RETRY_MAX}): ${payload.errorCode ?? ""} ${payload.errorMessage ?? ""}`.trim(),
    );
    await records.step(id, STEP_NAME, {
      status: "done",
      startedAt,
      endedAt: deps.now(),
      detail: `retry ${attempt} of task ${payload.taskId}`,
    });
    await followUp(payload, attempt);
    return { outcome: "done", detail: `task ${payload.taskId} retried (${attempt})` };
  }

  /** Aborts the job only when nothing of another ingest still runs in it. */
  async function abortIfOnlyOurs(ais: AisAdapter, payload: RemediatePayload, record: IngestRecord) {
    const job = await ais.getJob(payload.mediaFeedId, payload.importJobId, scopeOf(payload));
    if (isSettled(job.state)) return;
    const tasks = await ais.listTasks(payload.mediaFeedId, payload.importJobId, scopeOf(payload));
    const ours = new Set(ourTasks(record, tasks).map((task) => task.id));
    const others = tasks.filter((task) => !isSettled(task.state) && !ours.has(task.id));
    if (others.length > 0) {
      await records.history(
        record.id,
        STEP_NAME,
        `import job ${job.id} left running: it still works for other entries`,
      );
      return;
    }
    await ais.abortJob(payload.importJobId);
    chainActions.inc({ action: "job_abort" });
    await records.history(record.id, STEP_NAME, `aborted import job ${job.id}`);
  }

  /** Cancels the unfinished video ingests of the asset that this import started. */
  async function cancelVideo(payload: RemediatePayload, record: IngestRecord): Promise<void> {
    const { ais, status } = requireVimond(deps);
    let assetId = record.upstream.assetId;
    if (assetId === undefined) {
      const tasks = await ais.listTasks(payload.mediaFeedId, payload.importJobId, scopeOf(payload));
      assetId = tasks.find((task) => task.id === payload.taskId && task.assetId !== undefined)?.assetId;
      assetId ??= ourTasks(record, tasks).find((task) => task.assetId !== undefined)?.assetId;
    }
    if (assetId === undefined) return;
    const since = record.pushedAt ?? record.createdAt;
    for (const ingest of await status.findIngests({ assetId })) {
      if (isFinalIngestStatus(ingest.status)) continue;
      const started = ingest.startTime === undefined ? Number.NaN : Date.parse(ingest.startTime);
      // An ingest older than this push belongs to an earlier version of the asset.
      if (!Number.isNaN(started) && started < since) continue;
      const result = await status.cancel(ingest.id);
      if (result.status === "cancelled") {
        chainActions.inc({ action: "ingest_cancel" });
        await records.setUpstream(record.id, { videoIngestId: ingest.id });
        await records.history(
          record.id,
          STEP_NAME,
          `cancelled video ingest ${ingest.id} of asset ${assetId}`,
        );
      }
    }
  }

  async function giveUp(
    payload: RemediatePayload,
    _ctx: StepContext,
    startedAt: number,
    why?: string,
  ): Promise<StepResult> {
    const { ais } = requireVimond(deps);
    const record = await records.get(payload.ingestId);
    if (!record || TERMINAL_STATES.has(record.state) || fromEarlierRun(record, payload.run))
      return { outcome: "skipped", reason: "ingest already ended or runs again" };
    await abortIfOnlyOurs(ais, payload, record);
    await cancelVideo(payload, record);
    const error = `${payload.errorCode ?? "UNKNOWN_ERROR"} ${payload.errorMessage ?? ""}`.trim();
    const reason = `${payload.taskType} task failed permanently${why ? ` (${why})` : ""}: ${error}`;
    await failAtStep(records, payload.ingestId, STEP_NAME, { startedAt, endedAt: deps.now() }, reason);
    return { outcome: "done", detail: reason };
  }

  return defineHandler("remediate", async (payload, ctx) => {
    requireVimond(deps);
    const startedAt = deps.now();
    // Ended, or retried by an operator since this job was made (the new run remediates its own).
    if (await records.settledFor(payload.ingestId, payload.run))
      return { outcome: "skipped", reason: "ingest already ended or runs again" };
    if (!isTransientTaskError(payload)) return giveUp(payload, ctx, startedAt);
    return retry(payload, ctx, `fix:${String(ctx.job.id)}`, startedAt);
  });
}
