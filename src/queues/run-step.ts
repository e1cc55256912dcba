import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import { moduleLogger } from "../log/logger.js";
import { withProcessorMetrics, type ProcessorOutcome } from "../metrics/processor-metrics.js";
import { ATTR, annotateActiveSpan } from "../telemetry/tracing.js";
import { runAsStep } from "./current-step.js";
import type { Logger } from "../log/logger.js";
import type { StepContext, StepProcessor, StepResult } from "./step.js";

/** A payload that fails its schema can never succeed: the message says which field and why. */
export class InvalidPayloadError extends UnrecoverableError {
  constructor(step: string, details: string) {
    super(`invalid ${step} payload: ${details}`);
    this.name = "InvalidPayloadError";
  }
}

function classify(job: Job) {
  return (error: unknown): ProcessorOutcome => {
    if (error instanceof DelayedError) return "waiting";
    if (error instanceof UnrecoverableError) return "failed";
    const attempts = job.opts.attempts ?? 1;
    return job.attemptsMade + 1 >= attempts ? "failed" : "retry";
  };
}

/**
 * Turns a step processor into a BullMQ processor function: parses the payload with the step's
 * schema, gives the processor a logger scoped to the job, runs it inside the metrics wrapper, and
 * turns `waiting` into a re-delay of the same job (the BullMQ way of polling without sleeping).
 */
export function toBullProcessor(processor: StepProcessor) {
  const { step } = processor;
  const log = moduleLogger(step.name);
  return async (job: Job, token?: string): Promise<StepResult> => {
    const ingestId = (job.data as { ingestId?: unknown })?.ingestId;
    annotateActiveSpan({
      [ATTR.step]: step.name,
      ...(typeof ingestId === "string" ? { [ATTR.ingestId]: ingestId } : {}),
    });
    // Made on first use: most jobs log nothing, and a pino child per job is not free.
    let jobLog: Logger | undefined;
    const ctx: StepContext = {
      job,
      token,
      get log() {
        return (jobLog ??= log.child({ jobId: job.id, ingestId }));
      },
    };
    const result = await withProcessorMetrics(
      step.name,
      async () => {
        const parsed = step.schema.safeParse(job.data);
        if (!parsed.success) {
          const details = parsed.error.issues
            .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
            .join("; ");
          throw new InvalidPayloadError(step.name, details);
        }
        return runAsStep({ step: step.name, ...(job.id !== undefined ? { jobId: job.id } : {}) }, () =>
          processor.process(parsed.data, ctx),
        );
      },
      classify(job),
    );
    annotateActiveSpan({ [ATTR.outcome]: result.outcome });
    if (result.outcome === "waiting") {
      await job.moveToDelayed(Date.now() + Math.max(0, Math.round(result.delayMs)), token);
      throw new DelayedError();
    }
    return result;
  };
}
