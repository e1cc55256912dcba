import { describe, expect, it } from "vitest";
import { fewestPushes } from "../../src/bench/fewest-pushes.js";

describe("fewestPushes", () => {
  it("fills pushes to the entry limit when the entries may wait for all to arrive", () => {
    expect(fewestPushes(Array(120).fill(1000), 50, 50)).toBe(3);
    const burst = Array.from({ length: 500 }, (_, i) => i * 2); // sent over 1 s, waited seconds
    expect(fewestPushes(burst, 5000, 50)).toBe(10);
  });

  it("opens a push per wait for events spread wider than it", () => {
    // 50 events/s for 2 s, 50 ms waits: events 20 ms apart, so three share a push (0, 20, 40).
    const times = Array.from({ length: 100 }, (_, i) => i * 20);
    expect(fewestPushes(times, 50, 50)).toBe(34);
    // A longer wait lets more share one: 0..100 ms, six each.
    expect(fewestPushes(times, 100, 50)).toBe(17);
  });

  it("starts each push at the earliest event left, in any input order", () => {
    // Sorted: [0, 49], [60, 110], [111], [200]; 111 is more than 50 ms after 60.
    expect(fewestPushes([0, 60, 49, 200, 110, 111], 50, 50)).toBe(4);
  });

  it("caps a push at the entry limit", () => {
    expect(fewestPushes([0, 1, 2, 3, 4], 50, 2)).toBe(3);
  });

  it("needs no push for no events", () => {
    expect(fewestPushes([], 50, 50)).toBe(0);
  });
});
