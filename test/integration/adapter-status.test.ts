import { beforeEach, describe, expect, it } from "vitest";
import { buildAtomFeed } from "../../src/adapters/ais/atom-feed.js";
import type { UpstreamClient, UpstreamRequest } from "../../src/adapters/http/upstream-client.js";
import type { VimondAdapters } from "../../src/adapters/index.js";
import { createStatusAdapter, type StatusAdapter } from "../../src/adapters/status/status-adapter.js";
import { vimondTenants } from "../../src/adapters/vimond-tenant.js";
import { ingestDetailsSchema, ingestListSchema } from "../../src/adapters/status/status-schemas.js";
import { mapIngestStatus, mapIngestTaskStatus } from "../../src/adapters/status/status-states.js";
import { upstreamUnknownStates } from "../../src/metrics/upstream-metrics.js";
import {
  createPushFeed,
  jsonBlocks,
  QUICK_AIS_SCENARIO,
  readSeed,
  simCounts,
  simEnv,
  upstreamFailure,
  useContractSimulator,
  waitFor,
} from "../support/adapter-harness.js";

const COMPANY = "3";

const { sim, pool } = useContractSimulator(5);
let adapters: VimondAdapters;
let status: StatusAdapter;
let feedId: string;

beforeEach(async () => {
  sim().setScenario(QUICK_AIS_SCENARIO);
  adapters = pool.make(simEnv(sim(), { AIS_COMPANY_ID: COMPANY, STATUS_TENANT: "vimond" }));
  status = adapters.status;
  feedId = await createPushFeed(sim(), COMPANY);
});

/**
 * Imports a video through AIS (which is what makes the Status API show an ingest) and returns the
 * asset id AIS assigned.
 */
async function importVideo(entryId: string, updated = "2024-05-01T10:00:00Z"): Promise<string> {
  const xml = buildAtomFeed({
    feedId: "urn:feed:status-test",
    title: "status test",
    updated,
    entries: [
      { id: entryId, title: entryId, updated, video: { url: `https://bucket.s3.example/${entryId}.mp4` } },
    ],
  });
  const { jobId, job } = await adapters.ais.pushFeed(feedId, xml);
  const video = job.tasks?.find((task) => task.type === "VIDEO");
  if (!video?.assetId) throw new Error(`push of ${entryId} (job ${jobId}) has no VIDEO task with an asset`);
  return video.assetId;
}

async function ingestOf(assetId: string, until: (s: string) => boolean) {
  return waitFor(`an ingest of asset ${assetId}`, async () => {
    const [latest] = await status.findIngests({ assetId });
    return latest && until(latest.status) ? latest : undefined;
  });
}

