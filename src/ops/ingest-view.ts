import type { IngestDetail, IngestListItem, IngestListResponse } from "../http/ingests-schemas.js";
import { statusName } from "../http/ingests-schemas.js";
import type { HistoryEntry, IngestRecord, IngestState, StepTiming } from "../records/ingest-record.js";

/** Where the ingests API serves one ingest; list items link to it as VIA's `detailsUrl` does. */
export function detailsUrl(id: string): string {
  return `/v1/ingests/${encodeURIComponent(id)}`;
}

/** How far along a running ingest is, by its state: a rough share of the chain, as VIA's `progress`. */
const PROGRESS: Partial<Record<IngestState, number>> = {
  received: 0,
  "waiting-objects": 5,
  queued: 10,
  pushing: 20,
  importing: 40,
  processing: 70,
  completed: 100,
};

/** A record that stopped early (failed, cancelled, superseded) shows how far it had got, from the facts it holds. */
function progressOf(record: IngestRecord): number {
  const byState = PROGRESS[record.state];
  if (byState !== undefined) return byState;
  const up = record.upstream;
  if (up.assetId ?? up.videoIngestId ?? up.managedAssetId) return PROGRESS.processing!;
  if (up.importJobId ?? up.aemJobId) return PROGRESS.importing!;
  if (record.pushedAt !== undefined) return PROGRESS.pushing!;
  return record.package ? PROGRESS.queued! : 0;
}

function mediaTypesOf(record: IngestRecord): IngestListItem["mediaTypes"] {
  const pkg = record.package;
  if (!pkg) return [];
  if (pkg.tombstone) return ["TOMBSTONE"];
  return [...(pkg.video ? (["VIDEO"] as const) : []), ...(pkg.images.length ? (["IMAGE"] as const) : [])];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** One ingest as a list item, shaped like an item of VIA's `GET /ingests`. */
export function toListItem(record: IngestRecord, now: number): IngestListItem {
  const end = record.finishedAt;
  return {
    ingestId: record.id,
    assetId: record.upstream.assetId ?? record.upstream.managedAssetId ?? null,
    detailsUrl: detailsUrl(record.id),
    profileName: record.route,
    error: record.lastError ?? null,
    mediaTypes: mediaTypesOf(record),
    progress: progressOf(record),
    startTime: iso(record.createdAt),
    endTime: end !== undefined ? iso(end) : null,
    status: statusName(record.state),
    elapsedTime: Math.max(0, Math.round((end ?? now) - record.createdAt)),
    route: record.route,
    target: record.target,
    source: { bucket: record.bucket, key: record.key, version: record.version },
  };
}

/** A page of the list, with VIA's envelope (`items`, `count`, `cursor`). */
export function toListResponse(
  page: { items: IngestRecord[]; nextCursor?: string },
  now: number,
): IngestListResponse {
  const items = page.items.map((record) => toListItem(record, now));
  return { items, count: items.length, cursor: page.nextCursor ?? null };
}

const TASK_STATUS = {
  running: "TASK_RUNNING",
  waiting: "TASK_WAITING",
  done: "TASK_COMPLETED",
  failed: "TASK_FAILED",
  skipped: "TASK_SKIPPED",
} as const satisfies Record<StepTiming["status"], string>;

/** One ingest in full: VIA's detail fields plus step timings, upstream ids, attempts and history. */
export function toDetail(record: IngestRecord, history: HistoryEntry[], now: number): IngestDetail {
  const tasks = Object.entries(record.steps)
    .map(([name, timing]) => ({
      name,
      status: TASK_STATUS[timing.status],
      startTime: iso(timing.startedAt),
      endTime: timing.endedAt !== undefined ? iso(timing.endedAt) : null,
      // A step left open by an ingest that ended (failed or cancelled while it waited) stopped then.
      elapsedTime: Math.max(0, Math.round((timing.endedAt ?? record.finishedAt ?? now) - timing.startedAt)),
      detail: timing.detail ?? null,
    }))
    .sort((a, b) => a.startTime.localeCompare(b.startTime));
  return {
    ...toListItem(record, now),
    tasks,
    upstream: record.upstream,
    attempts: record.attempts,
    branches: record.branches,
    labels: record.labels,
    eventTime: iso(record.eventAt),
    updatedTime: iso(record.updatedAt),
    history: history.map((entry) => ({ time: iso(entry.at), step: entry.step, message: entry.message })),
  };
}
