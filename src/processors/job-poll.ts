import type { FeedScope, ImportJob, ImportTask } from "../adapters/ais/ais-adapter.js";
import { isSettled } from "../adapters/ais/ais-states.js";
import { isUpstreamError } from "../adapters/http/upstream-error.js";
import { chainActions } from "../metrics/ingest-metrics.js";
import { jobId } from "../queues/job-options.js";
import type { JobPollPayload } from "../queues/payloads.js";
import { defineProcessor, type StepContext, type StepResult } from "../queues/step.js";
import { STEP } from "../queues/steps.js";
import { TERMINAL_STATES, type IngestRecord } from "../records/ingest-record.js";
import { taskMatchesPackage } from "./atom-push.js";
import type { ChainDeps } from "./deps.js";
import { pollDelay, retryAfterOf } from "./poll-delay.js";
import { requireVimond } from "./vimond-adapters.js";

const STEP_NAME = "job-poll";

/** What became of one ingest once its import tasks were read. */
type Verdict = "unsettled" | "remediating" | "branched" | "completed" | "failed";

function taskLabel(task: ImportTask): string {
  return `${task.type} task ${task.id}`;
}

/** When AIS created the task (ms), from its raw `created`; status-track ignores older ingests. */
function createdAt(task: ImportTask): number | undefined {
  const value = (task.raw as { created?: unknown } | null)?.created;
  const at = typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

/**
 * job-poll: follows one AIS import job until it settles, without sleeping: an unsettled job
 * re-delays this same job (exponential backoff with jitter, or the upstream's Retry-After). A
 * settled job's tasks are read once and each ingest moves on: failed tasks to remediate, imported
 * ones to their branches (status-track, image-fetch) or straight to completed. A job still
 * unsettled after STUCK_DEADLINE_SECONDS is aborted and its ingests fail as stuck.
 */
export function createJobPollProcessor(deps: ChainDeps) {
  const { records, env } = deps;

  async function reDelay(
    payload: JobPollPayload,
    ctx: StepContext,
    ingestIds: string[],
    startedAt: number,
    retryAfterMs?: number,
  ): Promise<StepResult> {
    await ctx.job.updateData({ ...payload, ingestIds, polls: payload.polls + 1, startedAt });
    const delayMs =
      retryAfterMs ??
      pollDelay(payload.polls, { initialMs: env.POLL_INITIAL_DELAY_MS, maxMs: env.POLL_MAX_DELAY_MS }, () =>
        deps.random(),
      );
    return { outcome: "waiting", delayMs, reason: `import job ${payload.importJobId} not settled` };
  }

  async function stuck(
    payload: JobPollPayload,
    job: ImportJob,
    ids: string[],
    startedAt: number,
  ): Promise<StepResult> {
    const { ais } = requireVimond(deps);
    // Only the job is stopped: nothing else was started for these ingests yet.
    await ais.abortJob(payload.importJobId);
    chainActions.inc({ action: "job_abort" });
    const seconds = Math.round((deps.now() - startedAt) / 1000);
    const reason = `stuck: import job ${payload.importJobId} not settled after ${seconds} s (state ${job.rawState ?? job.state}); aborted`;
    for (const id of ids) {
      await records.step(id, STEP_NAME, { status: "failed", startedAt, endedAt: deps.now(), detail: reason });
      await records.fail(id, reason);
    }
    return { outcome: "done", detail: reason };
  }

  /** Decides one ingest from its tasks in a settled job. */
  async function settle(
    payload: JobPollPayload,
    job: ImportJob,
    record: IngestRecord,
    all: ImportTask[],
    startedAt: number,
  ): Promise<Verdict> {
    const id = record.id;
    const pkg = record.package;
    const done = async (status: "done" | "failed", detail: string) =>
      records.step(id, STEP_NAME, { status, startedAt, endedAt: deps.now(), detail });
    if (!pkg) {
      await records.fail(id, "job-poll: the record has no package");
      return "failed";
    }
    const tasks = all.filter((task) => taskMatchesPackage(task, pkg));
    if (tasks.length === 0) {
      const reason =
        job.state === "aborted"
          ? `import job ${job.id} was aborted before entry ${pkg.entryId} got a task`
          : `import job ${job.id} has no task for entry ${pkg.entryId} (${pkg.updated})`;
      await done("failed", reason);
      await records.fail(id, reason);
      return "failed";
    }
    if (tasks.some((task) => !isSettled(task.state))) return "unsettled";

    const aborted = tasks.find((task) => task.state === "aborted");
    if (aborted) {
      const reason = `import aborted: ${taskLabel(aborted)} in job ${job.id} is ${aborted.rawState}`;
      await done("failed", reason);
      await records.fail(id, reason);
      return "failed";
    }

    const failed = tasks.filter((task) => task.state === "failed");
    if (failed.length > 0) {
      for (const task of failed) {
        await records.history(
          id,
          STEP_NAME,
          `${taskLabel(task)} failed: ${task.errorCode ?? "no code"} ${task.errorMessage ?? ""}`.trim(),
        );
        await deps.enqueue(
          "remediate",
          {
            ingestId: id,
            mediaFeedId: payload.mediaFeedId,
            ...(payload.companyId ? { companyId: payload.companyId } : {}),
            importJobId: job.id,
            taskId: task.id,
            taskType: task.type,
            ...(task.errorCode !== undefined ? { errorCode: task.errorCode } : {}),
            ...(task.errorMessage !== undefined ? { errorMessage: task.errorMessage } : {}),
            ...(task.retryable !== undefined ? { retryable: task.retryable } : {}),
          },
          // The attempt number makes a later failure of the same task a new remediation.
          { jobId: jobId("fix", task.id, task.attempts ?? record.attempts.task_retry ?? 0) },
        );
      }
      await done("done", `${failed.length} failed task(s) sent to remediate`);
      return "remediating";
    }

    const video = tasks.find((task) => task.type === "VIDEO");
    const branches: string[] = [];
    if (video) branches.push("status-track");
    if (pkg.images.length > 0 && !pkg.tombstone) branches.push("image-fetch");
    if (branches.length === 0) {
      await done("done", pkg.tombstone ? "unpublished" : "metadata imported");
      await records.transition(id, "completed");
      return "completed";
    }
    const assetId = tasks.find((task) => task.assetId !== undefined)?.assetId;
    if (assetId === undefined) {
      const reason = `import job ${job.id} finished without an asset id for entry ${pkg.entryId}`;
      await done("failed", reason);
      await records.fail(id, reason);
      return "failed";
    }
    // Asset id, branches, state and timing in one Redis call, before the branch jobs exist.
    await records.update(id, {
      upstream: { assetId },
      branches,
      transition: { to: "processing", from: ["queued", "pushing", "importing"] },
      step: {
        name: STEP_NAME,
        timing: {
          status: "done",
          startedAt,
          endedAt: deps.now(),
          detail: `asset ${assetId}; branches ${branches.join(", ")}`,
        },
      },
    });
    if (video) {
      const notBefore = createdAt(video) ?? record.pushedAt;
      await deps.enqueue(
        "status-track",
        { ingestId: id, assetId, polls: 0, ...(notBefore !== undefined ? { notBefore } : {}) },
        { jobId: jobId("track", id) },
      );
    }
    if (branches.includes("image-fetch")) {
      await deps.enqueue("image-fetch", { ingestId: id, assetId }, { jobId: jobId("img", id) });
    }
    return "branched";
  }

  return defineProcessor(STEP["job-poll"], async (payload, ctx) => {
    const { ais } = requireVimond(deps);
    const scope: FeedScope = payload.companyId ? { companyId: payload.companyId } : {};
    const now = deps.now();
    const startedAt = payload.startedAt ?? now;

    const live = (await records.getMany(payload.ingestIds)).filter(
      (record): record is IngestRecord => record !== undefined && !TERMINAL_STATES.has(record.state),
    );
    if (live.length === 0) return { outcome: "skipped", reason: "every ingest of the job already ended" };
    const liveIds = live.map((r) => r.id);
    if (payload.polls === 0) {
      await records.updateMany(
        liveIds.map(
          (id) => [id, { step: { name: STEP_NAME, timing: { status: "waiting", startedAt } } }] as const,
        ),
      );
    }

    let job: ImportJob;
    try {
      job = await ais.getJob(payload.mediaFeedId, payload.importJobId, scope);
    } catch (error) {
      if (isUpstreamError(error) && error.status === 404) {
        const reason = `import job ${payload.importJobId} not found in media feed ${payload.mediaFeedId}`;
        for (const id of liveIds) await records.fail(id, reason);
        return { outcome: "done", detail: reason };
      }
      const retryAfterMs = retryAfterOf(error);
      if (retryAfterMs !== undefined) return reDelay(payload, ctx, liveIds, startedAt, retryAfterMs);
      throw error;
    }

    const overdue = now - startedAt > env.STUCK_DEADLINE_SECONDS * 1000;
    if (!isSettled(job.state)) {
      if (overdue) return stuck(payload, job, liveIds, startedAt);
      return reDelay(payload, ctx, liveIds, startedAt);
    }

    const tasks = await ais.listTasks(payload.mediaFeedId, payload.importJobId, scope);
    const unsettled: string[] = [];
    const counts: Partial<Record<Verdict, number>> = {};
    for (const record of live) {
      const verdict = await settle(payload, job, record, tasks, startedAt);
      counts[verdict] = (counts[verdict] ?? 0) + 1;
      if (verdict === "unsettled") unsettled.push(record.id);
    }
    if (unsettled.length > 0) {
      // A settled job with running tasks (a task retried meanwhile): keep following just those.
      if (overdue) return stuck(payload, job, unsettled, startedAt);
      return reDelay(payload, ctx, unsettled, startedAt);
    }
    ctx.log.debug({ importJobId: job.id, counts }, "import job settled");
    return { outcome: "done", detail: JSON.stringify(counts) };
  });
}
