import { describe, expect, it } from "vitest";
import type { ImportTask } from "../../src/adapters/ais/ais-adapter.js";
import {
  normalizeTask,
  TASK_FIELD_CANDIDATES,
  UNKNOWN_TASK_TYPE,
} from "../../src/adapters/ais/task-normalizer.js";
import { upstreamUnknownStates } from "../../src/metrics/upstream-metrics.js";
import { placeTasks } from "../../src/processors/vimond/task-placement.js";
import type { IngestPackage } from "../../src/records/ingest-record.js";

function read(raw: unknown, jobId = "900"): ImportTask {
  const result = normalizeTask(raw, jobId);
  if (!result.ok) throw new Error(`unreadable: ${result.unreadable.reason}`);
  return result.task;
}

const UPDATED = "2024-06-01T00:00:00.000Z";

describe("normalizeTask", () => {
  it("reads the simulator's default shape", () => {
    const task = read({
      id: 50_001,
      jobId: 1000,
      mediaFeedId: 1,
      assetId: 870_000,
      entryId: "urn:e1",
      entryUpdated: UPDATED,
      type: "VIDEO",
      state: "FAILED",
      attempts: 2,
      created: "2024-06-01T00:00:05.000Z",
      errorCode: "TRANSIENT_ERROR",
      errorMessage: "timed out",
      retryable: true,
    });
    expect(task).toMatchObject({
      id: "50001",
      jobId: "1000",
      assetId: "870000",
      entryId: "urn:e1",
      entryUpdated: UPDATED,
      type: "VIDEO",
      state: "failed",
      rawState: "FAILED",
      attempts: 2,
      createdAt: Date.parse("2024-06-01T00:00:05.000Z"),
      errorCode: "TRANSIENT_ERROR",
      errorMessage: "timed out",
      retryable: true,
    });
  });

  it("matches field names without regard to case, _ or -", () => {
    const task = read({
      TASK_ID: "t-1",
      Status: "done",
      entry_id: "urn:e2",
      "entry-updated": UPDATED,
      ASSET_ID: 7,
      task_type: "video",
    });
    expect(task).toMatchObject({
      id: "t-1",
      jobId: "900",
      state: "done",
      entryId: "urn:e2",
      entryUpdated: UPDATED,
      assetId: "7",
      type: "VIDEO",
      rawType: "video",
    });
  });

  it("reads nested shapes and the other candidate names", () => {
    const task = read({
      uuid: "a1b2",
      taskStatus: "Completed",
      entry: { id: "urn:e3", updated: UPDATED },
      asset: { id: 42 },
      kind: "media-import",
      error: { code: "E1", message: "broken" },
      createdAt: Date.parse(UPDATED),
      job: { id: 77 },
    });
    expect(task).toMatchObject({
      id: "a1b2",
      jobId: "77",
      state: "done",
      entryId: "urn:e3",
      entryUpdated: UPDATED,
      assetId: "42",
      type: "VIDEO",
      errorCode: "E1",
      errorMessage: "broken",
      createdAt: Date.parse(UPDATED),
    });
    expect(read({ id: 1, state: "DONE", vimondAssetId: "9", externalId: "urn:x" })).toMatchObject({
      assetId: "9",
      entryId: "urn:x",
    });
    expect(read({ id: 1, state: "DONE", guid: "urn:g", error: "plain text" })).toMatchObject({
      entryId: "urn:g",
      errorMessage: "plain text",
    });
    // An epoch `<updated>` compares by instant, so it becomes ISO 8601.
    expect(read({ id: 1, state: "DONE", entryUpdated: Date.parse(UPDATED) }).entryUpdated).toBe(UPDATED);
  });

  it("prefers the first candidate, and never takes a bare `updated` for the entry's", () => {
    const task = read({ id: 1, state: "DONE", entryId: "urn:a", sourceId: "urn:b", updated: UPDATED });
    expect(task.entryId).toBe("urn:a");
    expect(task.entryUpdated).toBeUndefined();
  });

  it("keeps a task without entry, asset or type, and an unknown type name as sent", async () => {
    const bare = read({ id: 3, state: "RUNNING" });
    expect(bare).toMatchObject({ id: "3", state: "running", type: UNKNOWN_TASK_TYPE });
    expect(bare.entryId).toBeUndefined();
    expect(bare.assetId).toBeUndefined();
    const odd = read({ id: 4, state: "DONE", type: "subtitles" });
    expect(odd.type).toBe("SUBTITLES");
    const counted = (await upstreamUnknownStates.get()).values.find(
      (v) => v.labels.field === "task.type" && v.labels.value === "SUBTITLES",
    );
    expect(counted?.value).toBeGreaterThanOrEqual(1);
  });

  it("reports what it cannot read, with field names and no values", () => {
    expect(normalizeTask({ state: "DONE", entryId: "secret-looking" }, "1")).toEqual({
      ok: false,
      unreadable: {
        reason: "no_id",
        keys: ["state", "entryId"],
        raw: { state: "DONE", entryId: "secret-looking" },
      },
    });
    expect(normalizeTask({ id: 1, phase: "DONE" }, "1")).toMatchObject({
      ok: false,
      unreadable: { reason: "no_state", keys: ["id", "phase"] },
    });
    expect(normalizeTask(null, "1")).toMatchObject({ ok: false, unreadable: { reason: "not_an_object" } });
    expect(normalizeTask([1], "1")).toMatchObject({ ok: false, unreadable: { reason: "not_an_object" } });
    // An object where an id should be is no id.
    expect(normalizeTask({ id: { value: 1 }, state: "DONE" }, "1")).toMatchObject({ ok: false });
  });

  it("lists every field the chain reads, each with candidates", () => {
    for (const [field, names] of Object.entries(TASK_FIELD_CANDIDATES)) {
      expect(names.length, field).toBeGreaterThan(0);
      expect(new Set(names).size, field).toBe(names.length);
    }
  });
});

