import { STEP_NAMES, type StepName } from "../queues/names.js";
import type { PayloadSchema } from "../queues/payloads.js";
import type { StepDefinition, StepProcessor } from "../queues/step.js";
import { AEM_STEPS } from "./aem/index.js";
import { ASSET_MANAGEMENT_STEPS } from "./asset-management/index.js";
import type { ChainDeps } from "./every-target/deps.js";
import { EVERY_TARGET_STEPS } from "./every-target/index.js";
import type { ProcessorOf, StepEntry, StepHandler, StepTable } from "./step-table.js";
import { VIMOND_STEPS } from "./vimond/index.js";

/**
 * The step registry: every step's entry, from its target folder's table, each declaring the step
 * once (payload schema, job options, concurrency, how its handler is made). The compiler holds the
 * joined table to exactly one entry for each step name: a missing name is a missing property, an
 * unknown one is refused by its folder's `satisfies StepTable<...>`, and a name in two folders (which
 * the spread would settle silently) by `_OneFolderEach`. The runtime still refuses to start on a
 * step without a processor or with two (`buildStepRegistry`).
 */
const ENTRIES: StepTable<StepName> = {
  ...EVERY_TARGET_STEPS,
  ...VIMOND_STEPS,
  ...AEM_STEPS,
  ...ASSET_MANAGEMENT_STEPS,
};

/** `true` when no key is in two of the tables `T`, `false` otherwise. */
type Disjoint<T extends readonly object[], Seen = never> = T extends readonly [
  infer Head extends object,
  ...infer Rest extends readonly object[],
]
  ? [keyof Head & Seen] extends [never]
    ? Disjoint<Rest, Seen | keyof Head>
    : false
  : true;
type AssertTrue<T extends true> = T;
type _OneFolderEach = AssertTrue<
  Disjoint<[typeof EVERY_TARGET_STEPS, typeof VIMOND_STEPS, typeof AEM_STEPS, typeof ASSET_MANAGEMENT_STEPS]>
>;

/** Step `N`'s definition: its queue name, payload schema and how its jobs are run. */
export type StepDefinitionOf<N extends StepName> = StepDefinition<PayloadSchema<N>> & { name: N };

function definitionOf<N extends StepName>(name: N): StepDefinitionOf<N> {
  const { create: _create, ...definition } = ENTRIES[name] as StepEntry<N>;
  return { ...definition, name };
}

/** Every step's definition, by name (what the workers, and tests' stand-in processors, run with). */
export const STEP = Object.fromEntries(STEP_NAMES.map((name) => [name, definitionOf(name)])) as {
  readonly [N in StepName]: StepDefinitionOf<N>;
};

/**
 * Every step the service runs, in chain order (that of `STEP_NAMES`). The runtime refuses to start
 * unless each has exactly one processor (`buildStepRegistry`).
 */
export const STEPS: readonly StepDefinition[] = STEP_NAMES.map((name) => STEP[name]);

/** Step `name`'s processor: `handler` paired with the step's definition. */
export function stepProcessor<N extends StepName>(name: N, handler: StepHandler<N>): ProcessorOf<N> {
  return { step: STEP[name], process: handler };
}

/**
 * One processor per step, in chain order, from each entry's handler. A step's processor is built
 * once: job-poll's inline branches are the same processors their queues run.
 */
export function buildProcessors(deps: ChainDeps): StepProcessor[] {
  const built = new Map<StepName, StepProcessor>();
  const processorOf = <N extends StepName>(name: N): ProcessorOf<N> => {
    let processor = built.get(name) as ProcessorOf<N> | undefined;
    if (!processor) {
      const entry = ENTRIES[name] as StepEntry<N>;
      processor = stepProcessor(name, entry.create(deps, processorOf));
      built.set(name, processor);
    }
    return processor;
  };
  return STEP_NAMES.map((name) => processorOf(name));
}
