import { ObjectEvent, objectVersionKey } from "../intake/object-event.js";
import type { StepName } from "../queues/names.js";
import { runOf, type IngestState } from "./ingest-record.js";
import type { RecordStore } from "./record-store.js";

/** The ingest ids a job's payload names: `ingestId`, `ingestIds`, or source-watch's event. */
export function ingestIdsOfJob(step: StepName, data: unknown): string[] {
  const ids = new Set<string>();
  if (data && typeof data === "object") {
    const payload = data as { ingestId?: unknown; ingestIds?: unknown; event?: unknown };
    if (typeof payload.ingestId === "string") ids.add(payload.ingestId);
    if (Array.isArray(payload.ingestIds))
      for (const id of payload.ingestIds) if (typeof id === "string") ids.add(id);
    if (step === "source-watch") {
      const event = ObjectEvent.safeParse(payload.event);
      if (event.success) ids.add(objectVersionKey(event.data));
    }
  }
  return [...ids];
}

/** The run a job was made for (its payload's `run`), when it says. */
function runOfJob(data: unknown): number | undefined {
  const run = (data as { run?: unknown } | null)?.run;
  return typeof run === "number" ? run : undefined;
}

/**
 * The states in which an ingest still waits on a step's job. A job can fail for good after its
 * effect was already recorded (a worker killed right after handing a package on, whose job then
 * stalls twice): the ingest has moved past the step by then and must not be failed for it.
 */
const WAITING_ON: Partial<Record<StepName, IngestState[]>> = {
  "source-watch": ["received", "waiting-objects"],
  "job-poll": ["importing"],
  remediate: ["importing"],
  "aem-poll": ["importing"],
  "assets-register": ["queued", "received"],
  "assets-poll": ["importing"],
};

/** Branch steps end their own branch; the ingest then ends when its other branches do. */
const BRANCHES: ReadonlySet<StepName> = new Set(["status-track", "image-fetch"]);

/**
 * A job that failed for good (attempts used up, or unrecoverable) can no longer move its ingests;
 * without this they would stay open until someone looked. Each named ingest that still waits on
 * this step is failed with the step and the last error (a branch step fails its branch), so it
 * shows up in `/v1/ingests?status=failed`, in the metrics and in notifications. Ingests that moved
 * on, ended, or are unknown are left alone; batch jobs (atom-push, aem-import) name no ingest.
 * Neither is an ingest an operator retried since the job was made (the payload's `run` is older):
 * the job belonged to the previous run, and the new run has jobs of its own.
 */
export async function failIngestsOfJob(
  records: RecordStore,
  step: StepName,
  data: unknown,
  error: Error,
): Promise<string[]> {
  const reason = `${step} gave up: ${error.message}`;
  const failed: string[] = [];
  const jobRun = runOfJob(data);
  for (const id of ingestIdsOfJob(step, data)) {
    if (jobRun !== undefined) {
      const record = await records.get(id);
      if (record && runOf(record) !== jobRun) continue;
    }
    if (BRANCHES.has(step)) {
      if ((await records.finishBranch(id, step, { ok: false, reason })) === "failed") failed.push(id);
      continue;
    }
    const from = WAITING_ON[step];
    if (from && (await records.transition(id, "failed", { error: reason, from, step }))) failed.push(id);
  }
  return failed;
}
