import { resolve } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalRedis } from "../../src/runtime/local-redis.js";
import { CLI, requireBuild, spawnNode } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

const FIXTURE = resolve(process.cwd(), "test/fixtures/slow-step-worker.mjs");

describe("graceful shutdown", () => {
  const prefix = uniquePrefix("shutdown");
  const releaseKey = `${prefix}:release`;
  let redis: Redis;
  let queue: Queue;

  beforeAll(() => {
    requireBuild();
    redis = new Redis(testRedisUrl());
    queue = new Queue("source-watch", { connection: { url: testRedisUrl() }, prefix });
  });
  afterAll(async () => {
    await queue.close();
    await redis.quit();
    await cleanupPrefix(prefix);
  });

  it("lets an active job finish after SIGTERM, takes no new one, then exits 0", async () => {
    const worker = spawnNode([FIXTURE, testRedisUrl(), prefix, releaseKey], {});
    await worker.waitForOutput(/ready/);
    await queue.add("hold", { n: 7 }, { jobId: "held" });
    await waitFor("the job to be active", async () => (await queue.getJobState("held")) === "active");

    worker.child.kill("SIGTERM");
    // A job added after the signal must stay waiting: the worker stopped fetching.
    await queue.add("late", { n: 8 }, { jobId: "late" });
    await redis.set(releaseKey, "1");

    expect(await worker.exited).toBe(0);
    expect(worker.output()).toContain("stopped forced=false");
    expect(await queue.getJobState("held")).toBe("completed");
    expect(await redis.get(`${releaseKey}:done`)).toBe("7");
    expect(await queue.getJobState("late")).toBe("waiting");
  });

  it("exits on SIGTERM when Redis is already gone, instead of retrying it until SIGKILL", async () => {
    const own = await startLocalRedis();
    let stopped = false;
    const worker = spawnNode([CLI, "run"], {
      REDIS_URL: own.url,
      QUEUE_PREFIX: uniquePrefix("shutdown-gone"),
      HTTP_PORT: "0",
      HTTP_HOST: "127.0.0.1",
      SHUTDOWN_TIMEOUT_MS: "1000",
      LOG_LEVEL: "info",
    });
    try {
      await worker.waitForOutput(/ingest-worker running/);
      await own.stop();
      stopped = true;
      await worker.waitForOutput(/redis connection error/);
      worker.child.kill("SIGTERM");
      // Which way it ends depends on where BullMQ's reconnect loop was when the signal came: either
      // its close gave up on the lost connections at once (a plain "stopped", exit 0), or they
      // outlived the close bound and were dropped (exit 1, and it says so). Hanging is the failure.
      const code = await worker.exited;
      expect([0, 1]).toContain(code);
      if (code === 1) expect(worker.output()).toContain("stopped without closing Redis cleanly");
      else expect(worker.output()).toMatch(/stopped forced=(true|false)/);
    } finally {
      worker.child.kill("SIGKILL");
      if (!stopped) await own.stop();
    }
  });
});
