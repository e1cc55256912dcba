import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/runtime/free-port.js";
import { CLI, requireBuild, spawnNode, workerEnv } from "../support/cli.js";
import { parsePrometheusText } from "../support/prometheus-text.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

describe("ingest-worker run", () => {
  beforeAll(() => requireBuild());
  const prefix = uniquePrefix("cli");
  afterAll(() => cleanupPrefix(prefix));

  it("names a bad variable and exits non-zero", async () => {
    const run = spawnNode([CLI, "run"], { HTTP_PORT: "abc", REDIS_URL: testRedisUrl() });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('HTTP_PORT must be a port number, got "abc"');
  });

  it("serves health, readiness and Prometheus metrics, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const run = spawnNode([CLI, "run"], workerEnv(port, prefix));
    await run.waitForOutput(/ingest-worker running/);
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { redis: "ok" } });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    const samples = parsePrometheusText(await metrics.text());
    expect(samples.some((s) => s.name === "ingest_process_resident_memory_bytes")).toBe(true);
    expect(samples.every((s) => s.name.startsWith("ingest_"))).toBe(true);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('"msg":"stopped"');
  });

  it("says in one line that its HTTP port is taken, exits 2 and leaves no worker running", async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, "127.0.0.1", done));
    const { port } = taken.address() as { port: number };
    try {
      for (const args of [["run"], ["simulate", "--port", String(port)]]) {
        const run = spawnNode([CLI, ...args], workerEnv(port, prefix, { LOG_LEVEL: "error" }));
        // Exiting at all is the point: the workers start before the port fails to bind.
        expect(await run.exited, run.output()).toBe(2);
        expect(run.output()).toContain(`ingest-worker: cannot listen on 127.0.0.1:${port}: already in use`);
        expect(run.output()).not.toMatch(/^\s+at /m);
      }
    } finally {
      await new Promise((done) => taken.close(done));
    }
  });

  it("prints help", async () => {
    const run = spawnNode([CLI, "--help"], {});
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/Usage: ingest-worker <command>/);
  });
});
