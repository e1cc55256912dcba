import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createSqsAdapter,
  type SqsAdapter,
  type SqsAdapterSettings,
} from "../../src/adapters/sqs/sqs-adapter.js";
import { regionOfQueueUrl, sqsSettingsFromEnv } from "../../src/adapters/sqs/sqs-settings.js";
import { upstreamRequests } from "../../src/metrics/upstream-metrics.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { simSqsClient, simSqsQueue } from "../support/sim-sqs.js";
import { waitFor } from "../support/wait-for-value.js";

let sim: RunningSimulator;
let admin: SQSClient;
let queueUrl: string;
let queueName: string;
let counter = 0;
const adapters: SqsAdapter[] = [];

function adapter(overrides: Partial<SqsAdapterSettings> = {}): SqsAdapter {
  const created = createSqsAdapter({
    queueUrl,
    region: "us-east-1",
    endpoint: sim.urls.sqs,
    accessKeyId: "test",
    secretAccessKey: "test",
    ...overrides,
  });
  adapters.push(created);
  return created;
}

async function send(count: number, prefix = "m"): Promise<void> {
  for (let i = 0; i < count; i += 10) {
    const entries = Array.from({ length: Math.min(10, count - i) }, (_, j) => ({
      Id: `e${i + j}`,
      MessageBody: JSON.stringify({ n: `${prefix}${i + j}` }),
    }));
    await admin.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  }
}

function queueStats(): Record<string, number> | undefined {
  return simSqsQueue(sim, queueName);
}

function simCount(operation: string, status: string): number {
  return sim.stats().requests[`sqs.${operation}`]?.[status] ?? 0;
}

async function metricCount(operation: string, status: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values
    .filter(
      (v) => v.labels.upstream === "sqs" && v.labels.operation === operation && v.labels.status === status,
    )
    .reduce((sum, v) => sum + v.value, 0);
}

beforeAll(async () => {
  // Speed 1: long polls and visibility timeouts are then real seconds, which the tests rely on.
  sim = await startSimulator({ port: 0, speed: 1, holdMs: 5_000 });
  admin = simSqsClient(sim, 1);
});

afterAll(async () => {
  admin.destroy();
  await sim.stop();
});

beforeEach(async () => {
  counter += 1;
  queueName = `adapter-${counter}`;
  const created = await admin.send(new CreateQueueCommand({ QueueName: queueName }));
  queueUrl = created.QueueUrl!;
});

afterEach(() => {
  for (const created of adapters.splice(0)) created.close();
  sim.setScenario({ faults: { sqs: null } });
});

