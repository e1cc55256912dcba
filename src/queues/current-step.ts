import { AsyncLocalStorage } from "node:async_hooks";

/** The step (and job) whose processor is running, for code that records without being told. */
export interface CurrentStep {
  step: string;
  jobId?: string;
}

const storage = new AsyncLocalStorage<CurrentStep>();

/**
 * Runs `work` as the given step. The record store reads it when an ingest fails, so the warn line
 * names the step without each of the many `fail()` call sites having to pass it.
 */
export function runAsStep<T>(current: CurrentStep, work: () => Promise<T>): Promise<T> {
  return storage.run(current, work);
}

/** The running step, or undefined outside a processor (operator actions, BullMQ event handlers). */
export function currentStep(): CurrentStep | undefined {
  return storage.getStore();
}
