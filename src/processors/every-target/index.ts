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
import type { StepFactories } from "../step-factory.js";
import { createNotifyProcessor } from "./notify.js";
import { createSourceWatchProcessor } from "./source-watch.js";

export const EVERY_TARGET_STEPS = {
  "source-watch": (deps) => createSourceWatchProcessor(deps),
  notify: (deps) => createNotifyProcessor(deps),
} satisfies StepFactories<"source-watch" | "notify">;
