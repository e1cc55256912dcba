import { z } from "zod";

/**
 * Where one package version stands. Terminal states never change again; `superseded` means a
 * newer version of the same package took over and this run's polling stopped.
 */
export const INGEST_STATES = [
  "received",
  "waiting-objects",
  "queued",
  "pushing",
  "importing",
  "processing",
  "completed",
  "failed",
  "cancelled",
  "superseded",
] as const;
export type IngestState = (typeof INGEST_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<IngestState> = new Set([
  "completed",
  "failed",
  "cancelled",
  "superseded",
]);

export const TARGETS = ["vimond", "aem", "asset-management"] as const;
export type Target = (typeof TARGETS)[number];

/** A media file of the package, with the presigned URL handed to upstreams. */
export const packageFileSchema = z.object({
  key: z.string(),
  url: z.string(),
  size: z.number().optional(),
  eTag: z.string().optional(),
  contentType: z.string().optional(),
});

/** What source-watch assembled: everything later steps need, so they never re-read S3. */
export const packageSchema = z.object({
  entryId: z.string(),
  title: z.string(),
  summary: z.string().optional(),
  categories: z.array(z.string()).default([]),
  publish: z.object({ start: z.string().optional(), end: z.string().optional() }).optional(),
  metadata: z.record(z.string(), z.string()).default({}),
  /** ISO time identifying this version in the feed (`<updated>`). */
  updated: z.string(),
  video: packageFileSchema.optional(),
  images: z.array(packageFileSchema.extend({ location: z.string() })).default([]),
  /** A delete of the package: push an unpublish tombstone instead of an entry. */
  tombstone: z.boolean().default(false),
});
export type IngestPackage = z.infer<typeof packageSchema>;

/** Upstream identifiers learned along the way. */
export const UPSTREAM_ID_FIELDS = [
  "importJobId",
  "mediaFeedId",
  "assetId",
  "videoIngestId",
  "imagePackId",
  /** The pack the asset was seen to reference after image-fetch bound it (its `imagePackId`). */
  "boundImagePackId",
  "aemJobId",
  "managedAssetId",
] as const;
export type UpstreamIdField = (typeof UPSTREAM_ID_FIELDS)[number];

/**
 * Record hash field holding the package's trace context, written at hand-off when tracing is on.
 * Batch steps link to it and the per-package steps after a batch are parented to it.
 */
export const TRACE_FIELD = "trace";

export interface StepTiming {
  status: "running" | "done" | "failed" | "skipped" | "waiting";
  startedAt: number;
  endedAt?: number;
  detail?: string;
}

export interface HistoryEntry {
  at: number;
  step: string;
  message: string;
}

export interface IngestRecord {
  id: string;
  route: string;
  target: Target;
  bucket: string;
  key: string;
  /** versionId or eTag of the triggering object. */
  version: string;
  state: IngestState;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  /** The event's time, for event → push / event → completed latencies. */
  eventAt: number;
  pushedAt?: number;
  lastError?: string;
  /** W3C traceparent of the package's trace (hand-off, with tracing on): see {@link TRACE_FIELD}. */
  traceparent?: string;
  package?: IngestPackage;
  upstream: Partial<Record<UpstreamIdField, string>>;
  steps: Record<string, StepTiming>;
  attempts: Record<string, number>;
  branches: Record<string, string>;
  /** Free-form labels (e.g. the demo's expected outcome). */
  labels: Record<string, string>;
}

/**
 * Which run of its ingest a record is on: 0 for the first, n after the n-th operator retry
 * (`att:retry`, counted by RecordStore.reopen). Per-ingest job ids carry it (see `ingestJobId`),
 * because BullMQ keeps a finished job's id for a while and would drop a retried run's jobs as
 * duplicates of the previous run's.
 */
export function runOf(record: Pick<IngestRecord, "attempts">): number {
  return record.attempts.retry ?? 0;
}

/**
 * Whether a job made for run `run` of its ingest must leave the record alone: an operator retry
 * (after a cancel, while the old run's jobs were still alive) started a newer run, whose own jobs
 * do its work. Jobs from before runs were carried (`run` absent) are taken as the current run's.
 */
export function fromEarlierRun(record: Pick<IngestRecord, "attempts">, run: number | undefined): boolean {
  return run !== undefined && run !== runOf(record);
}
