import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { PartitionSet } from "../../src/ops/partition-set.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import type { EmbeddedBridge } from "../../src/intake/embedded-bridge.js";
import { objectVersionKey, type ObjectEvent } from "../../src/intake/object-event.js";
import { eventsDropped } from "../../src/metrics/ingest-metrics.js";
import { retryIngest } from "../../src/ops/ingest-actions.js";
import { feedPendingKey } from "../../src/processors/every-target/hand-off.js";
import { sequencerKey } from "../../src/processors/every-target/stale-events.js";
import { defineProcessor } from "../../src/queues/step.js";
import { STEP } from "../../src/processors/index.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import { HARNESS_BUCKET, type ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import { runSourceWatchJob, startSourceWatchHarness, VOD_ROUTE } from "../support/source-watch-harness.js";

/**
 * Issue 13, point 7: a delete event unpublishes only when the object is really gone. Real Redis,
 * embedded S3 with its notifications bridged to source-watch, atom-push reduced to "received".
 */

const BUCKET = HARNESS_BUCKET;
const ROUTES = [VOD_ROUTE];

let h: ChainHarness;
let bridge: EmbeddedBridge;
let client: S3Client;

beforeAll(async () => {
  ({ h, bridge } = await startSourceWatchHarness({
    label: "delete-events",
    routes: ROUTES,
    next: [defineProcessor(STEP["atom-push"], async () => ({ outcome: "done" as const }))],
  }));
  client = createS3Client({ region: "us-east-1", endpoint: h.s3.endpoint });
});
afterAll(async () => {
  await bridge?.stop();
  client?.destroy();
  await h?.stop();
});

async function dropped(reason: string): Promise<number> {
  const values = (await eventsDropped.get()).values;
  return values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
}

/** A manifest package under vod/<name>/; resolves with its ingest once it is handed to atom-push. */
async function livePackage(name: string): Promise<IngestRecord> {
  await h.deps.s3.putObject(BUCKET, `vod/${name}/video.mp4`, "video");
  const key = `vod/${name}/manifest.json`;
  const out = await h.deps.s3.putObject(
    BUCKET,
    key,
    JSON.stringify({ id: name, title: name, media: { key: "video.mp4" } }),
  );
  const id = objectVersionKey({ kind: "created", bucket: BUCKET, key, eTag: out.eTag });
  return waitFor(`ingest ${id} queued`, async () => {
    const record = await h.deps.records.get(id);
    return record?.state === "queued" && record.steps["source-watch"]?.status === "done" ? record : undefined;
  });
}

function deleteEvent(key: string, extra: Partial<ObjectEvent> = {}): ObjectEvent {
  return {
    kind: "removed",
    eventName: "ObjectRemoved:Delete",
    bucket: BUCKET,
    key,
    eventTime: new Date().toISOString(),
    source: "http",
    ...extra,
  };
}

const runEvent = (event: ObjectEvent, jobId: string) => runSourceWatchJob(h, event, jobId);

async function tombstonesOf(key: string): Promise<IngestRecord[]> {
  const all = await h.deps.records.list({ limit: 500 });
  return all.items.filter((r) => r.key === key && r.package?.tombstone === true);
}

