import type { SimContext, SimModule, SimModuleFactory } from "./core/types.js";
import { createLimiter } from "./module-kit/limiter.js";
import { settingsReader } from "./module-kit/settings.js";
import { requireApiKey } from "./aem/api-key.js";
import { summarize, type ImportJob } from "./aem/jobs.js";
import { aemRoutes } from "./aem/routes.js";
import { aemSettingsSchema } from "./aem/settings.js";
import { WebhookSender } from "./aem/webhook.js";

/** URL probes running at once, across all jobs. */
const PROBE_CONCURRENCY = 16;

/**
 * AEM Assets Import API (seed 003): import from URL, job status and result (each behind a bearer
 * token and an `x-api-key`), and `processing_completed` CloudEvents to the scenario's webhook.
 */
export const createAemSim: SimModuleFactory = (ctx: SimContext): SimModule => {
  const readSettings = settingsReader(ctx, "aem", aemSettingsSchema);
  const settings = () => readSettings().value;
  const jobs = new Map<string, ImportJob>();
  const webhooks = new WebhookSender(ctx, settings);
  const probes = createLimiter(PROBE_CONCURRENCY);
  return {
    name: "aem",
    settingsSchema: aemSettingsSchema,
    routes: requireApiKey(aemRoutes({ ctx, jobs, settings, webhooks, probes }), settings),
    stats: () => {
      const now = ctx.now();
      const byState = { PROCESSING: 0, COMPLETED: 0, FAILED: 0 };
      const files = { imported: 0, failed: 0, processing: 0 };
      for (const job of jobs.values()) {
        const summary = summarize(job, now);
        byState[summary.state] += 1;
        files.imported += summary.imported;
        files.failed += summary.failed;
        files.processing += summary.processing;
      }
      const settingsError = readSettings().error;
      return {
        jobs: jobs.size,
        jobsByState: byState,
        files,
        urlProbesPending: probes.pending(),
        events: { ...webhooks.counters },
        ...(settingsError !== undefined ? { settingsError } : {}),
      };
    },
    reset: () => {
      jobs.clear();
      webhooks.reset();
    },
  };
};
