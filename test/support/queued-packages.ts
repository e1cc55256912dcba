import type { S3PutOptions } from "../../src/adapters/s3/s3-adapter.js";
import type { IngestPackage } from "../../src/records/ingest-record.js";
import type { NewIngest } from "../../src/records/record-store.js";
import { createRecord, HARNESS_BUCKET, type ChainHarness } from "./chain-harness.js";

/**
 * What source-watch leaves behind for a package, for tests that start a chain at the step after it
 * (the embedded S3 object;
 * the record with its package, in state queued).
 */

/** Puts an object into the embedded S3 and returns its presigned URL, as source-watch would hand it on. */
export async function storedObject(
  h: ChainHarness,
  key: string,
  body: string = `bytes of ${key}`,
  options?: S3PutOptions,
): Promise<string> {
  await h.deps.s3.putObject(HARNESS_BUCKET, key, body, options);
  return h.deps.s3.presignGet(HARNESS_BUCKET, key, 3600);
}

/** The record of a package of the harness bucket (version v1, arrived now), its package, state queued. */
export async function queuePackage(
  h: ChainHarness,
  record: Pick<NewIngest, "id" | "route" | "target" | "key">,
  pkg: IngestPackage,
): Promise<void> {
  await createRecord(h, { ...record, bucket: HARNESS_BUCKET, version: "v1", eventAt: Date.now() });
  await h.deps.records.setPackage(record.id, pkg);
  await h.deps.records.transition(record.id, "queued");
}
