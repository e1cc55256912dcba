import type { AisSettings, TaskType, TaskViewField } from "./settings.js";
import type { AisStore, Feed, Job, Task, TaskState } from "./store.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** The feed as the API returns it. */
export function feedView(store: AisStore, feed: Feed): Record<string, unknown> {
  const view: Record<string, unknown> = {
    ...feed.extra,
    id: feed.id,
    companyId: feed.companyId,
    name: feed.name,
    type: feed.type,
    enabled: feed.enabled,
    checkerState: store.checkerState(feed),
    created: iso(feed.created),
    updated: iso(feed.updated),
  };
  if (feed.url !== undefined) view.url = feed.url;
  if (feed.cron !== undefined) view.cron = feed.cron;
  return view;
}

export function feedStatusView(store: AisStore, feed: Feed): Record<string, unknown> {
  return {
    mediaFeedId: feed.id,
    type: feed.type,
    checkerState: store.checkerState(feed),
    lastCheckStarted: feed.pullStartedAt === undefined ? null : iso(feed.pullStartedAt),
    lastCheckFinished:
      feed.pullDoneAt !== undefined && store.checkerState(feed) === "DONE" ? iso(feed.pullDoneAt) : null,
    lastJobId: feed.lastJobId ?? null,
  };
}

/** Times of a task's current attempt at `now`. */
function taskTimes(task: Task, state: TaskState, now: number): { started?: number; finished?: number } {
  const attempt = task.attempts.at(-1);
  if (!attempt) return {};
  const times: { started?: number; finished?: number } = {};
  if (attempt.startAt <= now && (attempt.abortedAt === undefined || attempt.abortedAt >= attempt.startAt)) {
    times.started = attempt.startAt;
  }
  if (state === "ABORTED" && attempt.abortedAt !== undefined) times.finished = attempt.abortedAt;
  else if ((state === "DONE" || state === "FAILED") && attempt.endAt !== null) times.finished = attempt.endAt;
  return times;
}

export function taskView(store: AisStore, task: Task, now: number): Record<string, unknown> {
  const state = store.taskState(task);
  const { started, finished } = taskTimes(task, state, now);
  const view: Record<string, unknown> = {
    id: task.id,
    jobId: task.jobId,
    mediaFeedId: task.mediaFeedId,
    assetId: task.assetId === 0 ? null : task.assetId,
    entryId: task.entryId,
    type: task.type,
    state,
    attempts: task.attempts.length,
    created: iso(task.created),
  };
  if (task.entryUpdated !== undefined) view.entryUpdated = task.entryUpdated;
  if (started !== undefined) view.started = iso(started);
  if (finished !== undefined) view.finished = iso(finished);
  const error = task.attempts.at(-1)?.error;
  if (state === "FAILED" && error) {
    view.errorCode = error.code;
    view.errorMessage = error.message;
    view.retryable = error.retryable;
  }
  return tenantShape(view, store.settings());
}

/**
 * The task as a tenant whose AIS names things otherwise would send it (`taskFields`,
 * `taskTypeNames`); the default view is returned as is when neither is set.
 */
function tenantShape(view: Record<string, unknown>, settings: AisSettings): Record<string, unknown> {
  const typeName = settings.taskTypeNames?.[view.type as TaskType];
  if (typeName !== undefined) view.type = typeName;
  const fields = settings.taskFields;
  if (!fields) return view;
  const shaped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(view)) {
    const target = fields[name as TaskViewField];
    if (target === null) continue;
    const path = (target ?? name).split(".");
    let into = shaped;
    for (const part of path.slice(0, -1)) {
      const next = into[part];
      into = (typeof next === "object" && next !== null ? next : (into[part] = {})) as Record<
        string,
        unknown
      >;
    }
    into[path.at(-1) ?? name] = value;
  }
  return shaped;
}

export function jobView(store: AisStore, job: Job, now: number, withTasks: boolean): Record<string, unknown> {
  const state = store.jobState(job);
  const taskStates: Record<string, number> = {};
  let started: number | undefined;
  let finished = 0;
  for (const task of job.tasks) {
    const taskState = store.taskState(task);
    taskStates[taskState] = (taskStates[taskState] ?? 0) + 1;
    const times = taskTimes(task, taskState, now);
    if (times.started !== undefined) started = Math.min(started ?? Infinity, times.started);
    finished = Math.max(finished, times.finished ?? 0);
  }
  const view: Record<string, unknown> = {
    id: job.id,
    mediaFeedId: job.mediaFeedId,
    companyId: job.companyId,
    state,
    created: iso(job.created),
    taskCount: job.tasks.length,
    taskStates,
  };
  if (started !== undefined) view.started = iso(started);
  if (state === "ABORTED" && job.abortedAt !== undefined) view.finished = iso(job.abortedAt);
  else if ((state === "DONE" || state === "FAILED") && finished > 0) view.finished = iso(finished);
  if (withTasks) view.tasks = job.tasks.map((task) => taskView(store, task, now));
  return view;
}
