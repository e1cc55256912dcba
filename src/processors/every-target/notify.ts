import { createHash } from "node:crypto";
import { request } from "undici";
import { moduleLogger } from "../../log/logger.js";
import {
  CLOUD_EVENT_CONTENT_TYPE,
  ingestCloudEvent,
  SIGNATURE_HEADER,
  signBody,
} from "../../notify/cloud-event.js";
import { ingestJobId } from "../../queues/job-options.js";
import type { Redis } from "ioredis";
import { runStepInline } from "../../queues/inline-step.js";
import type { NotifyPayload } from "../../queues/payloads.js";
import { runOf, type IngestRecord } from "../../records/ingest-record.js";
import type { RecordStore } from "../../records/record-store.js";
import type { ChainDeps } from "./deps.js";
import { defineHandler, type ProcessorOf } from "../step-table.js";

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

  return defineHandler("notify", async ({ ingestId, url, state }, ctx) => {
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
 * How long an inline delivery's outbox entry waits before a sweep hands it to a job: longer than
 * one attempt may take, so only an attempt that never finished (the process died meanwhile) is.
 */
export const INLINE_FALLBACK_DELAY_MS = NOTIFY_TIMEOUT_MS + 5_000;
/** How often each process sweeps its outboxes for entries older than the fallback delay. */
export const OUTBOX_SWEEP_INTERVAL_MS = 5_000;
/** Inline deliveries in flight at most; beyond it a notification goes to its job at once. */
export const INLINE_MAX_IN_FLIGHT = 32;
/** Entries one sweep hands to jobs at most; the rest wait for the next sweep. */
const SWEEP_BATCH = 200;

/** The outbox of a partition: a sorted set of inline deliveries not yet settled, by start time. */
export function notifyOutboxKey(prefix: string): string {
  return `${prefix}:notify-outbox`;
}

/** What delivering inline needs: the step's processor, and Redis for the outbox. */
export interface InlineNotify {
  processor: ProcessorOf<"notify">;
  redis: Pick<Redis, "zadd" | "zrem" | "zrangebyscore">;
  /** See {@link notifyOutboxKey}. */
  outboxKey: string;
}

/** An outbox entry: the job the delivery becomes when it fails or its process dies. */
interface OutboxEntry {
  jobId: string;
  payload: NotifyPayload;
}

/**
 * Sends every terminal state to each of `urls`: one `notify` job per (ingest, run, state, URL), with a
 * deterministic job id so a repeated trigger adds nothing while the first job is retained.
 *
 * With `inline`, the notification is delivered at once from here, without waiting in the step
 * that ended the ingest, and becomes a job only when that attempt fails (then retried with the
 * step's attempts and backoff exactly as before). Before the request leaves, the delivery is
 * written to the partition's outbox (one ZADD) and it is taken out once settled (one ZREM): a
 * process that dies mid-delivery leaves the entry, which {@link sweepNotifyOutbox} (every process
 * runs it) turns into the job after {@link INLINE_FALLBACK_DELAY_MS}, with the same event id, so
 * a receiver that got the first attempt can drop the repeat. A delayed fallback job added and
 * removed per delivery cost 23 Redis commands; the outbox costs 2.
 */
export function registerNotifications(
  records: Pick<RecordStore, "onTerminal">,
  enqueue: ChainDeps["enqueue"],
  urls: readonly string[],
  inline?: InlineNotify,
): void {
  if (urls.length === 0) return;
  let inFlight = 0;

  async function deliverInline(target: InlineNotify, entry: string, record: IngestRecord) {
    const { payload, jobId } = JSON.parse(entry) as OutboxEntry;
    inFlight += 1;
    try {
      const outcome = await runStepInline(target.processor, payload, log, record);
      if ("error" in outcome) await enqueue("notify", payload, { jobId });
      await target.redis.zrem(target.outboxKey, entry);
    } catch (error) {
      // The entry stays: a sweep hands it to the job after the fallback delay.
      log.warn(
        { ingestId: payload.ingestId, url: displayUrl(payload.url), err: (error as Error).message },
        "could not settle an inline notification; a sweep hands it to its job",
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
      const entry = JSON.stringify({ jobId, payload } satisfies OutboxEntry);
      try {
        if (now) await inline.redis.zadd(inline.outboxKey, Date.now(), entry);
        else await enqueue("notify", payload, { jobId });
      } catch (error) {
        // The state change already happened and will not fire again; throwing here would only
        // fail the step that finished the ingest. Logged so the lost notification is visible.
        log.error(
          { ingestId: record.id, url: displayUrl(url), err: (error as Error).message },
          "could not enqueue the notification",
        );
        continue;
      }
      if (now) void deliverInline(inline, entry, record);
    }
  });
}

/**
 * Hands every outbox entry older than {@link INLINE_FALLBACK_DELAY_MS} to its notify job: its
 * inline attempt never settled (the process died, or Redis was away when it did). The job id is
 * the delivery's, so two processes sweeping at once add one job. Returns how many it handed on.
 */
export async function sweepNotifyOutbox(
  target: Pick<InlineNotify, "redis" | "outboxKey">,
  enqueue: ChainDeps["enqueue"],
  now = Date.now(),
): Promise<number> {
  const entries = await target.redis.zrangebyscore(
    target.outboxKey,
    "-inf",
    now - INLINE_FALLBACK_DELAY_MS,
    "LIMIT",
    0,
    SWEEP_BATCH,
  );
  for (const entry of entries) {
    const { payload, jobId } = JSON.parse(entry) as OutboxEntry;
    await enqueue("notify", payload, { jobId });
    await target.redis.zrem(target.outboxKey, entry);
  }
  return entries.length;
}
