import type { z } from "zod";
import type { SimContext } from "../core/types.js";
import { seededUuid } from "../module-kit/ids.js";
import { queryCodeOf, SqsFailure, type SqsErrorName } from "./errors.js";
import { md5Hex, md5OfMessageAttributes, type MessageAttributeValue } from "./md5.js";
import { QUEUE_ATTRIBUTE_DEFAULTS, SqsQueue, type SqsMessage } from "./queue.js";
import type * as schemas from "./schemas.js";

const ACCOUNT_ID = "000000000000";
const MAX_MESSAGE_BYTES = 262_144;
const MAX_BATCH_ENTRIES = 10;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}(\.fifo)?$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
// Characters SQS accepts in a message body (XML 1.0 character ranges).
const INVALID_BODY_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Real SQS refuses a second purge within 60 seconds. */
const PURGE_COOLDOWN_MS = 60_000;
const SYSTEM_ATTRIBUTES = [
  "SenderId",
  "SentTimestamp",
  "ApproximateReceiveCount",
  "ApproximateFirstReceiveTimestamp",
];

type Input<S extends z.ZodType> = z.output<S>;

/** Counters for the stats. */
export interface SqsCounters {
  sent: number;
  received: number;
  deleted: number;
  /** Deletes with a receipt handle from an earlier receive: they succeed but delete nothing, as in SQS. */
  staleDeletes: number;
  redelivered: number;
}

/** Receipt handles name the queue, the message and the receive that produced them. */
function receiptHandle(queue: string, message: SqsMessage): string {
  return Buffer.from(JSON.stringify([queue, message.id, message.receiveSeq])).toString("base64url");
}

function parseReceiptHandle(handle: string): { queue: string; id: string; seq: number } | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(handle, "base64url").toString("utf8"));
    if (!Array.isArray(value) || value.length !== 3) return undefined;
    const [queue, id, seq] = value as unknown[];
    if (typeof queue !== "string" || typeof id !== "string" || typeof seq !== "number") return undefined;
    return { queue, id, seq };
  } catch {
    return undefined;
  }
}

function fail(name: SqsErrorName, message: string): never {
  throw new SqsFailure(name, message);
}

/** The SQS operations over in-memory standard queues; durations are scaled by the simulator speed. */
export class SqsService {
  readonly queues = new Map<string, SqsQueue>();
  readonly counters: SqsCounters = { sent: 0, received: 0, deleted: 0, staleDeletes: 0, redelivered: 0 };

  constructor(private readonly ctx: SimContext) {}

  reset(): void {
    for (const queue of this.queues.values()) queue.finishAll();
    this.queues.clear();
    Object.assign(this.counters, { sent: 0, received: 0, deleted: 0, staleDeletes: 0, redelivered: 0 });
  }

  private secondsToMs(seconds: number): number {
    return this.ctx.scaled(seconds * 1000);
  }

  private queueUrl(baseUrl: string, name: string): string {
    return `${baseUrl}/${ACCOUNT_ID}/${name}`;
  }

  private queueFor(url: string): SqsQueue {
    let name: string | undefined;
    try {
      name = new URL(url).pathname.split("/").filter(Boolean).pop();
    } catch {
      // Some clients pass the bare name; SQS accepts neither, but naming it helps the message.
      name = url.includes("/") ? undefined : url;
    }
    if (name === undefined) fail("InvalidAddress", `The address ${url} is not valid for this endpoint.`);
    const queue = this.queues.get(name);
    if (!queue) fail("QueueDoesNotExist", "The specified queue does not exist.");
    return queue;
  }

