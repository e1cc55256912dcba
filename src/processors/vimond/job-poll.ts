import type { z } from "zod";
import type { FeedScope, ImportJob, ImportTask } from "../../adapters/ais/ais-adapter.js";
import { isSettled } from "../../adapters/ais/ais-states.js";
import { KNOWN_TASK_TYPES } from "../../adapters/ais/task-normalizer.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { aisUnplacedTasks } from "../../metrics/ais-task-metrics.js";
import { chainActions } from "../../metrics/ingest-metrics.js";
import { ingestJobId, jobId } from "../../queues/job-options.js";
import { runStepInline } from "../../queues/inline-step.js";
import { mapLimit } from "../../queues/map-limit.js";
import type { ImageFetchPayload, JobPollPayload, StatusTrackPayload } from "../../queues/payloads.js";
import type { StepContext, StepProcessor, StepResult } from "../../queues/step.js";
import { failAtStep } from "../../records/fail-at-step.js";
import { runOf, TERMINAL_STATES, type IngestRecord } from "../../records/ingest-record.js";
import type { ChainDeps } from "../every-target/deps.js";
import { pollDelay, retryAfterOf } from "../every-target/poll-delay.js";
import { linkPackages, rejoinPackage, type PackageTrace } from "../../telemetry/tracing.js";
import { placeTasks } from "./task-placement.js";
import { requireVimond } from "./vimond-adapters.js";
import { defineHandler, type ProcessorOf } from "../step-table.js";

const STEP_NAME = "job-poll";

/** A branch job-poll starts for a settled ingest, with the id its job has when it is one. */
type BranchStart = (
  { step: "status-track"; payload: StatusTrackPayload } | { step: "image-fetch"; payload: ImageFetchPayload }
) & {
  jobId: string;
  /** The record as job-poll left it, when its update went through (handed to an inline run). */
  record?: IngestRecord;
};

export interface JobPollOptions {
  /**
   * Branch processors run from the job-poll job itself (the first run of each branch), instead of
   * one job per branch and ingest. `buildProcessors` passes the service's own; without them (tests
   * that stub a branch) every branch is a job.
   */
  inlineBranches?: {
    statusTrack?: ProcessorOf<"status-track">;
    imageFetch?: ProcessorOf<"image-fetch">;
  };
}

/**
 * What became of one ingest once its import tasks were read. `unplaced`: the job settled, but none
 * of its tasks could be placed to the ingest while some task belongs to no ingest; it waits.
 */
type Verdict = "unsettled" | "unplaced" | "remediating" | "branched" | "completed" | "failed";

function taskLabel(task: ImportTask): string {
  return `${task.type} task ${task.id}`;
}

/** Unplaced tasks named in one log line at most; the metric counts them all. */
const MAX_LOGGED_TASKS = 10;
/** How long a job's unplaced tasks are remembered, so a re-poll does not count them again. */
const UNPLACED_MEMORY_SECONDS = 7 * 24 * 3600;

/** A task job-poll could not place, with what the log line and the metric need. */
interface UnplacedTask {
  reason: "unreadable" | "no_entry" | "unmatched";
  /** Absent for an unreadable item (it may have no id). */
  taskId?: string;
  /** Field names only, never values: an operator compares them with docs/upstreams.md. */
  keys: string[];
}

const keysOf = (raw: unknown): string[] =>
  typeof raw === "object" && raw !== null ? Object.keys(raw).slice(0, 30) : [];

/**
 * job-poll: follows one AIS import job until it settles, without sleeping: an unsettled job
 * re-delays this same job (exponential backoff with jitter, or the upstream's Retry-After). A
 * settled job's tasks are read once and each ingest moves on: failed tasks to remediate, imported
 * ones to their branches (status-track, image-fetch) or straight to completed. A job still
 * unsettled after STUCK_DEADLINE_SECONDS is aborted and its ingests fail as stuck.
 */
