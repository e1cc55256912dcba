import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
} from "@opentelemetry/api";
import type { Telemetry } from "bullmq";

/**
 * The tracing seam the rest of the code uses. Only `@opentelemetry/api` is imported here: until
 * `startTracing` (src/telemetry/sdk.ts, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set or a
 * test asks) registers a provider, every call below is a no-op or returns early, and BullMQ gets
 * no telemetry option at all, so jobs carry no trace metadata.
 */

/** Instrumentation scope of the worker's own spans. */
export const TRACER_NAME = "ingest-worker";

const tracer = () => trace.getTracer(TRACER_NAME);

let bullTelemetry: Telemetry | undefined;

/** Called by the SDK module once a provider is registered (undefined when it shuts down). */
export function setBullTelemetry(telemetry: Telemetry | undefined): void {
  bullTelemetry = telemetry;
}

/** Whether spans are recorded (a provider was started in this process). */
export function tracingEnabled(): boolean {
  return bullTelemetry !== undefined;
}

/** The BullMQ `telemetry` option of queues and workers: undefined (no tracing, no cost) when off. */
export function queueTelemetry(): Telemetry | undefined {
  return bullTelemetry;
}

/** The root span of an accepted object event. */
export const INTAKE_SPAN = "intake accept";

/** Attributes of a package on spans; names follow the semantic conventions where they have one. */
export const ATTR = {
  ingestId: "ingest.id",
  source: "ingest.source",
  step: "ingest.step",
  outcome: "ingest.outcome",
  bucket: "aws.s3.bucket",
  key: "aws.s3.key",
} as const;

/**
 * The root span of one accepted object event, and the BullMQ job metadata that makes the
 * source-watch job's spans its children. A root (not a child of the HTTP request or SQS poll that
 * brought it) so that each package has its own trace; the carrier is linked instead.
 */
export function startIntakeSpan(event: {
  source: string;
  bucket: string;
  key: string;
  eventName: string;
}): { span: Span; metadata: string } | undefined {
  if (!tracingEnabled()) return undefined;
  const attributes: Attributes = {
    [ATTR.source]: event.source,
    [ATTR.bucket]: event.bucket,
    [ATTR.key]: event.key,
    "ingest.event.name": event.eventName,
  };
  const carrier = trace.getActiveSpan()?.spanContext();
  const links: Link[] = carrier ? [{ context: carrier }] : [];
  const span = tracer().startSpan(
    INTAKE_SPAN,
    { root: true, kind: SpanKind.PRODUCER, attributes, links },
    ROOT_CONTEXT,
  );
  return { span, metadata: metadataOf(trace.setSpan(ROOT_CONTEXT, span)) };
}

/** What `recordException` gets for anything thrown. */
function exceptionOf(error: unknown): Error {
  return error instanceof Error
    ? error
    : new Error(typeof error === "string" ? error : "a non-Error was thrown");
}

/** Ends intake spans; with the error when the events did not become durable (nothing acknowledged). */
export function endSpans(spans: ReadonlyArray<Span | undefined>, error?: unknown): void {
  for (const span of spans) {
    if (!span) continue;
    if (error !== undefined) {
      span.recordException(exceptionOf(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: exceptionOf(error).message });
    }
    span.end();
  }
}

/** The active context serialized the way bullmq-otel does (a JSON object of W3C headers). */
function metadataOf(ctx = context.active()): string {
  const headers: Record<string, string> = {};
  propagation.inject(ctx, headers);
  return JSON.stringify(headers);
}

/**
 * The W3C `traceparent` of the active span, stored on an ingest record at hand-off so that steps
 * after a batch (which spans many packages) can rejoin each package's trace. Undefined when off.
 */
export function currentTraceparent(): string | undefined {
  if (!tracingEnabled()) return undefined;
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  return headers.traceparent;
}