describe("delete events (issue 13, point 7)", () => {
  it("does not unpublish on a forged delete of an object that is still there", async () => {
    const live = await livePackage("forged");
    const before = await dropped("not-gone");
    const forged = deleteEvent(live.key, { sequencer: "F".repeat(24) });
    const result = await runEvent(forged, "forged-delete");
    expect(result.outcome).toBe("skipped");
    expect(result.reason).toMatch(
      /^delete not applied: s3:\/\/media-in\/vod\/forged\/manifest\.json still exists/,
    );
    expect(await dropped("not-gone")).toBe(before + 1);
    // No tombstone, and the live ingest is neither superseded nor touched otherwise.
    expect(await h.deps.records.get(objectVersionKey(forged))).toBeUndefined();
    expect(await tombstonesOf(live.key)).toEqual([]);
    expect((await h.deps.records.get(live.id))?.state).toBe("queued");
    // Its high sequencer was not kept: the key's real events are not taken for stale ones.
    expect(await h.deps.redis.get(sequencerKey(h.prefix, forged))).not.toBe("F".repeat(24));
  });

  it("a forged delete's sequencer does not make the key's next real event stale", async () => {
    const live = await livePackage("poison");
    await runEvent(deleteEvent(live.key, { sequencer: "F".repeat(24) }), "poison-delete");
    const staleBefore = await dropped("stale");
    // A new version of the sidecar: its own notification comes through the bridge.
    const out = await h.deps.s3.putObject(
      BUCKET,
      live.key,
      JSON.stringify({ id: "poison", title: "poison v2", media: { key: "video.mp4" } }),
    );
    const next = objectVersionKey({ kind: "created", bucket: BUCKET, key: live.key, eTag: out.eTag });
    await waitFor("the new version queued", async () => (await h.deps.records.get(next))?.state === "queued");
    expect(await dropped("stale")).toBe(staleBefore);
  });

  it("still unpublishes on a real delete", async () => {
    const live = await livePackage("really-gone");
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: live.key }));
    const [tombstone] = await waitFor("the tombstone", async () => {
      const found = await tombstonesOf(live.key);
      return found.length > 0 && found[0]?.state === "queued" ? found : undefined;
    });
    expect(tombstone?.package?.entryId).toBe("really-gone");
    expect((await h.deps.records.get(live.id))?.state).toBe("superseded");
  });

  it("drops a delete older than the last event seen for the key", async () => {
    const live = await livePackage("out-of-order");
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: live.key }));
    await waitFor("the real delete's tombstone", async () => (await tombstonesOf(live.key)).length === 1);
    const before = await dropped("stale");
    // The object is gone, but this delete is older than the put and the delete already seen.
    const late = deleteEvent(live.key, { sequencer: "0000000000000001" });
    const result = await runEvent(late, "late-delete");
    expect(result).toMatchObject({ outcome: "skipped" });
    expect(result.reason).toMatch(/stale/);
    expect(await dropped("stale")).toBe(before + 1);
    expect(await h.deps.records.get(objectVersionKey(late))).toBeUndefined();
    expect(await tombstonesOf(live.key)).toHaveLength(1);
  });

  it("closes a retried tombstone as superseded when the object came back", async () => {
    const live = await livePackage("came-back");
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: live.key }));
    const [tombstone] = await waitFor("the tombstone", async () => {
      const found = await tombstonesOf(live.key);
      return found.length > 0 ? found : undefined;
    });
    // The tombstone failed; the key is put again; then an operator retries the tombstone.
    await h.deps.records.fail(tombstone!.id, "failed for the test");
    const back = await h.deps.s3.putObject(
      BUCKET,
      live.key,
      JSON.stringify({ id: "came-back", title: "back", media: { key: "video.mp4" } }),
    );
    const backId = objectVersionKey({ kind: "created", bucket: BUCKET, key: live.key, eTag: back.eTag });
    await waitFor(
      "the new version queued",
      async () => (await h.deps.records.get(backId))?.state === "queued",
    );
    const retried = await retryIngest(
      {
        partitions: new PartitionSet([{ records: h.deps.records, sourceWatch: h.queue("source-watch") }]),
        redis: h.deps.redis,
      },
      tombstone!.id,
      "cli",
    );
    expect(retried.ok, retried.message).toBe(true);
    // Not left open in `received`, and not sent to unpublish the version that is back.
    const closed = await waitFor("the retried tombstone closed", async () => {
      const record = await h.deps.records.get(tombstone!.id);
      return record?.state === "superseded" ? record : undefined;
    });
    expect(closed.lastError).toBeUndefined();
    // Handed to atom-push by its first run only (the stand-in atom-push leaves the list as it is).
    const pending = await h.deps.redis.lrange(feedPendingKey(h.prefix, h.mediaFeedId), 0, -1);
    expect(pending.filter((id) => id === tombstone!.id)).toHaveLength(1);
    const history = (await h.deps.records.history(tombstone!.id)).map((e) => e.message);
    // Closed by the sequencer (the put was newer) or, without sequencers, by the HEAD.
    expect(history.some((m) => /^(stale: a newer event|delete not applied)/.test(m))).toBe(true);
  });
});
