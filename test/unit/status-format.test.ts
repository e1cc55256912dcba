import { describe, expect, it } from "vitest";
import {
  ERROR_COLUMN_WIDTH,
  formatDetail,
  formatDuration,
  formatTable,
  truncateAtWord,
} from "../../src/cli/status-format.js";
import { toDetail, toListItem } from "../../src/ops/ingest-view.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";

const T0 = Date.parse("2026-12-03T10:00:00.000Z");

function record(overrides: Partial<IngestRecord> = {}): IngestRecord {
  return {
    id: "3d2dc1ff12b0385a794f70177a483a8e013799ee",
    route: "news",
    target: "vimond",
    bucket: "media-in",
    key: "news/show-1/manifest.json",
    version: "fffa3cd3",
    state: "completed",
    createdAt: T0,
    updatedAt: T0 + 77_750,
    finishedAt: T0 + 77_750,
    eventAt: T0 - 12,
    upstream: {},
    // What the steps really store: epoch milliseconds, most steps well under a second.
    steps: {
      "source-watch": { status: "done", startedAt: T0 + 1, endedAt: T0 + 57, detail: "package show-1" },
      "atom-push": { status: "done", startedAt: T0 + 185, endedAt: T0 + 234, detail: "import job 1000" },
      "job-poll": { status: "done", startedAt: T0 + 240, endedAt: T0 + 2_720 },
      "status-track": { status: "done", startedAt: T0 + 2_750, endedAt: T0 + 77_750 },
    },
    attempts: {},
    branches: {},
    labels: {},
    ...overrides,
  };
}

describe("status formatting", () => {
  it("formats durations from milliseconds instead of rounding them to 0s", () => {
    expect(formatDuration(0)).toBe("0ms");
    expect(formatDuration(56)).toBe("56ms");
    expect(formatDuration(999)).toBe("999ms");
    expect(formatDuration(1_000)).toBe("1.0s");
    expect(formatDuration(2_480)).toBe("2.5s");
    expect(formatDuration(9_949)).toBe("9.9s");
    expect(formatDuration(9_950)).toBe("10s");
    expect(formatDuration(59_400)).toBe("59s");
    expect(formatDuration(75_000)).toBe("1m15s");
    expect(formatDuration(3 * 3600_000 + 5 * 60_000)).toBe("3h05m");
  });

  it("shows each step's own duration in the detail view", () => {
    const text = formatDetail(toDetail(record(), [], T0 + 90_000));
    expect(text).toMatch(/^ {2}source-watch\s+TASK_COMPLETED\s+56ms {2}package show-1$/m);
    expect(text).toMatch(/^ {2}atom-push\s+TASK_COMPLETED\s+49ms/m);
    expect(text).toMatch(/^ {2}job-poll\s+TASK_COMPLETED\s+2\.5s$/m);
    expect(text).toMatch(/^ {2}status-track\s+TASK_COMPLETED\s+1m15s$/m);
    expect(text).toContain("(1m18s)");
  });

  it("stops a step left open at the moment its ingest ended", () => {
    const failed = record({
      state: "failed",
      finishedAt: T0 + 4_000,
      lastError: "cancelled",
      steps: { "job-poll": { status: "waiting", startedAt: T0 + 1_000 } },
    });
    const detail = toDetail(failed, [], T0 + 3_600_000);
    expect(detail.tasks[0]?.elapsedTime).toBe(3_000);
  });

  it("cuts a long error at a word boundary with an ellipsis, never mid-word", () => {
    const error =
      "stuck: import job 1000 not settled after 21600 s (state RUNNING); aborted and the video ingest cancelled";
    const cut = truncateAtWord(error, ERROR_COLUMN_WIDTH);
    expect(cut.length).toBeLessThanOrEqual(ERROR_COLUMN_WIDTH);
    expect(cut).toBe("stuck: import job 1000 not settled after 21600 s (state…");
    expect(error.startsWith(cut.slice(0, -1))).toBe(true);
    // The character after the cut in the original is a word boundary.
    expect(error[cut.length - 1]).toBe(" ");
    expect(truncateAtWord("short error", 60)).toBe("short error");
    expect(truncateAtWord("a\nmulti-line\n  error", 60)).toBe("a multi-line error");
    expect(truncateAtWord(`${"x".repeat(80)} tail`, 20)).toBe(`${"x".repeat(19)}…`);
  });

  it("lays the table out with real elapsed times and a word-cut error column", () => {
    const failed = record({
      id: "62be5a591468319d35b9bc58994e689cefa590cf",
      state: "failed",
      finishedAt: T0 + 340,
      lastError:
        "AEM import failed for demo-00003-video.mp4: the source URL answered 403 Forbidden (presigned URL expired?)",
    });
    const table = formatTable([toListItem(record(), T0 + 5_000), toListItem(failed, T0 + 5_000)]);
    const [header, ok, bad] = table.trimEnd().split("\n");
    expect(header).toMatch(/^INGEST ID\s+STATUS\s+TARGET\s+ROUTE\s+STARTED\s+ELAPSED\s+OBJECT\s+ERROR$/);
    expect(ok).toMatch(
      /COMPLETED\s+vimond\s+news\s+2026-12-03 10:00:00Z\s+1m18s\s+s3:\/\/media-in\/news\/show-1\/manifest\.json$/,
    );
    expect(bad).toContain("  340ms  ");
    const errorCell = bad!.slice(header!.indexOf("ERROR"));
    expect(errorCell).toBe("AEM import failed for demo-00003-video.mp4: the source URL…");
    expect(errorCell.length).toBeLessThanOrEqual(ERROR_COLUMN_WIDTH);
  });
});