describe("Status adapter: ingest lifecycle", () => {
  it("follows a video ingest to completed and reads its pipeline steps", async () => {
    const assetId = await importVideo("v1");
    const ingest = await ingestOf(assetId, (s) => s === "completed");
    expect(ingest).toMatchObject({
      assetId,
      status: "completed",
      rawStatus: "COMPLETED",
      progress: 100,
      profileName: "1292397813",
    });
    expect(ingest.stage).toBeUndefined();
    expect(ingest.error).toBeUndefined();

    const details = await status.getIngest(ingest.id);
    expect(details).toMatchObject({ id: ingest.id, assetId, status: "completed", tenant: "vimond" });
    expect(details.tasks.map((t) => `${t.name}:${t.status}`)).toEqual([
      "RETRIEVAL:completed",
      "ENCODING:completed",
      "DISTRIBUTION:completed",
      "PLAYOUT:completed",
    ]);
    expect(details.tasks[0]?.rawStatus).toBe("TASK_COMPLETED");
  });

  it("keeps the stage of a running ingest and cancels it", async () => {
    sim().setScenario({ modules: { status: { durationsMs: { encoding: 600_000_000 } } } });
    const assetId = await importVideo("v2");
    const running = await ingestOf(assetId, (s) => s === "running");
    const encoding = await waitFor("the ENCODING stage", async () => {
      const [latest] = await status.findIngests({ assetId });
      return latest?.stage === "ENCODING" ? latest : undefined;
    });
    expect(encoding).toMatchObject({ id: running.id, status: "running", rawStatus: "ENCODING" });

    expect(await status.cancel(encoding.id)).toEqual({ status: "cancelled" });
    const cancelled = await status.getIngest(encoding.id);
    expect(cancelled).toMatchObject({ status: "cancelled", rawStatus: "CANCELLED" });
    expect(cancelled.tasks.at(-1)).toMatchObject({ name: "ENCODING", status: "cancelled" });
    // Cancelling what has ended is accepted and changes nothing.
    expect(await status.cancel(encoding.id)).toEqual({ status: "cancelled" });
    expect(sim().stats().modules.status).toMatchObject({ cancels: 1 });
  });

  it("reports failed ingests with the error's message, and skipped ones", async () => {
    sim().setScenario({ modules: { status: { fractions: { failed: 1 } } } });
    const failedAsset = await importVideo("v3");
    const failed = await ingestOf(failedAsset, (s) => s === "failed");
    expect(failed.error).toMatch(/ENCODING failed/);

    sim().setScenario({ modules: { status: { fractions: { failed: 0, skipped: 1 } } } });
    const skippedAsset = await importVideo("v4");
    expect((await ingestOf(skippedAsset, (s) => s === "skipped")).progress).toBe(20);
  });

  it("lists an asset's ingests newest first, up to the limit", async () => {
    const assetId = await importVideo("v5", "2024-05-01T10:00:00Z");
    await ingestOf(assetId, (s) => s === "completed");
    expect(await importVideo("v5", "2024-05-02T10:00:00Z")).toBe(assetId);
    const both = await waitFor("two ingests", async () => {
      const list = await status.findIngests({ assetId });
      return list.length === 2 ? list : undefined;
    });
    expect(Date.parse(both[0]!.startTime!)).toBeGreaterThan(Date.parse(both[1]!.startTime!));
    const [newest, ...rest] = await status.findIngests({ assetId, limit: 1 });
    expect(rest).toEqual([]);
    expect(newest?.id).toBe(both[0]?.id);
    expect(await status.findIngests({ assetId, profileName: "some-other-profile" })).toEqual([]);
  });

  it("answers cancel of an unknown ingest with not_found, and getIngest with a 404 error", async () => {
    expect(await status.cancel("00000000-0000-4000-8000-000000000000")).toEqual({ status: "not_found" });
    const error = await upstreamFailure(() => status.getIngest("00000000-0000-4000-8000-000000000000"));
    expect(error).toMatchObject({ status: 404, retryable: false, attempts: 1 });
  });
});

