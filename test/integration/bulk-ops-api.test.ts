import { Queue, Worker } from "bullmq";
import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PartitionSet } from "../../src/ops/partition-set.js";
import { registerIngestRoutes } from "../../src/http/ingests-routes.js";
import {
  buildOpenApiDocument,
  bulkRetryResponseSchema,
  queueListResponseSchema,
  queueStateSchema,
} from "../../src/http/ingests-schemas.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { openStepQueues } from "../../src/ops/queue-control.js";
import { STEP_NAMES } from "../../src/queues/names.js";
import { sourceWatchPayload } from "../../src/queues/payloads.js";
import { RecordStore } from "../../src/records/record-store.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

const TOKEN = "test-api-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const T0 = Date.parse("2024-05-01T12:00:00.000Z");
const HOUR = 3_600_000;

interface BulkBody {
  dryRun: boolean;
  limit: number;
  matched: number;
  more: boolean;
  counts: { retried: number; wouldRetry: number; refused: number };
  retried: Array<{ ingestId: string; jobId: string; retry: number }>;
  wouldRetry: string[];
  refused: Array<{ ingestId: string; reason: string; message: string }>;
}
interface QueueBody {
  step: string;
  paused: boolean;
  state: string;
  counts: { waiting: number; active: number; delayed: number; failed: number };
}

