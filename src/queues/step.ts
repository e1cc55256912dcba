import type { Job, JobsOptions } from "bullmq";
import type { z } from "zod";
import type { Logger } from "../log/logger.js";
import type { IngestRecord } from "../records/ingest-record.js";
import type { StepName } from "./names.js";

/**
 * What a processor reports. Expected outcomes are values: `done` and `skipped` end the job,
 * `waiting` re-delays the same job (polling without sleeping in a processor). Processors throw
 * only for what should be retried, and throw `UnrecoverableError` for what should not.
 */
export type StepResult =
  | { outcome: "done"; detail?: string }
  | { outcome: "skipped"; reason: string }
  | { outcome: "waiting"; delayMs: number; reason?: string };

/**
 * What processors use of their BullMQ job. A step run inline from another job (see
 * inline-step.ts) has no job of its own and gets a stand-in with these.
 */
export type StepJob = Pick<Job, "id" | "data" | "opts" | "attemptsMade" | "processedOn" | "updateData">;

/** Per-job context handed to a processor next to its parsed payload. */
export interface StepContext {
  job: StepJob;
  /** Lock token of the job, needed to re-delay it. */
  token: string | undefined;
  log: Logger;
  /**
   * The record of the payload's ingest as the caller has just read and written it, when the step
   * runs inline (see inline-step.ts): the processor need not read it again. Absent for jobs.
   */
  record?: IngestRecord;
}

/** A step: its queue name, its payload schema, and how its jobs are run. */
export interface StepDefinition<S extends z.ZodType = z.ZodType> {
  name: StepName;
  schema: S;
  /** Defaults for every job added to this step (attempts, backoff, retention). */
  jobOptions: JobsOptions;
  /** Jobs this step runs at once per process; falls back to WORKER_CONCURRENCY. */
  concurrency?: number;
  /** Lock duration for long calls (ms); BullMQ's default is 30 s. */
  lockDuration?: number;
}

/** The code that runs a step's jobs. */
export interface StepProcessor<S extends z.ZodType = z.ZodType> {
  step: StepDefinition<S>;
  process(payload: z.infer<S>, ctx: StepContext): Promise<StepResult>;
}

/** Helper that keeps the payload type tied to the schema. */
export function defineProcessor<S extends z.ZodType>(
  step: StepDefinition<S>,
  process: (payload: z.infer<S>, ctx: StepContext) => Promise<StepResult>,
): StepProcessor<S> {
  return { step, process };
}

export class StepRegistryError extends Error {
  constructor(readonly problems: string[]) {
    super(`step registry is inconsistent:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "StepRegistryError";
  }
}

/**
 * Pairs every declared step with exactly one processor. A step without a processor would let
 * jobs pile up unseen; two processors would race for the same queue with different code. Either
 * is a programming error, so the worker refuses to start.
 */
export function buildStepRegistry(
  steps: readonly StepDefinition[],
  processors: readonly StepProcessor[],
): Map<StepName, StepProcessor> {
  const problems: string[] = [];
  const byName = new Map<StepName, StepProcessor>();
  const declared = new Set(steps.map((s) => s.name));
  for (const processor of processors) {
    const name = processor.step.name;
    if (!declared.has(name)) problems.push(`processor for undeclared step "${name}"`);
    else if (byName.has(name)) problems.push(`step "${name}" has two processors`);
    else byName.set(name, processor);
  }
  for (const step of steps) if (!byName.has(step.name)) problems.push(`step "${step.name}" has no processor`);
  if (problems.length) throw new StepRegistryError(problems);
  return byName;
}
