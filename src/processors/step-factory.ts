import type { StepProcessor } from "../queues/step.js";
import type { StepName } from "../queues/names.js";
import type { STEP } from "../queues/steps.js";
import type { ChainDeps } from "./every-target/deps.js";

/** The processor of step `N`, typed by its payload schema. */
export type ProcessorOf<N extends StepName> = StepProcessor<(typeof STEP)[N]["schema"]>;

/**
 * Builds the processor of step `N`. `built` hands out another step's processor of the same set
 * (job-poll runs its branches' first runs inline with the very processors their queues use).
 */
export type StepFactory<N extends StepName> = (
  deps: ChainDeps,
  built: <M extends StepName>(name: M) => ProcessorOf<M>,
) => ProcessorOf<N>;

/** One factory for each step in `N`: a missing or an unknown step is a type error. */
export type StepFactories<N extends StepName> = { readonly [K in N]: StepFactory<K> };