describe("Status adapter: tenant header", () => {
  it("sends X-Vimond-Tenant: another tenant sees nothing", async () => {
    const assetId = await importVideo("t1");
    const ingest = await ingestOf(assetId, () => true);
    const other = pool.make(simEnv(sim(), { STATUS_TENANT: "someone-else" })).status;
    expect(await other.findIngests({ assetId })).toEqual([]);
    expect((await upstreamFailure(() => other.getIngest(ingest.id))).status).toBe(404);
    expect(await other.cancel(ingest.id)).toEqual({ status: "not_found" });
  });

  it("sends a tenant on every call even when STATUS_TENANT is unset (the simulator requires one)", async () => {
    const assetId = await importVideo("t2");
    const ingest = await ingestOf(assetId, () => true);
    // No tenant variable at all: the seed's `vimond`, which is the simulator's tenant.
    const bare = pool.make(simEnv(sim())).status;
    expect((await bare.findIngests({ assetId })).map((i) => i.id)).toEqual([ingest.id]);
    expect((await bare.getIngest(ingest.id)).id).toBe(ingest.id);
    // VIMOND_TENANT and the older IMAGES_CACHE_TENANT are where the header comes from next.
    const tenantEnvs: Array<Record<string, string>> = [
      { VIMOND_TENANT: "acme" },
      { IMAGES_CACHE_TENANT: "acme" },
    ];
    for (const env of tenantEnvs) {
      const other = pool.make(simEnv(sim(), env)).status;
      expect(await other.findIngests({ assetId })).toEqual([]);
    }
    sim().setScenario({ modules: { status: { tenant: "acme" } } });
    const acmeAsset = await importVideo("t3");
    const acme = pool.make(simEnv(sim(), { VIMOND_TENANT: "acme" })).status;
    await waitFor("acme's ingest", async () => (await acme.findIngests({ assetId: acmeAsset }))[0]);
    expect(await bare.findIngests({ assetId: acmeAsset })).toEqual([]);
  });

  it("picks the tenant: STATUS_TENANT, then VIMOND_TENANT, then IMAGES_CACHE_TENANT, then vimond", () => {
    expect(vimondTenants(simEnv(sim()))).toEqual({ status: "vimond", imageCache: "vimond" });
    expect(vimondTenants(simEnv(sim(), { IMAGES_CACHE_TENANT: "img" }))).toEqual({
      status: "img",
      imageCache: "img",
    });
    expect(vimondTenants(simEnv(sim(), { VIMOND_TENANT: "v", IMAGES_CACHE_TENANT: "img" }))).toEqual({
      status: "v",
      imageCache: "img",
    });
    expect(vimondTenants(simEnv(sim(), { VIMOND_TENANT: "v", STATUS_TENANT: "s" }))).toEqual({
      status: "s",
      imageCache: "v",
    });
  });

  it("sends X-Vimond-Tenant on list, detail and cancel", async () => {
    const seen: Array<Record<string, string> | undefined> = [];
    const client: UpstreamClient = {
      upstream: "status",
      baseUrl: "http://seed.invalid",
      request: async <T>(request: UpstreamRequest<T>) => {
        seen.push(request.headers);
        const body = request.path.startsWith("/ingests/")
          ? { ingestId: "i", assetId: "a", status: "COMPLETED", tasks: [] }
          : { items: [], count: 0, cursor: null };
        return {
          status: 204,
          headers: {},
          body: (request.schema ? request.schema.parse(body) : body) as T,
          rawText: "",
        };
      },
      close: async () => {},
    };
    const adapter = createStatusAdapter({ client, tenant: "acme" });
    await adapter.findIngests({ assetId: "a" });
    await adapter.getIngest("i");
    await adapter.cancel("i");
    expect(seen).toEqual([
      { "x-vimond-tenant": "acme" },
      { "x-vimond-tenant": "acme" },
      { "x-vimond-tenant": "acme" },
    ]);
    expect(() => createStatusAdapter({ client, tenant: " " })).toThrow(/tenant/);
  });
});

