import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
  TooManyEntriesInBatchRequest,
  EmptyBatchRequest,
  BatchEntryIdsNotDistinct,
  MessageNotInflight,
  PurgeQueueInProgress,
  QueueNameExists,
  type Message,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { createSqsSim } from "../../src/simulator/sqs.js";
import { simSqsClient, simSqsQueue } from "../support/sim-sqs.js";
import { waitFor } from "../support/wait-for-value.js";

let sim: RunningSimulator;
let sqs: SQSClient;
let queueUrl: string;
let queueCounter = 0;

function queueStats(name: string): Record<string, number> | undefined {
  return simSqsQueue(sim, name);
}

async function attributes(url: string) {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

beforeAll(async () => {
  // Speed 1: long-poll and visibility timings are then real seconds, which the assertions rely on.
  sim = await startSimulator({ port: 0, speed: 1, modules: { sqs: createSqsSim } });
  sqs = simSqsClient(sim, 1);
});

afterAll(async () => {
  sqs.destroy();
  await sim.stop();
});

let queueName: string;
beforeEach(async () => {
  queueCounter += 1;
  queueName = `intake-${queueCounter}`;
  const created = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  queueUrl = created.QueueUrl!;
});

describe("SQS simulator through @aws-sdk/client-sqs", () => {
  it("creates queues with URLs under the account path and finds them by name", async () => {
    expect(queueUrl).toBe(`${sim.urls.sqs}/000000000000/${queueName}`);
    const again = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
    expect(again.QueueUrl).toBe(queueUrl);
    const found = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }));
    expect(found.QueueUrl).toBe(queueUrl);
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: "nope" }))).rejects.toBeInstanceOf(
      QueueDoesNotExist,
    );
    await expect(
      sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { VisibilityTimeout: "5" } })),
    ).rejects.toBeInstanceOf(QueueNameExists);
  });

  it("sends, receives with attributes and deletes; the SDK's MD5 checks pass", async () => {
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ hello: "wörld ✓" }),
        MessageAttributes: { source: { DataType: "String", StringValue: "s3" } },
      }),
    );
    expect(sent.MessageId).toBeTruthy();
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      }),
    );
    expect(received.Messages).toHaveLength(1);
    const message = received.Messages![0]!;
    expect(message.Body).toBe(JSON.stringify({ hello: "wörld ✓" }));
    expect(message.MessageAttributes?.source?.StringValue).toBe("s3");
    expect(message.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
    expect(message.Attributes?.ApproximateReceiveCount).toBe("1");
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it("sends in batches and reports per-entry failures and batch-level errors", async () => {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: "a", MessageBody: "one" },
          { Id: "b", MessageBody: "two" },
          { Id: "c", MessageBody: "" },
        ],
      }),
    );
    expect(out.Successful?.map((e) => e.Id).sort()).toEqual(["a", "b"]);
    expect(out.Failed).toEqual([expect.objectContaining({ Id: "c", SenderFault: true })]);
    expect((await attributes(queueUrl)).visible).toBe(2);

    const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `m${i}`, MessageBody: "x" }));
    await expect(
      sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: eleven })),
    ).rejects.toBeInstanceOf(TooManyEntriesInBatchRequest);
    await expect(
      sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [] })),
    ).rejects.toBeInstanceOf(EmptyBatchRequest);
    await expect(
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: [
            { Id: "same", MessageBody: "1" },
            { Id: "same", MessageBody: "2" },
          ],
        }),
      ),
    ).rejects.toBeInstanceOf(BatchEntryIdsNotDistinct);
  });

  it("a long poll answers as soon as a message is sent", async () => {
    const started = Date.now();
    const pending = sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 20 }));
    await waitFor("the receive to be waiting", () =>
      queueStats(queueName)?.waiting === 1 ? true : undefined,
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "wake up" }));
    const received = await pending;
    expect(received.Messages?.map((m) => m.Body)).toEqual(["wake up"]);
    // Far below the 20 s wait: the poll was answered by the send, not by its deadline.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a long poll with nothing to deliver ends empty at its deadline", async () => {
    const started = Date.now();
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    expect(received.Messages ?? []).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("an unacknowledged message becomes visible again after its visibility timeout", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "retry me" }));
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 1 }));
    const firstMessage = first.Messages![0]!;
    const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    expect(hidden.Messages ?? []).toEqual([]);
    const again: Message = await waitFor("the message to come back", async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      return out.Messages?.[0];
    });
    expect(again.MessageId).toBe(firstMessage.MessageId);
    expect(again.Attributes?.ApproximateReceiveCount).toBe("2");
    expect(again.ReceiptHandle).not.toBe(firstMessage.ReceiptHandle);
    // The outdated handle "succeeds" but deletes nothing, as SQS documents.
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: firstMessage.ReceiptHandle }),
    );
    expect((await attributes(queueUrl)).inFlight).toBe(1);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: again.ReceiptHandle }));
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it("a long poll also wakes when a hidden message turns visible", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "comes back" }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 1 }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10 }));
    expect(received.Messages?.map((m) => m.Body)).toEqual(["comes back"]);
  });

  it("changes visibility: 0 releases a message at once; a visible message is not in flight", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "release me" }));
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 300 }));
    const handle = first.Messages![0]!.ReceiptHandle!;
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: handle,
        VisibilityTimeout: 600,
      }),
    );
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 1 });
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: handle, VisibilityTimeout: 0 }),
    );
    expect(await attributes(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
    await expect(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: handle,
          VisibilityTimeout: 5,
        }),
      ),
    ).rejects.toBeInstanceOf(MessageNotInflight);
  });

  it("deletes in batches, reporting bad receipt handles per entry", async () => {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: "1", MessageBody: "a" },
          { Id: "2", MessageBody: "b" },
          { Id: "3", MessageBody: "c" },
        ],
      }),
    );
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    expect(received.Messages).toHaveLength(3);
    const out = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          ...received.Messages!.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle! })),
          { Id: "bad", ReceiptHandle: "not-a-handle" },
        ],
      }),
    );
    expect(out.Successful).toHaveLength(3);
    expect(out.Failed).toEqual([expect.objectContaining({ Id: "bad", Code: "ReceiptHandleIsInvalid" })]);
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await expect(
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: "garbage" })),
    ).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
  });

  it("purges a queue, at most once a minute", async () => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "gone soon" }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    expect(await attributes(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await expect(sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }))).rejects.toBeInstanceOf(
      PurgeQueueInProgress,
    );
  });

  it("answers unknown queues and invalid parameters in the AWS JSON error shape", async () => {
    const missing = `${sim.urls.sqs}/000000000000/missing`;
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: missing, MessageBody: "x" })),
    ).rejects.toBeInstanceOf(QueueDoesNotExist);
    await expect(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 11 })),
    ).rejects.toMatchObject({ name: "InvalidParameterValue", $metadata: { httpStatusCode: 400 } });

    const raw = await fetch(sim.urls.sqs, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.GetQueueUrl" },
      body: JSON.stringify({ QueueName: "missing" }),
    });
    expect(raw.status).toBe(400);
    expect(raw.headers.get("x-amzn-query-error")).toBe("AWS.SimpleQueueService.NonExistentQueue;Sender");
    expect(await raw.json()).toEqual({
      __type: "com.amazonaws.sqs#QueueDoesNotExist",
      message: "The specified queue does not exist.",
    });
    const unknown = await fetch(sim.urls.sqs, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.Nope" },
      body: "{}",
    });
    expect(unknown.status).toBe(400);
    const badJson = await fetch(sim.urls.sqs, {
      method: "POST",
      headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.SendMessage" },
      body: "{not json",
    });
    expect(badJson.status).toBe(400);
  });
});
