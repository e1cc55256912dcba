import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobId } from "../../src/queues/job-options.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import { pendInAemFolder, startAemHarness } from "../support/aem-harness.js";
import { damRoute, HARNESS_BUCKET, rawAssetsRoute, type ChainHarness } from "../support/chain-harness.js";
import { queuePackage, storedObject } from "../support/queued-packages.js";
import { waitFor } from "../support/redis.js";

const FOLDER = "/content/dam/news";
/** The folder of the route with a metadata mapping (its own folder: its own batches). */
const META_FOLDER = "/content/dam/features";
let h: ChainHarness;

beforeAll(async () => {
  h = await startAemHarness("aem-target", [
    damRoute(FOLDER),
    {
      name: "dam-meta",
      bucket: HARNESS_BUCKET,
      prefix: "features/",
      target: "aem",
      aem: {
        folder: META_FOLDER,
        metadata: {
          title: "dc:title",
          summary: "dc:description",
          categories: "dc:subject",
          entryId: "news:entryId",
          "metadata.season": "xmp:season",
          "metadata.absent": "xmp:absent",
          notAField: "x:bogus",
        },
      },
    },
    rawAssetsRoute("raw"),
  ]);
});
afterAll(async () => {
  await h?.stop();
});

/** Requests the simulator answered for an AEM operation, by status. */
function aemCalls(operation: string): Record<string, number> {
  return { ...h.sim.stats().requests[`aem.${operation}`] };
}
const count = (calls: Record<string, number>, status: string) => calls[status] ?? 0;

const stored = (key: string) => storedObject(h, key);

/** The route a seeded package goes through, and what its sidecar said besides the defaults. */
interface SeedOptions {
  route?: "dam" | "dam-meta";
  sidecar?: { summary?: string; categories?: string[]; metadata?: Record<string, string> };
}

/** Creates a queued record with its package and puts it on the folder's pending list, like source-watch. */
async function seed(entryId: string, imageNames: string[], options: SeedOptions = {}): Promise<string> {
  const route = options.route ?? "dam";
  const folder = route === "dam" ? FOLDER : META_FOLDER;
  const id = `aem-${entryId}-${randomUUID().slice(0, 8)}`;
  const dir = `news/${entryId}`;
  await queuePackage(
    h,
    { id, route, target: "aem", key: `${dir}/${entryId}.json` },
    {
      entryId,
      title: `Title ${entryId}`,
      categories: [],
      metadata: {},
      ...options.sidecar,
      updated: new Date().toISOString(),
      video: { key: `${dir}/video.mp4`, url: await stored(`${dir}/video.mp4`), contentType: "video/mp4" },
      images: await Promise.all(
        imageNames.map(async (name) => ({
          key: `${dir}/${name}`,
          url: await stored(`${dir}/${name}`),
          location: "main",
        })),
      ),
      tombstone: false,
    },
  );
  await pendInAemFolder(h, folder, id);
  return id;
}

/** Enqueues the folder's flush the way every hand-off in one window does (same job id). */
async function flush(window: string, folder = FOLDER): Promise<void> {
  await h.deps.enqueue("aem-import", { folder }, { jobId: jobId("aem", folder, window), delay: 20 });
}

/** The simulator's result of an AEM job: each file with the metadata AEM applied to it. */
async function aemResult(aemJobId: string): Promise<Array<{ fileName: string; assetMetadata?: unknown }>> {
  const res = await fetch(`${h.sim.urls.aem}/import/jobs/${aemJobId}/result`, {
    headers: { authorization: `Bearer ${h.sim.token}`, "x-api-key": h.env.AEM_API_KEY ?? "" },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: Array<{ fileName: string; assetMetadata?: unknown }> }).items;
}

async function terminal(id: string): Promise<IngestRecord> {
  return waitFor(`ingest ${id} to end`, async () => {
    const record = await h.deps.records.get(id);
    return record && ["completed", "failed"].includes(record.state) ? record : undefined;
  });
}

