import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import type { EventSink } from "../../src/intake/accept.js";
import { BucketPoller, parsePollTarget, watermarkKey } from "../../src/intake/bucket-poller.js";
import type { ObjectEvent } from "../../src/intake/object-event.js";
import { createRedis } from "../../src/queues/connection.js";
import { startEmbeddedS3, type EmbeddedS3 } from "../../src/runtime/embedded-s3.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

const BUCKET = "media-in";

let s3: EmbeddedS3;
let adapter: S3Adapter;
let redis: Redis;
let prefix: string;

/** A sink that keeps what it got; `fail` makes it refuse (Redis away). */
function recordingSink() {
  const events: ObjectEvent[] = [];
  const state = { fail: false };
  const sink: EventSink = {
    async enqueue(batch) {
      if (state.fail) throw new Error("Connection is closed.");
      events.push(...batch);
    },
  };
  return { sink, events, state };
}

/** A poller of one target over the embedded S3 (or `s3`), on this file's prefix. */
function pollerOf(
  sink: EventSink,
  target: { bucket: string; prefix: string },
  options: { intervalMs?: number; s3?: S3Adapter } = {},
): BucketPoller {
  return new BucketPoller({
    s3: options.s3 ?? adapter,
    redis,
    prefix,
    sink,
    targets: [target],
    intervalMs: options.intervalMs ?? 60_000,
  });
}

beforeAll(async () => {
  s3 = await startEmbeddedS3({ buckets: [BUCKET] });
  adapter = createS3Adapter({ region: "us-east-1", endpoint: s3.endpoint, forcePathStyle: true });
  redis = createRedis(testRedisUrl(), "producer");
  prefix = uniquePrefix("bucket-poller");
});

afterAll(async () => {
  adapter.close();
  await redis.quit();
  await s3.stop();
  await cleanupPrefix(prefix);
});

