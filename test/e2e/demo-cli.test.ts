import { spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, requireBuild, spawnNode } from "../support/cli.js";
import { testRedisUrl } from "../support/redis.js";

describe("ingest-worker demo", () => {
  beforeAll(() => requireBuild());

  it("runs the chain and ends with one JSON line that adds up", async () => {
    const run = spawnNode([CLI, "demo", "--count", "10", "--json", "--speed", "50"], {
      REDIS_URL: testRedisUrl(),
    });
    const code = await run.exited;
    const lines = run.output().trim().split("\n");
    const last = JSON.parse(lines[lines.length - 1]!) as {
      ingests: number;
      completed: number;
      failed: number;
      seconds: number;
      upstreamRequests: Record<string, number>;
      aemEvents: { delivered: number; failed: number };
    };
    expect(code, run.output()).toBe(0);
    expect(last.ingests).toBe(10);
    expect(last.completed + last.failed).toBe(10);
    expect(last.failed).toBe(1); // package 9 is scripted to fail permanently
    expect(last.upstreamRequests["ais.pushV2"]).toBeGreaterThan(0);
    // Package 3 goes to AEM, whose simulated webhook posts to the worker's cloudevents intake.
    expect(last.aemEvents.delivered).toBeGreaterThan(0);
    expect(last.aemEvents.failed).toBe(0);
    expect(last.seconds).toBeGreaterThan(0);
  });

  it("says in one line that it needs redis-server or REDIS_URL, and exits 3", async () => {
    const { REDIS_URL: _url, ...rest } = process.env;
    const child = spawn(process.execPath, [CLI, "demo", "--count", "1"], {
      env: { ...rest, PATH: "/nonexistent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on("close", done));
    expect(code, output).toBe(3);
    expect(output).toContain("ingest-worker: redis-server was not found on PATH. Set REDIS_URL");
    expect(output).not.toMatch(/^\s+at /m);
  });

  it("rejects a bad --count with exit code 2", async () => {
    const run = spawnNode([CLI, "demo", "--count", "zero"], {});
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("--count must be a positive number");
  });
});
