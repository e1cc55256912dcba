import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingestsFinished } from "../../src/metrics/ingest-metrics.js";
import { RecordStore } from "../../src/records/record-store.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

describe("RecordStore on real Redis", () => {
  const prefix = uniquePrefix("records");
  let redis: Redis;
  let store: RecordStore;
  const ended: IngestRecord[] = [];

  beforeAll(() => {
    redis = new Redis(testRedisUrl());
    store = new RecordStore(redis, prefix);
    store.onTerminal((record) => {
      ended.push(record);
    });
  });
  afterAll(async () => {
    await redis.quit();
    await cleanupPrefix(prefix);
  });

  const base = { route: "news", target: "vimond" as const, bucket: "b", version: "e1", eventAt: 1 };

  it("creates a record once; a redelivered event finds it", async () => {
    expect(await store.create({ ...base, id: "r1", key: "a/manifest.json" })).toBe(true);
    expect(await store.create({ ...base, id: "r1", key: "a/manifest.json" })).toBe(false);
    const record = await store.get("r1");
    expect(record).toMatchObject({ id: "r1", state: "received", route: "news", bucket: "b" });
    expect((await store.history("r1"))[0]?.message).toContain("received s3://b/a/manifest.json");
  });

  it("keeps terminal states final and fires the terminal listener exactly once", async () => {
    await store.create({ ...base, id: "r2", key: "k2" });
    const before =
      (await ingestsFinished.get()).values.find((v) => v.labels.outcome === "failed")?.value ?? 0;
    expect(await store.transition("r2", "importing")).toBe(true);
    expect(await store.fail("r2", "boom")).toBe(true);
    expect(await store.fail("r2", "again")).toBe(false);
    expect(await store.transition("r2", "completed")).toBe(false);
    const record = await store.get("r2");
    expect(record).toMatchObject({ state: "failed", lastError: "boom" });
    expect(record?.finishedAt).toBeGreaterThan(0);
    expect(ended.filter((r) => r.id === "r2")).toHaveLength(1);
    const after = (await ingestsFinished.get()).values.find((v) => v.labels.outcome === "failed")?.value ?? 0;
    expect(after - before).toBe(1);
  });

  it("ends an ingest when its last branch reports, failed if any branch failed, once per branch", async () => {
    await store.create({ ...base, id: "r3", key: "k3" });
    await store.startBranches("r3", ["status-track", "image-fetch"]);
    await store.startBranches("r3", ["status-track"]); // idempotent
    expect(
      await store.finishBranch("r3", "image-fetch", { ok: false, reason: "poster: not an image" }),
    ).toBeUndefined();
    expect(await store.finishBranch("r3", "image-fetch", { ok: true })).toBeUndefined(); // a retried report is ignored
    expect(await store.finishBranch("r3", "status-track", { ok: true })).toBe("failed");
    const record = await store.get("r3");
    expect(record?.state).toBe("failed");
    expect(record?.lastError).toContain("poster: not an image");

    await store.create({ ...base, id: "r4", key: "k4" });
    await store.startBranches("r4", ["status-track"]);
    expect(await store.finishBranch("r4", "status-track", { ok: true })).toBe("completed");
  });

  it("lists newest first with filters and a cursor that neither repeats nor skips", async () => {
    for (let i = 0; i < 7; i++)
      await store.create({ ...base, id: `p${i}`, key: `p${i}`, route: i % 2 ? "odd" : "even" });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 3, route: "even", ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(["p6", "p4", "p2", "p0"]);
    const failed = await store.list({ limit: 10, status: "failed" });
    expect(failed.items.map((r) => r.id).sort()).toEqual(["r2", "r3"]);
  });

  it("points a package at its newest ingest", async () => {
    expect(await store.swapCurrent("pkg", "v1")).toBeUndefined();
    expect(await store.swapCurrent("pkg", "v2")).toBe("v1");
    expect(await store.current("pkg")).toBe("v2");
  });

  it("applies a step's writes in one update: fields, upstream ids, timing, branches, history, transition", async () => {
    await store.create({ ...base, id: "u1", key: "u1" });
    const moved = await store.update("u1", {
      fields: { pushedAt: "42" },
      upstream: { assetId: "a-1", importJobId: "j-1" },
      step: { name: "job-poll", timing: { status: "done", startedAt: 1, endedAt: 2 } },
      branches: ["status-track", "image-fetch"],
      history: [{ step: "job-poll", message: "asset a-1" }],
      transition: { to: "processing", from: ["received"] },
    });
    expect(moved).toBe(true);
    const record = await store.get("u1");
    expect(record).toMatchObject({
      state: "processing",
      pushedAt: 42,
      upstream: { assetId: "a-1", importJobId: "j-1" },
      steps: { "job-poll": { status: "done", startedAt: 1, endedAt: 2 } },
      branches: { "status-track": "pending", "image-fetch": "pending" },
    });
    // The transition's line comes before the step's own lines.
    expect((await store.history("u1")).map((h) => h.message)).toEqual([
      "received s3://b/u1 (e1)",
      "processing",
      "asset a-1",
    ]);
    // Branches are declared once.
    await store.update("u1", { branches: ["status-track"] });
    expect(await redis.hget(store.key("u1"), "pending")).toBe("2");
  });

  it("writes a refused transition's fields and lines but not its state or its line", async () => {
    await store.create({ ...base, id: "u2", key: "u2" });
    const moved = await store.update("u2", {
      fields: { note: "x" },
      history: [{ step: "atom-push", message: "tried" }],
      transition: { to: "pushing", from: ["queued"] },
    });
    expect(moved).toBe(false);
    expect(await store.get("u2")).toMatchObject({ state: "received" });
    expect(await redis.hget(store.key("u2"), "note")).toBe("x");
    expect((await store.history("u2")).map((h) => h.message)).toEqual(["received s3://b/u2 (e1)", "tried"]);
  });

  it("leaves a missing record alone instead of creating a partial one", async () => {
    expect(await store.update("ghost", { fields: { a: "b" }, history: [{ step: "s", message: "m" }] })).toBe(
      false,
    );
    expect(await redis.exists(store.key("ghost"), `${store.key("ghost")}:history`)).toBe(0);
  });

  it("updates and reads many records in one pipeline, each on its own terms", async () => {
    await store.create({ ...base, id: "m1", key: "m1" });
    await store.create({ ...base, id: "m2", key: "m2" });
    await store.fail("m2", "gone wrong");
    const moved = await store.updateMany([
      ["m1", { transition: { to: "cancelled" }, upstream: { mediaFeedId: "7" } }],
      ["m2", { transition: { to: "importing" } }],
      ["nope", { transition: { to: "importing" } }],
    ]);
    expect(moved).toEqual([true, false, false]);
    // A terminal state reached through updateMany fires the listener like any other.
    expect(ended.filter((r) => r.id === "m1").map((r) => r.state)).toEqual(["cancelled"]);
    const [m1, nope, m2] = await store.getMany(["m1", "nope", "m2"]);
    expect(m1).toMatchObject({ state: "cancelled", upstream: { mediaFeedId: "7" } });
    expect(nope).toBeUndefined();
    expect(m2).toMatchObject({ state: "failed", lastError: "gone wrong" });
  });

  it("writes a branch's timing and upstream ids with its result, and the final history line", async () => {
    await store.create({ ...base, id: "b1", key: "b1" });
    await store.startBranches("b1", ["image-fetch"]);
    const timing = { status: "done" as const, startedAt: 5, endedAt: 6, detail: "pack p" };
    expect(
      await store.finishBranch("b1", "image-fetch", { ok: true }, { timing, upstream: { imagePackId: "p" } }),
    ).toBe("completed");
    expect(await store.get("b1")).toMatchObject({
      steps: { "image-fetch": timing },
      upstream: { imagePackId: "p" },
    });
    expect((await store.history("b1")).at(-1)).toMatchObject({
      step: "image-fetch",
      message: "ingest completed",
    });
  });

  it("keeps the history capped at its newest 50 lines", async () => {
    await store.create({ ...base, id: "h1", key: "h1" });
    for (let i = 0; i < 6; i++)
      await store.update("h1", {
        history: Array.from({ length: 10 }, (_, k) => ({ step: "s", message: `${i}.${k}` })),
      });
    const history = await store.history("h1");
    expect(history).toHaveLength(50);
    expect(history.at(-1)?.message).toBe("5.9");
    expect(history[0]?.message).toBe("1.0"); // "received" and 0.0–0.9 dropped
  });

  it("re-opens only a record in one of the allowed states, clearing the previous run", async () => {
    await store.create({ ...base, id: "o1", key: "o1" });
    await store.update("o1", { upstream: { assetId: "a" }, transition: { to: "failed", error: "x" } });
    expect(await store.reopen("o1", ["completed"])).toEqual({ ok: false, state: "failed" });
    expect(await store.reopen("o1", ["failed", "cancelled"])).toEqual({ ok: true, retry: 1 });
    const record = await store.get("o1");
    expect(record).toMatchObject({ state: "received", upstream: {} });
    expect(record?.lastError).toBeUndefined();
    expect(await store.reopen("missing", ["failed"])).toEqual({ ok: false });
  });
});
