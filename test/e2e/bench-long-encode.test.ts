import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { ModeResult, Window } from "../../src/bench/long-encode.js";
import { CLI, requireBuild, spawnNode } from "../support/cli.js";
import { testRedisUrl } from "../support/redis.js";

/** A mode's figures as the JSON carries them: a NaN (not measured in this mode) prints as null. */
type Mode = Omit<ModeResult, "atConfiguredInterval"> & { atConfiguredInterval: number | null };
interface Report {
  longEncode: {
    speed: number;
    encodeMinutes: number;
    workerTimersMs: Record<string, number>;
    perIngest: Mode & { extrapolated: { inFlight: number; requestsPerSecond: number } };
    sweeps: Mode;
    sweepsVsPerIngest: number;
    goal: { value: number; atConfiguredInterval: number; target: string; met: boolean | null };
  };
}

/**
 * A quick long-encode run through the CLI (40 in flight, time scaled by 100): the JSON has every
 * figure, the figures add up, and sweeps cost fewer status requests than per-ingest polling.
 * Relations only: no speed is asserted.
 */
describe("ingest-worker bench --long-encode", () => {
  beforeAll(() => requireBuild());

  it("runs per-ingest polling, then sweeps, and reports status requests per in-flight ingest per minute", async () => {
    const results = await mkdtemp(join(tmpdir(), "bench-long-"));
    const run = spawnNode([CLI, "bench", "--long-encode", "--quick", "--json", "--results", results], {
      REDIS_URL: testRedisUrl(),
    });
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    const lines = run.output().trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1]!) as Report;
    const { perIngest, sweeps, goal } = report.longEncode;

    // The worker's timers are the defaults divided by the simulator's speed.
    expect(report.longEncode.speed).toBe(100);
    expect(report.longEncode.workerTimersMs).toEqual({
      POLL_INITIAL_DELAY_MS: 20,
      POLL_MAX_DELAY_MS: 600,
      STATUS_SWEEP_INTERVAL_MS: 300,
      STATUS_SWEEP_FALLBACK_MS: 1500,
    });
    expect(perIngest.mode).toBe("perIngest");
    expect(sweeps.mode).toBe("sweeps");
    for (const r of [perIngest, sweeps]) {
      expect(r).toMatchObject({ packages: 40, finished: 40, completed: 40 });
      const status = Object.entries(r.upstreamRequests)
        .filter(([op]) => op.startsWith("status."))
        .reduce((n, [, v]) => n + v, 0);
      const all = Object.values(r.upstreamRequests).reduce((n, v) => n + v, 0);
      expect(r.statusRequests).toBe(status);
      expect(r.statusPerPackage).toBeCloseTo(status / r.packages, 3);
      expect(r.upstreamPerPackage).toBeCloseTo(all / r.packages, 3);
      expect(r.upstreamPerPackage).toBeGreaterThanOrEqual(r.upstreamMinimum);
      expect(r.rateLimited).toBeGreaterThanOrEqual(0);
      // The headline is the plateau's figure when all 40 ran at once, else the whole run's.
      const headline = r.measuredOver === "plateau" ? r.plateau : r.wholeRun;
      expect(headline).not.toBeNull();
      expect(r.statusPerIngestPerMinute).toBe(headline!.perIngestPerMinute);
      for (const w of [r.plateau, r.wholeRun].filter((w): w is Window => w !== null)) {
        expect(w.statusRequests).toBeLessThanOrEqual(r.statusRequests);
        expect(w.simulatedMinutes).toBeGreaterThan(0);
        expect(w.perIngestPerMinute).toBeCloseTo(w.statusRequests / w.ingestMinutes, 2);
      }
    }
    // Per-ingest polling reads every package's status itself, at least once; sweeps share pages.
    expect(perIngest.statusPerPackage).toBeGreaterThanOrEqual(1);
    expect(sweeps.statusRequests).toBeLessThan(perIngest.statusRequests);
    expect(sweeps.statusPerIngestPerMinute).toBeLessThan(perIngest.statusPerIngestPerMinute);
    expect(sweeps.upstreamPerPackage).toBeLessThan(perIngest.upstreamPerPackage);
    // The minimum counts one status read per package polling, one page for all 40 with sweeps.
    expect(perIngest.upstreamMinimum).toBeCloseTo((40 * 5 + 3) / 40, 3);
    expect(sweeps.upstreamMinimum).toBeCloseTo((40 * 4 + 3 + 1) / 40, 3);
    // Sweeps also report what their pages would cost at one sweep per interval (NaN, so null, else).
    expect(perIngest.atConfiguredInterval).toBeNull();
    expect(sweeps.atConfiguredInterval).toBeGreaterThan(0);
    expect(goal.atConfiguredInterval).toBe(sweeps.atConfiguredInterval);
    // Design figures: 1 / (0.75 × 60 s cap) per minute polling; one page per 30 s sweep for 40.
    expect(perIngest.expectedPerIngestPerMinute).toBeCloseTo(4 / 3, 3);
    expect(sweeps.expectedPerIngestPerMinute).toBeCloseTo(2 / 40, 3);
    expect(report.longEncode.sweepsVsPerIngest).toBeCloseTo(
      sweeps.statusPerIngestPerMinute / perIngest.statusPerIngestPerMinute,
      3,
    );
    expect(perIngest.extrapolated.inFlight).toBe(40);
    expect(perIngest.extrapolated.requestsPerSecond).toBeCloseTo(
      (perIngest.statusPerIngestPerMinute * 40) / 60,
      1,
    );
    // The goal is stated at 10,000 in flight: a run of 40 reports it without judging it.
    expect(goal.value).toBe(sweeps.statusPerIngestPerMinute);
    expect(goal.met).toBeNull();

    const files = (await readdir(results)).filter((f) => f.endsWith("-long-encode.json"));
    expect(files).toHaveLength(1);
    const written = JSON.parse(await readFile(join(results, files[0]!), "utf8")) as Report;
    expect(written.longEncode.sweeps.statusRequests).toBe(sweeps.statusRequests);
  });

  it("refuses a speed that would divide a worker timer below its minimum, with exit code 2", async () => {
    const run = spawnNode([CLI, "bench", "--long-encode", "--speed", "300"], {});
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(
      "POLL_INITIAL_DELAY_MS 2000 / 300 = 7 ms is below what the worker accepts",
    );
  });
});
