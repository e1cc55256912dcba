import type { StepName } from "../queues/names.js";
import type { StepProcessor } from "../queues/step.js";
import { STEP } from "../queues/steps.js";
import { AEM_STEPS } from "./aem/index.js";
import { ASSET_MANAGEMENT_STEPS } from "./asset-management/index.js";
import type { ChainDeps } from "./every-target/deps.js";
import { EVERY_TARGET_STEPS } from "./every-target/index.js";
import type { ProcessorOf, StepFactories, StepFactory } from "./step-factory.js";
import { VIMOND_STEPS } from "./vimond/index.js";

/**
 * The step registry: every step's processor factory, by target folder. Each step's name, payload
 * schema and job options are in `STEP` (queues/steps.ts), the dependency-light half that intake,
 * queues, ops and http import without loading processor code; the compiler holds this table to
 * exactly one factory for each of its names, and the runtime still refuses to start on a step
 * without a processor or with two (`buildStepRegistry`).
 */
export const STEP_FACTORIES: StepFactories<StepName> = {
  ...EVERY_TARGET_STEPS,
  ...VIMOND_STEPS,
  ...AEM_STEPS,
  ...ASSET_MANAGEMENT_STEPS,
};

/**
 * One processor per step, in chain order (`STEP`'s). A step's processor is built once: job-poll's
 * inline branches are the same processors their queues run.
 */
export function buildProcessors(deps: ChainDeps): StepProcessor[] {
  const built = new Map<StepName, StepProcessor>();
  const processorOf = <N extends StepName>(name: N): ProcessorOf<N> => {
    let processor = built.get(name) as ProcessorOf<N> | undefined;
    if (!processor) {
      const factory = STEP_FACTORIES[name] as StepFactory<N>;
      processor = factory(deps, processorOf);
      built.set(name, processor);
    }
    return processor;
  };
  return (Object.keys(STEP) as StepName[]).map((name) => processorOf(name));
}