  private validateAttributes(attributes: Record<string, string>): void {
    for (const [name, value] of Object.entries(attributes)) {
      if (
        !(name in QUEUE_ATTRIBUTE_DEFAULTS) &&
        !["Policy", "RedrivePolicy", "FifoQueue", "KmsMasterKeyId", "SqsManagedSseEnabled"].includes(name)
      ) {
        fail("InvalidAttributeName", `Unknown Attribute ${name}.`);
      }
      if (name in QUEUE_ATTRIBUTE_DEFAULTS && !/^\d+$/.test(value)) {
        fail("InvalidAttributeValue", `Invalid value for the parameter ${name}.`);
      }
    }
    const check = (name: string, max: number) => {
      const value = attributes[name];
      if (value !== undefined && Number(value) > max)
        fail("InvalidAttributeValue", `Invalid value for the parameter ${name}.`);
    };
    check("VisibilityTimeout", 43_200);
    check("DelaySeconds", 900);
    check("ReceiveMessageWaitTimeSeconds", 20);
  }

  createQueue(input: Input<typeof schemas.createQueueInput>, baseUrl: string) {
    if (!QUEUE_NAME.test(input.QueueName)) {
      fail(
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
      );
    }
    const attributes = input.Attributes ?? {};
    this.validateAttributes(attributes);
    const existing = this.queues.get(input.QueueName);
    if (existing) {
      const differs = Object.entries(attributes).some(
        ([k, v]) => (existing.attributes[k] ?? QUEUE_ATTRIBUTE_DEFAULTS[k]) !== v,
      );
      if (differs)
        fail(
          "QueueNameExists",
          `A queue already exists with the same name and a different value for attribute(s).`,
        );
    } else {
      this.queues.set(input.QueueName, new SqsQueue(input.QueueName, this.ctx.now(), { ...attributes }));
    }
    return { QueueUrl: this.queueUrl(baseUrl, input.QueueName) };
  }

  getQueueUrl(input: Input<typeof schemas.getQueueUrlInput>, baseUrl: string) {
    if (!this.queues.has(input.QueueName)) fail("QueueDoesNotExist", "The specified queue does not exist.");
    return { QueueUrl: this.queueUrl(baseUrl, input.QueueName) };
  }

  listQueues(input: Input<typeof schemas.listQueuesInput>, baseUrl: string) {
    const prefix = input.QueueNamePrefix ?? "";
    const names = [...this.queues.keys()]
      .filter((name) => name.startsWith(prefix))
      .slice(0, input.MaxResults ?? 1000);
    return { QueueUrls: names.map((name) => this.queueUrl(baseUrl, name)) };
  }

  deleteQueue(input: Input<typeof schemas.queueOnlyInput>) {
    const queue = this.queueFor(input.QueueUrl);
    queue.finishAll();
    this.queues.delete(queue.name);
    return {};
  }

  setQueueAttributes(input: Input<typeof schemas.setQueueAttributesInput>) {
    const queue = this.queueFor(input.QueueUrl);
    this.validateAttributes(input.Attributes);
    Object.assign(queue.attributes, input.Attributes);
    return {};
  }

  getQueueAttributes(input: Input<typeof schemas.getQueueAttributesInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const counts = queue.counts(this.ctx.now());
    const all: Record<string, string> = {
      ...QUEUE_ATTRIBUTE_DEFAULTS,
      ...queue.attributes,
      ApproximateNumberOfMessages: String(counts.visible),
      ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
      ApproximateNumberOfMessagesDelayed: String(counts.delayed),
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      QueueArn: `arn:aws:sqs:us-east-1:${ACCOUNT_ID}:${queue.name}`,
    };
    const names = input.AttributeNames ?? [];
    const wanted = names.includes("All") ? Object.keys(all) : names;
    const attributes: Record<string, string> = {};
    for (const name of wanted) {
      const value = all[name];
      if (value === undefined) fail("InvalidAttributeName", `Unknown Attribute ${name}.`);
      attributes[name] = value;
    }
    return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
  }

  purgeQueue(input: Input<typeof schemas.queueOnlyInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const now = this.ctx.now();
    if (queue.lastPurgeAt !== undefined && now - queue.lastPurgeAt < this.ctx.scaled(PURGE_COOLDOWN_MS)) {
      fail(
        "PurgeQueueInProgress",
        `Only one PurgeQueue operation on ${queue.name} is allowed every 60 seconds.`,
      );
    }
    queue.lastPurgeAt = now;
    queue.messages.clear();
    return {};
  }

