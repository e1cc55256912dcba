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
import { runOf } from "../records/ingest-record.js";
import { defineProcessor } from "../queues/step.js";
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

  return defineProcessor(STEP.notify, async ({ ingestId, url, state }) => {
    const record = await deps.records.get(ingestId);
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
 * Sends every terminal state to each of `urls`: one `notify` job per (ingest, run, state, URL), with a
 * deterministic job id so a repeated trigger adds nothing while the first job is retained.
 */
export function registerNotifications(
  records: Pick<RecordStore, "onTerminal">,
  enqueue: ChainDeps["enqueue"],
  urls: readonly string[],
): void {
  if (urls.length === 0) return;
  records.onTerminal(async (record) => {
    for (const url of urls) {
      try {
        await enqueue(
          "notify",
          { ingestId: record.id, url, state: record.state },
          // The run: a retried ingest that fails again is a new notification.
          { jobId: ingestJobId("notify", record.id, runOf(record), record.state, urlDigest(url)) },
        );
      } catch (error) {
        // The state change already happened and will not fire again; throwing here would only
        // fail the step that finished the ingest. Logged so the lost notification is visible.
        log.error(
          { ingestId: record.id, url: displayUrl(url), err: (error as Error).message },
          "could not enqueue the notification",
        );
      }
    }
  });
}
