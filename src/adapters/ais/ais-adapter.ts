import { z } from "zod";
import type { UpstreamClient } from "../http/upstream-client.js";
import {
  importJobSchema,
  importTaskSchema,
  listSchema,
  pushedJobSchema,
  type ImportJobBody,
} from "./ais-schemas.js";
import { mapJobState, type JobState, type TaskState } from "./ais-states.js";
import { normalizeTask, type NormalizedTask, type UnreadableTask } from "./task-normalizer.js";

/**
 * One task of an import job: one asset's metadata, video or image import. Read from candidate
 * field names (task-normalizer.ts): only `id` and `state` are sure to be there.
 */
export type ImportTask = NormalizedTask;
export type { UnreadableTask } from "./task-normalizer.js";

/** Every task of a job, and the items of its task list the worker could not read as tasks. */
export interface TaskList {
  tasks: ImportTask[];
  unreadable: UnreadableTask[];
}

/** An import job: what one Atom push started. */
export interface ImportJob {
  id: string;
  state: JobState;
  /** The state name as AIS sent it; absent when a push response carried none. */
  rawState?: string;
  mediaFeedId?: string;
  companyId?: string;
  /** Present when AIS embedded the tasks (push, get, retry and abort responses may). */
  tasks?: ImportTask[];
  raw: unknown;
}

/** The publisher a media feed belongs to; the job and task paths name it. */
export interface FeedScope {
  /** Overrides the adapter's default companyId (`AIS_COMPANY_ID`), e.g. from a route. */
  companyId?: string;
}

/** Filters and paging of `listJobs`. */
export interface ListJobsOptions extends FeedScope {
  state?: Exclude<JobState, "unknown">;
  fromDate?: Date | string;
  toDate?: Date | string;
  /** Page size (AIS default 20). */
  size?: number;
  start?: number;
}

/** Filter of `listTasks`; every page is read. */
export interface ListTasksOptions extends FeedScope {
  state?: Exclude<TaskState, "unknown">;
}

/** Outcome of retrying an asset's last import. */
export interface RetryAssetResult {
  /** The job whose tasks were retried, when AIS says. */
  jobId?: string;
  raw: unknown;
}

/**
 * The Asset Importer Service as the chain uses it (seed 000): push Atom feeds, follow import jobs
 * and their tasks, retry and abort. Every method throws `UpstreamError` for a failed call.
 */
export interface AisAdapter {
  /**
   * Pushes an Atom feed to a PUSH media feed (`POST /ais/feed/{mediaFeedId}/v2/schedule`). Not
   * retried: a failure after the request may have been sent has `UpstreamError.ambiguous` set, and
   * the caller must look for the job (`listJobs`) before pushing again.
   */
  pushFeed(mediaFeedId: string, atomXml: string): Promise<{ jobId: string; job: ImportJob }>;
  getJob(mediaFeedId: string, jobId: string, scope?: FeedScope): Promise<ImportJob>;
  /** One page of the feed's jobs, newest first. */
  listJobs(mediaFeedId: string, options?: ListJobsOptions): Promise<ImportJob[]>;
  /** Every task of a job (all pages); items that are not readable tasks are left out. */
  listTasks(mediaFeedId: string, jobId: string, options?: ListTasksOptions): Promise<ImportTask[]>;
  /** Every task of a job (all pages), with the items that could not be read as tasks. */
  readTasks(mediaFeedId: string, jobId: string, options?: ListTasksOptions): Promise<TaskList>;
  /** Re-runs a failed task; resolves to the task when AIS returns it. */
  retryTask(taskId: string): Promise<ImportTask | undefined>;
  /** Restarts the job's tasks; resolves to the job when AIS returns it. */
  retryJob(jobId: string): Promise<ImportJob | undefined>;
  /** Retries the last import of an asset. */
  retryAsset(assetId: string): Promise<RetryAssetResult>;
  /** Stops the job; safe to repeat. Resolves to the job when AIS returns it. */
  abortJob(jobId: string): Promise<ImportJob | undefined>;
  /** `GET /ping`; throws when the service does not answer 2xx. */
  ping(): Promise<void>;
}

/** What `createAisAdapter` needs. */
export interface AisAdapterOptions {
  client: UpstreamClient;
  /** Default publisher for job and task paths (`AIS_COMPANY_ID`). */
  companyId?: string;
  /** Tasks read per page by `listTasks`. Default 500. */
  taskPageSize?: number;
}

/** Upper bound on pages `listTasks` reads, so a server that ignores paging cannot loop us forever. */
const MAX_TASK_PAGES = 200;

const UPSTREAM_STATE: Record<Exclude<JobState, "unknown">, string> = {
  queued: "QUEUED",
  running: "RUNNING",
  done: "DONE",
  failed: "FAILED",
  aborted: "ABORTED",
};

const segment = (value: string) => encodeURIComponent(value);
const isoDate = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);