export function createJobPollProcessor(deps: ChainDeps, options: JobPollOptions = {}) {
  const { records, env } = deps;
  const inline = options.inlineBranches ?? {};

  /**
   * Starts the settled ingests' branches: inline where a processor is given (up to
   * WORKER_CONCURRENCY at once), as a job otherwise. An inline branch that has to wait or failed
   * becomes the job it would have been (see runStepInline), so from its second run on nothing
   * differs. A crash before every branch started re-runs this job, which starts what is left.
   * Each branch starts in its package's trace, rejoined when the ingest was settled.
   */
  async function startBranches(
    starts: BranchStart[],
    ctx: StepContext,
    traces: ReadonlyMap<string, PackageTrace>,
  ): Promise<void> {
    await mapLimit(starts, env.WORKER_CONCURRENCY, (start) => {
      const { jobId } = start;
      const begin = () =>
        start.step === "status-track"
          ? startBranch(inline.statusTrack, start.payload, start.record, ctx, (data, delay) =>
              deps.enqueue("status-track", data, { jobId, ...(delay ? { delay } : {}) }),
            )
          : startBranch(inline.imageFetch, start.payload, start.record, ctx, (data, delay) =>
              deps.enqueue("image-fetch", data, { jobId, ...(delay ? { delay } : {}) }),
            );
      // Every start comes from an ingest settled above, so its trace is there.
      return traces.get(start.payload.ingestId)?.run(begin) ?? begin();
    });
  }

  async function startBranch<S extends z.ZodType>(
    processor: StepProcessor<S> | undefined,
    payload: z.infer<S> & { ingestId: string },
    record: IngestRecord | undefined,
    ctx: StepContext,
    asJob: (data: z.infer<S>, delay?: number) => Promise<void>,
  ): Promise<void> {
    if (!processor) return asJob(payload);
    const outcome = await runStepInline(processor, payload, ctx.log, record);
    if ("error" in outcome) {
      ctx.log.info(
        { ingestId: payload.ingestId, step: processor.step.name, err: (outcome.error as Error)?.message },
        "inline branch failed; retried as a job",
      );
      return asJob(outcome.data);
    }
    if (outcome.result.outcome === "waiting")
      return asJob(outcome.data, Math.max(1, Math.round(outcome.result.delayMs)));
  }

  async function reDelay(
    payload: JobPollPayload,
    ctx: StepContext,
    ingestIds: string[],
    startedAt: number,
    retryAfterMs?: number,
  ): Promise<StepResult> {
    // The step shows as waiting from its first wait on; a job settled at its first poll goes
    // straight to its verdict, which is one record write per ingest fewer.
    if (payload.polls === 0) {
      await records.updateMany(
        ingestIds.map(
          (id) => [id, { step: { name: STEP_NAME, timing: { status: "waiting", startedAt } } }] as const,
        ),
      );
    }
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
    for (const id of ids)
      await failAtStep(records, id, STEP_NAME, { startedAt, endedAt: deps.now() }, reason);
    return { outcome: "done", detail: reason };
  }

  /**
   * Counts and logs the tasks of a job that no ingest could be given. Each is counted once per
   * job (a Redis set remembers them), so re-polls of a waiting ingest do not inflate the metric.
   */
  async function reportUnplaced(
    importJobId: string,
    unplaced: UnplacedTask[],
    byElimination: string | undefined,
    ctx: StepContext,
  ): Promise<void> {
    const key = `${deps.prefix}:ais-unplaced:${importJobId}`;
    const fresh: UnplacedTask[] = [];
    for (const [index, task] of unplaced.entries()) {
      if ((await deps.redis.sadd(key, `${task.reason}:${task.taskId ?? `#${index}`}`)) === 1)
        fresh.push(task);
    }
    if (fresh.length === 0) return;
    await deps.redis.expire(key, UNPLACED_MEMORY_SECONDS);
    for (const task of fresh) aisUnplacedTasks.inc({ reason: task.reason });
    ctx.log.warn(
      {
        importJobId,
        unplaced: fresh.length,
        tasks: fresh.slice(0, MAX_LOGGED_TASKS),
        ...(byElimination ? { placedByElimination: byElimination } : {}),
      },
      byElimination
        ? "AIS import tasks name no entry of this job; the job's only ingest takes them (check the task fields against docs/upstreams.md)"
        : "AIS import tasks cannot be placed to an ingest of this job (check the task fields against docs/upstreams.md)",
    );
  }

  /** Decides one ingest from its tasks in a settled job. */
  async function settle(
    payload: JobPollPayload,
    job: ImportJob,
    record: IngestRecord,
    tasks: ImportTask[],
    unplacedInJob: number,
    startedAt: number,
    starts: BranchStart[],
  ): Promise<Verdict> {
    const id = record.id;
    const pkg = record.package;
    const done = async (status: "done" | "failed", detail: string) =>
      records.step(id, STEP_NAME, { status, startedAt, endedAt: deps.now(), detail });
    if (!pkg) {
      await records.fail(id, "job-poll: the record has no package");
      return "failed";
    }
    if (tasks.length === 0) {
      // Tasks the worker could not place may be this ingest's: wait for other evidence (a task
      // list that catches up) or the stuck deadline rather than failing on a field-name mismatch.
      if (unplacedInJob > 0 && job.state !== "aborted") return "unplaced";
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
            run: runOf(record),
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
          // The run keeps an operator retry's remediation apart from the previous run's.
          {
            jobId: jobId(
              "fix",
              task.id,
              `r${runOf(record)}`,
              task.attempts ?? record.attempts.task_retry ?? 0,
            ),
          },
        );
      }
      await done("done", `${failed.length} failed task(s) sent to remediate`);
      return "remediating";
    }

    // A tenant whose tasks name no type we know: the package says whether a video was pushed.
    const typed = tasks.some((task) => KNOWN_TASK_TYPES.has(task.type));
    const video =
      tasks.find((task) => task.type === "VIDEO") ??
      (!typed && pkg.video && !pkg.tombstone ? tasks[0] : undefined);
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
    const endedAt = deps.now();
    const detail = `asset ${assetId}; branches ${branches.join(", ")}`;
    const moved = await records.update(id, {
      upstream: { assetId },
      branches,
      transition: { to: "processing", from: ["queued", "pushing", "importing"] },
      step: { name: STEP_NAME, timing: { status: "done", startedAt, endedAt, detail } },
    });
    const run = runOf(record);
    // What that update made of the record, for the branches run inline. Only when it moved the
    // record (or found it processing already, a re-run): otherwise they read it themselves.
    const written: IngestRecord | undefined =
      moved || record.state === "processing"
        ? {
            ...record,
            state: "processing",
            upstream: { ...record.upstream, assetId },
            // Branches are declared once: a record that had them keeps its own.
            branches:
              Object.keys(record.branches).length > 0
                ? record.branches
                : Object.fromEntries(branches.map((b) => [b, "pending"])),
            steps: { ...record.steps, [STEP_NAME]: { status: "done", startedAt, endedAt, detail } },
          }
        : undefined;
    // A re-run of this job (after a crash) finds branches that already reported: they need nothing.
    const open = (branch: string) => {
      const reported = record.branches[branch];
      return reported === undefined || reported === "pending";
    };
    if (video && open("status-track")) {
      const notBefore = video.createdAt ?? record.pushedAt;
      starts.push({
        step: "status-track",
        payload: { ingestId: id, run, assetId, polls: 0, ...(notBefore !== undefined ? { notBefore } : {}) },
        jobId: ingestJobId("track", id, run),
        ...(written ? { record: written } : {}),
      });
    }
    if (branches.includes("image-fetch") && open("image-fetch")) {
      starts.push({
        step: "image-fetch",
        payload: { ingestId: id, run, assetId },
        jobId: ingestJobId("img", id, run),
        ...(written ? { record: written } : {}),
      });
    }
    return "branched";
  }

  return defineHandler("job-poll", async (payload, ctx) => {
    const { ais } = requireVimond(deps);
    const scope: FeedScope = payload.companyId ? { companyId: payload.companyId } : {};
    const now = deps.now();
    const startedAt = payload.startedAt ?? now;

    const loaded = (await records.getMany(payload.ingestIds)).filter(
      (record): record is IngestRecord => record !== undefined,
    );
    const live = loaded.filter((record) => !TERMINAL_STATES.has(record.state));
    if (live.length === 0) return { outcome: "skipped", reason: "every ingest of the job already ended" };
    const liveIds = live.map((r) => r.id);
    linkPackages(live.map((record) => record.traceparent));

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

    const { tasks, unreadable } = await ais.readTasks(payload.mediaFeedId, payload.importJobId, scope);
    const placement = placeTasks(
      payload.ingestIds.length,
      loaded.flatMap((record) => (record.package ? [{ id: record.id, pkg: record.package }] : [])),
      tasks,
    );
    // Tasks of entries outside this poll are only suspicious while one of its ingests has none.
    const lacking =
      placement.byElimination !== undefined || live.some((record) => !placement.byIngest.has(record.id));
    const unplaced: UnplacedTask[] = [
      ...unreadable.map((item) => ({ reason: "unreadable" as const, keys: item.keys })),
      ...placement.noEntry.map((task) => ({
        reason: "no_entry" as const,
        taskId: task.id,
        keys: keysOf(task.raw),
      })),
      ...(lacking ? placement.unmatched : []).map((task) => ({
        reason: "unmatched" as const,
        taskId: task.id,
        keys: keysOf(task.raw),
      })),
    ];
    if (unplaced.length > 0) await reportUnplaced(job.id, unplaced, placement.byElimination, ctx);
    // Tasks placed by elimination are placed: only the rest can still belong to a waiting ingest.
    const stillUnplaced = placement.byElimination === undefined ? unplaced.length : 0;

    const unsettled: string[] = [];
    const waitingForTasks: IngestRecord[] = [];
    /** The branches of the ingests settled below, started once all of them are decided. */
    const starts: BranchStart[] = [];
    const counts: Partial<Record<Verdict, number>> = {};
    // Its next jobs (remediate; the branches below) belong to the package's own trace: one rejoin
    // span per package for both, ended once every branch has started.
    const traces = new Map<string, PackageTrace>();
    try {
      for (const record of live) {
        const mine = placement.byIngest.get(record.id) ?? [];
        const rejoined = rejoinPackage({ ingestId: record.id, traceparent: record.traceparent });
        traces.set(record.id, rejoined);
        const verdict = await rejoined.run(() =>
          settle(payload, job, record, mine, stillUnplaced, startedAt, starts),
        );
        counts[verdict] = (counts[verdict] ?? 0) + 1;
        if (verdict === "unsettled") unsettled.push(record.id);
        if (verdict === "unplaced") waitingForTasks.push(record);
      }
      await startBranches(starts, ctx, traces);
    } finally {
      for (const rejoined of traces.values()) rejoined.end();
    }
    if (waitingForTasks.length > 0 && overdue) {
      for (const record of waitingForTasks) {
        const reason = `import job ${job.id} is ${job.rawState ?? job.state}, but none of its tasks could be placed to entry ${record.package?.entryId} (${record.package?.updated}): ${stillUnplaced} task(s) name no entry of this job; check the task fields against docs/upstreams.md`;
        await failAtStep(records, record.id, STEP_NAME, { startedAt, endedAt: deps.now() }, reason);
      }
      if (unsettled.length === 0) return { outcome: "done", detail: JSON.stringify(counts) };
    }
    if (unsettled.length > 0 || waitingForTasks.length > 0) {
      // A settled job with running tasks (a task retried meanwhile), or tasks not placed yet: keep
      // following just those ingests.
      if (overdue) return stuck(payload, job, unsettled, startedAt);
      return reDelay(payload, ctx, [...unsettled, ...waitingForTasks.map((r) => r.id)], startedAt);
    }
    ctx.log.debug({ importJobId: job.id, counts }, "import job settled");
    return { outcome: "done", detail: JSON.stringify(counts) };
  });
}
