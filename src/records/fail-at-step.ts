import type { RecordStore } from "./record-store.js";

/**
 * Records `step` as failed with `reason` and fails the ingest with the same reason: for a failure
 * no retry of the step can mend, so the record shows both which step ended it and why.
 */
export async function failAtStep(
  records: RecordStore,
  id: string,
  step: string,
  timing: { startedAt: number; endedAt: number },
  reason: string,
): Promise<void> {
  await records.step(id, step, { status: "failed", ...timing, detail: reason });
  await records.fail(id, reason);
}
