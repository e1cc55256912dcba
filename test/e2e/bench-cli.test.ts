import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, requireBuild, spawnNode } from "../support/cli.js";
import { testRedisUrl } from "../support/redis.js";

/** A small run of the benchmark: it must finish, complete every package and report every field. */
describe("ingest-worker bench", () => {
  beforeAll(() => requireBuild());

  it("measures a small chain against the ceiling and prints the JSON report last", async () => {
    const results = await mkdtemp(join(tmpdir(), "bench-results-"));
    const run = spawnNode(
      [CLI, "bench", "--count", "40", "--in-flight", "40", "--json", "--results", results],
      {
        REDIS_URL: testRedisUrl(),
      },
    );
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    const lines = run.output().trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown> & {
      chain: { completed: number; packages: number };
    };
    expect(report.chain).toMatchObject({ packages: 40, completed: 40 });
    for (const field of [
      "ratio",
      "upstreamPerPackage",
      "upstreamMinimum",
      "p99PushMs",
      "redisCommandsPerPackage",
      "inFlightBytesPerPackage",
      "rate",
      "offeredPerSecond",
    ])
      expect(report[field], field).toBeDefined();
    expect(report.upstreamPerPackage as number).toBeGreaterThanOrEqual(report.upstreamMinimum as number);
    // No --rate: the chain is offered the 500 events/s, and the sender reports what it achieved.
    expect(report.rate).toBe(500);
    expect(report.offeredPerSecond as number).toBeGreaterThan(0);
  });
});
