import type { Job } from "bullmq";
import { createEventSink } from "../../src/intake/accept.js";
import { bridgeEmbeddedS3, type EmbeddedBridge } from "../../src/intake/embedded-bridge.js";
import { objectVersionKey, type ObjectEvent } from "../../src/intake/object-event.js";
import { createSourceWatchProcessor } from "../../src/processors/every-target/source-watch.js";
import type { StepProcessor } from "../../src/queues/step.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import { HARNESS_BUCKET, startChainHarness, type ChainHarness } from "./chain-harness.js";
import { waitFor } from "./redis.js";
import { stepProcessor } from "../../src/processors/index.js";

/** A Vimond route of `vod/` whose deletes unpublish: the route the delete tests run. */
export const VOD_ROUTE = {
  name: "vod",
  bucket: HARNESS_BUCKET,
  prefix: "vod/",
  target: "vimond",
  deletes: "unpublish",
  vimond: { mediaFeedId: "{feed}" },
};

export interface SourceWatchHarness {
  h: ChainHarness;
  /** The embedded S3's notifications, delivered to source-watch as the intake would. */
  bridge: EmbeddedBridge;
}

/**
 * Source-watch with its real processor on `routes`, the steps it hands on to run by `next` (stubs
 * that note what they got), and every object put into the embedded S3 arriving as an event.
 */
export async function startSourceWatchHarness(options: {
  label: string;
  routes: unknown[];
  next: StepProcessor[];
  env?: Record<string, string>;
}): Promise<SourceWatchHarness> {
  const h = await startChainHarness({
    label: options.label,
    routes: options.routes,
    steps: ["source-watch", ...options.next.map((p) => p.step.name)],
    processors: (d) => [stepProcessor("source-watch", createSourceWatchProcessor(d)), ...options.next],
    ...(options.env ? { env: options.env } : {}),
  });
  const bridge = bridgeEmbeddedS3(h.s3, createEventSink(h.queue("source-watch")));
  return { h, bridge };
}

/** Puts an object into the harness bucket; returns the id the ingest of its event will have. */
export async function putObjectEvent(
  h: ChainHarness,
  key: string,
  body: string | Uint8Array,
  metadata?: Record<string, string>,
): Promise<string> {
  const out = await h.deps.s3.putObject(HARNESS_BUCKET, key, body, metadata ? { metadata } : {});
  return objectVersionKey({ kind: "created", bucket: HARNESS_BUCKET, key, eTag: out.eTag });
}

/** Waits until source-watch has settled the ingest in one of `states`; returns its record. */
export async function settledRecord(
  h: ChainHarness,
  id: string,
  states: IngestRecord["state"][],
): Promise<IngestRecord> {
  return waitFor(`ingest ${id} in ${states.join("/")}`, async () => {
    const record = await h.deps.records.get(id);
    // Settled: the step's own timing is written after the state it reached.
    const status = record?.steps["source-watch"]?.status;
    return record !== undefined &&
      states.includes(record.state) &&
      status !== undefined &&
      status !== "running"
      ? record
      : undefined;
  });
}

/** Adds a source-watch job directly (its own id) and waits for what the processor returned. */
export async function runSourceWatchJob(
  h: ChainHarness,
  event: ObjectEvent,
  id: string,
): Promise<{ outcome: string; reason?: string }> {
  const job = await h.queue("source-watch").add("source-watch", { event, polls: 0 }, { jobId: id });
  return waitFor(`job ${id} to finish`, async () => {
    const fresh = (await h.queue("source-watch").getJob(job.id!)) as Job | undefined;
    const state = await fresh?.getState();
    if (state === "failed") throw new Error(`job failed: ${fresh?.failedReason}`);
    return state === "completed" ? (fresh?.returnvalue as { outcome: string; reason?: string }) : undefined;
  });
}
