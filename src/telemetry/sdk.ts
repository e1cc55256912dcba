import { FastifyOtelInstrumentation } from "@fastify/otel";
import { ROOT_CONTEXT, SpanKind, context, propagation, trace } from "@opentelemetry/api";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  type Sampler,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import type { Telemetry } from "bullmq";
import { BullMQOtel } from "bullmq-otel";
import { createRequire } from "node:module";
import { INTAKE_SPAN, setBullTelemetry, TRACER_NAME } from "./tracing.js";

/**
 * The OpenTelemetry SDK, loaded (dynamically, by `startTelemetry` or a test) only when traces are
 * wanted: a Node tracer provider with AsyncLocalStorage context and W3C propagation, the undici
 * and Fastify instrumentations, and BullMQ's telemetry through bullmq-otel.
 */
export interface TracingOptions {
  serviceName: string;
  /** Where spans go: the OTLP exporter in a batch processor in production, memory in tests. */
  spanProcessors: SpanProcessor[];
}

export interface TracingHandle {
  /** Flushes what is buffered and unregisters everything (the API is back to no-op). */
  shutdown(): Promise<void>;
}

/** Routes whose requests are probes or scrapes, not work: no spans (they would be most of them). */
const QUIET_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * The roots worth a trace: an accepted event (`intake accept`), an HTTP request, and a job that
 * came without a context (added by the CLI). Everything else that would start a trace is BullMQ's
 * housekeeping (a `getNextJob` for every idle fetch, `moveStalledJobsToWait` per worker every
 * stalled interval, an intake's `addBulk` outside a request) or a call made outside any package
 * (the status sweeper's list requests), and would be most of the traces: dropped. Below a root,
 * the parent decides.
 */
function packageRoots(delegate: Sampler): Sampler {
  return {
    shouldSample(ctx, traceId, name, kind, attributes, links) {
      const root = !trace.getSpanContext(ctx);
      if (root && kind !== SpanKind.SERVER && kind !== SpanKind.CONSUMER && name !== INTAKE_SPAN)
        return { decision: SamplingDecision.NOT_RECORD };
      return delegate.shouldSample(ctx, traceId, name, kind, attributes, links);
    },
    toString: () => `PackageRoots{${delegate.toString()}}`,
  };
}

/** BullMQ's telemetry, with a root context so its long-running loops never join a job's trace. */
function bullmqTelemetry(): Telemetry {
  const otel = new BullMQOtel({ tracerName: TRACER_NAME });
  return {
    tracer: otel.tracer,
    contextManager: Object.assign(otel.contextManager, { root: () => ROOT_CONTEXT }),
  };
}

function packageVersion(): string {
  return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
}

/** Registers the provider and instrumentations globally; call before building queues and servers. */
export function startTracing(options: TracingOptions): TracingHandle {
  const resource = detectResources({ detectors: [envDetector] }).merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: packageVersion(),
    }),
  );
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: options.spanProcessors,
    sampler: packageRoots(new ParentBasedSampler({ root: new AlwaysOnSampler() })),
  });
  provider.register();
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Requests outside a trace (the status sweeper's) are not about one package.
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route: { url: string }) => QUIET_ROUTES.has(route.url),
      }),
    ],
  });
  setBullTelemetry(bullmqTelemetry());
  return {
    async shutdown() {
      setBullTelemetry(undefined);
      unregister();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