describe("bulk operator actions over the API: POST /v1/ingests/retry, /v1/queues", () => {
  const prefix = uniquePrefix("bulk-ops");
  const clock = { now: T0 };
  let redis: Redis;
  let records: RecordStore;
  let steps: ReturnType<typeof openStepQueues>;
  let sourceWatch: Queue;
  let app: FastifyInstance;
  const workers: Worker[] = [];
  const blocking: Redis[] = [];

  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    records = new RecordStore(redis, prefix, () => clock.now);
    steps = openStepQueues(redis, [prefix]);
    sourceWatch = steps.queues[0]!.get("source-watch")!;
    app = Fastify();
    await registerIngestRoutes(app, {
      token: TOKEN,
      redis,
      partitions: new PartitionSet([{ records, sourceWatch }]),
      queues: steps.queues,
      now: () => clock.now,
    });
    await app.ready();
  });
  afterAll(async () => {
    for (const worker of workers) await worker.close();
    for (const connection of blocking) await connection.quit();
    await app.close();
    await steps.close();
    await cleanupPrefix(prefix);
    await redis.quit();
  });

  /** A record whose id is its object's version key, created at `at`, then moved to `state`. */
  async function ingest(
    n: number,
    at: number,
    state: "failed" | "cancelled" | "completed" | "received",
    route = "main",
  ): Promise<string> {
    clock.now = at;
    const key = `bulk/pkg-${n}/video.mp4`;
    const id = objectVersionKey({ kind: "created", bucket: "media-in", key, eTag: `etag${n}` });
    await records.create({
      id,
      route,
      target: "vimond",
      bucket: "media-in",
      key,
      version: `etag${n}`,
      eventAt: at,
    });
    if (state === "failed") await records.fail(id, `upstream said no to ${n}`);
    else if (state !== "received") await records.transition(id, state);
    return id;
  }

  const post = (body: unknown, headers: Record<string, string> = AUTH) =>
    app.inject({ method: "POST", url: "/v1/ingests/retry", headers, payload: body as object });

  it("retries the failed ingests that match, newest first, in batches of --limit, as single retries would", async () => {
    // Route `main`: five recent failures (newest last), one old one, and others that must not match.
    const recent = [];
    for (let i = 0; i < 5; i++) recent.push(await ingest(i, T0 + i * 1000, "failed"));
    const old = await ingest(10, T0 - 3 * HOUR, "failed");
    const otherRoute = await ingest(11, T0 + 500, "failed", "other");
    const cancelled = await ingest(12, T0 + 600, "cancelled");
    const completed = await ingest(13, T0 + 700, "completed");
    const running = await ingest(14, T0 + 800, "received");
    // A failed record whose id is not its object's version key: the single retry refuses it too.
    clock.now = T0 + 900;
    const orphan = "not-a-version-key";
    await records.create({
      id: orphan,
      route: "main",
      target: "vimond",
      bucket: "media-in",
      key: "bulk/orphan.mp4",
      version: "x",
      eventAt: clock.now,
    });
    await records.fail(orphan, "broken");
    clock.now = T0 + 10 * 60_000;
    const newestFirst = [...recent].reverse();

    // Dry run over the last two hours of route main: what would happen, and nothing happens.
    const dry = await post({ status: "failed", since: "2h", route: "main", dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    const preview = dry.json<BulkBody>();
    // Every answer is what the OpenAPI document says it is.
    bulkRetryResponseSchema.strict().parse(preview);
    expect(preview).toMatchObject({ dryRun: true, matched: 6, more: false, retried: [] });
    expect(preview.wouldRetry).toEqual(newestFirst);
    expect(preview.refused).toEqual([
      {
        ingestId: orphan,
        reason: "conflict",
        message: expect.stringContaining("cannot rebuild the object event"),
      },
    ]);
    expect(preview.counts).toEqual({ retried: 0, wouldRetry: 5, refused: 1 });
    for (const id of [...recent, orphan]) expect((await records.get(id))?.state).toBe("failed");
    expect(await sourceWatch.getJobCounts("waiting")).toMatchObject({ waiting: 0 });

    // Three at a time: the newest three, and it says more matched.
    const first = await post({
      status: "FAILED",
      since: new Date(T0 - HOUR).toISOString(),
      route: "main",
      limit: 3,
    });
    expect(first.statusCode, first.body).toBe(202);
    const firstBody = first.json<BulkBody>();
    bulkRetryResponseSchema.strict().parse(firstBody);
    expect(firstBody).toMatchObject({ dryRun: false, limit: 3, matched: 3, more: true, refused: [] });
    expect(firstBody.retried).toEqual(
      newestFirst.slice(0, 3).map((id) => ({ ingestId: id, jobId: `retry-${id}-1`, retry: 1 })),
    );
    for (const id of newestFirst.slice(0, 3)) {
      expect((await records.get(id))?.state).toBe("received");
      expect((await records.history(id)).at(-1)?.message).toBe(
        "retry 1 requested via http: running again from source-watch",
      );
      const job = await sourceWatch.getJob(`retry-${id}-1`);
      expect(objectVersionKey(sourceWatchPayload.parse(job?.data).event)).toBe(id);
    }

    // The same request again takes the next ones (a retried ingest no longer matches) and the refusal.
    const second = await post({
      status: "failed",
      since: new Date(T0 - HOUR).toISOString(),
      route: "main",
      limit: 3,
    });
    const secondBody = second.json<BulkBody>();
    expect(secondBody).toMatchObject({ matched: 3, more: false, counts: { retried: 2, refused: 1 } });
    expect(secondBody.retried.map((r) => r.ingestId)).toEqual(newestFirst.slice(3));
    expect(secondBody.refused).toEqual([
      { ingestId: orphan, reason: "conflict", message: expect.stringContaining("use 'replay'") },
    ]);

    // Untouched: the old failure (before since), the other route, and everything not failed.
    expect((await records.get(old))?.state).toBe("failed");
    expect((await records.get(otherRoute))?.state).toBe("failed");
    expect((await records.get(cancelled))?.state).toBe("cancelled");
    expect((await records.get(completed))?.state).toBe("completed");
    expect((await records.get(running))?.state).toBe("received");

    // Without filters every remaining failure is taken, old and other route included; cancelled apart.
    const all = (await post({ status: "failed" })).json<BulkBody>();
    expect(all.retried.map((r) => r.ingestId).sort()).toEqual([old, otherRoute].sort());
    const cancelledRun = (await post({ status: "cancelled" })).json<BulkBody>();
    expect(cancelledRun.retried.map((r) => r.ingestId)).toEqual([cancelled]);
  });

  it("answers 400 with the field for a bad body and 401 without the token", async () => {
    for (const [body, field] of [
      [{ status: "completed" }, "status"],
      [{}, "status"],
      [{ status: "failed", since: "yesterday" }, "since"],
      [{ status: "failed", limit: 0 }, "limit"],
      [{ status: "failed", dryRun: "yes" }, "dryRun"],
      [{ status: "failed", force: true }, "force"],
    ] as const) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect((res.json<{ issues: string[] }>().issues ?? []).join("\n")).toContain(field);
    }
    expect((await post({ status: "failed" }, {})).statusCode).toBe(401);
  });

  it("lists every step's queue, pauses one globally so a job added meanwhile waits, and runs it after resume", async () => {
    const list = await app.inject({ url: "/v1/queues", headers: AUTH });
    expect(list.statusCode).toBe(200);
    const queues = queueListResponseSchema.parse(list.json()).queues as QueueBody[];
    expect(queues.map((q) => q.step)).toEqual([...STEP_NAMES]);
    expect(queues.every((q) => q.state === "running" && !q.paused)).toBe(true);

    const processed: string[] = [];
    const startWorker = (name: string) => {
      const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
      blocking.push(connection);
      const worker = new Worker(
        name,
        async (job) => {
          processed.push(`${name}:${job.id}`);
        },
        { connection, prefix },
      );
      workers.push(worker);
      return worker;
    };
    const notifyWorker = startWorker("notify");
    startWorker("image-fetch");
    await notifyWorker.waitUntilReady();

    const paused = await app.inject({ method: "POST", url: "/v1/queues/notify/pause", headers: AUTH });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(queueStateSchema.strict().parse(paused.json())).toMatchObject({
      step: "notify",
      paused: true,
      state: "paused",
    });
    // Global: another client of the same queue sees it paused.
    const other = new Queue("notify", { connection: redis, prefix });
    expect(await other.isPaused()).toBe(true);

    const notify = steps.queues[0]!.get("notify")!;
    await notify.add("notify", { n: 1 }, { jobId: "while-paused" });
    // A job on a running step, added after, is taken: the workers are up, only notify is held.
    await steps.queues[0]!.get("image-fetch")!.add("image-fetch", { n: 2 }, { jobId: "control" });
    await waitFor("the running step's job", () => processed.includes("image-fetch:control"));
    expect(processed).not.toContain("notify:while-paused");
    expect(await notify.getJobState("while-paused")).toBe("waiting");
    const held = (await app.inject({ url: "/v1/queues", headers: AUTH })).json<{ queues: QueueBody[] }>();
    expect(held.queues.find((q) => q.step === "notify")).toMatchObject({
      state: "paused",
      counts: { waiting: 1, active: 0 },
    });

    const resumed = await app.inject({ method: "POST", url: "/v1/queues/notify/resume", headers: AUTH });
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ step: "notify", paused: false, state: "running" });
    await waitFor("the held job to run after resume", () => processed.includes("notify:while-paused"));
    expect(await notify.getJobState("while-paused")).toBe("completed");
    await other.close();
  });

  it("answers 404 for an unknown step and 401 without the token", async () => {
    const unknown = await app.inject({ method: "POST", url: "/v1/queues/no-such-step/pause", headers: AUTH });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatch(/no step named no-such-step; the steps are source-watch, atom-push/);
    expect((await app.inject({ method: "POST", url: "/v1/queues/notify/pause" })).statusCode).toBe(401);
    expect((await app.inject({ url: "/v1/queues" })).statusCode).toBe(401);
    expect(await steps.queues[0]!.get("notify")!.isPaused()).toBe(false);
  });

  it("documents the new routes in the OpenAPI document", () => {
    // The ingests API's part of GET /v1/openapi.json (the server merges it with the other routes').
    const doc = buildOpenApiDocument() as unknown as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/ingests/retry",
        "/v1/queues",
        "/v1/queues/{step}/pause",
        "/v1/queues/{step}/resume",
      ]),
    );
    expect(Object.keys(doc.components.schemas.BulkRetryRequest!.properties)).toEqual([
      "status",
      "since",
      "route",
      "target",
      "limit",
      "dryRun",
    ]);
    expect(doc.components.schemas.BulkRetry!.properties).toHaveProperty("refused");
    expect(doc.components.schemas.QueueState!.properties).toHaveProperty("counts");
  });
});
