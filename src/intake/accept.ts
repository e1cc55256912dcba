import type { Queue } from "bullmq";
import { jobId } from "../queues/job-options.js";
import { partitionOf } from "../queues/partitions.js";
import type { SourceWatchPayload } from "../queues/payloads.js";
import { SOURCE_WATCH } from "../queues/source-watch-queue.js";
import { endSpans, startIntakeSpan } from "../telemetry/tracing.js";
import { normalizeNotification } from "./normalize.js";
import { objectVersionKey, type ObjectEvent, type ObjectEventSource } from "./object-event.js";

/**
 * Where accepted events go. `enqueue` resolves only once every event is durable (in Redis), which
 * is the moment a source may acknowledge: delete the SQS message, answer 2xx, move a watermark.
 */
export interface EventSink {
  enqueue(events: ObjectEvent[]): Promise<void>;
}

/** What one notification turned into, as a source reports it (202 body, log line). */
export interface AcceptResult {
  /** Events handed to the sink. */
  accepted: number;
  /** Records that produced no event (unknown event types, malformed records); counted in metrics. */
  ignored: number;
  /**
   * Why malformed records were ignored (field path and problem, at most 10), so the sender learns
   * what to fix; unknown event types are not problems and are only counted.
   */
  problems: string[];
  /** `s3:TestEvent`: nothing to do, acknowledge. */
  test: boolean;
  /** SNS `SubscriptionConfirmation`: the caller decides whether to confirm (signature, host). */
  subscribeUrl?: string;
}

// Enough to fix the sender; a 10,000-record body of garbage must not produce a megabyte answer.
const MAX_PROBLEMS = 10;

/**
 * Normalizes one notification body and hands its events to the sink. Throws `NotificationError`
 * for a body that is not a notification, and whatever the sink throws (Redis away): in both cases
 * nothing was acknowledged and the source keeps the message.
 */
export async function acceptNotification(
  body: unknown,
  source: ObjectEventSource,
  sink: EventSink,
): Promise<AcceptResult> {
  const normalized = normalizeNotification(body, source);
  if (normalized.events.length > 0) await sink.enqueue(normalized.events);
  return {
    accepted: normalized.events.length,
    ignored: normalized.ignored.length,
    problems: normalized.ignored
      .filter((item) => item.reason === "invalid_record" || item.reason === "invalid_key")
      .slice(0, MAX_PROBLEMS)
      .map((item) => item.detail),
    test: normalized.test,
    ...(normalized.subscribeUrl !== undefined ? { subscribeUrl: normalized.subscribeUrl } : {}),
  };
}

/** The source-watch job id of an event: one job per object version, however often it is delivered. */
export function sourceWatchJobId(event: ObjectEvent): string {
  return jobId("sw", objectVersionKey(event));
}

/**
 * A sink adding one source-watch job per event. The deterministic job id makes redeliveries (SQS
 * at-least-once, SNS retries, a poller overlapping a notification) collapse into one job while
 * the first is retained; `addBulk` is a single MULTI, so the events of one message land together.
 * With partitions (one source-watch queue each, PARTITIONS) an event goes to the queue its bucket
 * and key hash to: one MULTI per partition, and the sink resolves once all of them are durable, so
 * a failure anywhere still leaves the message unacknowledged and the redelivery collapses into
 * the jobs that did land.
 */
export function createEventSink(queues: Queue | readonly Queue[]): EventSink {
  const partitions: readonly Queue[] = Array.isArray(queues)
    ? (queues as readonly Queue[])
    : [queues as Queue];
  return {
    async enqueue(events) {
      if (events.length === 0) return;
      const byPartition = new Map<number, Array<{ event: ObjectEvent; metadata?: string }>>();
      // With tracing on, every event starts its own trace here; its source-watch job carries it.
      const spans = events.map((event) => {
        const started = startIntakeSpan(event);
        const index = partitionOf(event.bucket, event.key, partitions.length);
        byPartition.set(index, [
          ...(byPartition.get(index) ?? []),
          started ? { event, metadata: started.metadata } : { event },
        ]);
        return started?.span;
      });
      try {
        await Promise.all(
          [...byPartition].map(([index, batch]) =>
            partitions[index]!.addBulk(
              batch.map(({ event, metadata }) => ({
                name: SOURCE_WATCH.name,
                data: { event, polls: 0 } satisfies SourceWatchPayload,
                opts: {
                  jobId: sourceWatchJobId(event),
                  ...(metadata !== undefined ? { telemetry: { metadata } } : {}),
                },
              })),
            ),
          ),
        );
      } catch (error) {
        endSpans(spans, error);
        throw error;
      }
      endSpans(spans);
    },
  };
}
