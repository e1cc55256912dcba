import { createHmac, randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createNotifyProcessor,
  INLINE_FALLBACK_DELAY_MS,
  notifyOutboxKey,
  registerNotifications,
  sweepNotifyOutbox,
} from "../../src/processors/every-target/notify.js";
import { jobId } from "../../src/queues/job-options.js";
import type { NotifyPayload } from "../../src/queues/payloads.js";
import { defineProcessor, type StepContext, type StepProcessor } from "../../src/queues/step.js";
import { STEP, stepProcessor } from "../../src/processors/index.js";
import type { TerminalListener } from "../../src/records/record-store.js";
import { createRecord, HARNESS_BUCKET, type ChainHarness } from "../support/chain-harness.js";
import { listenOnLoopback } from "../support/loopback-server.js";
import { waitFor } from "../support/redis.js";
import { startAfterJobPollHarness } from "../support/vimond-steps.js";

const SECRET = "notify-test-secret";

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

let h: ChainHarness;
let receiver: Server;
let hookUrl: string;
/** Deliveries by the ingest id in the event's data. */
const deliveries = new Map<string, Delivery[]>();
/** How many more requests per ingest id the receiver answers 500 before taking the event. */
const failures = new Map<string, number>();

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let ingestId = "?";
      try {
        ingestId = String((JSON.parse(body) as { data?: { id?: unknown } }).data?.id);
      } catch {
        // Not JSON: counted under "?" and answered like any other.
      }
      const failing = failures.get(ingestId) ?? 0;
      if (failing > 0) failures.set(ingestId, failing - 1);
      const status = failing > 0 ? 500 : 200;
      const list = deliveries.get(ingestId) ?? [];
      list.push({ headers: req.headers, body, status });
      deliveries.set(ingestId, list);
      res.writeHead(status).end();
    });
  });
  // The query stands for a token in the webhook URL; it must not leak into errors or logs.
  hookUrl = `${await listenOnLoopback(receiver)}/hooks/ingest?token=hook-token`;
  h = await startAfterJobPollHarness("notify", ["status-track", "image-fetch", "notify"], {
    env: { NOTIFY_SECRET: SECRET },
  });
  registerNotifications(h.deps.records, h.deps.enqueue.bind(h.deps), [hookUrl]);
});
afterAll(async () => {
  await h?.stop();
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

async function newRecord(): Promise<string> {
  const id = `nt-${randomUUID()}`;
  await createRecord(h, {
    id,
    route: "vimond-main",
    target: "vimond",
    bucket: HARNESS_BUCKET,
    key: `shows/${id}/package.json`,
    version: "v1",
    eventAt: Date.now() - 5000,
    state: "processing",
  });
  await h.deps.records.startBranches(id, ["status-track", "image-fetch"]);
  return id;
}

function delivered(id: string): Delivery[] {
  return deliveries.get(id) ?? [];
}

async function firstAccepted(id: string): Promise<Delivery> {
  return waitFor(`a delivery for ${id}`, async () => delivered(id).find((d) => d.status === 200));
}

function hmac(body: string): string {
  return `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
}

describe("notify", () => {
  it("posts a signed structured CloudEvent when an ingest completes", async () => {
    const id = await newRecord();
    await h.deps.records.setUpstream(id, { assetId: "4242", videoIngestId: "vi-1", imagePackId: "pack-1" });
    await h.deps.records.finishBranch(id, "status-track", { ok: true });
    expect(await h.deps.records.finishBranch(id, "image-fetch", { ok: true })).toBe("completed");

    const delivery = await firstAccepted(id);
    expect(delivery.headers["content-type"]).toBe("application/cloudevents+json");
    expect(delivery.headers["x-ingest-signature"]).toBe(hmac(delivery.body));
    const event = JSON.parse(delivery.body) as Record<string, unknown> & { data: Record<string, unknown> };
    expect(event).toMatchObject({
      specversion: "1.0",
      type: "ingest.completed",
      source: "ingest-worker",
      id: `${id}-completed`,
      subject: `s3://${HARNESS_BUCKET}/shows/${id}/package.json`,
      datacontenttype: "application/json",
    });
    expect(Number.isNaN(Date.parse(String(event.time)))).toBe(false);
    expect(event.data).toMatchObject({
      id,
      route: "vimond-main",
      target: "vimond",
      state: "completed",
      upstream: { assetId: "4242", videoIngestId: "vi-1", imagePackId: "pack-1" },
    });
    const timings = event.data.timings as Record<string, unknown>;
    expect(timings.durationMs).toBeGreaterThanOrEqual(5000);
    expect(typeof timings.finishedAt).toBe("string");
  });

  it("names a failed ingest's error in an ingest.failed event", async () => {
    const id = await newRecord();
    await h.deps.records.finishBranch(id, "status-track", { ok: false, reason: "video ingest cancelled" });
    expect(await h.deps.records.finishBranch(id, "image-fetch", { ok: true })).toBe("failed");

    const delivery = await firstAccepted(id);
    const event = JSON.parse(delivery.body) as { id: string; type: string; data: { lastError?: string } };
    expect(event.type).toBe("ingest.failed");
    expect(event.id).toBe(`${id}-failed`);
    expect(event.data.lastError).toContain("video ingest cancelled");
    expect(delivery.headers["x-ingest-signature"]).toBe(hmac(delivery.body));
  });

  it("retries a receiver that fails twice and delivers the event once, with the same id each time", async () => {
    const id = await newRecord();
    failures.set(id, 2);
    const payload: NotifyPayload = { ingestId: id, url: hookUrl, state: "failed" };
    const job = await h.queue("notify").add("notify", payload, {
      jobId: jobId("notify", id, "retry-test"),
      attempts: 5,
      backoff: { type: "exponential", delay: 20, jitter: 0.5 },
    });
    await waitFor("the notify job to complete", async () => (await job.getState()) === "completed");

    const all = delivered(id);
    expect(all.map((d) => d.status)).toEqual([500, 500, 200]);
    expect(new Set(all.map((d) => (JSON.parse(d.body) as { id: string }).id))).toEqual(
      new Set([`${id}-failed`]),
    );
  });

  it("fails the attempt when the receiver cannot be reached, without the URL's query in the error", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/down?token=hook-token`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const id = await newRecord();
    const job = await h
      .queue("notify")
      .add("notify", { ingestId: id, url, state: "completed" } satisfies NotifyPayload, {
        jobId: jobId("notify", id, "unreachable"),
        attempts: 2,
        backoff: { type: "fixed", delay: 10 },
      });
    await waitFor("the notify job to fail", async () => (await job.getState()) === "failed");
    const failed = await h.queue("notify").getJob(job.id!);
    expect(failed?.attemptsMade).toBe(2);
    expect(failed?.failedReason).toContain("notification to http://127.0.0.1");
    expect(failed?.failedReason).not.toContain("hook-token");
  });

  it("enqueues one job per terminal state and URL however often the state is reported", async () => {
    let listener: TerminalListener | undefined;
    registerNotifications({ onTerminal: (l) => void (listener = l) }, h.deps.enqueue.bind(h.deps), [hookUrl]);
    const id = await newRecord();
    expect(await h.deps.records.fail(id, "boom")).toBe(true);
    expect(await h.deps.records.fail(id, "boom again")).toBe(false);
    const record = (await h.deps.records.get(id))!;
    // The same terminal state reported again (another listener, a re-run after a crash).
    await listener!(record);
    await listener!(record);

    const jobs = await h
      .queue("notify")
      .getJobs(["waiting", "delayed", "active", "completed", "failed", "prioritized"]);
    const mine = jobs.filter((job) => (job.data as NotifyPayload).ingestId === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.id).toMatch(new RegExp(`^notify-${id}-r0-failed-[0-9a-f]{16}$`));
  });

  it("notifies again when an operator retry of the ingest fails again (issue 13, point 6)", async () => {
    const id = await newRecord();
    expect(await h.deps.records.fail(id, "first run failed")).toBe(true);
    await waitFor("the first failure's notification", async () => (deliveries.get(id) ?? []).length === 1);
    // What `ingest-worker retry` does to the record; then the second run fails as well.
    expect(await h.deps.records.reopen(id, ["failed"])).toEqual({ ok: true, retry: 1 });
    expect(await h.deps.records.fail(id, "second run failed")).toBe(true);
    // Keyed without the run, the second job had the retained first job's id and was dropped.
    const both = await waitFor("the second failure's notification", async () => {
      const list = deliveries.get(id) ?? [];
      return list.length === 2 ? list : undefined;
    });
    expect(both.map((d) => (JSON.parse(d.body) as { data: { state?: string } }).data)).toHaveLength(2);
  });

  it("sends no signature header without NOTIFY_SECRET", async () => {
    const id = await newRecord();
    const unsigned = stepProcessor(
      "notify",
      createNotifyProcessor({ ...h.deps, env: { ...h.deps.env, NOTIFY_SECRET: undefined } }),
    );
    const result = await unsigned.process(
      { ingestId: id, url: hookUrl, state: "completed" },
      {} as StepContext,
    );
    expect(result).toMatchObject({ outcome: "done" });
    const delivery = await firstAccepted(id);
    expect(delivery.headers["x-ingest-signature"]).toBeUndefined();
    expect(delivery.headers["content-type"]).toBe("application/cloudevents+json");
  });
});

describe("notify inline, with the outbox and the job as the fallback", () => {
  const outbox = () => ({ redis: h.deps.redis, outboxKey: notifyOutboxKey(h.deps.prefix) });
  const outboxEntries = () => h.deps.redis.zrange(notifyOutboxKey(h.deps.prefix), "0", "-1");
  /** A listener of its own (the harness's records already notify through jobs) and the ingest's record. */
  async function inlineTerminal(
    state: "completed" | "failed",
    failFirst = 0,
    processor: StepProcessor<(typeof STEP)["notify"]["schema"]> = stepProcessor(
      "notify",
      createNotifyProcessor(h.deps),
    ),
  ): Promise<string> {
    let listener: TerminalListener | undefined;
    registerNotifications(
      { onTerminal: (l) => void (listener = l) },
      h.deps.enqueue.bind(h.deps),
      [hookUrl],
      { processor, ...outbox() },
    );
    const id = await newRecord();
    // Terminal without a transition, so the harness's own listener stays out of it.
    await h.deps.redis.hset(h.deps.records.key(id), { state, finishedAt: String(Date.now()) });
    if (failFirst > 0) failures.set(id, failFirst);
    await listener!((await h.deps.records.get(id))!);
    return id;
  }
  const jobsOf = async (id: string) =>
    (
      await h.queue("notify").getJobs(["waiting", "delayed", "active", "completed", "failed", "prioritized"])
    ).filter((job) => (job.data as NotifyPayload).ingestId === id);

  it("delivers at once, then takes its outbox entry out, with no job", async () => {
    const id = await inlineTerminal("completed");
    const delivery = await firstAccepted(id);
    expect((JSON.parse(delivery.body) as { id: string }).id).toBe(`${id}-completed`);
    expect(delivery.headers["x-ingest-signature"]).toBe(hmac(delivery.body));
    await waitFor("the outbox entry to be taken out", async () => (await outboxEntries()).length === 0);
    expect(await jobsOf(id)).toHaveLength(0);
    expect(delivered(id)).toHaveLength(1);
  });

  it("hands a failed inline attempt to the job, which then delivers with its retries", async () => {
    const id = await inlineTerminal("failed", 1);
    await firstAccepted(id);
    // The inline attempt got the 500; the job, promoted at once, delivered the same event.
    expect(delivered(id).map((d) => d.status)).toEqual([500, 200]);
    expect(new Set(delivered(id).map((d) => (JSON.parse(d.body) as { id: string }).id))).toEqual(
      new Set([`${id}-failed`]),
    );
    const [job] = await jobsOf(id);
    await waitFor("the job to complete", async () => (await job?.getState()) === "completed");
    expect(await outboxEntries()).toHaveLength(0);
  });

  it("leaves the outbox entry while the inline attempt has not finished (a crash would leave it); a sweep past the delay hands it to the job", async () => {
    const hanging = defineProcessor(STEP.notify, () => new Promise<never>(() => {}));
    const id = await inlineTerminal("completed", 0, hanging);
    expect(await outboxEntries()).toHaveLength(1);
    expect(await jobsOf(id)).toHaveLength(0);
    const enqueue = h.deps.enqueue.bind(h.deps);
    // Not yet: the attempt may still be under way.
    expect(await sweepNotifyOutbox(outbox(), enqueue)).toBe(0);
    expect(await sweepNotifyOutbox(outbox(), enqueue, Date.now() + INLINE_FALLBACK_DELAY_MS + 1)).toBe(1);
    expect(await outboxEntries()).toHaveLength(0);
    // The job delivers the same event the inline attempt would have.
    const delivery = await firstAccepted(id);
    expect((JSON.parse(delivery.body) as { id: string }).id).toBe(`${id}-completed`);
    expect(delivered(id)).toHaveLength(1);
  });
});
