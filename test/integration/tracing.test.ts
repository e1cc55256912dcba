import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_BUCKET, putDemoTrigger, startDemoStack, type DemoStack } from "../../src/demo/demo-stack.js";
import { demoScenario, samplePackage, type DemoPackage } from "../../src/demo/sample-packages.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { startTracing, type TracingHandle } from "../../src/telemetry/sdk.js";
import { testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";
import { s3PutNotification } from "../support/s3-notification.js";

/**
 * One trace per package: the real service (every step, embedded S3 intake, the simulator as the
 * upstreams) with the SDK exporting to memory. Two Vimond packages uploaded together share one
 * Atom push, which can have one parent only: it lives in one package's trace and links to the
 * other's, and each package's own steps after the batch are back in its own trace.
 */
describe("tracing", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: TracingHandle;
  let stack: DemoStack;
  const packages = [samplePackage(0, "otel"), samplePackage(1, "otel")];
  const ingestIds = new Map<DemoPackage, string>();

  beforeAll(async () => {
    tracing = startTracing({
      serviceName: "ingest-worker-test",
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    stack = await startDemoStack({
      speed: 50,
      redisUrl: testRedisUrl(),
      prefix: uniquePrefix("tracing"),
      // Long enough that both packages are pending when the first push runs: one batch for two.
      // Per-ingest status polls, so each package's status reads sit in its own trace (a sweep's
      // list requests serve every ingest at once and belong to none).
      env: {
        ATOM_BATCH_MAX_WAIT_MS: "2500",
        POLL_INITIAL_DELAY_MS: "50",
        POLL_MAX_DELAY_MS: "200",
        STATUS_SWEEP: "false",
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await tracing?.shutdown();
  });

  const spans = () => exporter.getFinishedSpans();
  const inTrace = (traceId: string) => spans().filter((s) => s.spanContext().traceId === traceId);
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const byId = (trace: ReadableSpan[], spanId: string | undefined) =>
    trace.find((s) => s.spanContext().spanId === spanId);
  /** The chain of parents from a span up to its root, all within its trace. */
  function ancestors(trace: ReadableSpan[], span: ReadableSpan): ReadableSpan[] {
    const chain: ReadableSpan[] = [];
    for (let parent = byId(trace, parentOf(span)); parent; parent = byId(trace, parentOf(parent)))
      chain.push(parent);
    return chain;
  }
  const named = (trace: ReadableSpan[], name: string) => trace.filter((s) => s.name === name);
  const linksTo = (span: ReadableSpan, traceId: string) =>
    span.links.some((link) => link.context.traceId === traceId);

  it("follows each package from the S3 event through every step and upstream call", async () => {
    stack.sim.setScenario(demoScenario(packages));
    const { s3 } = stack.service.deps;
    for (const pkg of packages)
      for (const m of pkg.members)
        await s3.putObject(DEMO_BUCKET, m.key, m.body, { contentType: m.contentType });
    await Promise.all(
      packages.map(async (pkg) => {
        const put = await s3.putObject(DEMO_BUCKET, pkg.trigger.key, pkg.trigger.body, {
          contentType: pkg.trigger.contentType,
        });
        ingestIds.set(
          pkg,
          objectVersionKey({ kind: "created", bucket: DEMO_BUCKET, key: pkg.trigger.key, eTag: put.eTag }),
        );
      }),
    );
    for (const pkg of packages) {
      await waitFor(
        `${pkg.entryId} completed`,
        async () => (await stack.service.partitions.records.get(ingestIds.get(pkg)!))?.state === "completed",
        60_000,
      );
    }
    const roots = new Map<DemoPackage, ReadableSpan>();
    // The last spans (a step's process span) end just after the record says completed.
    await waitFor("every package's last step spans", () =>
      packages.every((pkg) => {
        const root = spans().find(
          (s) => s.name === "intake accept" && s.attributes["aws.s3.key"] === pkg.trigger.key,
        );
        if (!root) return false;
        roots.set(pkg, root);
        const trace = inTrace(root.spanContext().traceId);
        return (
          named(trace, "process status-track").length > 0 && named(trace, "process image-fetch").length > 0
        );
      }),
    );

    const traceIds = packages.map((pkg) => roots.get(pkg)!.spanContext().traceId);
    expect(new Set(traceIds).size, "one trace per package").toBe(2);
    const batchSpans = spans().filter((s) => s.name === "process atom-push");
    const pushed = batchSpans.filter((s) => s.attributes["ingest.outcome"] === "done");
    expect(pushed, "one Atom push for both packages").toHaveLength(1);
    const push = pushed[0]!;

    for (const [i, pkg] of packages.entries()) {
      const root = roots.get(pkg)!;
      const traceId = traceIds[i]!;
      const trace = inTrace(traceId);
      const ingestId = ingestIds.get(pkg)!;
      expect(parentOf(root), "the intake span is the root").toBeUndefined();
      expect(root.kind).toBe(SpanKind.PRODUCER);
      expect(root.attributes["aws.s3.bucket"]).toBe(DEMO_BUCKET);

      // Every span of the trace hangs from the root: no orphan, no parent in another trace.
      for (const span of trace)
        if (span !== root) expect(ancestors(trace, span).at(-1), `${span.name} reaches the root`).toBe(root);

      const sourceWatch = named(trace, "process source-watch");
      expect(sourceWatch).toHaveLength(1);
      expect(sourceWatch[0]!.kind).toBe(SpanKind.CONSUMER);
      expect(parentOf(sourceWatch[0]!), "source-watch is the intake span's child").toBe(
        root.spanContext().spanId,
      );
      expect(sourceWatch[0]!.attributes["ingest.id"]).toBe(ingestId);
      // The sidecar and the objects it names were read from S3 inside source-watch.
      const s3Calls = trace.filter((s) => s.name.startsWith("S3.") && s.kind === SpanKind.CLIENT);
      expect(s3Calls.map((s) => s.name)).toEqual(expect.arrayContaining(["S3.GetObject", "S3.HeadObject"]));
      for (const call of s3Calls) expect(ancestors(trace, call)).toContain(sourceWatch[0]);
      expect(s3Calls.map((s) => s.attributes["aws.s3.key"])).toContain(pkg.trigger.key);

      // The batch: in this package's trace (it created the push job), or linked to it.
      const ownsPush = push.spanContext().traceId === traceId;
      expect(ownsPush || linksTo(push, traceId), "the push is this package's or links to it").toBe(true);
      const polls = spans().filter((s) => s.name === "process job-poll");
      expect(polls.length).toBeGreaterThan(0);
      for (const poll of polls)
        expect(
          poll.spanContext().traceId === traceId || linksTo(poll, traceId),
          "job-poll reaches the package",
        ).toBe(true);

      // After the batch, the package's own steps are back in its own trace, under a rejoin span
      // whose parent is the package's hand-off in source-watch.
      for (const step of ["status-track", "image-fetch"]) {
        const processes = named(trace, `process ${step}`);
        expect(processes.length, step).toBeGreaterThan(0);
        for (const process of processes) {
          // A job's span, or the span of its first run inside job-poll (src/queues/inline-step.ts).
          const inline = process.attributes["ingest.inline"] === true;
          expect(process.kind).toBe(inline ? SpanKind.INTERNAL : SpanKind.CONSUMER);
          expect(process.attributes["ingest.id"]).toBe(ingestId);
          const chain = ancestors(trace, process);
          const rejoin = chain.find((s) => s.name === "rejoin package");
          expect(rejoin, `${step} came through a rejoin`).toBeDefined();
          expect(chain).toContain(sourceWatch[0]);
          expect(
            rejoin!.links.some((link) => polls.some((p) => p.spanContext().spanId === link.context.spanId)),
          ).toBe(true);
        }
      }
      // One rejoin per package and job-poll run: settling the ingest and starting its branches
      // share it.
      for (const poll of polls) {
        const rejoins = named(trace, "rejoin package").filter((r) =>
          r.links.some((link) => link.context.spanId === poll.spanContext().spanId),
        );
        expect(rejoins.length, "rejoin spans of one job-poll run").toBeLessThanOrEqual(1);
      }
      // Upstream requests through undici: CLIENT spans under the steps that made them.
      const clientUnder = (step: string) =>
        trace.filter(
          (s) =>
            s.kind === SpanKind.CLIENT &&
            s.attributes["http.request.method"] !== undefined &&
            ancestors(trace, s).some((a) => a.name === `process ${step}`),
        );
      expect(clientUnder("status-track").map((s) => String(s.attributes["url.full"]))).toEqual(
        expect.arrayContaining([expect.stringContaining(stack.sim.urls.status)]),
      );
      expect(clientUnder("image-fetch").map((s) => String(s.attributes["url.full"]))).toEqual(
        expect.arrayContaining([expect.stringContaining(stack.sim.urls.images)]),
      );
    }

    // The branches' first runs happened inside job-poll, and show as their steps all the same.
    expect(spans().filter((s) => s.attributes["ingest.inline"] === true).length).toBeGreaterThan(0);

    // The push itself is an upstream call of the batch's trace.
    const pushTrace = inTrace(push.spanContext().traceId);
    const schedule = pushTrace.filter(
      (s) =>
        s.kind === SpanKind.CLIENT &&
        s.attributes["http.request.method"] === "POST" &&
        String(s.attributes["url.full"]).includes("/v2/schedule"),
    );
    expect(schedule).toHaveLength(1);
    expect(ancestors(pushTrace, schedule[0]!)).toContain(push);

    // Traces start at accepted events only (and HTTP requests): BullMQ's housekeeping and the
    // embedded intake's addBulk, which have no package, start none.
    const otherRoots = spans().filter(
      (s) => parentOf(s) === undefined && s.name !== "intake accept" && s.kind !== SpanKind.SERVER,
    );
    expect(otherRoots.map((s) => s.name)).toEqual([]);
  });

  it("starts a trace per event of an HTTP notification, linked to the request's span", async () => {
    const keys = ["unrouted/otel-a.json", "unrouted/otel-b.json"];
    const res = await fetch(`${stack.service.runtime.url}/v1/events/s3`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.rawEnv.INTAKE_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(
        s3PutNotification(
          DEMO_BUCKET,
          keys.map((key, i) => ({ key, eTag: `otel${i}`, sequencer: `0B${i}` })),
        ),
      ),
    });
    expect(res.status).toBe(202);
    const intakeOf = (key: string) =>
      spans().find((s) => s.name === "intake accept" && s.attributes["aws.s3.key"] === key);
    await waitFor("both events through source-watch", () =>
      keys.every((key) => {
        const root = intakeOf(key);
        return root && named(inTrace(root.spanContext().traceId), "process source-watch").length === 1;
      }),
    );
    // The Fastify instrumentation's span of the POST (SERVER kind, its own trace).
    const request = spans().find(
      (s) => s.kind === SpanKind.SERVER && s.attributes["http.route"] === "/v1/events/s3",
    );
    expect(request, "a span for the intake request").toBeDefined();
    const roots = keys.map((key) => intakeOf(key)!);
    expect(new Set(roots.map((r) => r.spanContext().traceId)).size, "a trace per event").toBe(2);
    for (const root of roots) {
      expect(parentOf(root)).toBeUndefined();
      expect(root.attributes["ingest.source"]).toBe("http");
      // Linked to the span active in the route (the request's handler span, in the request's trace).
      expect(root.links.map((l) => l.context.traceId)).toEqual([request!.spanContext().traceId]);
      expect(root.spanContext().traceId).not.toBe(request!.spanContext().traceId);
    }
    // Probes are no work: no spans for them. A traced request after the probe shows when the
    // probe's span would have been exported.
    expect((await fetch(`${stack.service.runtime.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.service.runtime.url}/v1/openapi.json`)).status).toBe(200);
    await waitFor("the OpenAPI request's span", () =>
      spans().some((s) => s.kind === SpanKind.SERVER && s.attributes["http.route"] === "/v1/openapi.json"),
    );
    expect(
      spans().filter((s) => s.kind === SpanKind.SERVER && s.attributes["http.route"] === "/healthz"),
    ).toEqual([]);
  });

  it("links an AEM import to every package it carries", async () => {
    const aem = [samplePackage(3, "otel-aem"), samplePackage(8, "otel-aem")];
    expect(aem.map((p) => p.target)).toEqual(["aem", "aem"]);
    stack.sim.setScenario(demoScenario(aem));
    const { s3 } = stack.service.deps;
    for (const pkg of aem)
      for (const m of pkg.members)
        await s3.putObject(DEMO_BUCKET, m.key, m.body, { contentType: m.contentType });
    const ids = await Promise.all(
      aem.map(async (pkg) => {
        const put = await s3.putObject(DEMO_BUCKET, pkg.trigger.key, pkg.trigger.body, {
          contentType: pkg.trigger.contentType,
        });
        return objectVersionKey({
          kind: "created",
          bucket: DEMO_BUCKET,
          key: pkg.trigger.key,
          eTag: put.eTag,
        });
      }),
    );
    for (const id of ids)
      await waitFor(
        `AEM ingest ${id} completed`,
        async () => (await stack.service.partitions.records.get(id))?.state === "completed",
        60_000,
      );
    const traceIds = aem.map(
      (pkg) =>
        spans()
          .find((s) => s.name === "intake accept" && s.attributes["aws.s3.key"] === pkg.trigger.key)!
          .spanContext().traceId,
    );
    expect(new Set(traceIds).size).toBe(2);
    const imports = spans().filter(
      (s) => s.name === "process aem-import" && s.attributes["ingest.outcome"] === "done",
    );
    expect(imports, "one AEM import for both packages").toHaveLength(1);
    const batch = imports[0]!;
    for (const traceId of traceIds)
      expect(
        batch.spanContext().traceId === traceId || linksTo(batch, traceId),
        "the import reaches each package",
      ).toBe(true);
    // The import request itself is in the batch's trace, under the import job.
    const batchTrace = inTrace(batch.spanContext().traceId);
    const importCalls = batchTrace.filter(
      (s) =>
        s.kind === SpanKind.CLIENT &&
        s.attributes["http.request.method"] === "POST" &&
        String(s.attributes["url.full"]).startsWith(stack.sim.urls.aem),
    );
    expect(importCalls.length).toBeGreaterThan(0);
    for (const call of importCalls) expect(ancestors(batchTrace, call)).toContain(batch);
  });

  it("keeps an Asset Management package in one trace, and traces an API retry under its request", async () => {
    const pkg = samplePackage(9, "otel-assets");
    expect([pkg.target, pkg.expected]).toEqual(["asset-management", "failed"]);
    stack.sim.setScenario(demoScenario([pkg]));
    const id = await putDemoTrigger(stack.service.deps.s3, pkg);
    const stateOf = async () => (await stack.service.partitions.records.get(id))?.state;
    await waitFor("the scripted failure", async () => (await stateOf()) === "failed", 60_000);
    const root = spans().find(
      (s) => s.name === "intake accept" && s.attributes["aws.s3.key"] === pkg.trigger.key,
    )!;
    const trace = () => inTrace(root.spanContext().traceId);
    await waitFor("the assets-poll span", () => named(trace(), "process assets-poll").length > 0);
    for (const step of ["source-watch", "assets-register", "assets-poll"])
      expect(named(trace(), `process ${step}`).length, step).toBeGreaterThan(0);

    const res = await fetch(`${stack.service.runtime.url}/v1/ingests/${id}/retry`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.rawEnv.API_TOKEN}` },
    });
    expect(res.status).toBe(202);
    await waitFor("the retried run to fail again", async () => {
      const record = await stack.service.partitions.records.get(id);
      return record?.state === "failed" && record.attempts.retry === 1;
    });
    const request = spans().find(
      (s) => s.kind === SpanKind.SERVER && s.attributes["http.route"] === "/v1/ingests/:id/retry",
    );
    expect(request, "a span for the retry request").toBeDefined();
    const retryTrace = () => inTrace(request!.spanContext().traceId);
    await waitFor(
      "the retried run's assets-poll span",
      () => named(retryTrace(), "process assets-poll").length > 0,
    );
    // The retried run's source-watch job was added inside the request: the run is the request's trace.
    const rerun = named(retryTrace(), "process source-watch");
    expect(rerun).toHaveLength(1);
    expect(ancestors(retryTrace(), rerun[0]!)).toContain(request);
    expect(request!.spanContext().traceId).not.toBe(root.spanContext().traceId);
  });
});
