import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAssetsPollProcessor,
  isTransientAssetError,
} from "../../src/processors/asset-management/assets-poll.js";
import { createAssetsRegisterProcessor } from "../../src/processors/asset-management/assets-register.js";
import { stepProcessor } from "../../src/processors/index.js";
import { jobId } from "../../src/queues/job-options.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import {
  damRoute,
  HARNESS_BUCKET,
  rawAssetsRoute,
  startChainHarness,
  type ChainHarness,
} from "../support/chain-harness.js";
import { chainActionCount } from "../support/chain-actions.js";
import { queuePackage, storedObject } from "../support/queued-packages.js";
import { waitFor } from "../support/redis.js";

/** The simulator (like the API's `parentId`) wants a folder asset id, a GUID. */
const PARENT = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
let h: ChainHarness;

beforeAll(async () => {
  h = await startChainHarness({
    label: "assets-target",
    routes: [damRoute("/content/dam/news"), rawAssetsRoute(PARENT)],
    steps: ["assets-register", "assets-poll"],
    processors: (d) => [
      stepProcessor("assets-register", createAssetsRegisterProcessor(d)),
      stepProcessor("assets-poll", createAssetsPollProcessor(d)),
    ],
    env: { TASK_RETRY_MAX: "1" },
  });
});
afterAll(async () => {
  await h?.stop();
});

function assetsStats() {
  return h.sim.stats().modules.assets as {
    registrations: number;
    duplicateRegistrations: number;
    reprocesses: number;
  };
}

/** A media-triggered package (the video itself) handed to assets-register as source-watch does. */
async function register(name: string): Promise<string> {
  const id = `am-${name}-${randomUUID().slice(0, 8)}`;
  const key = `raw/${name}-${id}.mp4`;
  const url = await storedObject(h, key, "video bytes", { contentType: "video/mp4" });
  await queuePackage(
    h,
    { id, route: "am", target: "asset-management", key },
    {
      entryId: name,
      title: name,
      categories: [],
      metadata: {},
      updated: new Date().toISOString(),
      video: { key, url, contentType: "video/mp4" },
      images: [],
      tombstone: false,
    },
  );
  await h.deps.enqueue("assets-register", { ingestId: id }, { jobId: jobId("reg", id) });
  return id;
}

async function terminal(id: string): Promise<IngestRecord> {
  return waitFor(`ingest ${id} to end`, async () => {
    const record = await h.deps.records.get(id);
    return record && ["completed", "failed"].includes(record.state) ? record : undefined;
  });
}

describe("asset-management target", () => {
  it("registers the video and completes when the asset is Available", async () => {
    const before = assetsStats();
    const id = await register("plain");
    const record = await terminal(id);
    expect(record.state).toBe("completed");
    expect(record.upstream.managedAssetId).toMatch(/^[0-9a-f-]{36}$/);
    expect(assetsStats().registrations - before.registrations).toBe(1);
    const asset = await h.deps.assets!.getAsset(record.upstream.managedAssetId!);
    expect(asset.raw.parentId).toBe(PARENT);
    expect(asset.raw.objectKey).toBe(record.key);
  });

  it("reprocesses a transient error and then completes", async () => {
    await h.scenario({ modules: { assets: { failKeys: ["flaky-"], failFirst: 1 } } });
    try {
      const before = assetsStats();
      const reprocessMetric = await chainActionCount("reprocess");
      const id = await register("flaky");
      const record = await terminal(id);
      expect(record.state).toBe("completed");
      expect(record.attempts.reprocess).toBe(1);
      expect(assetsStats().reprocesses - before.reprocesses).toBe(1);
      expect(await chainActionCount("reprocess")).toBe(reprocessMetric + 1);
    } finally {
      await h.scenario({ modules: { assets: { failKeys: null, failFirst: null } } });
    }
  });

  it("fails with the job history's reason when the error persists past TASK_RETRY_MAX", async () => {
    await h.scenario({ modules: { assets: { failKeys: ["broken-"] } } });
    try {
      const before = assetsStats();
      const id = await register("broken");
      const record = await terminal(id);
      expect(record.state).toBe("failed");
      // The simulator's job-history errorMessage, with the object it names.
      expect(record.lastError).toContain(
        `Processing of s3://${HARNESS_BUCKET}/${record.key} failed (simulated)`,
      );
      expect(record.lastError).toMatch(/after 1 reprocess/);
      // TASK_RETRY_MAX=1: one reprocess, then the budget is spent.
      expect(assetsStats().reprocesses - before.reprocesses).toBe(1);
    } finally {
      await h.scenario({ modules: { assets: { failKeys: null } } });
    }
  });

  it("reconciles an ambiguous register with a lookup instead of registering twice", async () => {
    await h.scenario({ faults: { assets: { registerAsset: { errorAfterEffect: { "500": 1 } } } } });
    try {
      const before = assetsStats();
      const hits = await chainActionCount("reconcile_hit");
      const id = await register("ambiguous");
      const record = await terminal(id);
      expect(record.state).toBe("completed");
      expect(h.sim.stats().requests["assets.registerAsset"]?.["500"]).toBeGreaterThanOrEqual(1);
      expect(assetsStats().registrations - before.registrations).toBe(1);
      expect(assetsStats().duplicateRegistrations - before.duplicateRegistrations).toBe(0);
      expect(await chainActionCount("reconcile_hit")).toBe(hits + 1);
      const found = await h.deps.assets!.findByLocation(HARNESS_BUCKET, record.key);
      expect(found?.id).toBe(record.upstream.managedAssetId);
    } finally {
      await h.scenario({ faults: { assets: { registerAsset: null } } });
    }
  });

  it("classifies processing errors: object problems are permanent, the rest transient", () => {
    expect(isTransientAssetError("Processing of s3://b/missing-intro.mp4 failed (simulated)")).toBe(true);
    expect(isTransientAssetError("Transcoder timed out")).toBe(true);
    expect(isTransientAssetError("Unsupported codec: prores_raw")).toBe(false);
    expect(isTransientAssetError("Source file is corrupt")).toBe(false);
    expect(isTransientAssetError("Access denied to s3://b/k")).toBe(false);
  });
});
