import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ProxyTracerProvider, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { ConfigError, parseEnv } from "../../src/config/load.js";
import { startTelemetry } from "../../src/telemetry/start-telemetry.js";
import {
  currentTraceparent,
  queueTelemetry,
  startIntakeSpan,
  tracingEnabled,
} from "../../src/telemetry/tracing.js";

/** Tracing costs nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md, Tracing). */
describe("tracing off", () => {
  it("registers no tracer provider without OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const env = parseEnv({});
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(env.OTEL_SERVICE_NAME).toBe("ingest-worker");
    expect(await startTelemetry(env)).toBeUndefined();

    const provider = trace.getTracerProvider();
    expect(provider).toBeInstanceOf(ProxyTracerProvider);
    // The proxy still points at the API's no-op provider: nothing was registered.
    expect((provider as ProxyTracerProvider).getDelegate().constructor.name).toBe("NoopTracerProvider");
    expect(trace.getTracer("ingest-worker").startSpan("probe").isRecording()).toBe(false);

    // BullMQ gets no telemetry option (no spans, no trace metadata in jobs), intake starts no span.
    expect(tracingEnabled()).toBe(false);
    expect(queueTelemetry()).toBeUndefined();
    expect(
      startIntakeSpan({ source: "http", bucket: "b", key: "k", eventName: "ObjectCreated:Put" }),
    ).toBeUndefined();
    expect(currentTraceparent()).toBeUndefined();
  });

  it("rejects an endpoint that is not an http(s) URL", () => {
    expect(() => parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toThrow(ConfigError);
    expect(
      parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }).OTEL_EXPORTER_OTLP_ENDPOINT,
    ).toBe("http://collector:4318");
  });

  it("imports the SDK only from the module that loads it on demand", async () => {
    // A static import anywhere else would load the SDK (and its instrumentations) into every process.
    const sdkModules =
      /^\s*import\s+(?!type\b)[^;]*?from\s+"(@opentelemetry\/(sdk-|exporter-|instrumentation|resources)[^"]*|@fastify\/otel|bullmq-otel|[./]+(telemetry\/)?sdk\.js)"/m;
    const offenders: string[] = [];
    async function walk(dir: string): Promise<void> {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (path.endsWith(".ts") && path !== join("src", "telemetry", "sdk.ts")) {
          if (sdkModules.test(await readFile(path, "utf8"))) offenders.push(path);
        }
      }
    }
    await walk("src");
    expect(offenders).toEqual([]);
    // The pattern does see the SDK's imports where they are.
    expect(sdkModules.test(await readFile(join("src", "telemetry", "sdk.ts"), "utf8"))).toBe(true);
  });
});