function pkg(entryId: string): IngestPackage {
  return {
    entryId,
    title: entryId,
    categories: [],
    metadata: {},
    updated: UPDATED,
    images: [],
    tombstone: false,
  };
}

describe("placeTasks", () => {
  const a = { id: "ing-a", pkg: pkg("urn:a") };
  const b = { id: "ing-b", pkg: pkg("urn:b") };

  it("places tasks by entry id and version", () => {
    const tasks = [
      read({ id: 1, state: "DONE", entryId: "urn:a", entryUpdated: UPDATED }),
      read({ id: 2, state: "DONE", entryId: "urn:b" }),
      read({ id: 3, state: "DONE", entryId: "urn:a", entryUpdated: "2020-01-01T00:00:00Z" }),
    ];
    const placement = placeTasks(2, [a, b], tasks);
    expect(placement.byIngest.get("ing-a")?.map((t) => t.id)).toEqual(["1"]);
    expect(placement.byIngest.get("ing-b")?.map((t) => t.id)).toEqual(["2"]);
    expect(placement.unmatched.map((t) => t.id)).toEqual(["3"]);
    expect(placement.byElimination).toBeUndefined();
  });

  it("gives a one-entry job's tasks to its ingest when none names the entry", () => {
    const tasks = [read({ id: 1, state: "DONE" }), read({ id: 2, state: "DONE", entryId: "urn:other" })];
    const placement = placeTasks(1, [a], tasks);
    expect(placement.byElimination).toBe("ing-a");
    expect(placement.byIngest.get("ing-a")?.map((t) => t.id)).toEqual(["1", "2"]);
    expect(placement.noEntry.map((t) => t.id)).toEqual(["1"]);
  });

  it("guesses nothing for two or more ingests, or when the poll's other ingest has no package", () => {
    const tasks = [read({ id: 1, state: "DONE" }), read({ id: 2, state: "DONE" })];
    const two = placeTasks(2, [a, b], tasks);
    expect(two.byIngest.size).toBe(0);
    expect(two.noEntry).toHaveLength(2);
    expect(placeTasks(2, [a], tasks).byIngest.size).toBe(0);
  });

  it("does not guess for a poll narrowed to one ingest of a job naming two entries", () => {
    const tasks = [
      read({ id: 1, state: "DONE", entryId: "urn:finished-earlier" }),
      read({ id: 2, state: "DONE", entryId: "urn:a-as-ais-rewrote-it" }),
    ];
    const placement = placeTasks(1, [a], tasks);
    expect(placement.byElimination).toBeUndefined();
    expect(placement.byIngest.size).toBe(0);
    expect(placement.unmatched).toHaveLength(2);
  });

  it("does not guess for an ingest whose tasks name its entry", () => {
    const tasks = [read({ id: 1, state: "DONE", entryId: "urn:a" }), read({ id: 2, state: "DONE" })];
    const placement = placeTasks(1, [a], tasks);
    expect(placement.byElimination).toBeUndefined();
    expect(placement.byIngest.get("ing-a")?.map((t) => t.id)).toEqual(["1"]);
    expect(placement.noEntry.map((t) => t.id)).toEqual(["2"]);
  });
});
