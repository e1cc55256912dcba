import { createNotifyProcessor } from "../../src/processors/every-target/notify.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { stepProcessor } from "../../src/processors/index.js";
import type { StepProcessor } from "../../src/queues/step.js";
import { createImageFetchProcessor } from "../../src/processors/vimond/image-fetch.js";
import { createRemediateProcessor } from "../../src/processors/vimond/remediate.js";
import { createStatusTrackProcessor } from "../../src/processors/vimond/status-track.js";
import { packageSchema, TERMINAL_STATES, type IngestRecord } from "../../src/records/ingest-record.js";
import {
  createProcessingRecord,
  startChainHarness,
  VIMOND_MAIN_ROUTE,
  type ChainHarness,
  type ChainHarnessOptions,
} from "./chain-harness.js";
import { waitFor } from "./redis.js";

/** The steps job-poll hands a Vimond ingest on to, with their real processors. */
const AFTER_JOB_POLL = {
  "status-track": (d: ChainDeps) => stepProcessor("status-track", createStatusTrackProcessor(d)),
  "image-fetch": (d: ChainDeps) => stepProcessor("image-fetch", createImageFetchProcessor(d)),
  remediate: (d: ChainDeps) => stepProcessor("remediate", createRemediateProcessor(d)),
  notify: (d: ChainDeps) => stepProcessor("notify", createNotifyProcessor(d)),
};
export type AfterJobPollStep = keyof typeof AFTER_JOB_POLL;

/** The harness on VIMOND_MAIN_ROUTE running only `steps`, each with its real processor. */
export function startAfterJobPollHarness(
  label: string,
  steps: AfterJobPollStep[],
  options: Pick<ChainHarnessOptions, "env" | "simEnv"> = {},
): Promise<ChainHarness> {
  return startChainHarness({
    label,
    routes: [VIMOND_MAIN_ROUTE],
    steps,
    processors: (d) => steps.map((step): StepProcessor => AFTER_JOB_POLL[step](d)),
    ...options,
  });
}

/**
 * The record job-poll leaves (state processing) with a package (`fields` over the required ones:
 * the id as entry id and title, updated now), and `branches` opened when given.
 */
export async function processingRecordWithPackage(
  h: ChainHarness,
  id: string,
  fields: Record<string, unknown> = {},
  branches?: string[],
): Promise<void> {
  const { records } = h.deps;
  await createProcessingRecord(h, id);
  await records.setPackage(
    id,
    packageSchema.parse({ entryId: id, title: id, updated: new Date().toISOString(), ...fields }),
  );
  if (branches) await records.startBranches(id, branches);
}

/** Waits for the ingest's record to reach a terminal state; returns it. */
export async function terminalRecord(h: ChainHarness, id: string): Promise<IngestRecord> {
  return waitFor(`ingest ${id} to end`, async () => {
    const record = await h.deps.records.get(id);
    return record && TERMINAL_STATES.has(record.state) ? record : undefined;
  });
}
