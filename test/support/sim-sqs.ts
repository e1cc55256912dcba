import { SQSClient } from "@aws-sdk/client-sqs";
import type { RunningSimulator } from "../../src/simulator/index.js";

/**
 * An SDK client of the simulator's SQS, as a test's own side (creating queues, sending and reading
 * messages) uses it; the simulator takes any credentials. `maxAttempts` 1 shows a fault as it is.
 */
export function simSqsClient(sim: RunningSimulator, maxAttempts?: number): SQSClient {
  return new SQSClient({
    endpoint: sim.urls.sqs,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
}

/** The simulator's counts for one queue (visible, in flight, …); undefined for a queue it lacks. */
export function simSqsQueue(sim: RunningSimulator, name: string): Record<string, number> | undefined {
  const sqs = sim.stats().modules.sqs as { queues: Record<string, Record<string, number>> } | undefined;
  return sqs?.queues[name];
}
