import type { z } from "zod";
import type { Logger } from "../log/logger.js";
import { withProcessorMetrics } from "../metrics/processor-metrics.js";
import type { IngestRecord } from "../records/ingest-record.js";
import { inStepSpan } from "../telemetry/tracing.js";
import { runAsStep } from "./current-step.js";
import type { StepJob, StepProcessor, StepResult } from "./step.js";

/**
 * What a step run inline came to: its result and the payload it left (a processor that re-delays
 * itself updates its job's data, e.g. a poll counter), or the error it threw.
 */
export type InlineOutcome<P> = { result: StepResult; data: P } | { error: unknown; data: P };

/**
 * Runs a step's processor for one payload inside the calling job, without a job of its own: a
 * BullMQ job costs ~30 Redis commands and its share of the worker's CPU, and most branch work is
 * done at its first run. The caller turns anything but `done`/`skipped` into the step's real job
 * (`waiting`: delayed by what the processor asked, with the data it left; an error: retried there
 * with the step's attempts and backoff), so every later run is an ordinary job.
 *
 * The payload is the caller's own (typed where it is built), so it is not parsed again. The run is
 * counted in the step's processor metrics and named as the step in failure log lines, as a job is.
 */
export async function runStepInline<S extends z.ZodType>(
  processor: StepProcessor<S>,
  payload: z.infer<S>,
  log: Logger,
  record?: IngestRecord,
): Promise<InlineOutcome<z.infer<S>>> {
  const { step } = processor;
  let data = payload;
  const job: StepJob = {
    id: undefined,
    data: payload,
    opts: step.jobOptions,
    attemptsMade: 0,
    processedOn: Date.now(),
    async updateData(next: z.infer<S>) {
      data = next;
    },
  };
  try {
    const ingestId = (payload as { ingestId?: unknown }).ingestId;
    const result = await inStepSpan(step.name, typeof ingestId === "string" ? ingestId : undefined, () =>
      withProcessorMetrics(step.name, () =>
        runAsStep({ step: step.name }, () =>
          processor.process(payload, { job, token: undefined, log, ...(record ? { record } : {}) }),
        ),
      ),
    );
    return { result, data };
  } catch (error) {
    return { error, data };
  }
}
