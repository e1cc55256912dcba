/**
 * What every target's chain shares: its first step and its last, and what all processors use.
 *
 *   source-watch ─► (the route's target chain: vimond/, aem/, asset-management/) ─► notify
 *
 * source-watch dedupes an object event (stale-events.ts), matches a route, assembles the package
 * from its sidecar (assemble-package.ts, package-identity.ts) and hands it to the target's first
 * step (hand-off.ts). notify delivers the terminal state to each notification URL as a CloudEvent.
 * deps.ts and chain-deps.ts are what every processor is given; poll-delay.ts spaces every poll.
 */
import { retrying } from "../../queues/job-options.js";
import { notifyPayload, sourceWatchPayload } from "../../queues/payloads.js";
import { SOURCE_WATCH } from "../../queues/source-watch-queue.js";
import type { StepTable } from "../step-table.js";
import { createNotifyProcessor } from "./notify.js";
import { createSourceWatchProcessor } from "./source-watch.js";

export const EVERY_TARGET_STEPS = {
  // Name and job options from the queue module: intake, ops and the CLI add its jobs too.
  "source-watch": {
    ...SOURCE_WATCH,
    schema: sourceWatchPayload,
    create: (deps) => createSourceWatchProcessor(deps),
  },
  notify: {
    schema: notifyPayload,
    jobOptions: retrying(12, 2000),
    create: (deps) => createNotifyProcessor(deps),
  },
} satisfies StepTable<"source-watch" | "notify">;
