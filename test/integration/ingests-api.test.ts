import { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PartitionSet } from "../../src/ops/partition-set.js";
import { registerIngestRoutes } from "../../src/http/ingests-routes.js";
import { buildHttpServer } from "../../src/http/server.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { sourceWatchPayload } from "../../src/queues/payloads.js";
import { TARGETS } from "../../src/records/ingest-record.js";
import { RecordStore } from "../../src/records/record-store.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const TOKEN = "test-api-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const T0 = Date.parse("2024-05-01T12:00:00.000Z");
/** Every field an item of VIA's `GET /ingests` carries. */
const VIA_ITEM_FIELDS = [
  "ingestId",
  "assetId",
  "detailsUrl",
  "profileName",
  "error",
  "mediaTypes",
  "progress",
  "startTime",
  "endTime",
  "status",
  "elapsedTime",
];

interface ListBody {
  items: Array<{ ingestId: string } & Record<string, unknown>>;
  count: number;
  cursor: string | null;
}
interface Param {
  name: string;
  schema: Record<string, unknown>;
}

interface Harness {
  app: FastifyInstance;
  redis: Redis;
  records: RecordStore;
  queue: Queue;
  prefix: string;
  clock: { now: number };
}

/** `token: null` starts the API without API_TOKEN. */
async function startHarness(label: string, token: string | null = TOKEN): Promise<Harness> {
  const prefix = uniquePrefix(label);
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  const clock = { now: T0 };
  const records = new RecordStore(redis, prefix, () => clock.now);
  const queue = new Queue("source-watch", { connection: redis, prefix });
  // The worker's server (it serves the OpenAPI document of the routes registered on it).
  const app = await buildHttpServer({ bodyLimit: 1_048_576, readiness: { checks: async () => ({}) } });
  await registerIngestRoutes(app, {
    token: token ?? undefined,
    redis,
    partitions: new PartitionSet([{ records, sourceWatch: queue }]),
    now: () => clock.now,
  });
  await app.ready();
  return { app, redis, records, queue, prefix, clock };
}

async function stopHarness(h: Harness): Promise<void> {
  await h.app.close();
  await h.queue.close();
  await cleanupPrefix(h.prefix);
  await h.redis.quit();
}

/** A record whose id is its object's version key, as source-watch creates them. */
async function createIngest(
  h: Harness,
  n: number,
  fields: { target?: (typeof TARGETS)[number]; route?: string } = {},
): Promise<string> {
  const key = `incoming/pkg-${n}/video.mp4`;
  const eTag = `etag${n}`;
  const id = objectVersionKey({ kind: "created", bucket: "media-in", key, eTag });
  await h.records.create({
    id,
    route: fields.route ?? "main",
    target: fields.target ?? "vimond",
    bucket: "media-in",
    key,
    version: eTag,
    eventAt: h.clock.now - 50,
  });
  return id;
}