function contextOf(traceparent: string) {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/**
 * A batch step (atom-push, aem-import) works for many packages at once and can have one parent
 * only (the job that created it): it links to every other package's trace instead.
 */
export function linkPackages(traceparents: ReadonlyArray<string | undefined>): void {
  const span = tracingEnabled() ? trace.getActiveSpan() : undefined;
  if (!span) return;
  const own = span.spanContext().traceId;
  const links: Link[] = [];
  for (const traceparent of traceparents) {
    if (!traceparent) continue;
    const linked = trace.getSpanContext(contextOf(traceparent));
    if (linked && linked.traceId !== own) links.push({ context: linked });
  }
  if (links.length > 0) span.addLinks(links);
}

/** A package's trace rejoined after a batch step: `run` work in it, then `end` it once. */
export interface PackageTrace {
  run<T>(work: () => Promise<T>): Promise<T>;
  end(): void;
}

const NOT_TRACED: PackageTrace = { run: (work) => work(), end() {} };

/**
 * Rejoins a package's trace after a batch step (adding its own next jobs): a short `rejoin package`
 * span whose parent is the context stored at hand-off and which links back to the batch's span,
 * so per-package steps (status-track, image-fetch, remediate, aem/assets polls) appear under the
 * package they are about. A step that works for the package twice (job-poll settles each ingest,
 * then starts the branches of all) runs both in the one span.
 */
export function rejoinPackage(pkg: { ingestId: string; traceparent: string | undefined }): PackageTrace {
  if (!tracingEnabled() || !pkg.traceparent) return NOT_TRACED;
  const batch = trace.getActiveSpan()?.spanContext();
  const parent = contextOf(pkg.traceparent);
  const span = tracer().startSpan(
    "rejoin package",
    {
      kind: SpanKind.INTERNAL,
      attributes: { [ATTR.ingestId]: pkg.ingestId },
      links: batch ? [{ context: batch }] : [],
    },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return { run: (work) => context.with(active, work), end: () => span.end() };
}

/**
 * A step run inline (a branch that job-poll runs itself, src/queues/inline-step.ts) gets the
 * `process <step>` span its job would have had, marked `ingest.inline`, so a trace shows the step
 * whether it ran as a job or inside another one.
 */
export async function inStepSpan<T extends { outcome: string }>(
  step: string,
  ingestId: string | undefined,
  run: () => Promise<T>,
): Promise<T> {
  if (!tracingEnabled() || !trace.getActiveSpan()) return run();
  const attributes: Attributes = {
    [ATTR.step]: step,
    "ingest.inline": true,
    ...(ingestId !== undefined ? { [ATTR.ingestId]: ingestId } : {}),
  };
  return tracer().startActiveSpan(
    `process ${step}`,
    { kind: SpanKind.INTERNAL, attributes },
    async (span) => {
      try {
        const result = await run();
        span.setAttribute(ATTR.outcome, result.outcome);
        return result;
      } catch (error) {
        span.recordException(exceptionOf(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: exceptionOf(error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Sets attributes on the active span (the job's `process` span in a processor); nothing when off. */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!tracingEnabled()) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/**
 * A CLIENT span around one AWS SDK call (the SDK sends through node:http, which the undici
 * instrumentation does not see), only inside a trace. `rpc.*` names as the AWS SDK semantic
 * conventions give them.
 */
export async function withAwsSpan<T>(
  service: string,
  operation: string,
  attributes: Attributes | undefined,
  run: () => Promise<T>,
  statusOf: (value: unknown) => number | undefined,
): Promise<T> {
  if (!tracingEnabled() || !trace.getActiveSpan()) return run();
  return tracer().startActiveSpan(
    `${service}.${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        "rpc.system": "aws-api",
        "rpc.service": service,
        "rpc.method": operation,
        ...attributes,
      },
    },
    async (span) => {
      try {
        const result = await run();
        const status = statusOf(result);
        if (status !== undefined) span.setAttribute("http.response.status_code", status);
        return result;
      } catch (error) {
        const status = statusOf(error);
        if (status !== undefined) span.setAttribute("http.response.status_code", status);
        span.recordException(exceptionOf(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: exceptionOf(error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
