import { retrying } from "./job-options.js";
import type { StepName } from "./names.js";
import {
  aemImportPayload,
  aemPollPayload,
  assetsPollPayload,
  assetsRegisterPayload,
  atomPushPayload,
  imageFetchPayload,
  jobPollPayload,
  notifyPayload,
  remediatePayload,
  sourceWatchPayload,
  statusTrackPayload,
} from "./payloads.js";
import type { StepDefinition } from "./step.js";

/**
 * Step definitions by name: queue, payload schema and job options side by side. This is the
 * dependency-light half of the step registry, importable by every layer; each step's processor
 * factory is in `STEP_FACTORIES` (processors/index.ts), by target folder.
 */
export const STEP = {
  "source-watch": { name: "source-watch", schema: sourceWatchPayload, jobOptions: retrying(8, 1000) },
  "atom-push": { name: "atom-push", schema: atomPushPayload, jobOptions: retrying(10, 1000), concurrency: 4 },
  "job-poll": { name: "job-poll", schema: jobPollPayload, jobOptions: retrying(10, 2000) },
  remediate: { name: "remediate", schema: remediatePayload, jobOptions: retrying(8, 2000) },
  "status-track": { name: "status-track", schema: statusTrackPayload, jobOptions: retrying(10, 2000) },
  "image-fetch": { name: "image-fetch", schema: imageFetchPayload, jobOptions: retrying(8, 2000) },
  "aem-import": {
    name: "aem-import",
    schema: aemImportPayload,
    jobOptions: retrying(10, 1000),
    concurrency: 4,
  },
  "aem-poll": { name: "aem-poll", schema: aemPollPayload, jobOptions: retrying(10, 2000) },
  "assets-register": {
    name: "assets-register",
    schema: assetsRegisterPayload,
    jobOptions: retrying(8, 2000),
  },
  "assets-poll": { name: "assets-poll", schema: assetsPollPayload, jobOptions: retrying(10, 2000) },
  notify: { name: "notify", schema: notifyPayload, jobOptions: retrying(12, 2000) },
} as const satisfies Record<StepName, StepDefinition>;

/**
 * Every step the service runs, in chain order. The runtime refuses to start unless each has
 * exactly one processor (`buildProcessors`, from `STEP_FACTORIES`).
 */
export const STEPS: readonly StepDefinition[] = Object.values(STEP);