describe("ingests API: list", () => {
  let h: Harness;
  /** id → creation order; ties of three records per millisecond exercise the cursor's tie-break. */
  const created: Array<{ id: string; at: number; target: string; route: string; failed: boolean }> = [];

  beforeAll(async () => {
    h = await startHarness("api-list");
    for (let i = 0; i < 45; i++) {
      h.clock.now = T0 + Math.floor(i / 3) * 1000;
      const target = TARGETS[i % 3]!;
      const route = i % 2 === 0 ? "even" : "odd";
      const id = await createIngest(h, i, { target, route });
      const failed = i % 5 === 0;
      if (failed) await h.records.fail(id, "upstream said no");
      created.push({ id, at: h.clock.now, target, route, failed });
    }
    h.clock.now = T0 + 3_600_000;
  });
  afterAll(() => stopHarness(h));

  /** Newest first; within one millisecond the index orders members descending. */
  const expectedOrder = () =>
    [...created].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).map((c) => c.id);

  it("answers 401 without a token, with a wrong one, and names API_TOKEN when it is unset", async () => {
    expect((await h.app.inject({ url: "/v1/ingests" })).statusCode).toBe(401);
    const wrong = await h.app.inject({ url: "/v1/ingests", headers: { authorization: "Bearer nope" } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["www-authenticate"]).toBe('Bearer realm="ingest-worker"');

    const closed = await startHarness("api-closed", null);
    try {
      const res = await closed.app.inject({ url: "/v1/ingests", headers: AUTH });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toMatch(/API_TOKEN is unset/);
    } finally {
      await stopHarness(closed);
    }
  });

  it("lists newest first, 20 by default, in VIA's envelope and item fields", async () => {
    const res = await h.app.inject({ url: "/v1/ingests", headers: AUTH });
    expect(res.statusCode).toBe(200);
    const body = res.json<ListBody>();
    expect(Object.keys(body).sort()).toEqual(["count", "cursor", "items"]);
    expect(body.count).toBe(20);
    expect(typeof body.cursor).toBe("string");
    expect(body.items.map((i) => i.ingestId)).toEqual(expectedOrder().slice(0, 20));
    const first = body.items[0]!;
    for (const field of VIA_ITEM_FIELDS) expect(first).toHaveProperty(field);
    expect(first.detailsUrl).toBe(`/v1/ingests/${first.ingestId}`);
    expect(first.startTime).toBe(new Date(T0 + 14_000).toISOString());
    expect(first.elapsedTime).toBe(3_600_000 - 14_000);
  });

  it("pages through 45 records with the cursor, without duplicates or gaps", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `limit=7${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await h.app.inject({ url: `/v1/ingests?${query}`, headers: AUTH });
      expect(res.statusCode).toBe(200);
      const body = res.json<ListBody>();
      seen.push(...body.items.map((i) => i.ingestId));
      cursor = body.cursor;
      pages += 1;
    } while (cursor && pages < 20);
    expect(seen).toEqual(expectedOrder());
    expect(new Set(seen).size).toBe(45);
  });

  it("filters by status (either spelling), target, route and since", async () => {
    const ids = async (query: string) => {
      const res = await h.app.inject({ url: `/v1/ingests?limit=100&${query}`, headers: AUTH });
      expect(res.statusCode).toBe(200);
      return (res.json().items as Array<{ ingestId: string }>).map((i) => i.ingestId).sort();
    };
    const where = (keep: (c: (typeof created)[number]) => boolean) =>
      created
        .filter(keep)
        .map((c) => c.id)
        .sort();
    expect(await ids("status=failed")).toEqual(where((c) => c.failed));
    expect(await ids("status=FAILED")).toEqual(where((c) => c.failed));
    expect(await ids("status=received")).toEqual(where((c) => !c.failed));
    expect(await ids("target=aem")).toEqual(where((c) => c.target === "aem"));
    expect(await ids("route=odd&status=failed")).toEqual(where((c) => c.route === "odd" && c.failed));
    expect(await ids(`since=${T0 + 10_000}`)).toEqual(where((c) => c.at >= T0 + 10_000));
    expect(await ids(`since=${new Date(T0 + 10_000).toISOString()}`)).toEqual(
      where((c) => c.at >= T0 + 10_000),
    );
    const failed = await h.app.inject({ url: "/v1/ingests?status=failed&limit=1", headers: AUTH });
    expect(failed.json().items[0]).toMatchObject({
      status: "FAILED",
      error: "upstream said no",
      progress: 0,
    });
  });

  it("answers 400 with field messages for bad queries", async () => {
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=abc", "limit"],
      ["status=exploded", "status"],
      ["target=youtube", "target"],
      ["since=yesterday", "since"],
      ["cursor=!!!", "cursor"],
      [`cursor=${Buffer.from("not a cursor").toString("base64url")}`, "cursor"],
      ["colour=blue", "colour"],
    ] as const) {
      const res = await h.app.inject({ url: `/v1/ingests?${query}`, headers: AUTH });
      expect(res.statusCode, query).toBe(400);
      const body = res.json<{ error: string; issues: string[] }>();
      expect(body.error).toBe("invalid request");
      expect(body.issues.join("\n"), query).toContain(field);
    }
    const ok = await h.app.inject({ url: "/v1/ingests?limit=100", headers: AUTH });
    expect(ok.json().count).toBe(45);
  });
});

describe("ingests API: detail and actions", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness("api-actions");
  });
  afterAll(() => stopHarness(h));

  it("shows one ingest with steps, upstream ids, error and history; 404 for an unknown id", async () => {
    const id = await createIngest(h, 1);
    await h.records.setUpstream(id, { importJobId: "job-9", assetId: "869214" });
    await h.records.step(id, "atom-push", { status: "done", startedAt: T0, endedAt: T0 + 1500 });
    await h.records.transition(id, "importing");
    const res = await h.app.inject({ url: `/v1/ingests/${id}`, headers: AUTH });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      ingestId: id,
      status: "IMPORTING",
      assetId: "869214",
      upstream: { importJobId: "job-9", assetId: "869214" },
      tasks: [{ name: "atom-push", status: "TASK_COMPLETED", elapsedTime: 1500 }],
      source: { bucket: "media-in", key: "incoming/pkg-1/video.mp4", version: "etag1" },
    });
    expect((body.history as Array<{ message: string }>).map((e) => e.message)).toEqual([
      "received s3://media-in/incoming/pkg-1/video.mp4 (etag1)",
      "importing",
    ]);

    const missing = await h.app.inject({ url: "/v1/ingests/nope", headers: AUTH });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toContain("nope");
    expect((await h.app.inject({ url: `/v1/ingests/${id}` })).statusCode).toBe(401);
  });

  it("cancels a running ingest (200) and refuses a terminal one (409)", async () => {
    const id = await createIngest(h, 2);
    const res = await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/cancel`, headers: AUTH });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ingestId: id, status: "CANCELLED" });
    expect((await h.records.get(id))?.state).toBe("cancelled");
    expect((await h.records.history(id)).at(-1)?.message).toBe("cancelled via http");

    const again = await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/cancel`, headers: AUTH });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatch(/already ended \(cancelled\)/);
    expect(
      (await h.app.inject({ method: "POST", url: "/v1/ingests/nope/cancel", headers: AUTH })).statusCode,
    ).toBe(404);
    expect((await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/cancel` })).statusCode).toBe(401);
  });

  it("retries a failed ingest by re-opening its record and queueing source-watch for the same object version", async () => {
    const id = await createIngest(h, 3);
    await h.records.setUpstream(id, { importJobId: "old-job" });
    await h.records.step(id, "atom-push", { status: "failed", startedAt: T0 });
    await h.records.fail(id, "AIS rejected the feed");

    const res = await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/retry`, headers: AUTH });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ ingestId: id, status: "RECEIVED", retry: 1, jobId: `retry-${id}-1` });

    const record = await h.records.get(id);
    expect(record).toMatchObject({ id, state: "received", upstream: {}, steps: {}, attempts: { retry: 1 } });
    expect(record?.finishedAt).toBeUndefined();
    expect(record?.lastError).toBeUndefined();
    const history = (await h.records.history(id)).map((e) => e.message);
    expect(history).toContain("failed: AIS rejected the feed");
    expect(history.at(-1)).toBe("retry 1 requested via http: running again from source-watch");

    const job = await h.queue.getJob(`retry-${id}-1`);
    expect(job?.name).toBe("source-watch");
    const payload = sourceWatchPayload.parse(job?.data);
    expect(payload.event).toMatchObject({
      kind: "created",
      bucket: "media-in",
      key: "incoming/pkg-3/video.mp4",
      eTag: "etag3",
    });
    expect(objectVersionKey(payload.event)).toBe(id);

    // Running again: a second retry is refused until it ends; the next failure can be retried with a new job id.
    const running = await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/retry`, headers: AUTH });
    expect(running.statusCode).toBe(409);
    expect(running.json().error).toMatch(/still running \(received\)/);
    await h.records.fail(id, "again");
    const second = await h.app.inject({ method: "POST", url: `/v1/ingests/${id}/retry`, headers: AUTH });
    expect(second.json()).toMatchObject({ retry: 2, jobId: `retry-${id}-2` });
    expect(await h.queue.getJob(`retry-${id}-2`)).toBeDefined();
  });

  it("retries a cancelled ingest, refuses completed and unknown ones", async () => {
    const cancelled = await createIngest(h, 4);
    await h.records.transition(cancelled, "cancelled");
    expect(
      (await h.app.inject({ method: "POST", url: `/v1/ingests/${cancelled}/retry`, headers: AUTH }))
        .statusCode,
    ).toBe(202);

    const completed = await createIngest(h, 5);
    await h.records.transition(completed, "completed");
    const res = await h.app.inject({ method: "POST", url: `/v1/ingests/${completed}/retry`, headers: AUTH });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatch(/completed/);
    expect(await h.queue.getJob(`retry-${completed}-1`)).toBeUndefined();
    expect(
      (await h.app.inject({ method: "POST", url: "/v1/ingests/nope/retry", headers: AUTH })).statusCode,
    ).toBe(404);
  });

  it("serves an OpenAPI 3.1 document without authentication", async () => {
    const res = await h.app.inject({ url: "/v1/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body) as {
      openapi: string;
      paths: Record<string, { get: { parameters: Param[] } }>;
      components: { schemas: Record<string, { properties: object; required: string[] }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/ingests",
        "/v1/ingests/{id}",
        "/v1/ingests/{id}/retry",
        "/v1/ingests/{id}/cancel",
      ]),
    );
    const params = doc.paths["/v1/ingests"]!.get.parameters.map((p) => p.name);
    expect(params).toEqual(["status", "target", "route", "since", "cursor", "limit"]);
    const limit = doc.paths["/v1/ingests"]!.get.parameters.find((p) => p.name === "limit");
    expect(limit?.schema).toMatchObject({ minimum: 1, maximum: 100, default: 20 });
    expect(doc.components.schemas.IngestList!.properties).toHaveProperty("cursor");
    expect(doc.components.schemas.IngestListItem!.required).toEqual(expect.arrayContaining(VIA_ITEM_FIELDS));
  });
});
