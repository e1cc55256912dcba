import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VimondAdapters } from "../../src/adapters/index.js";
import { createImageFetchProcessor } from "../../src/processors/vimond/image-fetch.js";
import { stepProcessor } from "../../src/processors/index.js";
import { jobId } from "../../src/queues/job-options.js";
import { packageSchema, TERMINAL_STATES } from "../../src/records/ingest-record.js";
import {
  HARNESS_BUCKET,
  startChainHarness,
  VIMOND_MAIN_ROUTE,
  type ChainHarness,
} from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";

const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);

let h: ChainHarness;
let vimond: VimondAdapters;
let origin: Server;
let originUrl: string;

beforeAll(async () => {
  // Stands in for S3: the Image Service downloads the poster from here.
  origin = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "image/png" });
    res.end(PNG);
  });
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  h = await startChainHarness({
    label: "image-crash",
    routes: [VIMOND_MAIN_ROUTE],
    steps: ["image-fetch"],
    processors: (d) => [stepProcessor("image-fetch", createImageFetchProcessor(d))],
  });
  vimond = h.deps.vimond!;
});
afterAll(async () => {
  await h?.stop();
  origin?.closeAllConnections();
  await new Promise<void>((resolve) => (origin ? origin.close(() => resolve()) : resolve()));
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
  await records.create({
    id,
    route: "vimond-main",
    target: "vimond",
    bucket: HARNESS_BUCKET,
    key: `${id}/manifest.json`,
    version: "v1",
    eventAt: Date.now(),
    state: "processing",
  });
  const url = `${originUrl}/${id}/poster.png`;
  await records.setPackage(
    id,
    packageSchema.parse({
      entryId: id,
      title: id,
      updated: new Date().toISOString(),
      images: [{ key: `${id}/poster.png`, url, location: "main", eTag: "p1" }],
    }),
  );
  await records.startBranches(id, ["image-fetch"]);
  const { id: packId } = await vimond.images.createImagePack({ assetId });
  await redis.set(`${h.prefix}:asset-pack:${assetId}`, packId);
  await records.setUpstream(id, { imagePackId: packId });
  await records.setFields(id, { "img-sent:main": String(Date.now()) });
  if (landed) await vimond.images.fetchImage(packId, "main", url);
  return { id, assetId, packId };
}

async function runImageFetch(id: string, assetId: string): Promise<string> {
  await h.queue("image-fetch").add("image-fetch", { ingestId: id, assetId }, { jobId: jobId("img", id) });
  const record = await waitFor(`ingest ${id} to end`, async () => {
    const r = await h.deps.records.get(id);
    return r && TERMINAL_STATES.has(r.state) ? r : undefined;
  });
  return record.state;
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
