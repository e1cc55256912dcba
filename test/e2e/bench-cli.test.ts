import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI, requireBuild, spawnNode } from "../support/cli.js";
import { testRedisUrl } from "../support/redis.js";

interface Run {
  packages: number;
  completed: number;
  perSecond: number;
  keepsUpWithRate: boolean;
  upstreamPerPackage: number;
  notificationsPerPackage: number;
  redisCommandsPerPackage: number;
  cpuMsPerPackage: { worker: number; workerProcesses: number[] };
}
interface Scale {
  workers: number;
  perSecond: number;
  redisCommandsPerPackage: number;
  workerCpuMsPerPackage: number;
}

/**
 * A small run of the benchmark: it must finish, complete every package in the chain, the
 * same-work reference and the two-worker run, and report every field. Relations, not speeds.
 */
describe("ingest-worker bench", () => {
  beforeAll(() => requireBuild());

  it("measures a small chain against the ceiling and the reference and prints the JSON report last", async () => {
    const results = await mkdtemp(join(tmpdir(), "bench-results-"));
    const run = spawnNode(
      [
        CLI,
        "bench",
        "--count",
        "40",
        "--in-flight",
        "40",
        "--warmup",
        "10",
        "--ceiling-items",
        "200",
        "--latency-count",
        "20",
        "--json",
        "--results",
        results,
      ],
      {
        REDIS_URL: testRedisUrl(),
      },
    );
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    const lines = run.output().trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown> & {
      chain: Run;
      reference: Run;
      scaleOut: { workers1: Scale; workers2: Scale & { run: Run } };
    };
    expect(report.chain).toMatchObject({ packages: 40, completed: 40 });
    expect(report.reference).toMatchObject({ packages: 40, completed: 40 });
    expect(report.scaleOut.workers2.run).toMatchObject({ packages: 40, completed: 40 });
    // Completions come from the notifications: one per package (more only if one was redelivered).
    for (const run of [report.chain, report.reference, report.scaleOut.workers2.run])
      expect(run.notificationsPerPackage).toBeGreaterThanOrEqual(1);
    for (const field of ["refRatio", "refCpuRatio", "redisPerPackage"]) {
      expect(Number.isFinite(report[field]), field).toBe(true);
      expect(report[field] as number, field).toBeGreaterThan(0);
    }
    expect(report.refRatio).toBeCloseTo(report.chain.perSecond / report.reference.perSecond, 6);
    expect(report.refCpuRatio).toBeCloseTo(
      report.chain.cpuMsPerPackage.worker / report.reference.cpuMsPerPackage.worker,
      6,
    );
    expect(report.redisPerPackage).toBe(report.chain.redisCommandsPerPackage);
    // The reference does the same upstream work: never less than the scenario's minimum.
    expect(report.reference.upstreamPerPackage).toBeGreaterThanOrEqual(report.upstreamMinimum as number);
    expect(report.scaleOut.workers1.workers).toBe(1);
    expect(report.scaleOut.workers2.workers).toBe(2);
    expect(report.scaleOut.workers2.run.cpuMsPerPackage.workerProcesses).toHaveLength(2);
    for (const row of [report.scaleOut.workers1, report.scaleOut.workers2]) {
      expect(row.redisCommandsPerPackage).toBeGreaterThan(0);
      expect(row.workerCpuMsPerPackage).toBeGreaterThan(0);
      expect(Number.isFinite(row.perSecond)).toBe(true);
    }
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
    // A chain behind 500/s gets a latency run of its own at 50/s, where the push p99 goal is judged.
    const latency = report.latency as (Run & { rate: number; p99PushMs: number }) | undefined;
    const goals = report.goals as Record<string, { value: number }>;
    if (report.chain.keepsUpWithRate) {
      expect(latency).toBeUndefined();
      expect(goals.p99PushMs!.value).toBe(report.p99PushMs);
    } else {
      expect(latency).toMatchObject({ rate: 50, packages: 20, completed: 20 });
      expect(goals.p99PushMs!.value).toBe(latency!.p99PushMs);
    }
    // No --rate: the chain is offered the 500 events/s, and the sender reports what it achieved.
    expect(report.rate).toBe(500);
    expect(report.offeredPerSecond as number).toBeGreaterThan(0);
  });
});
