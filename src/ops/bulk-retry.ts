import type { IngestState, Target } from "../records/ingest-record.js";
import { retryIngest, retryRefusal, type ActionVia, type IngestActionDeps } from "./ingest-actions.js";

/**
 * Retries many ingests at once (`retry --status failed …`, `POST /v1/ingests/retry`): the ingests
 * are selected with the same list query as `GET /v1/ingests` and each is retried with the
 * single-ingest {@link retryIngest}, so a bulk retry refuses exactly what a single retry refuses.
 */

/** Which ingests to retry. */
export interface BulkRetryQuery {
  /** `failed` or `cancelled`: the only states a retry accepts. */
  status: IngestState;
  /** Only ingests received at or after this time (ms). */
  since?: number;
  route?: string;
  target?: Target;
  /** At most this many are retried; `more` says when further ingests matched. */
  limit: number;
  /** Select and check only: nothing is re-opened or queued. */
  dryRun?: boolean;
}

/** One ingest a bulk retry did not retry, with the single retry's message. */
export interface BulkRetryRefusal {
  ingestId: string;
  reason: "not-found" | "conflict";
  message: string;
}

/** What a bulk retry did (or, on a dry run, would do). */
export interface BulkRetryResult {
  dryRun: boolean;
  limit: number;
  /** Ingests selected (at most `limit`). */
  matched: number;
  /** True when more than `limit` ingests matched: run it again for the next ones. */
  more: boolean;
  retried: Array<{ ingestId: string; jobId: string; retry: number }>;
  /** Dry run only: the ingests a real run would retry. */
  wouldRetry: string[];
  refused: BulkRetryRefusal[];
  counts: { retried: number; wouldRetry: number; refused: number };
}

/** Records read per list call: the store pages through its index in steps of about this size. */
const PAGE = 100;

/**
 * Selects the ingests first (newest first, up to `limit`, plus one to learn whether more matched)
 * and retries them afterwards: a retried ingest leaves the status filter, so acting while paging
 * would not change the selection, but selecting first keeps the count honest when a worker moves
 * records meanwhile. Sequential on purpose: each retry is three Redis calls and a job, and a
 * thousand at once would only queue up behind each other in Redis.
 */
export async function bulkRetry(
  deps: IngestActionDeps,
  query: BulkRetryQuery,
  via: ActionVia,
): Promise<BulkRetryResult> {
  const now = deps.now ?? Date.now;
  const ids: string[] = [];
  const preview = new Map<string, string | undefined>();
  let cursor: string | undefined;
  do {
    const page = await deps.partitions.records.list({
      status: query.status,
      ...(query.target !== undefined ? { target: query.target } : {}),
      ...(query.route !== undefined ? { route: query.route } : {}),
      ...(query.since !== undefined ? { since: query.since } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
      limit: Math.min(PAGE, query.limit + 1 - ids.length),
    });
    for (const record of page.items) {
      ids.push(record.id);
      if (query.dryRun) preview.set(record.id, retryRefusal(record, now()));
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined && ids.length <= query.limit);
  const more = ids.length > query.limit;
  const selected = ids.slice(0, query.limit);

  const result: BulkRetryResult = {
    dryRun: query.dryRun === true,
    limit: query.limit,
    matched: selected.length,
    more,
    retried: [],
    wouldRetry: [],
    refused: [],
    counts: { retried: 0, wouldRetry: 0, refused: 0 },
  };
  for (const id of selected) {
    if (query.dryRun) {
      const refusal = preview.get(id);
      if (refusal === undefined) result.wouldRetry.push(id);
      else result.refused.push({ ingestId: id, reason: "conflict", message: refusal });
      continue;
    }
    const outcome = await retryIngest(deps, id, via);
    if (outcome.ok) result.retried.push({ ingestId: id, jobId: outcome.jobId, retry: outcome.retry });
    else result.refused.push({ ingestId: id, reason: outcome.reason, message: outcome.message });
  }
  result.counts = {
    retried: result.retried.length,
    wouldRetry: result.wouldRetry.length,
    refused: result.refused.length,
  };
  return result;
}
