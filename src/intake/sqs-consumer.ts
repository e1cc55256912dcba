import type { SqsAdapter, SqsReceivedMessage } from "../adapters/sqs/sqs-adapter.js";
import { backgroundLoop, pause } from "./background-loop.js";
import type { Env } from "../config/env.js";
import { moduleLogger, type Logger } from "../log/logger.js";
import { acceptNotification, type EventSink } from "./accept.js";
import { NotificationError } from "./normalize.js";
import { mapLimit } from "../queues/map-limit.js";

/** Options of {@link createSqsConsumer}. */
export interface SqsConsumerOptions {
  sqs: SqsAdapter;
  sink: EventSink;
  /** Where `waitSeconds` and `visibilitySeconds` come from when not given. */
  env?: Pick<Env, "SQS_WAIT_SECONDS" | "SQS_VISIBILITY_SECONDS">;
  /** Long-poll wait of each receive; default `SQS_WAIT_SECONDS`, else 20. */
  waitSeconds?: number;
  /** Visibility of received messages, extended while a batch is still running; default `SQS_VISIBILITY_SECONDS`, else 120. */
  visibilitySeconds?: number;
  /** Messages per receive, 1 to 10. Default 10. */
  batchSize?: number;
  /** Messages of one batch handed to the sink at once. Default 4. */
  concurrency?: number;
  /** Backoff after a failed receive or a sink outage: doubles from `initialMs` up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  log?: Logger;
}

type MessageOutcome = "enqueued" | "malformed" | "failed";

const LOGGED_MALFORMED_CAP = 1000;

/**
 * Consumes S3 notifications (direct, or SNS-wrapped) from SQS. A message is deleted only after its
 * events are durable in Redis; a message whose events could not be stored stays and comes back
 * after its visibility timeout. A body that is not a notification is left alone too, so the
 * queue's redrive policy moves it to the dead-letter queue after `maxReceiveCount` tries, where an
 * operator can look at it; it is logged once per message id.
 */
export class SqsConsumer {
  private readonly impl: { start(): void; stop(): Promise<void>; running(): boolean };

  constructor(options: SqsConsumerOptions) {
    this.impl = consumerLoop(options);
  }

  /** Starts the loop (no-op when running). */
  start(): void {
    this.impl.start();
  }

  /** Aborts the long poll, lets the batch in hand finish, and resolves when the loop has ended. */
  stop(): Promise<void> {
    return this.impl.stop();
  }

  get running(): boolean {
    return this.impl.running();
  }
}

function consumerLoop(options: SqsConsumerOptions) {
  const log = options.log ?? moduleLogger("sqs-consumer");
  const waitSeconds = options.waitSeconds ?? options.env?.SQS_WAIT_SECONDS ?? 20;
  const visibilitySeconds = options.visibilitySeconds ?? options.env?.SQS_VISIBILITY_SECONDS ?? 120;
  const batchSize = options.batchSize ?? 10;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const backoff = options.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const loggedMalformed = new Set<string>();

  function noteMalformed(message: SqsReceivedMessage, error: NotificationError): void {
    if (loggedMalformed.has(message.messageId)) return;
    loggedMalformed.add(message.messageId);
    // Bounded: the set only exists to keep redeliveries of one poison message from flooding the log.
    if (loggedMalformed.size > LOGGED_MALFORMED_CAP) {
      const oldest = loggedMalformed.values().next();
      if (oldest.done !== true) loggedMalformed.delete(oldest.value);
    }
    log.warn(
      { messageId: message.messageId, receiveCount: message.receiveCount, err: error.message },
      "SQS message is not an S3 notification; left for the dead-letter queue",
    );
  }

  async function handle(message: SqsReceivedMessage): Promise<MessageOutcome> {
    try {
      await acceptNotification(message.body, "sqs", options.sink);
      return "enqueued";
    } catch (error) {
      if (error instanceof NotificationError) {
        noteMalformed(message, error);
        return "malformed";
      }
      log.warn(
        { messageId: message.messageId, err: (error as Error).message },
        "events not stored; message kept",
      );
      return "failed";
    }
  }

  /** Keeps the batch hidden while it is still being handled (a slow Redis, a large batch). */
  function keepHidden(messages: SqsReceivedMessage[], pending: Set<string>): () => void {
    const everyMs = Math.max(1000, (visibilitySeconds * 1000) / 2);
    const timer = setInterval(() => {
      for (const message of messages) {
        if (!pending.has(message.receiptHandle)) continue;
        options.sqs.extendVisibility(message.receiptHandle, visibilitySeconds).catch((error: unknown) => {
          log.warn(
            { messageId: message.messageId, err: (error as Error).message },
            "visibility not extended",
          );
        });
      }
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async function runBatch(messages: SqsReceivedMessage[]): Promise<boolean> {
    const pending = new Set(messages.map((m) => m.receiptHandle));
    const release = keepHidden(messages, pending);
    let outcomes: MessageOutcome[];
    try {
      outcomes = await mapLimit(messages, concurrency, async (message) => {
        const outcome = await handle(message);
        pending.delete(message.receiptHandle);
        return outcome;
      });
    } finally {
      release();
    }
    const done = messages.filter((_, i) => outcomes[i] === "enqueued").map((m) => m.receiptHandle);
    if (done.length > 0) {
      try {
        const { failed } = await options.sqs.deleteBatch(done);
        // Not deleted means delivered again later; the deterministic job id makes that harmless.
        if (failed.length > 0) log.warn({ count: failed.length }, "some SQS messages were not deleted");
      } catch (error) {
        log.warn({ err: (error as Error).message }, "SQS delete failed; messages will be redelivered");
      }
    }
    return outcomes.every((o) => o !== "failed");
  }

  async function run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    const wait = () =>
      pause(Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures - 1, 20)), signal);
    while (!signal.aborted) {
      let messages: SqsReceivedMessage[];
      try {
        messages = await options.sqs.receive({
          waitSeconds,
          visibilitySeconds,
          max: batchSize,
          signal,
        });
      } catch (error) {
        failures += 1;
        log.warn({ err: (error as Error).message, failures }, "SQS receive failed; backing off");
        await wait();
        continue;
      }
      if (messages.length === 0) {
        // An empty answer right after a short wait (waitSeconds 0) must not spin the CPU.
        if (waitSeconds === 0) await pause(backoff.initialMs, signal);
        continue;
      }
      const healthy = await runBatch(messages);
      if (healthy) failures = 0;
      else {
        // The sink is failing (Redis away): receiving more now would only churn messages.
        failures += 1;
        await wait();
      }
    }
  }

  const background = backgroundLoop(run, log, "SQS consumer");
  return {
    start: background.start,
    stop: background.stop,
    running: background.running,
  };
}