  /** Validates one message to send and builds it; failures come back as (name, message). */
  private buildMessage(
    queue: SqsQueue,
    entry: {
      MessageBody: string;
      DelaySeconds?: number | undefined;
      MessageAttributes?: Record<string, MessageAttributeValue> | undefined;
    },
  ): SqsMessage {
    if (entry.MessageBody.length === 0)
      fail("MissingParameter", "The request must contain the parameter MessageBody.");
    if (Buffer.byteLength(entry.MessageBody, "utf8") > queue.numberAttribute("MaximumMessageSize")) {
      fail(
        "InvalidParameterValue",
        `One or more parameters are invalid. Reason: Message must be shorter than ${queue.numberAttribute("MaximumMessageSize")} bytes.`,
      );
    }
    if (INVALID_BODY_CHARS.test(entry.MessageBody)) {
      fail("InvalidMessageContents", "Invalid characters found in the message body.");
    }
    const delay = entry.DelaySeconds ?? queue.numberAttribute("DelaySeconds");
    if (delay < 0 || delay > 900)
      fail(
        "InvalidParameterValue",
        "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.",
      );
    const attributes = entry.MessageAttributes;
    if (attributes) {
      if (Object.keys(attributes).length > 10)
        fail("InvalidParameterValue", "Number of message attributes exceeds the allowed 10.");
      for (const [name, value] of Object.entries(attributes)) {
        const type = value.DataType.split(".")[0];
        const ok =
          type === "String" || type === "Number"
            ? value.StringValue !== undefined
            : type === "Binary" && value.BinaryValue !== undefined;
        if (!ok)
          fail(
            "InvalidParameterValue",
            `The message attribute '${name}' must contain a value matching its DataType ${value.DataType}.`,
          );
      }
    }
    const now = this.ctx.now();
    const hasAttributes = attributes !== undefined && Object.keys(attributes).length > 0;
    return {
      id: seededUuid(this.ctx),
      body: entry.MessageBody,
      md5OfBody: md5Hex(entry.MessageBody),
      ...(hasAttributes
        ? { messageAttributes: attributes, md5OfMessageAttributes: md5OfMessageAttributes(attributes) }
        : {}),
      sentAt: now,
      visibleAt: now + this.secondsToMs(delay),
      receiveCount: 0,
      receiveSeq: 0,
    };
  }

  sendMessage(input: Input<typeof schemas.sendMessageInput>) {
    return this.sendOne(this.queueFor(input.QueueUrl), input);
  }

  /** Queues one message (SendMessage or a batch entry) and returns what its answer carries. */
  private sendOne(queue: SqsQueue, input: Parameters<SqsService["buildMessage"]>[1]) {
    const message = this.buildMessage(queue, input);
    queue.add(message);
    this.counters.sent += 1;
    return {
      MessageId: message.id,
      MD5OfMessageBody: message.md5OfBody,
      ...(message.md5OfMessageAttributes ? { MD5OfMessageAttributes: message.md5OfMessageAttributes } : {}),
    };
  }

  private checkBatch<E extends { Id: string }>(entries: E[] | undefined): asserts entries is E[] {
    if (!entries || entries.length === 0)
      fail("EmptyBatchRequest", "There should be at least one entry in the request.");
    if (entries.length > MAX_BATCH_ENTRIES) {
      fail(
        "TooManyEntriesInBatchRequest",
        `Maximum number of entries per request are ${MAX_BATCH_ENTRIES}. You have sent ${entries.length}.`,
      );
    }
    const ids = new Set<string>();
    for (const entry of entries) {
      if (!BATCH_ENTRY_ID.test(entry.Id))
        fail(
          "InvalidBatchEntryId",
          `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.`,
        );
      if (ids.has(entry.Id)) fail("BatchEntryIdsNotDistinct", `Id ${entry.Id} repeated.`);
      ids.add(entry.Id);
    }
  }

