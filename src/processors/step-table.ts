import type { z } from "zod";
import type { StepName } from "../queues/names.js";
import type { PayloadSchema } from "../queues/payloads.js";
import type { StepContext, StepDefinition, StepProcessor, StepResult } from "../queues/step.js";
import type { ChainDeps } from "./every-target/deps.js";

/** The processor of step `N`, typed by its payload schema. */
export type ProcessorOf<N extends StepName> = StepProcessor<PayloadSchema<N>>;

/** What runs one job of step `N`: its parsed payload in, what happened out. */
export type StepHandler<N extends StepName> = (
  payload: z.infer<PayloadSchema<N>>,
  ctx: StepContext,
) => Promise<StepResult>;

/**
 * Types a processor file's handler by its step's payload. The file names its step instead of
 * importing the step's definition, which sits in its target's index.ts and would be an import
 * cycle; the registry pairs the two (`stepProcessor` in processors/index.ts).
 */
export function defineHandler<N extends StepName>(_step: N, handler: StepHandler<N>): StepHandler<N> {
  return handler;
}

/**
 * Another step's processor of the same set (job-poll runs its branches' first runs inline with the
 * very processors their queues use).
 */
export type BuiltProcessor = <M extends StepName>(name: M) => ProcessorOf<M>;

/**
 * One step, declared once: how its queue runs (payload schema, job options, concurrency, lock) and
 * how its handler is made. Its name is its key in the table; `name` may be given too (source-watch
 * spreads its queue's name and options from queues/source-watch-queue.ts).
 */
export interface StepEntry<N extends StepName> extends Omit<StepDefinition<PayloadSchema<N>>, "name"> {
  name?: N;
  create: (deps: ChainDeps, built: BuiltProcessor) => StepHandler<N>;
}

/** One entry for each step in `N`: a missing or an unknown step is a type error. */
export type StepTable<N extends StepName> = { readonly [K in N]: StepEntry<K> };
