import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { STEP_NAMES, type StepName } from "../queues/names.js";

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

/**
 * One queue per step and partition on `redis` under the service's prefixes, for a process that
 * runs no workers (the CLI).
 */
export function openStepQueues(
  redis: Redis,
  prefixes: readonly string[],
): { queues: readonly StepQueues[]; close(): Promise<void> } {
  const queues = prefixes.map((prefix) => {
    const map = new Map<StepName, Queue>();
    for (const name of STEP_NAMES) {
      // No job options: these queues are only counted, paused and resumed, never added to.
      const queue = new Queue(name, { connection: redis, prefix });
      // Failures reach the caller through the failing call; this keeps them from being unhandled events.
      queue.on("error", () => {});
      map.set(name, queue);
    }
    return map;
  });
  return {
    queues,
    async close() {
      await Promise.all(queues.flatMap((map) => [...map.values()]).map((queue) => queue.close()));
    },
  };
}

/** The step queues of one partition, or of every partition (PARTITIONS): a step spans them all. */
export type PartitionQueues = StepQueues | readonly StepQueues[];

/** A step's queue in every partition. */
function stepQueues(queues: PartitionQueues, step: StepName): Queue[] {
  const found = [queues].flat().flatMap((map) => map.get(step) ?? []);
  if (found.length === 0) throw new Error(`no queue for step ${step}`);
  return found;
}

/** The state and counts of one step's queue, summed over partitions; paused only if paused in all. */
export async function queueState(queues: PartitionQueues, step: StepName): Promise<QueueState> {
  const read = await Promise.all(
    stepQueues(queues, step).map((queue) =>
      Promise.all([
        queue.isPaused(),
        // BullMQ 6 keeps a paused queue's jobs in its wait list (the pause is a meta flag), so they count as waiting.
        queue.getJobCounts("waiting", "active", "delayed", "failed"),
      ]),
    ),
  );
  const paused = read.every(([isPaused]) => isPaused);
  const sum = (state: "waiting" | "active" | "delayed" | "failed") =>
    read.reduce((total, [, counts]) => total + (counts[state] ?? 0), 0);
  return {
    step,
    paused,
    state: paused ? "paused" : "running",
    counts: {
      waiting: sum("waiting"),
      active: sum("active"),
      delayed: sum("delayed"),
      failed: sum("failed"),
    },
  };
}

/** Every step, in chain order. */
export async function listQueueStates(queues: PartitionQueues): Promise<QueueState[]> {
  const first = [queues].flat()[0];
  return Promise.all(STEP_NAMES.filter((step) => first?.has(step)).map((step) => queueState(queues, step)));
}

/** Pauses (or resumes) one step globally, in every partition, and returns its state afterwards. Idempotent. */
export async function setStepPaused(
  queues: PartitionQueues,
  step: StepName,
  paused: boolean,
): Promise<QueueState> {
  await Promise.all(stepQueues(queues, step).map((queue) => (paused ? queue.pause() : queue.resume())));
  return queueState(queues, step);
}
