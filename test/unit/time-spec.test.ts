import { describe, expect, it } from "vitest";
import { parseTimeSpec } from "../../src/ops/time-spec.js";

const NOW = Date.parse("2026-12-03T12:00:00.000Z");

describe("parseTimeSpec (--since, --until, the bulk retry's since)", () => {
  it("reads a duration back from now", () => {
    expect(parseTimeSpec("30s", NOW)).toBe(NOW - 30_000);
    expect(parseTimeSpec("30m", NOW)).toBe(NOW - 30 * 60_000);
    expect(parseTimeSpec("2h", NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseTimeSpec("1d", NOW)).toBe(NOW - 86_400_000);
    expect(parseTimeSpec("1w", NOW)).toBe(NOW - 7 * 86_400_000);
  });

  it("reads ISO 8601 times (with an offset, Z, or a date alone) and epoch milliseconds", () => {
    expect(parseTimeSpec("2026-12-03T10:00:00Z", NOW)).toBe(Date.parse("2026-12-03T10:00:00Z"));
    expect(parseTimeSpec("2026-12-03T11:00:00+01:00", NOW)).toBe(Date.parse("2026-12-03T10:00:00Z"));
    expect(parseTimeSpec("2026-12-03T10:00:00.250Z", NOW)).toBe(Date.parse("2026-12-03T10:00:00.250Z"));
    expect(parseTimeSpec("2026-12-01", NOW)).toBe(Date.parse("2026-12-01"));
    expect(parseTimeSpec("1764756000000", NOW)).toBe(1764756000000);
  });

  it("refuses what only Date.parse would take, compound durations and nonsense", () => {
    for (const text of ["yesterday", "Tuesday", "1/2/2026", "2h30m", "-2h", "2 h", "2y", "", "2026-13-45"])
      expect(parseTimeSpec(text, NOW), text).toBeUndefined();
  });
});
