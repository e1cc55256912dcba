import { createServer, type IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/runtime/free-port.js";
import { CLI, requireBuild, spawnNode, workerEnv } from "../support/cli.js";
import { cleanupPrefix, uniquePrefix, waitFor } from "../support/redis.js";
import { s3PutNotification } from "../support/s3-notification.js";

/** The parts of an OTLP/JSON export request this test reads. */
interface ExportRequest {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; parentSpanId?: string }> }>;
  }>;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * `run` with OTEL_EXPORTER_OTLP_ENDPOINT: the SDK is loaded, spans go to the collector over
 * OTLP/HTTP, and the last ones are flushed on SIGTERM before the exit.
 */
describe("ingest-worker run with OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  beforeAll(() => requireBuild());
  const prefix = uniquePrefix("otlp");
  afterAll(() => cleanupPrefix(prefix));

  it("exports the intake and source-watch spans of an event to the collector", async () => {
    const exports: ExportRequest[] = [];
    const paths: string[] = [];
    const collector = createServer((req, res) => {
      void bodyOf(req).then((body) => {
        paths.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
        exports.push(JSON.parse(body) as ExportRequest);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((done) => collector.listen(0, "127.0.0.1", done));
    const { port: collectorPort } = collector.address() as { port: number };
    const port = await freePort();
    const run = spawnNode(
      [CLI, "run"],
      workerEnv(port, prefix, {
        INTAKE_TOKEN: "otlp-token",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
        OTEL_SERVICE_NAME: "ingest-worker-otlp-test",
      }),
    );
    try {
      await run.waitForOutput(/ingest-worker running/);
      expect(run.output()).toContain("exporting traces (OTLP)");
      const res = await fetch(`http://127.0.0.1:${port}/v1/events/s3`, {
        method: "POST",
        headers: { authorization: "Bearer otlp-token", "content-type": "application/json" },
        body: JSON.stringify(s3PutNotification("media-in", [{ key: "otlp/a.json", eTag: "e1" }])),
      });
      expect(res.status).toBe(202);
      // No route: source-watch skips the event, which is enough to see the job's span exported.
      await waitFor("the source-watch job to finish", async () => {
        const ready = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
        return /ingest_processor_jobs_total\{[^}]*step="source-watch"[^}]*\} [1-9]/.test(ready);
      });
    } finally {
      run.child.kill("SIGTERM");
    }
    expect(await run.exited, run.output()).toBe(0);
    await new Promise((done) => collector.close(done));

    expect(
      paths.every((p) => p.startsWith("POST /v1/traces application/json")),
      paths.join("\n"),
    ).toBe(true);
    const resources = exports.flatMap((e) => e.resourceSpans);
    const serviceNames = resources.map(
      (r) => r.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue,
    );
    expect(new Set(serviceNames)).toEqual(new Set(["ingest-worker-otlp-test"]));
    const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const intake = spans.find((s) => s.name === "intake accept");
    expect(intake, spans.map((s) => s.name).join(", ")).toBeDefined();
    const sourceWatch = spans.find((s) => s.name === "process source-watch");
    expect(sourceWatch?.traceId).toBe(intake!.traceId);
  });
});
