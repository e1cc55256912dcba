import { randomUUID } from "node:crypto";
import type { JobsOptions } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VimondAdapters } from "../../src/adapters/index.js";
import { jobId } from "../../src/queues/job-options.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import { FAST_RETRY } from "../support/adapter-harness.js";
import { PNG_FILE, startImageOrigin, TEXT_FILE, type ImageOrigin } from "../support/image-origin.js";
import type { ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import {
  processingRecordWithPackage,
  startAfterJobPollHarness,
  terminalRecord,
} from "../support/vimond-steps.js";

/** Stands in for a presigned URL's credential: it must never reach the record. */
const SIGNATURE = "X-Amz-Signature=feedfacecafe";

let h: ChainHarness;
let vimond: VimondAdapters;
let origin: ImageOrigin | undefined;
let originUrl: string;

beforeAll(async () => {
  // The source the Image Service downloads from, standing in for S3: PNGs and one text file.
  origin = await startImageOrigin((path) =>
    path.endsWith(".png") ? PNG_FILE : path.endsWith(".txt") ? TEXT_FILE : undefined,
  );
  originUrl = origin.url;
  h = await startAfterJobPollHarness("image-fetch", ["status-track", "image-fetch", "notify"], {
    // The binding on, against the simulator's asset endpoint, as the demo and bench run it.
    simEnv: (sim) => ({ ASSET_BIND_BASE_URL: sim.urls.images }),
  });
  vimond = h.deps.vimond!;
});
afterAll(async () => {
  await h?.stop();
  await origin?.close();
});

interface ImageSpec {
  location: string;
  file: string;
  eTag?: string;
}

/** A record with a package holding `images`, its branches opened as job-poll opens them. */
async function newRecord(images: ImageSpec[], branches = ["image-fetch"]): Promise<string> {
  const id = `img-${randomUUID()}`;
  const packaged = images.map((image) => ({
    key: `${id}/${image.file}`,
    url: `${originUrl}/${id}/${image.file}?${SIGNATURE}`,
    location: image.location,
    ...(image.eTag ? { eTag: image.eTag } : {}),
  }));
  await processingRecordWithPackage(h, id, { images: packaged }, branches);
  return id;
}

async function fetchImages(id: string, assetId: string, name = jobId("img", id), opts: JobsOptions = {}) {
  return h.queue("image-fetch").add("image-fetch", { ingestId: id, assetId }, { ...opts, jobId: name });
}

const terminal = (id: string): Promise<IngestRecord> => terminalRecord(h, id);

function imageStats() {
  const modules = h.sim.stats().modules;
  return {
    fetches: (modules.images?.fetchesByPackLocation ?? {}) as Record<string, number>,
    invalidations: (modules.imageCache?.invalidationsByPack ?? {}) as Record<string, number>,
  };
}

function calls(upstream: string, operation: string): number {
  return Object.values(h.sim.stats().requests[`${upstream}.${operation}`] ?? {}).reduce((a, b) => a + b, 0);
}

/** The asset as the simulator's asset REST API holds it. */
async function simAsset(assetId: string): Promise<{ imagePackId: string | null }> {
  const res = await fetch(`${h.sim.urls.images}/api/assets/${encodeURIComponent(assetId)}`, {
    headers: { authorization: `Bearer ${h.sim.token}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { imagePackId: string | null };
}

async function pointAssetAt(assetId: string, imagePackId: string): Promise<void> {
  const res = await fetch(`${h.sim.urls.images}/api/assets/${encodeURIComponent(assetId)}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${h.sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({ imagePackId }),
  });
  expect(res.status).toBe(200);
}

describe("image-fetch", () => {
  it("creates the asset's pack once, fetches every image, and reuses the pack for the next version", async () => {
    const assetId = `a-${randomUUID()}`;
    const images = [
      { location: "main", file: "main.png", eTag: "m1" },
      { location: "thumb", file: "thumb.png", eTag: "t1" },
    ];
    const creates = calls("images", "createImagePack");
    const v1 = await newRecord(images);
    await fetchImages(v1, assetId);
    const first = await terminal(v1);
    expect(first.state).toBe("completed");
    const packId = first.upstream.imagePackId!;
    expect(packId).toBeDefined();
    const pack = await vimond.images.getImagePack(packId);
    expect(pack?.locations.main?.imageId).toBeDefined();
    expect(pack?.locations.thumb?.imageId).toBeDefined();
    expect(await h.deps.redis.get(`${h.prefix}:asset-pack:${assetId}`)).toBe(packId);

    // The same images again (a metadata-only change): same pack, no cache invalidation.
    const v2 = await newRecord(images);
    await fetchImages(v2, assetId);
    const second = await terminal(v2);
    expect(second.state).toBe("completed");
    expect(second.upstream.imagePackId).toBe(packId);
    expect(calls("images", "createImagePack")).toBe(creates + 1);
    expect(imageStats().fetches[`${packId}/main`]).toBe(2);
    expect(imageStats().invalidations[packId]).toBeUndefined();
  });

  it("invalidates the pack's cache once when images were replaced", async () => {
    const assetId = `a-${randomUUID()}`;
    const v1 = await newRecord([
      { location: "main", file: "main.png", eTag: "m1" },
      { location: "thumb", file: "thumb.png", eTag: "t1" },
    ]);
    await fetchImages(v1, assetId);
    const packId = (await terminal(v1)).upstream.imagePackId!;
    expect(imageStats().invalidations[packId]).toBeUndefined();

    const v2 = await newRecord([
      { location: "main", file: "main.png", eTag: "m2" },
      { location: "thumb", file: "thumb.png", eTag: "t2" },
    ]);
    await fetchImages(v2, assetId);
    expect((await terminal(v2)).state).toBe("completed");
    // Two replaced locations, one invalidation: it drops the whole pack's variants.
    expect(imageStats().invalidations[packId]).toBe(1);
  });

  it("never fetches twice for one ingest: a retried job resumes, and still owes the invalidation", async () => {
    const assetId = `a-${randomUUID()}`;
    const v1 = await newRecord([{ location: "main", file: "main.png", eTag: "m1" }]);
    await fetchImages(v1, assetId);
    const packId = (await terminal(v1)).upstream.imagePackId!;

    // The invalidation fails after the fetch, so the job fails its attempt and runs again.
    await h.scenario({ faults: { imageCache: { invalidateImagePackCache: { errorRates: { "503": 1 } } } } });
    const v2 = await newRecord(
      [{ location: "main", file: "main.png", eTag: "m2" }],
      ["status-track", "image-fetch"],
    );
    const job = await fetchImages(v2, assetId, jobId("img", v2), {
      attempts: 50,
      backoff: { type: "fixed", delay: 50 },
    });
    try {
      await waitFor(
        "a failed attempt",
        async () => ((await h.queue("image-fetch").getJob(job.id!))?.attemptsMade ?? 0) >= 1,
      );
    } finally {
      await h.scenario({ faults: { imageCache: null } });
    }
    const branch = await waitFor("the image-fetch branch to report", async () => {
      const reported = (await h.deps.records.get(v2))?.branches["image-fetch"];
      return reported === "pending" ? undefined : reported;
    });
    expect(branch).toBe("ok");
    expect(imageStats().fetches[`${packId}/main`]).toBe(2);
    expect(imageStats().invalidations[packId]).toBe(1);

    // A duplicate job for the same ingest (the record is still open: status-track has not ended).
    const again = await fetchImages(v2, assetId, jobId("img", v2, "again"));
    await waitFor("the duplicate job", async () => (await again.getState()) === "completed");
    expect(imageStats().fetches[`${packId}/main`]).toBe(2);
    expect(imageStats().invalidations[packId]).toBe(1);
    expect((await h.deps.records.get(v2))?.state).toBe("processing");
  });

  it("binds the pack to the asset after the fetches, records it, and the next version writes nothing", async () => {
    const assetId = `a-${randomUUID()}`;
    const writes = calls("images", "bindImagePack");
    const v1 = await newRecord([{ location: "main", file: "main.png", eTag: "m1" }]);
    await fetchImages(v1, assetId);
    const first = await terminal(v1);
    expect(first.state).toBe("completed");
    const packId = first.upstream.imagePackId!;
    expect(first.upstream.boundImagePackId).toBe(packId);
    expect(first.steps["image-fetch"]?.detail).toContain(`asset ${assetId} bound`);
    expect((await simAsset(assetId)).imagePackId).toBe(packId);
    expect(calls("images", "bindImagePack")).toBe(writes + 1);

    const v2 = await newRecord([{ location: "main", file: "main.png", eTag: "m2" }]);
    await fetchImages(v2, assetId);
    const second = await terminal(v2);
    expect(second.state).toBe("completed");
    expect(second.upstream.boundImagePackId).toBe(packId);
    expect(calls("images", "bindImagePack")).toBe(writes + 1);
    expect(h.sim.stats().modules.images?.bindings).toMatchObject({ redundant: 0 });
  });

  it("fetches once when the fetch lands but its answer is lost: it looks at the pack before sending again", async () => {
    const assetId = `a-${randomUUID()}`;
    await h.scenario({
      faults: { images: { fetchImagePackLocationImage: { errorAfterEffect: { reset: 1 } } } },
    });
    const id = await newRecord(
      [{ location: "main", file: "main.png", eTag: "m1" }],
      ["status-track", "image-fetch"],
    );
    try {
      await fetchImages(id, assetId);
      const branch = await waitFor("the image-fetch branch to report", async () => {
        const reported = (await h.deps.records.get(id))?.branches["image-fetch"];
        return reported === "pending" ? undefined : reported;
      });
      expect(branch).toBe("ok");
    } finally {
      await h.scenario({ faults: { images: null } });
    }
    const packId = (await h.deps.records.get(id))!.upstream.imagePackId!;
    // One request, answered with a reset after it stored the image; never sent a second time.
    expect(imageStats().fetches[`${packId}/main`]).toBe(1);
    expect(calls("images", "fetchImagePackLocationImage")).toBeGreaterThanOrEqual(1);
  });

  it("does not bind twice on a rerun, even when the write's answer was lost; re-binds a moved asset", async () => {
    const assetId = `a-${randomUUID()}`;
    const writes = calls("images", "bindImagePack");
    // The write lands but its answer is lost, every time, until the fault is cleared: the job fails
    // its attempts, and each rerun must find the asset bound instead of writing again.
    await h.scenario({ faults: { images: { bindImagePack: { errorAfterEffect: { reset: 1 } } } } });
    const id = await newRecord(
      [{ location: "main", file: "main.png", eTag: "m1" }],
      ["status-track", "image-fetch"],
    );
    const job = await fetchImages(id, assetId, jobId("img", id), {
      attempts: 50,
      backoff: { type: "fixed", delay: 50 },
    });
    try {
      await waitFor("the write to land", async () =>
        calls("images", "bindImagePack") > writes ? true : undefined,
      );
      await waitFor(
        "a failed attempt",
        async () => ((await h.queue("image-fetch").getJob(job.id!))?.attemptsMade ?? 0) >= 1,
      );
    } finally {
      await h.scenario({ faults: { images: null } });
    }
    const branch = await waitFor("the image-fetch branch to report", async () => {
      const reported = (await h.deps.records.get(id))?.branches["image-fetch"];
      return reported === "pending" ? undefined : reported;
    });
    expect(branch).toBe("ok");
    const record = (await h.deps.records.get(id))!;
    const packId = record.upstream.imagePackId!;
    expect(record.upstream.boundImagePackId).toBe(packId);
    // Only the first attempt wrote (its HTTP client retried the idempotent write within that
    // attempt); every later attempt read the asset, found it bound, and wrote nothing.
    const writesAfterFirstAttempt = calls("images", "bindImagePack");
    expect(writesAfterFirstAttempt - writes).toBe(FAST_RETRY.retry?.maxAttempts);
    const reads = calls("images", "getAsset");

    // A duplicate job of the open ingest: the record says bound, so nothing is read or written.
    const again = await fetchImages(id, assetId, jobId("img", id, "again"));
    await waitFor("the duplicate job", async () => (await again.getState()) === "completed");
    expect(calls("images", "getAsset")).toBe(reads);
    expect(calls("images", "bindImagePack")).toBe(writesAfterFirstAttempt);

    // Someone points the asset at another pack: the next version of the package binds it back.
    const other = (await vimond.images.createImagePack({ note: "someone else's" })).id;
    await pointAssetAt(assetId, other);
    const v2 = await newRecord([{ location: "main", file: "main.png", eTag: "m1" }]);
    await fetchImages(v2, assetId);
    const rebound = await terminal(v2);
    expect(rebound.state).toBe("completed");
    expect(rebound.steps["image-fetch"]?.detail).toContain(`re-bound from pack ${other}`);
    expect((await simAsset(assetId)).imagePackId).toBe(packId);
  });

  it("fails the branch when the asset REST API does not know the asset", async () => {
    const assetId = `missing-${randomUUID()}`;
    await h.scenario({ modules: { images: { missingAssets: ["missing-*"] } } });
    try {
      const id = await newRecord([{ location: "main", file: "main.png", eTag: "m1" }]);
      await fetchImages(id, assetId);
      const record = await terminal(id);
      expect(record.state).toBe("failed");
      expect(record.branches["image-fetch"]).toMatch(
        /^failed: asset missing-.* not found by the asset REST API/,
      );
      expect(record.upstream.boundImagePackId).toBeUndefined();
    } finally {
      await h.scenario({ modules: { images: { missingAssets: [] } } });
    }
  });

  it("agrees on one pack when two versions of an asset start at once", async () => {
    const assetId = `a-${randomUUID()}`;
    const a = await newRecord([{ location: "main", file: "a.png", eTag: "x" }]);
    const b = await newRecord([{ location: "main", file: "b.png", eTag: "x" }]);
    await Promise.all([fetchImages(a, assetId), fetchImages(b, assetId)]);
    const [ra, rb] = await Promise.all([terminal(a), terminal(b)]);
    expect(ra.state).toBe("completed");
    expect(rb.state).toBe("completed");
    expect(ra.upstream.imagePackId).toBe(rb.upstream.imagePackId);
    expect(await h.deps.redis.get(`${h.prefix}:asset-pack:${assetId}`)).toBe(ra.upstream.imagePackId);
  });

  it("fails the branch naming the location when the service refuses a file, without retrying it", async () => {
    const assetId = `a-${randomUUID()}`;
    const id = await newRecord([
      { location: "main", file: "main.png", eTag: "m1" },
      { location: "poster", file: "notes.txt", eTag: "p1" },
    ]);
    await fetchImages(id, assetId);
    const record = await terminal(id);
    expect(record.state).toBe("failed");
    expect(record.branches["image-fetch"]).toMatch(/^failed: image poster rejected: /);
    expect(record.lastError).toContain("image poster rejected");
    expect(record.lastError).toContain("not a JPEG, PNG, GIF or WebP image");
    expect(record.lastError).not.toContain(SIGNATURE);
    expect(imageStats().fetches[`${record.upstream.imagePackId}/poster`]).toBe(1);
  });

  it("ends the branch at once when the package has no images", async () => {
    const id = await newRecord([]);
    const creates = calls("images", "createImagePack");
    await fetchImages(id, `a-${randomUUID()}`);
    const record = await terminal(id);
    expect(record.state).toBe("completed");
    expect(record.upstream.imagePackId).toBeUndefined();
    expect(calls("images", "createImagePack")).toBe(creates);
  });

  it("skips a record that is already terminal", async () => {
    const id = await newRecord([{ location: "main", file: "main.png" }]);
    await h.deps.records.transition(id, "superseded");
    const creates = calls("images", "createImagePack");
    const job = await fetchImages(id, `a-${randomUUID()}`);
    await waitFor("the job", async () => (await job.getState()) === "completed");
    expect((await h.queue("image-fetch").getJob(job.id!))?.returnvalue).toMatchObject({ outcome: "skipped" });
    expect(calls("images", "createImagePack")).toBe(creates);
  });
});
