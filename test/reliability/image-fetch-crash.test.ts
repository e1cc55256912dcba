import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VimondAdapters } from "../../src/adapters/index.js";
import { jobId } from "../../src/queues/job-options.js";
import type { ChainHarness } from "../support/chain-harness.js";
import { PNG_FILE, startImageOrigin, type ImageOrigin } from "../support/image-origin.js";
import {
  processingRecordWithPackage,
  startAfterJobPollHarness,
  terminalRecord,
} from "../support/vimond-steps.js";

let h: ChainHarness;
let vimond: VimondAdapters;
let origin: ImageOrigin | undefined;
let originUrl: string;

beforeAll(async () => {
  // Stands in for S3: the Image Service downloads the poster from here.
  origin = await startImageOrigin(() => PNG_FILE);
  originUrl = origin.url;
  h = await startAfterJobPollHarness("image-crash", ["image-fetch"]);
  vimond = h.deps.vimond!;
});
afterAll(async () => {
  await h?.stop();
  await origin?.close();
});

/**
 * The state a worker killed in the middle of `fetchImage` leaves behind: the record says the fetch
 * was sent (`img-sent:main`) but not that it finished, and the pack exists. `landed` decides
 * whether the lost request reached the Image Service.
 */
async function crashedMidFetch(landed: boolean): Promise<{ id: string; assetId: string; packId: string }> {
  const id = `crash-${randomUUID()}`;
  const assetId = `a-${randomUUID()}`;
  const { records, redis } = h.deps;
  const url = `${originUrl}/${id}/poster.png`;
  const images = [{ key: `${id}/poster.png`, url, location: "main", eTag: "p1" }];
  await processingRecordWithPackage(h, id, { images }, ["image-fetch"]);
  const { id: packId } = await vimond.images.createImagePack({ assetId });
  await redis.set(`${h.prefix}:asset-pack:${assetId}`, packId);
  await records.setUpstream(id, { imagePackId: packId });
  await records.setFields(id, { "img-sent:main": String(Date.now()) });
  if (landed) await vimond.images.fetchImage(packId, "main", url);
  return { id, assetId, packId };
}

async function runImageFetch(id: string, assetId: string): Promise<string> {
  await h.queue("image-fetch").add("image-fetch", { ingestId: id, assetId }, { jobId: jobId("img", id) });
  return (await terminalRecord(h, id)).state;
}

function fetchesOf(packId: string): number {
  const fetches = h.sim.stats().modules.images?.fetchesByPackLocation as Record<string, number> | undefined;
  return fetches?.[`${packId}/main`] ?? 0;
}

describe("image-fetch after a crash in the middle of fetchImage", () => {
  it("does not fetch again when the lost request had stored the image", async () => {
    const { id, assetId, packId } = await crashedMidFetch(true);
    expect(fetchesOf(packId)).toBe(1);
    expect(await runImageFetch(id, assetId)).toBe("completed");
    expect(fetchesOf(packId)).toBe(1);
  });

  it("fetches when the lost request never reached the service", async () => {
    const { id, assetId, packId } = await crashedMidFetch(false);
    expect(await runImageFetch(id, assetId)).toBe("completed");
    expect(fetchesOf(packId)).toBe(1);
  });
});
