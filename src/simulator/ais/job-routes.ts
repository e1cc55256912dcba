import { badRequest, notFound } from "../core/responses.js";
import type { SimRequest, SimRoute } from "../core/types.js";
import { page, parseListQuery } from "./query.js";
import { feedHandler, scopedFeed } from "./scoped-feed.js";
import type { AisStore, Job } from "./store.js";
import { jobView, taskView } from "./views.js";

/** Import jobs and tasks (read), and job control (retry/abort of jobs, tasks, assets). */
export function jobRoutes(store: AisStore): SimRoute[] {
  const now = () => Date.now();

  /** The job named by the path, scoped to company and feed; a string is the 404 message. */
  const scopedJob = (req: SimRequest, idParam: string): Job | string => {
    const feed = scopedFeed(store, req, "mediaFeedId");
    if (typeof feed === "string") return feed;
    const id = req.params[idParam] ?? "";
    const job = /^\d+$/.test(id) ? store.jobs.get(Number(id)) : undefined;
    if (!job || job.mediaFeedId !== feed.id) return `import job ${id} not found in media feed ${feed.id}`;
    return job;
  };
  const byId = <T>(map: Map<number, T>, raw: string | undefined): T | undefined =>
    raw !== undefined && /^\d+$/.test(raw) ? map.get(Number(raw)) : undefined;

  return [
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:mediaFeedId/jobs",
      operation: "listImportJobs",
      handler: feedHandler(store, "mediaFeedId", (feed, req) => {
        const query = parseListQuery(req.query);
        if (typeof query === "string") return badRequest(query);
        const t = now();
        const jobs = [...store.jobs.values()]
          .filter((job) => job.mediaFeedId === feed.id)
          .filter((job) => query.fromDate === undefined || job.created >= query.fromDate)
          .filter((job) => query.toDate === undefined || job.created <= query.toDate)
          .filter((job) => query.state === undefined || store.jobState(job) === query.state)
          .sort((a, b) => b.created - a.created || b.id - a.id);
        return {
          status: 200,
          body: page(
            jobs.map((job) => jobView(store, job, t, false)),
            query.start,
            query.size,
          ),
        };
      }),
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:mediaFeedId/jobs/:id",
      operation: "getImportJob",
      handler: (req) => {
        const job = scopedJob(req, "id");
        return typeof job === "string"
          ? notFound(job)
          : { status: 200, body: jobView(store, job, now(), true) };
      },
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:mediaFeedId/jobs/:importJobId/tasks",
      operation: "listImportTasks",
      handler: (req) => {
        const job = scopedJob(req, "importJobId");
        if (typeof job === "string") return notFound(job);
        const query = parseListQuery(req.query);
        if (typeof query === "string") return badRequest(query);
        const t = now();
        const tasks = job.tasks.filter(
          (task) => query.state === undefined || store.taskState(task) === query.state,
        );
        return {
          status: 200,
          body: page(
            tasks.map((task) => taskView(store, task, t)),
            query.start,
            query.size,
          ),
        };
      },
    },
    {
      method: "GET",
      pattern: "/company/:companyId/mediaFeeds/:mediaFeedId/jobs/:importJobId/tasks/:id",
      operation: "getImportTask",
      handler: (req) => {
        const job = scopedJob(req, "importJobId");
        if (typeof job === "string") return notFound(job);
        const task = job.tasks.find((t) => String(t.id) === req.params.id);
        if (!task) return notFound(`import task ${req.params.id} not found in job ${job.id}`);
        return { status: 200, body: taskView(store, task, now()) };
      },
    },
    {
      method: "GET",
      pattern: "/ais/api/job/:jobId/retry",
      operation: "retryImportJob",
      handler: (req) => {
        const job = byId(store.jobs, req.params.jobId);
        if (!job) return notFound(`import job ${req.params.jobId} not found`);
        for (const task of job.tasks) store.retryTask(task);
        return { status: 200, body: jobView(store, job, now(), true) };
      },
    },
    {
      method: "GET",
      pattern: "/ais/api/job/:jobId/abort",
      operation: "abortImportJob",
      handler: (req) => {
        const job = byId(store.jobs, req.params.jobId);
        if (!job) return notFound(`import job ${req.params.jobId} not found`);
        store.abortJob(job);
        return { status: 200, body: jobView(store, job, now(), true) };
      },
    },
    {
      method: "GET",
      pattern: "/ais/api/task/:taskId/retry",
      operation: "retryImportTask",
      handler: (req) => {
        const task = byId(store.tasks, req.params.taskId);
        if (!task) return notFound(`import task ${req.params.taskId} not found`);
        store.retryTask(task);
        return { status: 200, body: taskView(store, task, now()) };
      },
    },
    {
      method: "GET",
      pattern: "/ais/api/asset/:assetId/retry",
      operation: "retryAssetImport",
      handler: (req) => {
        const assetId = Number(req.params.assetId);
        const jobId = /^\d+$/.test(req.params.assetId ?? "") ? store.lastJobByAsset.get(assetId) : undefined;
        const job = jobId === undefined ? undefined : store.jobs.get(jobId);
        if (!job) return notFound(`asset ${req.params.assetId} has no import`);
        const retried = job.tasks.filter((task) => task.assetId === assetId && store.retryTask(task));
        const t = now();
        return {
          status: 200,
          body: {
            assetId,
            jobId: job.id,
            retriedTaskIds: retried.map((task) => task.id),
            tasks: job.tasks
              .filter((task) => task.assetId === assetId)
              .map((task) => taskView(store, task, t)),
          },
        };
      },
    },
  ];
}
