import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INLINE_FALLBACK_DELAY_MS, notifyOutboxKey } from "../../src/processors/every-target/notify.js";
import { CLI, requireBuild, spawnNode, workerEnv } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

/**
 * A worker that died mid-delivery leaves its inline notification in the outbox; a worker running
 * later hands it to the notify job, which delivers it. The outbox entry and the record are
 * written here as the dead worker left them.
 */
describe("notify outbox after a worker died mid-delivery", () => {
  const prefix = uniquePrefix("notify-outbox");
  const bodies: string[] = [];
  let redis: Redis;
  let receiver: Server;
  let hookUrl: string;

  beforeAll(async () => {
    requireBuild();
    redis = new Redis(testRedisUrl());
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        bodies.push(Buffer.concat(chunks).toString("utf8"));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/ingest`;
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await cleanupPrefix(prefix);
    await redis.quit();
  });

  it("delivers the entry through its notify job, with the event id of the first attempt", async () => {
    const id = "crashed-1";
    const now = Date.now();
    await redis.hset(`${prefix}:ingest:${id}`, {
      id,
      route: "vimond-main",
      target: "vimond",
      bucket: "media",
      key: `shows/${id}/package.json`,
      version: "v1",
      eventAt: String(now - 60_000),
      createdAt: String(now - 60_000),
      updatedAt: String(now - 30_000),
      finishedAt: String(now - 30_000),
      state: "completed",
    });
    const entry = JSON.stringify({
      jobId: `notify-${id}-r0-completed-test`,
      payload: { ingestId: id, url: hookUrl, state: "completed" },
    });
    await redis.zadd(notifyOutboxKey(prefix), now - INLINE_FALLBACK_DELAY_MS - 1_000, entry);

    const worker = spawnNode([CLI, "run"], workerEnv(0, prefix, { NOTIFY_URLS: hookUrl }));
    try {
      await worker.waitForOutput(/ingest-worker running/);
      // The sweep runs every 5 s; the job then delivers.
      const body = await waitFor("the notification", () => bodies[0]);
      expect((JSON.parse(body) as { id: string }).id).toBe(`${id}-completed`);
      expect(await redis.zcard(notifyOutboxKey(prefix))).toBe(0);
      await worker.waitForOutput(/unsettled inline notifications handed to their notify jobs/);
      worker.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
      expect(bodies).toHaveLength(1);
    } finally {
      worker.child.kill("SIGKILL");
    }
  });
});