describe("SQS adapter against the simulator (real @aws-sdk/client-sqs)", () => {
  it("receives with body and receive count, deletes in a batch, and the queue is then empty", async () => {
    const sqs = adapter();
    await send(3);
    const received = await sqs.receive({ waitSeconds: 1, visibilitySeconds: 30, max: 10 });
    expect(received).toHaveLength(3);
    for (const message of received) {
      expect(message.receiveCount).toBe(1);
      expect(message.messageId).not.toBe("");
      expect(JSON.parse(message.body)).toHaveProperty("n");
    }
    const { failed } = await sqs.deleteBatch(received.map((m) => m.receiptHandle));
    expect(failed).toEqual([]);
    expect(queueStats()).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 10 })).toEqual([]);
  });

  it("deletes more than 10 handles in batches of 10 and reports the handles SQS refused", async () => {
    const sqs = adapter();
    await send(12);
    const handles: string[] = [];
    await waitFor("12 receipts", async () => {
      const batch = await sqs.receive({ waitSeconds: 1, visibilitySeconds: 60, max: 10 });
      handles.push(...batch.map((m) => m.receiptHandle));
      return handles.length >= 12 ? true : undefined;
    });
    const before = simCount("DeleteMessageBatch", "200");
    const { failed } = await sqs.deleteBatch([...handles, "not-a-receipt-handle"]);
    expect(failed).toEqual(["not-a-receipt-handle"]);
    expect(simCount("DeleteMessageBatch", "200") - before).toBe(2);
    expect(queueStats()).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await sqs.deleteBatch([])).toEqual({ failed: [] });
  });

  it("redelivers an undeleted message after its visibility timeout with receiveCount 2", async () => {
    const sqs = adapter();
    await send(1);
    const [first] = await sqs.receive({ waitSeconds: 1, visibilitySeconds: 1, max: 1 });
    expect(first?.receiveCount).toBe(1);
    const again = await waitFor("the redelivery", async () => {
      const [message] = await sqs.receive({ waitSeconds: 2, visibilitySeconds: 30, max: 1 });
      return message;
    });
    expect(again.messageId).toBe(first?.messageId);
    expect(again.receiveCount).toBe(2);
  });

  it("extends visibility: an extended message stays hidden, and 0 releases it at once", async () => {
    const sqs = adapter();
    await send(1);
    const [message] = await sqs.receive({ waitSeconds: 1, visibilitySeconds: 1, max: 1 });
    await sqs.extendVisibility(message!.receiptHandle, 600);
    // A 2 s long poll outlasts the original 1 s visibility; the extension must keep it hidden.
    expect(await sqs.receive({ waitSeconds: 2, visibilitySeconds: 30, max: 1 })).toEqual([]);
    expect(queueStats()).toMatchObject({ inFlight: 1 });
    await sqs.extendVisibility(message!.receiptHandle, 0);
    const [released] = await sqs.receive({ waitSeconds: 1, visibilitySeconds: 30, max: 1 });
    expect(released?.messageId).toBe(message!.messageId);
    await expect(sqs.extendVisibility(message!.receiptHandle, 43_201)).rejects.toBeInstanceOf(RangeError);
  });

  it("rejects receive options outside SQS limits before calling", async () => {
    const sqs = adapter();
    await expect(sqs.receive({ waitSeconds: 21, visibilitySeconds: 30, max: 1 })).rejects.toThrow(
      /waitSeconds/,
    );
    await expect(sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 11 })).rejects.toThrow(/max/);
  });

  it("stops a long poll when its signal aborts, and close() stops the others", async () => {
    const sqs = adapter();
    const controller = new AbortController();
    const started = Date.now();
    const polling = sqs.receive({
      waitSeconds: 20,
      visibilitySeconds: 30,
      max: 1,
      signal: controller.signal,
    });
    await waitFor("the long poll to wait", () => (queueStats()?.waiting === 1 ? true : undefined));
    controller.abort();
    await expect(polling).resolves.toEqual([]);
    expect(Date.now() - started).toBeLessThan(15_000);

    const other = adapter();
    const second = other.receive({ waitSeconds: 20, visibilitySeconds: 30, max: 1 });
    await waitFor("the second long poll", () => (queueStats()?.waiting === 1 ? true : undefined));
    other.close();
    await expect(second).resolves.toEqual([]);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("rides out 429 throttling with the SDK's retries, counted once per call", async () => {
    const sqs = adapter({ maxAttempts: 3 });
    await send(1);
    sim.setScenario({
      faults: { sqs: { ReceiveMessage: { burst429: { count: 2, retryAfterSeconds: 0 } } } },
    });
    const before = await metricCount("ReceiveMessage", "200");
    const received = await sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 1 });
    expect(received).toHaveLength(1);
    expect(simCount("ReceiveMessage", "429")).toBe(2);
    expect(await metricCount("ReceiveMessage", "200")).toBe(before + 1);
  });

  it("surfaces persistent 5xx with the HTTP status in the metrics", async () => {
    const sqs = adapter({ maxAttempts: 2 });
    sim.setScenario({ faults: { sqs: { ReceiveMessage: { errorRates: { "503": 1 } } } } });
    const before = await metricCount("ReceiveMessage", "503");
    await expect(sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 1 })).rejects.toMatchObject({
      $metadata: { httpStatusCode: 503 },
    });
    expect(await metricCount("ReceiveMessage", "503")).toBe(before + 1);
    expect(simCount("ReceiveMessage", "503")).toBeGreaterThanOrEqual(2);
  });

  it("surfaces connection resets and timeouts as errors, not as empty receives", async () => {
    const sqs = adapter({ maxAttempts: 1, requestTimeoutMs: 500 });
    sim.setScenario({ faults: { sqs: { ReceiveMessage: { errorRates: { reset: 1 } } } } });
    await expect(sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 1 })).rejects.toBeInstanceOf(
      Error,
    );
    sim.setScenario({ faults: { sqs: { ReceiveMessage: { errorRates: { timeout: 1 } } } } });
    const started = Date.now();
    const error = await sqs.receive({ waitSeconds: 0, visibilitySeconds: 30, max: 1 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.name).toMatch(/Timeout/i);
    // The adapter's own limit fired, not the simulator dropping the held socket after 5 s.
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it("throws when no delete batch could be sent (the queue is gone)", async () => {
    const sqs = adapter({ queueUrl: `${sim.urls.sqs}/000000000000/no-such-queue`, maxAttempts: 1 });
    await expect(sqs.deleteBatch(["a", "b"])).rejects.toMatchObject({ name: "QueueDoesNotExist" });
  });

  it("builds its settings from the environment, taking the region from an AWS queue URL", () => {
    expect(regionOfQueueUrl("https://sqs.eu-west-1.amazonaws.com/123456789012/intake")).toBe("eu-west-1");
    expect(regionOfQueueUrl("https://ap-south-1.queue.amazonaws.com/1/q")).toBe("ap-south-1");
    expect(regionOfQueueUrl("http://127.0.0.1:4566/000000000000/q")).toBeUndefined();
    const env = { SQS_QUEUE_URL: queueUrl, SQS_ENDPOINT: sim.urls.sqs, S3_REGION: "us-west-2" };
    expect(sqsSettingsFromEnv(env)).toEqual({ queueUrl, endpoint: sim.urls.sqs, region: "us-west-2" });
    expect(sqsSettingsFromEnv({ ...env, SQS_QUEUE_URL: undefined })).toBeUndefined();
  });
});