describe("Status adapter: failures", () => {
  it("retries 5xx on reads and on cancel (DELETE is idempotent)", async () => {
    sim().setScenario({
      faults: {
        status: { listIngests: { errorRates: { "502": 1 } }, cancelIngest: { errorRates: { "503": 1 } } },
      },
    });
    const list = await upstreamFailure(() => status.findIngests({ assetId: "1" }));
    expect(list).toMatchObject({ status: 502, retryable: true, attempts: 3 });
    const cancel = await upstreamFailure(() => status.cancel("x"));
    expect(cancel).toMatchObject({ status: 503, retryable: true, ambiguous: false, attempts: 3 });
    expect(simCounts(sim(), "status", "cancelIngest")).toEqual({ "503": 3 });
  });

  it("honours Retry-After on 429", async () => {
    sim().setScenario({
      faults: { status: { listIngests: { burst429: { count: 1, retryAfterSeconds: 1 } } } },
    });
    const started = Date.now();
    expect(await status.findIngests({ assetId: "1" })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(simCounts(sim(), "status", "listIngests")).toEqual({ "429": 1, "200": 1 });
  });

  it("reports timeouts and connection resets", async () => {
    const impatient = pool.make(simEnv(sim(), { STATUS_TIMEOUT_MS: "300" }), {
      retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    }).status;
    sim().setScenario({
      faults: {
        status: { getIngest: { errorRates: { timeout: 1 } }, listIngests: { errorRates: { reset: 1 } } },
      },
    });
    expect(await upstreamFailure(() => impatient.getIngest("x"))).toMatchObject({
      status: "timeout",
      attempts: 2,
    });
    expect(await upstreamFailure(() => impatient.findIngests({ assetId: "1" }))).toMatchObject({
      status: "reset",
      attempts: 2,
    });
  });
});

describe("Status adapter: the seed's own examples", () => {
  /** A client that answers every request with one seed document, validated by the request's schema. */
  function seedClient(document: unknown): UpstreamClient {
    return {
      upstream: "status",
      baseUrl: "http://seed.invalid",
      request: async <T>(request: UpstreamRequest<T>) => ({
        status: 200,
        headers: {},
        body: request.schema ? request.schema.parse(document) : (document as T),
        rawText: JSON.stringify(document),
      }),
      close: async () => {},
    };
  }

  const seed = readSeed("002_30df27f1c8128abb.txt");
  const blocks = seed === undefined ? [] : jsonBlocks(seed);

  it("parses both list examples and the details example", ({ skip }) => {
    if (seed === undefined) skip("../shared/seeds is not beside the checkout");
    expect(blocks).toHaveLength(3);
    const [all, single, details] = blocks;
    expect(ingestListSchema.parse(all).items).toHaveLength(25);
    expect(ingestListSchema.parse(single).cursor).toBeUndefined();
    expect(ingestDetailsSchema.parse(details).tasks).toHaveLength(1);
  });

  it("maps the examples through the adapter without unknown states", async ({ skip }) => {
    if (seed === undefined) skip("../shared/seeds is not beside the checkout");
    const [all, single, details] = blocks;
    const unknownBefore = (await upstreamUnknownStates.get()).values
      .filter((v) => v.labels.upstream === "status")
      .reduce((sum, v) => sum + v.value, 0);

    const fromList = await createStatusAdapter({ tenant: "vimond", client: seedClient(all) }).findIngests({
      assetId: "869214",
    });
    expect(fromList).toEqual([
      expect.objectContaining({
        id: "ff0dac68-5cdd-4d9b-9fc8-915668a9df8c",
        status: "completed",
        progress: 100,
        profileName: "331456700",
      }),
    ]);
    const skipped = await createStatusAdapter({ tenant: "vimond", client: seedClient(all) }).findIngests({
      assetId: "869216",
    });
    expect(skipped[0]?.status).toBe("skipped");
    const fromSingle = await createStatusAdapter({
      tenant: "vimond",
      client: seedClient(single),
    }).findIngests({
      assetId: "179057",
    });
    expect(fromSingle.map((i) => i.id)).toEqual(["d484cf3e-a329-438a-9896-b55e026f62c4"]);

    const detail = await createStatusAdapter({ tenant: "vimond", client: seedClient(details) }).getIngest(
      "ignored",
    );
    expect(detail).toMatchObject({
      id: "7dd40659-2494-45bc-b533-83e7deb97155",
      assetId: "867228",
      status: "skipped",
      tenant: "vimond",
      tasks: [{ name: "RETRIEVAL", status: "completed", rawStatus: "TASK_COMPLETED", progress: 100 }],
    });

    const unknownAfter = (await upstreamUnknownStates.get()).values
      .filter((v) => v.labels.upstream === "status")
      .reduce((sum, v) => sum + v.value, 0);
    expect(unknownAfter).toBe(unknownBefore);
  });
});

describe("Status state mapping (unit)", () => {
  it("maps phases to running with the stage kept, and final states", () => {
    expect(mapIngestStatus("RETRIEVAL")).toEqual({ status: "running", stage: "RETRIEVAL" });
    expect(mapIngestStatus("encoding")).toEqual({ status: "running", stage: "ENCODING" });
    expect(mapIngestStatus("Distribution")).toEqual({ status: "running", stage: "DISTRIBUTION" });
    expect(mapIngestStatus("PLAYOUT")).toEqual({ status: "running", stage: "PLAYOUT" });
    expect(mapIngestStatus("COMPLETED")).toEqual({ status: "completed" });
    expect(mapIngestStatus("FAILED")).toEqual({ status: "failed" });
    expect(mapIngestStatus("SKIPPED")).toEqual({ status: "skipped" });
    expect(mapIngestStatus("canceled")).toEqual({ status: "cancelled" });
    expect(mapIngestStatus("PENDING")).toEqual({ status: "pending" });
    expect(mapIngestTaskStatus("TASK_RUNNING")).toBe("running");
    expect(mapIngestTaskStatus("TASK_FAILED")).toBe("failed");
  });

  it("maps an unknown status to unknown and counts it", async () => {
    const count = async () =>
      (await upstreamUnknownStates.get()).values.find(
        (v) =>
          v.labels.upstream === "status" &&
          v.labels.field === "ingest.status" &&
          v.labels.value === "REWINDING",
      )?.value ?? 0;
    const before = await count();
    expect(mapIngestStatus("rewinding")).toEqual({ status: "unknown" });
    expect(await count()).toBe(before + 1);
  });
});
