import type { JobsOptions } from "bullmq";

/**
 * Retention and retry defaults. Thrown errors (upstream 5xx after the adapter's own retries, Redis
 * hiccups) are retried by BullMQ with exponential backoff and jitter, bounded by `attempts`.
 * Expected waiting is not an error and does not use attempts: processors re-delay themselves.
 */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 2000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} satisfies JobsOptions;

export function retrying(attempts: number, delayMs: number): JobsOptions {
  return { ...RETENTION, attempts, backoff: { type: "exponential", delay: delayMs, jitter: 0.5 } };
}

/** Job ids must not contain ':' (BullMQ uses it in keys); ids built from upstream ids go through this. */
export function jobId(...parts: Array<string | number>): string {
  return parts.map((p) => String(p).replace(/[^A-Za-z0-9._-]/g, "_")).join("-");
}

/**
 * The id of a follow-on job of one ingest (`<kind>-<ingestId>-r<run>-…`). The run (see `runOf`)
 * keeps an operator retry's jobs apart from the previous run's, which BullMQ retains after they
 * complete or fail (RETENTION) and would otherwise take the new ones for duplicates of.
 */
export function ingestJobId(
  kind: string,
  ingestId: string,
  run: number,
  ...rest: Array<string | number>
): string {
  return jobId(kind, ingestId, `r${run}`, ...rest);
}
