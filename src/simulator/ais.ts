/**
 * Simulated Vimond Asset Importer Service (seed 000).
 *
 * The seed names operations but not schemas; the simulator answers with these JSON shapes:
 *
 * - MediaFeed `{ id: number, companyId: string, name, type: "PUSH"|"PULL", url?, cron?, enabled,
 *   checkerState: "DONE"|"READY"|"RUNNING", created, updated, ...client extras }` (dates ISO 8601).
 * - Feed status `{ mediaFeedId, type, checkerState, lastCheckStarted|null, lastCheckFinished|null, lastJobId|null }`.
 * - ImportJob `{ id: number, mediaFeedId, companyId, state, created, started?, finished?, taskCount,
 *   taskStates: { <state>: n }, tasks?: ImportTask[] }` — `tasks` on push v2, get, retry and abort.
 * - ImportTask `{ id: number, jobId, mediaFeedId, assetId: number|null, entryId, entryUpdated?,
 *   type: "METADATA"|"VIDEO"|"IMAGE"|"UNPUBLISH", state, attempts, created, started?, finished?,
 *   errorCode?, errorMessage?, retryable? }` — error fields only while FAILED. These names are the
 *   simulator's guess (seed 000 has no task schema): `scenario.modules.ais.taskFields` renames,
 *   nests (`"assetId": "asset.id"`) or drops (`null`) any of them and `taskTypeNames` renames the
 *   types, so tests can play a tenant whose AIS names them otherwise.
 * - States (jobs and tasks): QUEUED, RUNNING, DONE, FAILED, ABORTED. A job is ABORTED once aborted,
 *   else QUEUED/RUNNING while any task is, else FAILED if any task failed or was aborted, else DONE.
 * - Lists (`listMediaFeeds`, `listImportJobs`, `listImportTasks`): `{ start, size, total, items }`,
 *   jobs newest first; `allMediaFeeds` is a plain array. Errors: `{ error, message }`.
 * - Asset retry: `{ assetId, jobId, retriedTaskIds, tasks }`.
 *
 * Behaviour: an entry id maps to one asset id per company across pushes. A push creates a job whose
 * tasks are QUEUED for `jobQueuedMs`, then RUNNING for their `taskDurationMs`, then DONE/FAILED by the
 * scripted outcome (`scenario.modules.ais`, see `ais/settings.ts`). Retries re-run FAILED/ABORTED
 * tasks (a new attempt); abort marks unfinished tasks ABORTED. When a VIDEO attempt will end DONE, the
 * Status module is told (`ais.videoImported`, effective at the attempt's end) and withdrawn on abort.
 */
import type { SimContext, SimModule } from "./core/types.js";
import { dashboardRoutes } from "./ais/dashboard-routes.js";
import { feedRoutes } from "./ais/feed-routes.js";
import { jobRoutes } from "./ais/job-routes.js";
import { probeRoutes } from "./ais/probe-routes.js";
import { aisSettingsSchema } from "./ais/settings.js";
import { AisStore, type TaskState } from "./ais/store.js";

export { aisSettingsSchema, type AisSettings } from "./ais/settings.js";

/** Builds the AIS module. */
export function createAisSim(ctx: SimContext): SimModule {
  const store = new AisStore(ctx);
  return {
    name: "ais",
    settingsSchema: aisSettingsSchema,
    routes: [...probeRoutes(), ...feedRoutes(store), ...jobRoutes(store), ...dashboardRoutes(store)],
    stats: () => {
      const jobs: Partial<Record<TaskState, number>> = {};
      const tasks: Partial<Record<TaskState, number>> = {};
      for (const job of store.jobs.values()) {
        const state = store.jobState(job);
        jobs[state] = (jobs[state] ?? 0) + 1;
      }
      for (const task of store.tasks.values()) {
        const state = store.taskState(task);
        tasks[state] = (tasks[state] ?? 0) + 1;
      }
      const duplicates = Object.values(store.pushes.byEntryVersion).reduce((sum, n) => sum + n - 1, 0);
      return {
        feeds: store.feeds.size,
        assets: store.assets.size,
        pushes: { ...structuredClone(store.pushes), duplicateVersions: duplicates },
        jobs,
        tasks,
        dashboardCalls: store.dashboardCalls,
      };
    },
    reset: () => store.reset(),
  };
}