describe("aem target", () => {
  it("imports several packages of one folder in one request and completes them all", async () => {
    const before = count(aemCalls("importFromUrl"), "202");
    const window = randomUUID();
    const ids = [
      await seed("e1", ["poster.jpg"]),
      await seed("e2", ["poster.jpg", "thumb.png"]),
      await seed("e3", []),
    ];
    for (let i = 0; i < ids.length; i += 1) await flush(window);

    const records = await Promise.all(ids.map(terminal));
    expect(records.map((r) => r.state)).toEqual(["completed", "completed", "completed"]);
    expect(count(aemCalls("importFromUrl"), "202") - before).toBe(1);
    const jobIds = new Set(records.map((r) => r.upstream.aemJobId));
    expect(jobIds.size).toBe(1);
    expect([...jobIds][0]).toMatch(/^[0-9a-f-]{36}$/);
    // The batch is released: nothing left in flight for the folder.
    expect(await h.deps.redis.exists(`${h.prefix}:aem:${FOLDER}:inflight:owner`)).toBe(0);
  });

  it("fails only the ingest whose file failed, naming the file", async () => {
    await h.scenario({ modules: { aem: { failFiles: ["broken-poster.jpg"] } } });
    try {
      const window = randomUUID();
      const good = await seed("fine", ["poster.jpg"]);
      const bad = await seed("broken", ["poster.jpg", "thumb.png"]);
      await flush(window);
      const [okRecord, badRecord] = [await terminal(good), await terminal(bad)];
      expect(okRecord.state).toBe("completed");
      expect(badRecord.state).toBe("failed");
      expect(badRecord.lastError).toMatch(/^poster\.jpg: .*broken-poster\.jpg failed/);
      expect(badRecord.lastError).not.toContain("thumb.png");
      expect(okRecord.upstream.aemJobId).toBe(badRecord.upstream.aemJobId);
    } finally {
      await h.scenario({ modules: { aem: { failFiles: null } } });
    }
  });

  it("polls conditionally and no sooner than Retry-After", async () => {
    // 4 s of real time at the harness speed, with Retry-After: 1 (s) while processing.
    await h.scenario({ modules: { aem: { jobDurationMs: 4_000_000, retryAfterSeconds: 1_000 } } });
    try {
      const before = aemCalls("getImportJobStatus");
      const id = await seed("slow", []);
      await flush(randomUUID());
      expect((await terminal(id)).state).toBe("completed");
      const after = aemCalls("getImportJobStatus");
      const delta = (status: string) => count(after, status) - count(before, status);
      expect(delta("304")).toBeGreaterThanOrEqual(1);
      expect(delta("303")).toBe(1);
      // POLL_MAX_DELAY_MS is 200 ms in the harness: without the Retry-After floor 4 s take ~20 polls.
      expect(delta("200") + delta("304") + delta("303")).toBeLessThanOrEqual(8);
    } finally {
      await h.scenario({ modules: { aem: { jobDurationMs: null, retryAfterSeconds: null } } });
    }
  });

  it("imports again after an ambiguous failure, resuming the same batch", async () => {
    await h.scenario({ faults: { aem: { importFromUrl: { errorAfterEffect: { "500": 1 } } } } });
    let cleared = false;
    try {
      const before = aemCalls("importFromUrl");
      const jobsBefore = Number((h.sim.stats().modules.aem as { jobs: number }).jobs);
      const ids = [await seed("amb1", ["poster.jpg"]), await seed("amb2", [])];
      await flush(randomUUID());
      await waitFor(
        "the ambiguous import",
        () => count(aemCalls("importFromUrl"), "500") > count(before, "500"),
      );
      await h.scenario({ faults: { aem: { importFromUrl: null } } });
      cleared = true;
      const records = await Promise.all(ids.map(terminal));
      expect(records.map((r) => r.state)).toEqual(["completed", "completed"]);
      expect(count(aemCalls("importFromUrl"), "202") - count(before, "202")).toBe(1);
      // Two jobs exist upstream (the seed offers no lookup to find the first); the records follow the one seen.
      expect(Number((h.sim.stats().modules.aem as { jobs: number }).jobs) - jobsBefore).toBe(2);
      expect(records[0]!.upstream.aemJobId).toBe(records[1]!.upstream.aemJobId);
    } finally {
      if (!cleared) await h.scenario({ faults: { aem: { importFromUrl: null } } });
    }
  });

  it("sends the route's metadata mapping for each package's files, one request per distinct metadata", async () => {
    const before = count(aemCalls("importFromUrl"), "202");
    const window = randomUUID();
    const full = await seed("m1", ["poster.jpg"], {
      route: "dam-meta",
      sidecar: {
        summary: "A storm",
        categories: ["news", "weather"],
        metadata: { season: "3", other: "unmapped" },
      },
    });
    // No summary, no categories, no season: those properties are left out, not sent empty.
    const sparse = await seed("m2", [], { route: "dam-meta" });
    await flush(window, META_FOLDER);
    await flush(window, META_FOLDER);

    const [fullRecord, sparseRecord] = [await terminal(full), await terminal(sparse)];
    expect([fullRecord.state, sparseRecord.state]).toEqual(["completed", "completed"]);
    // assetMetadata is per request in the seed, so packages with different metadata are not batched.
    expect(count(aemCalls("importFromUrl"), "202") - before).toBe(2);
    expect(fullRecord.upstream.aemJobId).not.toBe(sparseRecord.upstream.aemJobId);

    const fullItems = await aemResult(fullRecord.upstream.aemJobId!);
    expect(fullItems.map((item) => item.fileName)).toEqual(["m1-video.mp4", "m1-poster.jpg"]);
    for (const item of fullItems) {
      expect(item.assetMetadata).toEqual({
        "dc:title": "Title m1",
        "dc:description": "A storm",
        "dc:subject": ["news", "weather"],
        "news:entryId": "m1",
        "xmp:season": "3",
      });
    }
    const sparseItems = await aemResult(sparseRecord.upstream.aemJobId!);
    expect(sparseItems.map((item) => item.assetMetadata)).toEqual([
      { "dc:title": "Title m2", "news:entryId": "m2" },
    ]);
  });

  it("skips ingests that ended before their flush ran", async () => {
    const before = count(aemCalls("importFromUrl"), "202");
    const id = await seed("gone", []);
    await h.deps.records.transition(id, "superseded");
    await flush(randomUUID());
    await waitFor(
      "the pending list to drain",
      async () => (await h.deps.redis.llen(`${h.prefix}:aem:${FOLDER}:pending`)) === 0,
    );
    await waitFor(
      "the batch to be released",
      async () => (await h.deps.redis.exists(`${h.prefix}:aem:${FOLDER}:inflight:owner`)) === 0,
    );
    expect(count(aemCalls("importFromUrl"), "202")).toBe(before);
    expect((await h.deps.records.get(id))?.state).toBe("superseded");
  });
});