/** Builds the AIS adapter over a client bound to the AIS base URL. */
export function createAisAdapter(options: AisAdapterOptions): AisAdapter {
  const { client } = options;
  const taskPageSize = options.taskPageSize ?? 500;

  function feedPath(mediaFeedId: string, scope: FeedScope | undefined): string {
    const companyId = scope?.companyId ?? options.companyId;
    if (!companyId) {
      // Configuration, not an upstream failure: the seed's job paths cannot be built without it.
      throw new Error("AIS companyId is not configured: set AIS_COMPANY_ID or the route's vimond.companyId");
    }
    return `/company/${segment(companyId)}/mediaFeeds/${segment(mediaFeedId)}`;
  }

  async function readTasks(
    mediaFeedId: string,
    jobId: string,
    listOptions: ListTasksOptions = {},
  ): Promise<TaskList> {
    const path = `${feedPath(mediaFeedId, listOptions)}/jobs/${segment(jobId)}/tasks`;
    const tasks = new Map<string, ImportTask>();
    const unreadable: UnreadableTask[] = [];
    let read = 0;
    for (let page = 0; page < MAX_TASK_PAGES; page += 1) {
      const response = await client.request({
        operation: "listImportTasks",
        method: "GET",
        path,
        query: {
          state: listOptions.state && UPSTREAM_STATE[listOptions.state],
          start: read,
          size: taskPageSize,
        },
        schema: listSchema(importTaskSchema),
      });
      const before = tasks.size;
      const unreadableHere: UnreadableTask[] = [];
      for (const body of response.body.items) {
        const result = normalizeTask(body, jobId);
        if (result.ok) tasks.set(result.task.id, result.task);
        else unreadableHere.push(result.unreadable);
      }
      // Unreadable items have no id to dedupe by: a page that repeats earlier ones adds none.
      if (page === 0 || tasks.size > before) unreadable.push(...unreadableHere);
      const { items, total } = response.body;
      read += items.length;
      // Stop on a short page, on reaching the total, or when a page brought nothing new (a server
      // that ignores `start` would otherwise be read MAX_TASK_PAGES times).
      if (items.length < taskPageSize || tasks.size === before) break;
      if (total !== undefined && read >= total) break;
    }
    return { tasks: [...tasks.values()], unreadable };
  }

  return {
    async pushFeed(mediaFeedId, atomXml) {
      const response = await client.request({
        operation: "pushFeedV2",
        method: "POST",
        path: `/ais/feed/${segment(mediaFeedId)}/v2/schedule`,
        headers: { "content-type": "application/atom+xml; charset=utf-8" },
        body: atomXml,
        schema: pushedJobSchema,
        idempotent: false,
      });
      const job = toJob(response.body);
      return { jobId: job.id, job };
    },

    async getJob(mediaFeedId, jobId, scope) {
      const response = await client.request({
        operation: "getImportJob",
        method: "GET",
        path: `${feedPath(mediaFeedId, scope)}/jobs/${segment(jobId)}`,
        schema: importJobSchema,
      });
      return toJob(response.body);
    },

    async listJobs(mediaFeedId, listOptions = {}) {
      const response = await client.request({
        operation: "listImportJobs",
        method: "GET",
        path: `${feedPath(mediaFeedId, listOptions)}/jobs`,
        query: {
          state: listOptions.state && UPSTREAM_STATE[listOptions.state],
          fromDate: isoDate(listOptions.fromDate),
          toDate: isoDate(listOptions.toDate),
          start: listOptions.start,
          size: listOptions.size,
        },
        schema: listSchema(importJobSchema),
      });
      return response.body.items.map(toJob);
    },

    async listTasks(mediaFeedId, jobId, listOptions = {}) {
      return (await readTasks(mediaFeedId, jobId, listOptions)).tasks;
    },

    readTasks,

    async retryTask(taskId) {
      const response = await client.request({
        operation: "retryImportTask",
        method: "GET",
        path: `/ais/api/task/${segment(taskId)}/retry`,
        // A GET by the seed, but it starts work: repeating it after a lost answer could re-run a
        // task that already restarted, so a failure is surfaced (ambiguous) instead of retried.
        idempotent: false,
      });
      const result = normalizeTask(response.body, "");
      return result.ok ? result.task : undefined;
    },

    async retryJob(jobId) {
      const response = await client.request({
        operation: "retryImportJob",
        method: "GET",
        path: `/ais/api/job/${segment(jobId)}/retry`,
        idempotent: false,
      });
      const parsed = importJobSchema.safeParse(response.body);
      return parsed.success ? toJob(parsed.data) : undefined;
    },

    async retryAsset(assetId) {
      const response = await client.request({
        operation: "retryAssetImport",
        method: "GET",
        path: `/ais/api/asset/${segment(assetId)}/retry`,
        idempotent: false,
      });
      const parsed = z.looseObject({ jobId: z.union([z.string(), z.number()]) }).safeParse(response.body);
      return parsed.success
        ? { jobId: String(parsed.data.jobId), raw: response.body }
        : { raw: response.body };
    },

    async abortJob(jobId) {
      const response = await client.request({
        operation: "abortImportJob",
        method: "GET",
        path: `/ais/api/job/${segment(jobId)}/abort`,
        // Aborting twice leaves the job as aborting once does.
        idempotent: true,
      });
      const parsed = importJobSchema.safeParse(response.body);
      return parsed.success ? toJob(parsed.data) : undefined;
    },

    async ping() {
      await client.request({ operation: "ping", method: "GET", path: "/ping" });
    },
  };
}

function toJob(body: ImportJobBody | z.infer<typeof pushedJobSchema>): ImportJob {
  const job: ImportJob = {
    id: body.id,
    state: body.state == null ? "unknown" : mapJobState(body.state),
    raw: body,
  };
  if (body.state != null) job.rawState = body.state;
  if (body.mediaFeedId != null) job.mediaFeedId = body.mediaFeedId;
  if (body.companyId != null) job.companyId = body.companyId;
  if (body.tasks != null) {
    job.tasks = body.tasks.flatMap((raw) => {
      const result = normalizeTask(raw, body.id);
      return result.ok ? [result.task] : [];
    });
  }
  return job;
}