  sendMessageBatch(input: Input<typeof schemas.sendMessageBatchInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const entries = input.Entries;
    this.checkBatch(entries);
    const total = entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.MessageBody, "utf8"), 0);
    if (total > MAX_MESSAGE_BYTES)
      fail("BatchRequestTooLong", `Batch requests cannot be longer than ${MAX_MESSAGE_BYTES} bytes.`);
    return this.perEntry(entries, (entry) => this.sendOne(queue, entry));
  }

  /** ReceiveMessage; waits (long poll) up to WaitTimeSeconds, answering as soon as a message is visible. */
  async receiveMessage(input: Input<typeof schemas.receiveMessageInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const max = input.MaxNumberOfMessages ?? 1;
    if (max < 1 || max > 10) {
      fail(
        "InvalidParameterValue",
        `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.`,
      );
    }
    const wait = input.WaitTimeSeconds ?? queue.numberAttribute("ReceiveMessageWaitTimeSeconds");
    if (wait < 0 || wait > 20) {
      fail(
        "InvalidParameterValue",
        `Value ${wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.`,
      );
    }
    const visibility = input.VisibilityTimeout ?? queue.numberAttribute("VisibilityTimeout");
    if (visibility < 0 || visibility > 43_200) {
      fail(
        "InvalidParameterValue",
        `Value ${visibility} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.`,
      );
    }
    const take = () => queue.take(max, this.ctx.now(), this.secondsToMs(visibility));
    let messages = take();
    if (messages.length === 0 && wait > 0) messages = await this.waitFor(queue, take, this.secondsToMs(wait));
    this.counters.received += messages.length;
    this.counters.redelivered += messages.filter((m) => m.receiveCount > 1).length;
    if (messages.length === 0) return {};
    const systemNames = [...(input.AttributeNames ?? []), ...(input.MessageSystemAttributeNames ?? [])];
    return {
      Messages: messages.map((m) => this.view(queue, m, systemNames, input.MessageAttributeNames ?? [])),
    };
  }

  private waitFor(queue: SqsQueue, take: () => SqsMessage[], waitMs: number): Promise<SqsMessage[]> {
    return new Promise((resolve) => {
      const deadline = this.ctx.now() + waitMs;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const complete = (messages: SqsMessage[]) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        queue.removeWaiter(waiter);
        resolve(messages);
      };
      // Wake at the deadline or when a hidden message turns visible, whichever comes first.
      const arm = () => {
        if (timer) clearTimeout(timer);
        const now = this.ctx.now();
        const next = Math.min(deadline, queue.nextVisibleAt(now) ?? deadline);
        timer = setTimeout(onTimer, Math.max(1, next - now));
      };
      const onTimer = () => {
        if (waiter.attempt()) return;
        if (this.ctx.now() >= deadline) complete([]);
        else arm();
      };
      const waiter = {
        attempt: () => {
          if (done) return true;
          const messages = take();
          if (messages.length === 0) return false;
          complete(messages);
          return true;
        },
        finish: () => complete([]),
      };
      queue.addWaiter(waiter);
      arm();
    });
  }

  private view(queue: SqsQueue, message: SqsMessage, systemNames: string[], attributeNames: string[]) {
    const system: Record<string, string> = {
      SenderId: ACCOUNT_ID,
      SentTimestamp: String(message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
    };
    const wantedSystem = systemNames.includes("All")
      ? SYSTEM_ATTRIBUTES
      : systemNames.filter((n) => n in system);
    const Attributes = Object.fromEntries(wantedSystem.map((name) => [name, system[name] ?? ""]));
    const selected: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(message.messageAttributes ?? {})) {
      const wanted = attributeNames.some(
        (pattern) =>
          pattern === "All" ||
          pattern === ".*" ||
          pattern === name ||
          (pattern.endsWith(".*") && name.startsWith(pattern.slice(0, -1))),
      );
      if (wanted) selected[name] = value;
    }
    const hasSelected = Object.keys(selected).length > 0;
    return {
      MessageId: message.id,
      ReceiptHandle: receiptHandle(queue.name, message),
      MD5OfBody: message.md5OfBody,
      Body: message.body,
      ...(wantedSystem.length > 0 ? { Attributes } : {}),
      ...(hasSelected
        ? { MessageAttributes: selected, MD5OfMessageAttributes: md5OfMessageAttributes(selected) }
        : {}),
    };
  }

  /** Resolves a receipt handle to its message; `stale` when the message was received again since. */
  private resolveHandle(queue: SqsQueue, handle: string): { message?: SqsMessage; stale: boolean } {
    const parsed = parseReceiptHandle(handle);
    if (!parsed || parsed.queue !== queue.name)
      fail("ReceiptHandleIsInvalid", `The input receipt handle "${handle}" is not a valid receipt handle.`);
    const message = queue.messages.get(parsed.id);
    if (!message) return { stale: false };
    return { message, stale: message.receiveSeq !== parsed.seq };
  }

  deleteMessage(input: Input<typeof schemas.deleteMessageInput>) {
    const queue = this.queueFor(input.QueueUrl);
    this.deleteOne(queue, input.ReceiptHandle);
    return {};
  }

  private deleteOne(queue: SqsQueue, handle: string): void {
    const { message, stale } = this.resolveHandle(queue, handle);
    if (!message) return;
    // SQS: with an outdated handle "the request succeeds, but the message might not be deleted".
    if (stale) {
      this.counters.staleDeletes += 1;
      return;
    }
    queue.messages.delete(message.id);
    this.counters.deleted += 1;
  }

  deleteMessageBatch(input: Input<typeof schemas.deleteMessageBatchInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const entries = input.Entries;
    this.checkBatch(entries);
    return this.perEntry(entries, (entry) => this.deleteOne(queue, entry.ReceiptHandle));
  }

  changeMessageVisibility(input: Input<typeof schemas.changeVisibilityInput>) {
    const queue = this.queueFor(input.QueueUrl);
    this.changeOne(queue, input.ReceiptHandle, input.VisibilityTimeout);
    return {};
  }

  private changeOne(queue: SqsQueue, handle: string, seconds: number): void {
    if (seconds < 0 || seconds > 43_200) {
      fail(
        "InvalidParameterValue",
        `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.`,
      );
    }
    const { message, stale } = this.resolveHandle(queue, handle);
    if (!message || stale) {
      fail(
        "InvalidParameterValue",
        `Value ${handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
      );
    }
    const now = this.ctx.now();
    if (message.visibleAt <= now) fail("MessageNotInflight", "The message referred to isn't in flight.");
    message.visibleAt = now + this.secondsToMs(seconds);
    if (seconds === 0) queue.wake();
  }

  changeMessageVisibilityBatch(input: Input<typeof schemas.changeVisibilityBatchInput>) {
    const queue = this.queueFor(input.QueueUrl);
    const entries = input.Entries;
    this.checkBatch(entries);
    return this.perEntry(entries, (entry) =>
      this.changeOne(queue, entry.ReceiptHandle, entry.VisibilityTimeout),
    );
  }

  /**
   * Runs a batch entry by entry: an entry's SQS error fails that entry only (SenderFault), as in
   * the service; `apply` may return fields its success entry carries besides the Id.
   */
  private perEntry<E extends { Id: string }>(
    entries: E[],
    apply: (entry: E) => Record<string, string> | void,
  ) {
    const Successful: Record<string, string>[] = [];
    const Failed: { Id: string; SenderFault: boolean; Code: string; Message: string }[] = [];
    for (const entry of entries) {
      try {
        const extra = apply(entry);
        Successful.push({ Id: entry.Id, ...(extra ?? {}) });
      } catch (error) {
        if (!(error instanceof SqsFailure)) throw error;
        Failed.push({
          Id: entry.Id,
          SenderFault: true,
          Code: queryCodeOf(error.errorName),
          Message: error.message,
        });
      }
    }
    return { Successful, Failed };
  }
}
