import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import type { EmbeddedBridge } from "../../src/intake/embedded-bridge.js";
import { objectVersionKey, type ObjectEvent } from "../../src/intake/object-event.js";
import { eventsDropped, eventsUnrouted } from "../../src/metrics/ingest-metrics.js";
import { aemPendingKey, feedPendingKey } from "../../src/processors/every-target/hand-off.js";
import { defineProcessor, type StepProcessor } from "../../src/queues/step.js";
import { STEP } from "../../src/processors/index.js";
import { HARNESS_BUCKET, type ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import {
  putObjectEvent,
  runSourceWatchJob,
  settledRecord,
  startSourceWatchHarness,
  VOD_ROUTE,
} from "../support/source-watch-harness.js";

const BUCKET = HARNESS_BUCKET;
const FOLDER = "/content/dam/news";

const ROUTES = [
  VOD_ROUTE,
  {
    name: "clips",
    bucket: BUCKET,
    prefix: "clips/",
    trigger: "media",
    target: "vimond",
    deletes: "unpublish",
    vimond: { mediaFeedId: "{feed}" },
  },
  { name: "dam", bucket: BUCKET, prefix: "aem/", target: "aem", aem: { folder: FOLDER } },
  {
    name: "assets",
    bucket: BUCKET,
    prefix: "am/",
    trigger: "media",
    target: "asset-management",
    assetManagement: { parentFolder: "root" },
  },
];

/** Stand-ins for the next steps: they only record what source-watch handed them. */
interface Seen {
  push: unknown[];
  aem: unknown[];
  register: unknown[];
}

function stubs(seen: Seen): StepProcessor[] {
  return [
    defineProcessor(STEP["atom-push"], async (payload) => {
      seen.push.push(payload);
      return { outcome: "done" };
    }),
    defineProcessor(STEP["aem-import"], async (payload) => {
      seen.aem.push(payload);
      return { outcome: "done" };
    }),
    defineProcessor(STEP["assets-register"], async (payload) => {
      seen.register.push(payload);
      return { outcome: "done" };
    }),
  ];
}

interface Stack {
  h: ChainHarness;
  seen: Seen;
  bridge: EmbeddedBridge;
  client: S3Client;
}

async function startStack(label: string, env: Record<string, string> = {}): Promise<Stack> {
  const seen: Seen = { push: [], aem: [], register: [] };
  const { h, bridge } = await startSourceWatchHarness({ label, routes: ROUTES, next: stubs(seen), env });
  const client = createS3Client({ region: "us-east-1", endpoint: h.s3.endpoint });
  return { h, seen, bridge, client };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  if (stack === undefined) return;
  await stack.bridge.stop();
  stack.client.destroy();
  await stack.h.stop();
}

function manifest(fields: Record<string, unknown>): string {
  return JSON.stringify({ id: "ep-1", title: "Episode 1", media: { key: "video.mp4" }, ...fields });
}

async function counter(metric: typeof eventsDropped | typeof eventsUnrouted, labels: Record<string, string>) {
  const values = (await metric.get()).values;
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k as never] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

describe("source-watch (real Redis, embedded S3, the harness runtime)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("source-watch");
  });
  afterAll(async () => {
    await stopStack(stack);
  });

  it("assembles a manifest package with presigned URLs that fetch the bytes, and hands it to atom-push", async () => {
    const { h, seen } = stack;
    const video = "video bytes of episode one";
    await putObjectEvent(h, "vod/ep-1/video.mp4", video);
    await putObjectEvent(h, "vod/ep-1/poster.jpg", "poster");
    const id = await putObjectEvent(
      h,
      "vod/ep-1/manifest.json",
      manifest({
        summary: "A storm",
        categories: ["drama"],
        images: [{ key: "poster.jpg", location: "main" }],
        metadata: { season: "1" },
      }),
    );
    const record = await settledRecord(h, id, ["queued"]);
    const pkg = record.package!;
    expect(pkg).toMatchObject({
      entryId: "ep-1",
      title: "Episode 1",
      summary: "A storm",
      categories: ["drama"],
      metadata: { season: "1" },
      tombstone: false,
    });
    expect(pkg.video?.key).toBe("vod/ep-1/video.mp4");
    expect(pkg.video?.size).toBe(video.length);
    expect(pkg.images).toHaveLength(1);
    expect(pkg.images[0]).toMatchObject({ key: "vod/ep-1/poster.jpg", location: "main" });
    expect(await (await fetch(pkg.video!.url)).text()).toBe(video);
    expect(await (await fetch(pkg.images[0]!.url)).text()).toBe("poster");
    expect(Date.parse(pkg.updated)).toBe(record.eventAt);
    expect(record.upstream.mediaFeedId).toBe(h.mediaFeedId);
    expect(record.steps["source-watch"]?.status).toBe("done");

    expect(await h.deps.redis.lrange(feedPendingKey(h.prefix, h.mediaFeedId), 0, -1)).toContain(id);
    await waitFor("the atom-push flush job", () =>
      seen.push.some((p) => (p as { mediaFeedId: string }).mediaFeedId === h.mediaFeedId),
    );
    const history = await h.deps.records.history(id);
    expect(history.map((e) => e.message).join("\n")).toMatch(/assembled package ep-1/);
  });

  it("handles keys with spaces, '+', '%' and non-ASCII characters end to end", async () => {
    const { h } = stack;
    const folder = "vod/Ep 1+2 100%/";
    await putObjectEvent(h, `${folder}vidéo 日本+final.mp4`, "v");
    await putObjectEvent(h, `${folder}images/poster 16x9%.jpg`, "p");
    const id = await putObjectEvent(
      h,
      `${folder}manifest.json`,
      manifest({
        id: "ep-odd",
        media: { key: "vidéo 日本+final.mp4" },
        images: [{ key: "images/poster 16x9%.jpg", location: "thumb" }],
      }),
    );
    const record = await settledRecord(h, id, ["queued"]);
    expect(record.key).toBe(`${folder}manifest.json`);
    expect(record.package?.video?.key).toBe(`${folder}vidéo 日本+final.mp4`);
    expect(await (await fetch(record.package!.video!.url)).text()).toBe("v");
    expect(await (await fetch(record.package!.images[0]!.url)).text()).toBe("p");
  });

  it("keeps one record for a duplicate delivery of the same version", async () => {
    const { h } = stack;
    await putObjectEvent(h, "vod/dup/video.mp4", "v");
    const body = manifest({ id: "dup" });
    const out = await h.deps.s3.putObject(BUCKET, "vod/dup/manifest.json", body);
    const id = objectVersionKey({
      kind: "created",
      bucket: BUCKET,
      key: "vod/dup/manifest.json",
      eTag: out.eTag,
    });
    await settledRecord(h, id, ["queued"]);
    const before = await counter(eventsDropped, { reason: "duplicate" });
    const event: ObjectEvent = {
      kind: "created",
      eventName: "ObjectCreated:Put",
      bucket: BUCKET,
      key: "vod/dup/manifest.json",
      eTag: out.eTag,
      eventTime: new Date().toISOString(),
      source: "replay",
    };
    // A different job id: a redelivery after the first job was already removed from Redis.
    const result = await runSourceWatchJob(h, event, "dup-redelivery");
    expect(result).toMatchObject({ outcome: "skipped" });
    expect(result.reason).toMatch(/duplicate/);
    expect(await counter(eventsDropped, { reason: "duplicate" })).toBe(before + 1);
    const all = await h.deps.records.list({ limit: 500 });
    expect(all.items.filter((r) => r.key === "vod/dup/manifest.json")).toHaveLength(1);
  });

  it("drops an event older than one already seen for the key (sequencers compared as padded hex)", async () => {
    const { h } = stack;
    const key = "clips/order/clip.mp4";
    const out = await h.deps.s3.putObject(BUCKET, key, "clip");
    const base = {
      kind: "created",
      eventName: "ObjectCreated:Put",
      bucket: BUCKET,
      key,
      eventTime: new Date().toISOString(),
      source: "replay",
    } as const;
    const before = await counter(eventsDropped, { reason: "stale" });
    // The put's own notification already ran through the bridge (its sequencer is an 18-digit
    // clock); these two are later versions of the key (own versionIds, so own ingests). The newer
    // one's sequencer has more digits with a leading zero: only a padded compare orders them right.
    const newerSeq = `01${"0".repeat(20)}`;
    const olderSeq = "F".repeat(20);
    const newer = await runSourceWatchJob(
      h,
      { ...base, eTag: out.eTag, versionId: "v-newer", sequencer: newerSeq },
      "order-newer",
    );
    expect(newer.outcome).toBe("done");
    const older = await runSourceWatchJob(
      h,
      { ...base, eTag: out.eTag, versionId: "v-older", sequencer: olderSeq },
      "order-older",
    );
    expect(older).toMatchObject({ outcome: "skipped" });
    expect(older.reason).toMatch(/stale/);
    expect(await counter(eventsDropped, { reason: "stale" })).toBe(before + 1);
    const olderId = objectVersionKey({ ...base, versionId: "v-older" });
    expect(await h.deps.records.get(olderId)).toBeUndefined();
  });

  it("waits for a video the manifest names, then proceeds when it is put", async () => {
    const { h } = stack;
    await putObjectEvent(h, "vod/late/poster.jpg", "p");
    const id = await putObjectEvent(
      h,
      "vod/late/manifest.json",
      manifest({ id: "late", images: [{ key: "poster.jpg", location: "main" }] }),
    );
    const waiting = await settledRecord(h, id, ["waiting-objects"]);
    expect(waiting.steps["source-watch"]?.status).toBe("waiting");
    await putObjectEvent(h, "vod/late/video.mp4", "late video");
    const record = await settledRecord(h, id, ["queued"]);
    expect(record.package?.video?.key).toBe("vod/late/video.mp4");
    expect(await (await fetch(record.package!.video!.url)).text()).toBe("late video");
  });

  it("fails a malformed sidecar with a message naming every problem", async () => {
    const { h } = stack;
    const id = await putObjectEvent(
      h,
      "vod/bad/manifest.json",
      JSON.stringify({ id: "bad", tittle: "x", media: { key: "../other/video.mp4" } }),
    );
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toContain("sidecar s3://media-in/vod/bad/manifest.json: ");
    expect(record.lastError).toContain("unknown field(s): tittle");
    expect(record.lastError).toContain('media.key: "../other/video.mp4" contains a ".." segment');
    expect(record.lastError).toContain("title: missing");
    expect(record.steps["source-watch"]?.status).toBe("failed");
  });

  it("counts an object no route matches as unrouted, and creates no record", async () => {
    const { h } = stack;
    const before = await counter(eventsUnrouted, { bucket: BUCKET });
    const id = await putObjectEvent(h, "elsewhere/video.mp4", "x");
    await waitFor(
      "the unrouted counter",
      async () => (await counter(eventsUnrouted, { bucket: BUCKET })) > before,
    );
    expect(await h.deps.records.get(id)).toBeUndefined();
  });

  it('counts an event for a bucket no route names under bucket="other", not its own label', async () => {
    const { h } = stack;
    const before = await counter(eventsUnrouted, { bucket: "other" });
    const event = {
      kind: "created",
      eventName: "ObjectCreated:Put",
      bucket: "someone-elses-bucket",
      key: "x/video.mp4",
      eTag: "e1",
      eventTime: new Date().toISOString(),
      source: "replay",
    } as const;
    expect(await runSourceWatchJob(h, event, "unrouted-other")).toMatchObject({
      outcome: "skipped",
      reason: "no route",
    });
    expect(await counter(eventsUnrouted, { bucket: "other" })).toBe(before + 1);
    expect(await counter(eventsUnrouted, { bucket: "someone-elses-bucket" })).toBe(0);
  });

  it("assembles a media-triggered package from the video's user metadata, with defaults", async () => {
    const { h } = stack;
    const withMeta = await putObjectEvent(h, "clips/show/Clip One.MP4", "c1", {
      title: "Clip one",
      summary: "Short",
      categories: "news, sport ,",
      "entry-id": "clip-1",
    });
    const bare = await putObjectEvent(h, "clips/show/second_take.mov", "c2");
    const one = await settledRecord(h, withMeta, ["queued"]);
    expect(one.package).toMatchObject({
      entryId: "clip-1",
      title: "Clip one",
      summary: "Short",
      categories: ["news", "sport"],
    });
    expect(await (await fetch(one.package!.video!.url)).text()).toBe("c1");
    const two = await settledRecord(h, bare, ["queued"]);
    expect(two.package).toMatchObject({
      entryId: "clips-show-second_take",
      title: "second_take.mov",
      images: [],
    });
  });

  it("hands AEM packages to the folder's pending list and asset-management ones to assets-register", async () => {
    const { h, seen } = stack;
    await putObjectEvent(h, "aem/a1/video.mp4", "v");
    const aemId = await putObjectEvent(h, "aem/a1/manifest.json", manifest({ id: "a1" }));
    const amId = await putObjectEvent(h, "am/b1/raw.mp4", "m");
    await settledRecord(h, aemId, ["queued"]);
    await settledRecord(h, amId, ["queued"]);
    expect(await h.deps.redis.lrange(aemPendingKey(h.prefix, FOLDER), 0, -1)).toContain(aemId);
    await waitFor("the aem-import job", () =>
      seen.aem.some((p) => (p as { folder: string }).folder === FOLDER),
    );
    await waitFor("the assets-register job", () =>
      seen.register.some((p) => (p as { ingestId: string }).ingestId === amId),
    );
  });

  it("turns a delete into a tombstone naming the entry id the package had", async () => {
    const { h, client } = stack;
    await putObjectEvent(h, "vod/gone/video.mp4", "v");
    const id = await putObjectEvent(h, "vod/gone/manifest.json", manifest({ id: "gone-entry" }));
    await settledRecord(h, id, ["queued"]);
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "vod/gone/manifest.json" }));
    const tombstone = await waitFor("the tombstone record", async () => {
      const all = await h.deps.records.list({ limit: 500 });
      return all.items.find(
        (r) => r.key === "vod/gone/manifest.json" && r.package?.tombstone === true && r.state === "queued",
      );
    });
    expect(tombstone.package?.entryId).toBe("gone-entry");
    expect(await h.deps.redis.lrange(feedPendingKey(h.prefix, h.mediaFeedId), 0, -1)).toContain(tombstone.id);
    // The delete superseded the version it removes.
    expect((await h.deps.records.get(id))?.state).toBe("superseded");
  });

  it("lets a newer version of a manifest supersede the older one", async () => {
    const { h } = stack;
    await putObjectEvent(h, "vod/v/video.mp4", "v");
    const v1 = await putObjectEvent(h, "vod/v/manifest.json", manifest({ id: "v", title: "First" }));
    await settledRecord(h, v1, ["queued"]);
    const v2 = await putObjectEvent(h, "vod/v/manifest.json", manifest({ id: "v", title: "Second" }));
    const second = await settledRecord(h, v2, ["queued"]);
    expect(second.package?.title).toBe("Second");
    const first = await settledRecord(h, v1, ["superseded"]);
    expect(first.package?.title).toBe("First");
    const history = await h.deps.records.history(v1);
    expect(history.map((e) => e.message)).toContain(`superseded by ingest ${v2}`);
  });
});

describe("source-watch with a short manifest wait", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack("source-watch-wait", { MANIFEST_WAIT_SECONDS: "1" });
  });
  afterAll(async () => {
    await stopStack(stack);
  });

  it("fails a manifest whose video never comes, naming the missing key", async () => {
    const { h } = stack;
    const id = await putObjectEvent(
      h,
      "vod/never/manifest.json",
      manifest({ id: "never", media: { key: "missing video.mp4" } }),
    );
    await settledRecord(h, id, ["waiting-objects"]);
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toBe(
      'sidecar s3://media-in/vod/never/manifest.json: objects not found after 1s: "vod/never/missing video.mp4"',
    );
  });
});
