import { createHash } from "node:crypto";
import { request } from "undici";
import { moduleLogger } from "../log/logger.js";
import {
  CLOUD_EVENT_CONTENT_TYPE,
  ingestCloudEvent,
  SIGNATURE_HEADER,
  signBody,
} from "../notify/cloud-event.js";
import { ingestJobId } from "../queues/job-options.js";
import type { Queue } from "bullmq";
import { runStepInline } from "../queues/inline-step.js";
import type { NotifyPayload } from "../queues/payloads.js";
import { runOf, type IngestRecord } from "../records/ingest-record.js";
import { defineProcessor, type StepProcessor } from "../queues/step.js";
import { STEP } from "../queues/steps.js";
import type { RecordStore } from "../records/record-store.js";
import type { ChainDeps } from "./deps.js";

/** Upper bound on one delivery (connect, send, answer); a slow receiver is retried, not waited for. */
export const NOTIFY_TIMEOUT_MS = 10_000;

const log = moduleLogger("notify");

/** A receiver that did not take the event (non-2xx); thrown so BullMQ retries with backoff. */
export class NotifyDeliveryError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`notification to ${url} answered HTTP ${status}`);
    this.name = "NotifyDeliveryError";
  }
}

/** The URL without its query: a webhook URL's query often carries a token. */
function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "[notify url]";
  }
}

/** Short stable digest of a URL for job ids (URLs hold ':' and may be long). */
function urlDigest(url: string): string {
  return createHash("sha256").update(url).digest("hex").slice(0, 16);
}

/**
 * Delivers one ingest's terminal state to one URL as a CloudEvent 1.0 in structured mode, signed
 * with `NOTIFY_SECRET` when set. Non-2xx answers and network errors throw, so BullMQ retries with
 * exponential backoff and jitter up to the step's attempts; the event id is stable across those
 * retries so a receiver that got an earlier attempt can drop the repeat.
 */
export function createNotifyProcessor(deps: ChainDeps) {
  const secret = deps.env.NOTIFY_SECRET;

  return defineProcessor(STEP.notify, async ({ ingestId, url, state }, ctx) => {
    // Delivered inline (registerNotifications), the record is the one that just became terminal.
    const record = ctx.record ?? (await deps.records.get(ingestId));
    if (!record) return { outcome: "skipped", reason: "ingest record is gone" };
    const body = JSON.stringify(ingestCloudEvent(record, state));
    const headers: Record<string, string> = { "content-type": CLOUD_EVENT_CONTENT_TYPE };
    if (secret) headers[SIGNATURE_HEADER] = signBody(body, secret);
    const where = displayUrl(url);
    let status: number;
    try {
      const response = await request(url, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
      });
      status = response.statusCode;
      // The answer's body is not needed, but reading it lets the connection be reused.
      await response.body.dump();
    } catch (error) {
      throw new Error(`notification to ${where} failed: ${(error as Error).message}`, { cause: error });
    }
    if (status < 200 || status >= 300) throw new NotifyDeliveryError(where, status);
    return { outcome: "done", detail: `${where} answered ${status}` };
  });
}

/**
 * How long the job of an inline delivery waits before it delivers itself: longer than one attempt
 * may take, so it runs only when the inline attempt never finished (the process died meanwhile).
 */
export const INLINE_FALLBACK_DELAY_MS = NOTIFY_TIMEOUT_MS + 5_000;
/** Inline deliveries in flight at most; beyond it a notification goes to its job at once. */
export const INLINE_MAX_IN_FLIGHT = 32;

/** What delivering inline needs: the step's processor and its queue (to drop or hurry the job). */
export interface InlineNotify {
  processor: StepProcessor<(typeof STEP)["notify"]["schema"]>;
  queue: Pick<Queue, "remove" | "getJob">;
}

/**
 * Sends every terminal state to each of `urls`: one `notify` job per (ingest, run, state, URL), with a
 * deterministic job id so a repeated trigger adds nothing while the first job is retained.
 *
 * With `inline`, the job is added delayed by {@link INLINE_FALLBACK_DELAY_MS} and the notification
 * is delivered at once from here, without waiting in the step that ended the ingest: once it was
 * delivered the job is removed (a BullMQ job run costs ~40 Redis commands; adding and removing one
 * about a third of that), and when the attempt fails the job is promoted, so it is retried with
 * the step's attempts and backoff exactly as before. The job exists before the request leaves, so a
 * process that dies mid-delivery still delivers through it (the event id is the same, so a receiver
 * that got the first attempt can drop the repeat).
 */
export function registerNotifications(
  records: Pick<RecordStore, "onTerminal">,
  enqueue: ChainDeps["enqueue"],
  urls: readonly string[],
  inline?: InlineNotify,
): void {
  if (urls.length === 0) return;
  let inFlight = 0;

  async function deliverInline(
    target: InlineNotify,
    payload: NotifyPayload,
    jobId: string,
    record: IngestRecord,
  ) {
    inFlight += 1;
    try {
      const outcome = await runStepInline(target.processor, payload, log, record);
      if ("error" in outcome) await (await target.queue.getJob(jobId))?.promote();
      // A notify job has no children: without the default child walk, removing it costs 12 Redis
      // commands instead of 17 (measured against INFO commandstats).
      else await target.queue.remove(jobId, { removeChildren: false });
    } catch (error) {
      // The delayed job stays: it delivers after its delay.
      log.warn(
        { ingestId: payload.ingestId, url: displayUrl(payload.url), err: (error as Error).message },
        "could not settle the job of an inline notification; it runs after its delay",
      );
    } finally {
      inFlight -= 1;
    }
  }

  records.onTerminal(async (record) => {
    for (const url of urls) {
      const payload: NotifyPayload = { ingestId: record.id, url, state: record.state };
      // The run: a retried ingest that fails again is a new notification.
      const jobId = ingestJobId("notify", record.id, runOf(record), record.state, urlDigest(url));
      const now = inline !== undefined && inFlight < INLINE_MAX_IN_FLIGHT;
      try {
        await enqueue("notify", payload, { jobId, ...(now ? { delay: INLINE_FALLBACK_DELAY_MS } : {}) });
      } catch (error) {
        // The state change already happened and will not fire again; throwing here would only
        // fail the step that finished the ingest. Logged so the lost notification is visible.
        log.error(
          { ingestId: record.id, url: displayUrl(url), err: (error as Error).message },
          "could not enqueue the notification",
        );
        continue;
      }
      if (now) void deliverInline(inline, payload, jobId, record);
    }
  });
}
