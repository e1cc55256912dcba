import { z } from "zod";
import { ObjectEvent } from "../intake/object-event.js";
import type { StepName } from "./names.js";

/**
 * Job payload schemas, one per step. Payloads carry ids, not documents: the ingest record in Redis
 * is the single source of what a package is, so a payload stays small and a retried job reads the
 * latest facts. Counters that a re-delayed job needs (polls, first-seen times) live in the payload
 * and are updated with `job.updateData` before re-delaying.
 */

const id = z.string().min(1);
/**
 * The run of the ingest the job was made for (see `runOf`): a job of an earlier run, still alive
 * after an operator retry re-opened the record, is told apart by it. Absent in jobs queued before
 * it existed.
 */
const run = z.number().int().min(0).optional();
const pollState = {
  /** How many times this job has polled so far (drives the backoff). */
  polls: z.number().int().min(0).default(0),
  /** When polling began (ms), for the stuck deadline. */
  startedAt: z.number().optional(),
};

export const sourceWatchPayload = z.object({
  event: ObjectEvent,
  /** Set while a manifest waits for the objects it names. */
  ...pollState,
});

/** One flush of the pending entries of a media feed (the entries themselves wait in a Redis list). */
export const atomPushPayload = z.object({
  mediaFeedId: id,
  companyId: z.string().optional(),
  /** The job watches an in-flight batch for an owner that dies (see atom-push's `WATCH_DELAY_MS`). */
  watch: z.boolean().optional(),
});

export const jobPollPayload = z.object({
  mediaFeedId: id,
  companyId: z.string().optional(),
  importJobId: id,
  /** The ingests whose entries this import job carries (after a task retry: just that one). */
  ingestIds: z.array(id).min(1),
  ...pollState,
});

export const remediatePayload = z.object({
  ingestId: id,
  run,
  mediaFeedId: id,
  companyId: z.string().optional(),
  importJobId: id,
  taskId: id,
  taskType: z.string(),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  retryable: z.boolean().optional(),
});

export const statusTrackPayload = z.object({
  ingestId: id,
  run,
  assetId: id,
  /** Ignore video ingests that started before this time (ms): they belong to an earlier import. */
  notBefore: z.number().optional(),
  ...pollState,
});

export const imageFetchPayload = z.object({
  ingestId: id,
  run,
  assetId: id,
});

/** One AEM import request for the packages pending for a folder. */
export const aemImportPayload = z.object({ folder: id });

export const aemPollPayload = z.object({
  aemJobId: id,
  ingestIds: z.array(id).min(1),
  etag: z.string().optional(),
  ...pollState,
});

export const assetsRegisterPayload = z.object({ ingestId: id, run });

export const assetsPollPayload = z.object({
  ingestId: id,
  run,
  managedAssetId: id,
  ...pollState,
});

export const notifyPayload = z.object({
  ingestId: id,
  url: z.string().url(),
  state: z.string(),
});

/**
 * Which payload each step's queue carries: the contract between a step and whoever adds its jobs
 * (intake, ops, another target's step), so it is here, below the processors, where `enqueue` is
 * typed with it. Each step's registry entry (processors/<target>/index.ts) names its schema too, and
 * the compiler holds it to this one.
 */
export const PAYLOAD_SCHEMAS = {
  "source-watch": sourceWatchPayload,
  "atom-push": atomPushPayload,
  "job-poll": jobPollPayload,
  remediate: remediatePayload,
  "status-track": statusTrackPayload,
  "image-fetch": imageFetchPayload,
  "aem-import": aemImportPayload,
  "aem-poll": aemPollPayload,
  "assets-register": assetsRegisterPayload,
  "assets-poll": assetsPollPayload,
  notify: notifyPayload,
} as const satisfies Record<StepName, z.ZodType>;

/** The payload schema of step `N`. */
export type PayloadSchema<N extends StepName> = (typeof PAYLOAD_SCHEMAS)[N];

export type SourceWatchPayload = z.infer<typeof sourceWatchPayload>;
export type AtomPushPayload = z.infer<typeof atomPushPayload>;
export type JobPollPayload = z.infer<typeof jobPollPayload>;
export type RemediatePayload = z.infer<typeof remediatePayload>;
export type StatusTrackPayload = z.infer<typeof statusTrackPayload>;
export type ImageFetchPayload = z.infer<typeof imageFetchPayload>;
export type AemImportPayload = z.infer<typeof aemImportPayload>;
export type AemPollPayload = z.infer<typeof aemPollPayload>;
export type AssetsRegisterPayload = z.infer<typeof assetsRegisterPayload>;
export type AssetsPollPayload = z.infer<typeof assetsPollPayload>;
export type NotifyPayload = z.infer<typeof notifyPayload>;
