import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { STEP_NAMES, type StepName } from "../queues/names.js";
import { STEP } from "../queues/steps.js";

/**
 * Pausing and resuming steps (`queues pause|resume [STEP]`, `POST /v1/queues/{step}/pause|resume`)
 * and what each step's queue holds (`queues`, `GET /v1/queues`). BullMQ's Queue.pause() is global:
 * a flag in the queue's Redis meta that every worker honours, so one call stops a step across all
 * pods. Jobs added while paused are kept and wait; active jobs run to their end.
 */

/** A step's queue as the operator sees it. */
export interface QueueState {
  step: StepName;
  paused: boolean;
  state: "paused" | "running";
  counts: { waiting: number; active: number; delayed: number; failed: number };
}

/** The step queues by name, as the runtime holds them (or {@link openStepQueues} builds them). */
export type StepQueues = ReadonlyMap<StepName, Queue>;

/** The step a name denotes, or undefined: an unknown step is the caller's 404 / exit 2. */
export function stepOf(name: string): StepName | undefined {
  return STEP_NAMES.find((step) => step === name);
}

/** One queue per step on `redis` under the service's prefix, for a process that runs no workers (the CLI). */
export function openStepQueues(redis: Redis, prefix: string): { queues: StepQueues; close(): Promise<void> } {
  const queues = new Map<StepName, Queue>();
  for (const name of STEP_NAMES) {
    const queue = new Queue(name, { connection: redis, prefix, defaultJobOptions: STEP[name].jobOptions });
    // Failures reach the caller through the failing call; this keeps them from being unhandled events.
    queue.on("error", () => {});
    queues.set(name, queue);
  }
  return {
    queues,
    async close() {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
    },
  };
}

/** The state and counts of one step's queue. */
export async function queueState(queues: StepQueues, step: StepName): Promise<QueueState> {
  const queue = queues.get(step);
  if (!queue) throw new Error(`no queue for step ${step}`);
  const [paused, counts] = await Promise.all([
    queue.isPaused(),
    // BullMQ 6 keeps a paused queue's jobs in its wait list (the pause is a meta flag), so they count as waiting.
    queue.getJobCounts("waiting", "active", "delayed", "failed"),
  ]);
  return {
    step,
    paused,
    state: paused ? "paused" : "running",
    counts: {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
    },
  };
}

/** Every step, in chain order. */
export async function listQueueStates(queues: StepQueues): Promise<QueueState[]> {
  return Promise.all(STEP_NAMES.filter((step) => queues.has(step)).map((step) => queueState(queues, step)));
}

/** Pauses (or resumes) one step globally and returns its state afterwards. Idempotent. */
export async function setStepPaused(
  queues: StepQueues,
  step: StepName,
  paused: boolean,
): Promise<QueueState> {
  const queue = queues.get(step);
  if (!queue) throw new Error(`no queue for step ${step}`);
  if (paused) await queue.pause();
  else await queue.resume();
  return queueState(queues, step);
}
