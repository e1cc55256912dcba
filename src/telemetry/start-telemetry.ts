import type { TracingHandle } from "./sdk.js";

/** What `startTelemetry` reads: the SDK's own standard variables (see docs/operations.md "Tracing"). */
export interface TelemetrySettings {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_SERVICE_NAME: string;
}

/**
 * Starts tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK and the OTLP/HTTP exporter are
 * imported only then, so a worker without a collector loads neither and its spans are the API's
 * no-ops. Must run before the service's modules are imported (the `run` command does it first),
 * so the Fastify and undici instrumentations see every server and request. The exporter reads the
 * endpoint and the other OTEL_EXPORTER_OTLP_* variables (headers, timeout) itself.
 */
export async function startTelemetry(settings: TelemetrySettings): Promise<TracingHandle | undefined> {
  if (!settings.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const [{ startTracing }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
    import("./sdk.js"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/sdk-trace-base"),
  ]);
  return startTracing({
    serviceName: settings.OTEL_SERVICE_NAME,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
}
