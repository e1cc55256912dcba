import type { JobsOptions } from "bullmq";
import { retrying } from "./job-options.js";
import type { StepName } from "./names.js";

/**
 * source-watch's queue: its name and the options of the jobs added to it. It is the one step
 * declared here rather than only in its registry entry (processors/every-target/index.ts, which
 * spreads this) because jobs are added to it from outside the chain, by intake, the operator's
 * replay and retry, partition migration and the CLI, and those must not load processor code to do
 * so. Every other step's jobs are added by steps, and its queue is declared once, in its entry.
 */
export const SOURCE_WATCH = {
  name: "source-watch",
  jobOptions: retrying(8, 1000),
} as const satisfies { name: StepName; jobOptions: JobsOptions };