describe("bucket poller (embedded S3 ListObjectsV2, real Redis)", () => {
  it("parses POLL_BUCKETS entries", () => {
    expect(parsePollTarget("media-in")).toEqual({ bucket: "media-in", prefix: "" });
    expect(parsePollTarget("media-in/incoming/vod/")).toEqual({
      bucket: "media-in",
      prefix: "incoming/vod/",
    });
  });

  it("enqueues objects past the watermark once, then only new and changed ones", async () => {
    const target = { bucket: BUCKET, prefix: "poll-a/" };
    await adapter.putObject(BUCKET, "poll-a/one.mp4", "1");
    await adapter.putObject(BUCKET, "poll-a/two words+%.mp4", "2");
    await adapter.putObject(BUCKET, "elsewhere/skip.mp4", "x");
    const { sink, events } = recordingSink();
    const poller = pollerOf(sink, target);

    const [first] = await poller.pollOnce();
    expect(first).toMatchObject({ listed: true, seen: 2, enqueued: 2 });
    expect(events.map((e) => e.key).sort()).toEqual(["poll-a/one.mp4", "poll-a/two words+%.mp4"]);
    const one = events.find((e) => e.key === "poll-a/one.mp4")!;
    expect(one).toMatchObject({
      kind: "created",
      eventName: "ObjectCreated:Put",
      bucket: BUCKET,
      source: "poller",
      size: 1,
    });
    expect(one.eTag).toMatch(/^[0-9a-f]{32}$/);
    expect(Number.isNaN(Date.parse(one.eventTime))).toBe(false);
    const mark = JSON.parse((await redis.get(watermarkKey(prefix, target)))!) as {
      lastModified: number;
      key: string;
    };
    expect(mark.lastModified).toBeGreaterThan(0);

    // Nothing new: nothing enqueued.
    expect((await poller.pollOnce())[0]).toMatchObject({ listed: true, enqueued: 0 });
    expect(events).toHaveLength(2);

    // A new object, and a changed one (new content): exactly those two, even within the same second.
    await adapter.putObject(BUCKET, "poll-a/0-early-key.mp4", "3");
    await adapter.putObject(BUCKET, "poll-a/one.mp4", "1 changed");
    const [third] = await poller.pollOnce();
    expect(third?.enqueued).toBe(2);
    const latest = events.slice(2);
    expect(latest.map((e) => e.key).sort()).toEqual(["poll-a/0-early-key.mp4", "poll-a/one.mp4"]);
    expect(latest.find((e) => e.key === "poll-a/one.mp4")?.eTag).not.toBe(one.eTag);
    expect((await poller.pollOnce())[0]?.enqueued).toBe(0);
  });

  it("finds an object dated to the watermark's second that sorts before the watermark's key", async () => {
    // Listings date objects to the whole second; a stub listing pins the dates S3 would give.
    const second = new Date("2024-05-01T12:00:00.000Z");
    const listing = [{ key: "poll-s/m.mp4", size: 1, eTag: "e-m", lastModified: second }];
    const stub = { list: async () => ({ objects: [...listing] }) } as unknown as S3Adapter;
    const { sink, events } = recordingSink();
    const poller = pollerOf(sink, { bucket: BUCKET, prefix: "poll-s/" }, { s3: stub });
    expect((await poller.pollOnce())[0]?.enqueued).toBe(1);
    listing.push({ key: "poll-s/a.mp4", size: 1, eTag: "e-a", lastModified: second });
    expect((await poller.pollOnce())[0]?.enqueued).toBe(1);
    expect(events.map((e) => e.key)).toEqual(["poll-s/m.mp4", "poll-s/a.mp4"]);
    expect((await poller.pollOnce())[0]?.enqueued).toBe(0);
    // Same key, same second, new content: a changed object.
    listing[0] = { key: "poll-s/m.mp4", size: 2, eTag: "e-m2", lastModified: second };
    expect((await poller.pollOnce())[0]?.enqueued).toBe(1);
    expect(events.at(-1)).toMatchObject({ key: "poll-s/m.mp4", eTag: "e-m2" });
  });

  it("keeps the watermark when the sink fails, so the next pass enqueues the same objects", async () => {
    const target = { bucket: BUCKET, prefix: "poll-b/" };
    await adapter.putObject(BUCKET, "poll-b/a.mp4", "a");
    const { sink, events, state } = recordingSink();
    const poller = pollerOf(sink, target);
    state.fail = true;
    await expect(poller.pollOnce()).rejects.toThrow(/Connection is closed/);
    expect(await redis.get(watermarkKey(prefix, target))).toBeNull();
    state.fail = false;
    expect((await poller.pollOnce())[0]?.enqueued).toBe(1);
    expect(events.map((e) => e.key)).toEqual(["poll-b/a.mp4"]);
  });

  it("lets only one replica list a target per interval", async () => {
    const target = { bucket: BUCKET, prefix: "poll-c/" };
    await adapter.putObject(BUCKET, "poll-c/x.mp4", "x");
    const a = recordingSink();
    const b = recordingSink();
    const options = { s3: adapter, redis, prefix, targets: [target], intervalMs: 60_000 };
    const first = new BucketPoller({ ...options, sink: a.sink });
    const second = new BucketPoller({ ...options, sink: b.sink });
    const [ra, rb] = await Promise.all([first.pollOnce(), second.pollOnce()]);
    expect([ra?.[0]?.listed, rb?.[0]?.listed].filter(Boolean)).toHaveLength(1);
    expect(a.events.length + b.events.length).toBe(1);
    // The holder keeps listing on its next passes; the other stays out until the interval ends.
    const holder = ra?.[0]?.listed ? first : second;
    const other = holder === first ? second : first;
    expect((await holder.pollOnce())[0]?.listed).toBe(true);
    expect((await other.pollOnce())[0]?.listed).toBe(false);
  });

  it("polls on its interval once started, and stops", async () => {
    const target = { bucket: BUCKET, prefix: "poll-d/" };
    const { sink, events } = recordingSink();
    const poller = pollerOf(sink, target, { intervalMs: 1000 });
    poller.start();
    try {
      await adapter.putObject(BUCKET, "poll-d/late.mp4", "l");
      await waitFor(
        "the poller to find the object",
        () => events.some((e) => e.key === "poll-d/late.mp4"),
        15_000,
      );
    } finally {
      await poller.stop();
    }
    expect(events.filter((e) => e.key === "poll-d/late.mp4")).toHaveLength(1);
  });
});
