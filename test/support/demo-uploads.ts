import type { S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import { DEMO_BUCKET, putDemoTrigger } from "../../src/demo/demo-stack.js";
import type { DemoPackage } from "../../src/demo/sample-packages.js";
import { TERMINAL_STATES, type IngestRecord } from "../../src/records/ingest-record.js";
import { waitFor } from "./redis.js";

/**
 * Uploads a demo package to the demo bucket, members first so the trigger's event finds them;
 * returns the id its ingest will have.
 */
export async function uploadDemoPackage(s3: Pick<S3Adapter, "putObject">, pkg: DemoPackage): Promise<string> {
  for (const m of pkg.members) await s3.putObject(DEMO_BUCKET, m.key, m.body, { contentType: m.contentType });
  return putDemoTrigger(s3, pkg);
}

/** Uploads the packages one after another; ingest id → package, in upload order. */
export async function uploadDemoPackages(
  s3: Pick<S3Adapter, "putObject">,
  packages: readonly DemoPackage[],
): Promise<Map<string, DemoPackage>> {
  const ids = new Map<string, DemoPackage>();
  for (const pkg of packages) ids.set(await uploadDemoPackage(s3, pkg), pkg);
  return ids;
}

/** Waits until every one of the ingests has a record in a terminal state. */
export async function waitForEveryIngestToEnd(
  records: { get(id: string): Promise<IngestRecord | undefined> },
  ids: Iterable<string>,
  timeoutMs: number,
): Promise<void> {
  const pending = [...ids];
  await waitFor(
    "every ingest to end",
    async () => {
      for (const id of pending) {
        const record = await records.get(id);
        if (!record || !TERMINAL_STATES.has(record.state)) return false;
      }
      return true;
    },
    timeoutMs,
  );
}
