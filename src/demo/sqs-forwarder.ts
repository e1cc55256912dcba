import { moduleLogger } from "../log/logger.js";
import type { S3Notification } from "../intake/s3rver-bridge.js";
import type { EmbeddedS3 } from "../runtime/embedded-s3.js";
import { relayNotifications, type NotificationRelay } from "../runtime/notification-relay.js";

const log = moduleLogger("demo-sqs-forwarder");

/**
 * The demo's stand-in for S3's own notification delivery (a bucket's event configuration sending
 * to an SQS queue), so a worker in another process receives the embedded S3's events as it would
 * in production. It talks to the simulator's SQS over the AWS JSON 1.0 protocol directly: this is
 * S3's side of the wire, not one of the worker's upstreams, so it has no adapter.
 */
async function sqsCall(endpoint: string, operation: string, input: object): Promise<unknown> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `AmazonSQS.${operation}`,
    },
    body: JSON.stringify(input),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`SQS ${operation} answered ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as unknown) : {};
}

/** Creates (or finds) the queue and returns its URL. */
export async function createSqsQueue(endpoint: string, name: string): Promise<string> {
  const out = (await sqsCall(endpoint, "CreateQueue", { QueueName: name })) as { QueueUrl?: unknown };
  if (typeof out.QueueUrl !== "string")
    throw new Error(`SQS CreateQueue gave no QueueUrl: ${JSON.stringify(out)}`);
  return out.QueueUrl;
}

/** A running forwarder. */
export type SqsForwarder = NotificationRelay;

/**
 * Sends each embedded S3 notification to the queue as one message. S3 delivers at least once and
 * so does this, up to a failure: a notification the queue refused is logged and lost, as an S3
 * event can be in production, and `ingest-worker replay` or `backfill` recovers the object.
 */
export function forwardToSqs(s3: EmbeddedS3, endpoint: string, queueUrl: string): SqsForwarder {
  return relayNotifications(
    s3,
    (notification: S3Notification) =>
      sqsCall(endpoint, "SendMessage", { QueueUrl: queueUrl, MessageBody: JSON.stringify(notification) }),
    log,
    "embedded S3 notification not sent to SQS",
  );
}
