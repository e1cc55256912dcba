import { CreateQueueCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { Queue } from "bullmq";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createSqsAdapter, type SqsAdapter } from "../../src/adapters/sqs/sqs-adapter.js";
import { createEventSink, sourceWatchJobId, type EventSink } from "../../src/intake/accept.js";
import type { ObjectEvent } from "../../src/intake/object-event.js";
import { SqsConsumer } from "../../src/intake/sqs-consumer.js";
import { createRedis } from "../../src/queues/connection.js";
import { freePort } from "../../src/runtime/free-port.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";
import { s3PutNotification } from "../support/s3-notification.js";
import { simSqsClient } from "../support/sim-sqs.js";

let sim: RunningSimulator;
let admin: SQSClient;
let queue: Queue;
let prefix: string;
let queueUrl: string;
let queueName: string;
let counter = 0;
const running: Array<{ consumer: SqsConsumer; sqs: SqsAdapter }> = [];

function s3Message(key: string, eTag: string): string {
  return JSON.stringify(
    s3PutNotification("media-in", [{ key, eTag, sequencer: "0A" }], "2024-05-01T12:00:00.000Z"),
  );
}

function eventFor(key: string, eTag: string): ObjectEvent {
  return {
    kind: "created",
    eventName: "ObjectCreated:Put",
    bucket: "media-in",
    key,
    eTag,
    eventTime: "2024-05-01T12:00:00.000Z",
    source: "sqs",
  };
}

async function send(body: string): Promise<void> {
  await admin.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
}

function stats(): { visible: number; inFlight: number } {
  const sqs = sim.stats().modules.sqs as { queues: Record<string, { visible: number; inFlight: number }> };
  return sqs.queues[queueName] ?? { visible: -1, inFlight: -1 };
}

function simCount(operation: string): number {
  return sim.stats().requests[`sqs.${operation}`]?.["200"] ?? 0;
}

function start(sink: EventSink, visibilitySeconds = 30): SqsConsumer {
  const sqs = createSqsAdapter({ queueUrl, region: "us-east-1", endpoint: sim.urls.sqs, maxAttempts: 1 });
  const consumer = new SqsConsumer({
    sqs,
    sink,
    waitSeconds: 1,
    visibilitySeconds,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  consumer.start();
  running.push({ consumer, sqs });
  return consumer;
}

async function jobExists(event: ObjectEvent): Promise<boolean> {
  return (await queue.getJob(sourceWatchJobId(event))) !== undefined;
}

beforeAll(async () => {
  // Speed 1: visibility timeouts are real seconds.
  sim = await startSimulator({ port: 0, speed: 1 });
  admin = simSqsClient(sim);
  prefix = uniquePrefix("sqs-consumer");
  queue = new Queue("source-watch", { connection: { url: testRedisUrl() }, prefix });
});

afterAll(async () => {
  await queue.close();
  await cleanupPrefix(prefix);
  admin.destroy();
  await sim.stop();
});

beforeEach(async () => {
  counter += 1;
  queueName = `consumer-${counter}`;
  queueUrl = (await admin.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl!;
});

afterEach(async () => {
  for (const { consumer, sqs } of running.splice(0)) {
    await consumer.stop();
    sqs.close();
  }
});

describe("SQS consumer (simulator SQS, real @aws-sdk/client-sqs, real Redis)", () => {
  it("deletes messages only after their events are in Redis, keeping slow batches hidden meanwhile", async () => {
    const real = createEventSink(queue);
    const deletesAtStart = simCount("DeleteMessageBatch");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const gated: EventSink = {
      async enqueue(events) {
        calls += 1;
        await gate;
        await real.enqueue(events);
      },
    };
    await send(s3Message("a/one.mp4", "e1"));
    await send(s3Message("a/two.mp4", "e2"));
    // Visibility 2 s: the consumer extends it every second while the sink holds the batch.
    const consumer = start(gated, 2);
    expect(consumer.running).toBe(true);
    // Both may come in one receive or two; the second receive waits for the first batch.
    await waitFor("the sink to hold a batch", () => calls >= 1);
    await waitFor("a visibility extension", () => simCount("ChangeMessageVisibility") > 0);
    expect(simCount("DeleteMessageBatch")).toBe(deletesAtStart);
    expect(stats().visible + stats().inFlight).toBe(2);

    release();
    await waitFor("both messages deleted", () => {
      const s = stats();
      return s.visible === 0 && s.inFlight === 0 ? true : undefined;
    });
    expect(await jobExists(eventFor("a/one.mp4", "e1"))).toBe(true);
    expect(await jobExists(eventFor("a/two.mp4", "e2"))).toBe(true);
  });

  it("leaves a malformed message for the dead-letter queue and deletes the good ones beside it", async () => {
    await send("this is not json");
    await send(s3Message("b/good.mp4", "g1"));
    await send(JSON.stringify({ Event: "s3:TestEvent", Service: "Amazon S3" }));
    const before = simCount("DeleteMessageBatch");
    start(createEventSink(queue));
    await waitFor("the good message's job", () => jobExists(eventFor("b/good.mp4", "g1")));
    await waitFor("the good and the test message deleted", () => {
      const s = stats();
      return s.visible + s.inFlight === 1 ? true : undefined;
    });
    expect(simCount("DeleteMessageBatch")).toBeGreaterThan(before);
    // The malformed one is still there (in flight now; SQS redrives it after maxReceiveCount).
    expect(stats()).toMatchObject({ inFlight: 1 });
  });

  it("keeps messages when Redis is unavailable, and stores them once it is back", async () => {
    // A producer connection to a port where no Redis listens: adds fail fast, as in an outage.
    const deadPort = await freePort();
    const deadRedis = createRedis(`redis://127.0.0.1:${deadPort}`, "producer", { retryStrategy: () => null });
    const deadQueue = new Queue("source-watch", { connection: deadRedis, prefix });
    deadQueue.on("error", () => {});
    const real = createEventSink(queue);
    let target: EventSink = createEventSink(deadQueue);
    let failures = 0;
    const switching: EventSink = {
      async enqueue(events) {
        try {
          await target.enqueue(events);
        } catch (error) {
          failures += 1;
          throw error;
        }
      },
    };
    const deletesBefore = simCount("DeleteMessageBatch");
    try {
      await send(s3Message("c/outage.mp4", "o1"));
      start(switching, 1);
      await waitFor("a failed enqueue", () => failures > 0);
      expect(simCount("DeleteMessageBatch")).toBe(deletesBefore);
      expect(stats().visible + stats().inFlight).toBe(1);
      expect(await jobExists(eventFor("c/outage.mp4", "o1"))).toBe(false);

      // Redis is back: the message becomes visible again after its 1 s timeout and is stored.
      target = real;
      await waitFor("the job after the outage", () => jobExists(eventFor("c/outage.mp4", "o1")));
      await waitFor("the message deleted", () => {
        const s = stats();
        return s.visible === 0 && s.inFlight === 0 ? true : undefined;
      });
    } finally {
      await deadQueue.close().catch(() => {});
      deadRedis.disconnect();
    }
  });

  it("stops promptly during a long poll", async () => {
    const consumer = start(createEventSink(queue));
    await waitFor("a receive in progress", () => simCount("ReceiveMessage") > 0);
    const started = Date.now();
    await consumer.stop();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(consumer.running).toBe(false);
  });
});
