import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ASSET_STATUS_NAMES, resolveAssetStatus } from "../../src/adapters/assets/asset-status.js";
import { createAssetsAdapter, type AssetsAdapter } from "../../src/adapters/assets/assets-adapter.js";
import { oauthClientCredentials } from "../../src/adapters/http/auth/oauth-client-credentials.js";
import { staticBearerToken } from "../../src/adapters/http/auth/static-token.js";
import type { UpstreamHttpSettings } from "../../src/adapters/http/upstream-client.js";
import { UpstreamError } from "../../src/adapters/http/upstream-error.js";
import { upstreamUnknownStates } from "../../src/metrics/upstream-metrics.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../support/wait-for-value.js";

const SEED = path.resolve(process.cwd(), "../shared/seeds/001_9800f149d34b34d1.txt");
const MISSING_GUID = "00000000-0000-4000-8000-000000000000";

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

let sim: RunningSimulator;
const closers: Array<() => Promise<void>> = [];
let waits: number[] = [];

/** Fast, recorded backoff: the waits are asserted, not spent. */
function settings(overrides: Partial<UpstreamHttpSettings> = {}): UpstreamHttpSettings {
  return {
    upstream: "assets",
    baseUrl: sim.urls.assets,
    auth: staticBearerToken(sim.token),
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5_000, maxTotalMs: 30_000 },
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  };
}

function adapter(overrides: Partial<UpstreamHttpSettings> = {}): AssetsAdapter {
  const created = createAssetsAdapter(settings(overrides));
  closers.push(() => created.close());
  return created;
}

function simCount(operation: string, status: string): number {
  return sim.stats().requests[`assets.${operation}`]?.[status] ?? 0;
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, speed: 1000, holdMs: 5_000 });
});

afterAll(async () => {
  await sim.stop();
});

beforeEach(() => {
  sim.reset();
  waits = [];
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe("Asset Management adapter against the simulator", () => {
  it("registers objects and reports Registering, Creating and Available by the seed's codes", async () => {
    const assets = adapter();
    // Simulated durations of a week: these two stay in their first status for the whole test.
    sim.setScenario({ modules: { assets: { durationMs: 604_800_000, registeringShare: 1 } } });
    const { assetId: registering } = await assets.register({ bucketName: "media", objectKey: "a/reg.mp4" });
    sim.setScenario({ modules: { assets: { registeringShare: 0 } } });
    const { assetId: creating } = await assets.register({ bucketName: "media", objectKey: "a/creating.mp4" });
    sim.setScenario({ modules: { assets: { durationMs: 1_000, registeringShare: 0.5 } } });
    const { assetId: quick } = await assets.register({ bucketName: "media", objectKey: "a/quick.mp4" });

    expect(await assets.getAsset(registering)).toMatchObject({
      id: registering,
      status: "registering",
      statusCode: 5,
      statusName: "Registering",
    });
    const view = await assets.getAsset(creating);
    expect(view).toMatchObject({ status: "creating", statusCode: 21, statusName: "Creating" });
    expect(view.raw).toMatchObject({ bucketName: "media", objectKey: "a/creating.mp4" });
    const final = await waitFor("Available", async () => {
      const asset = await assets.getAsset(quick);
      expect(["registering", "creating", "available"]).toContain(asset.status);
      return asset.status === "available" ? asset : undefined;
    });
    expect(final).toMatchObject({ statusCode: 1, statusName: "Available" });
  });

  it("registers under a parent folder and finds the asset by its storage location", async () => {
    const assets = adapter();
    const parent = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    const key = "folder/with space+plus%.mp4";
    const { assetId } = await assets.register({ bucketName: "media", objectKey: key, parentFolder: parent });
    expect((await assets.getAsset(assetId)).raw).toMatchObject({ parentId: parent });
    const found = await assets.findByLocation("media", key);
    expect(found?.id).toBe(assetId);
    expect(await assets.findByLocation("media", "folder/never-registered.mp4")).toBeUndefined();
  });

  it("reports Error with its message and job history, and a Reprocess that then succeeds", async () => {
    const assets = adapter();
    sim.setScenario({ modules: { assets: { failKeys: ["broken"], failFirst: 1, durationMs: 1_000 } } });
    const { assetId } = await assets.register({ bucketName: "media", objectKey: "x/broken.mp4" });
    const errored = await waitFor("Error", async () => {
      const asset = await assets.getAsset(assetId);
      return asset.status === "error" ? asset : undefined;
    });
    expect(errored).toMatchObject({ statusCode: 17, statusName: "Error" });
    expect(errored.errorMessage).toContain("x/broken.mp4");

    const history = await assets.jobHistory(assetId);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ jobType: "Register", status: "Failed" });
    expect(history[0]?.error).toContain("failed");
    expect(history[0]?.startTime).toBeDefined();

    const result = await assets.reprocess([assetId, MISSING_GUID]);
    expect(result.succeeded).toEqual([assetId]);
    expect(result.failed).toEqual([{ id: MISSING_GUID, reason: "Asset not found" }]);
    await waitFor("Available after reprocess", async () =>
      (await assets.getAsset(assetId)).status === "available" ? true : undefined,
    );
    const after = await assets.jobHistory(assetId);
    expect(after.map((job) => [job.jobType, job.status, job.error])).toEqual([
      ["Register", "Failed", expect.any(String)],
      ["Reprocess", "Completed", undefined],
    ]);
    expect(await assets.reprocess([])).toEqual({ succeeded: [], failed: [] });
  });

  it("answers 404 for an unknown asset and for a missing object, 403 for a forbidden bucket", async () => {
    const assets = adapter();
    const missing = await failure(assets.getAsset(MISSING_GUID));
    expect(missing).toMatchObject({
      status: 404,
      retryable: false,
      upstream: "assets",
      operation: "getAsset",
    });
    expect((await failure(assets.jobHistory(MISSING_GUID))).status).toBe(404);
    sim.setScenario({ modules: { assets: { missingKeys: ["gone/"], forbiddenBuckets: ["secret"] } } });
    const gone = await failure(assets.register({ bucketName: "media", objectKey: "gone/a.mp4" }));
    expect(gone).toMatchObject({ status: 404, ambiguous: false });
    const forbidden = await failure(assets.register({ bucketName: "secret", objectKey: "a.mp4" }));
    expect(forbidden).toMatchObject({ status: 403, retryable: false });
  });

  it("retries a read through a 429 burst honouring Retry-After", async () => {
    const assets = adapter();
    const { assetId } = await assets.register({ bucketName: "media", objectKey: "r/429.mp4" });
    sim.setScenario({ faults: { assets: { getAsset: { burst429: { count: 2, retryAfterSeconds: 1 } } } } });
    waits = [];
    await expect(assets.getAsset(assetId)).resolves.toMatchObject({ id: assetId });
    expect(simCount("getAsset", "429")).toBe(2);
    expect(waits).toHaveLength(2);
    expect(waits.every((ms) => ms >= 1_000)).toBe(true);
  });

  it("gives up on persistent 5xx after the retry budget, retryable, and never retries a register", async () => {
    const assets = adapter();
    sim.setScenario({ faults: { assets: { "*": { errorRates: { "503": 1 } } } } });
    const read = await failure(assets.getAsset(MISSING_GUID));
    expect(read).toMatchObject({ status: 503, retryable: true, attempts: 3 });
    expect(simCount("getAsset", "503")).toBe(3);
    const write = await failure(assets.register({ bucketName: "media", objectKey: "r/5xx.mp4" }));
    // A 5xx on a POST may have half-applied: not retried, flagged for reconciliation.
    expect(write).toMatchObject({ status: 503, ambiguous: true, attempts: 1 });
    expect(simCount("registerAsset", "503")).toBe(1);
  });

  it("flags a register whose response was lost as ambiguous; findByLocation reconciles it", async () => {
    const assets = adapter();
    sim.setScenario({ faults: { assets: { registerAsset: { errorAfterEffect: { reset: 1 } } } } });
    const lost = await failure(assets.register({ bucketName: "media", objectKey: "r/lost.mp4" }));
    expect(lost).toMatchObject({ status: "reset", ambiguous: true });
    const found = await assets.findByLocation("media", "r/lost.mp4");
    expect(found?.status).toMatch(/registering|creating|available/);
    expect((sim.stats().modules.assets as { registrations: number }).registrations).toBe(1);
  });

  it("times out a held request per the headers timeout and retries reads", async () => {
    const assets = adapter({ headersTimeoutMs: 300 });
    sim.setScenario({ faults: { assets: { getAsset: { errorRates: { timeout: 1 } } } } });
    const started = Date.now();
    const error = await failure(assets.getAsset(MISSING_GUID));
    expect(error).toMatchObject({ status: "timeout", retryable: true, attempts: 3 });
    // Three attempts held until the simulator drops them would take 15 s.
    expect(Date.now() - started).toBeLessThan(12_000);
    sim.setScenario({ faults: { assets: { getAsset: { errorRates: { reset: 1 } } } } });
    expect(await failure(assets.getAsset(MISSING_GUID))).toMatchObject({ status: "reset", attempts: 3 });
  });

  it("gets a fresh OAuth token after the simulator expires the cached one", async () => {
    sim.setScenario({ auth: { tokenTtlMs: 300 } });
    const frozen = Date.now();
    // A frozen clock: the provider keeps its token, so the server is the one to say it expired.
    const auth = oauthClientCredentials({
      tokenUrl: `${sim.urls.assets}/oauth/token`,
      clientId: "worker",
      clientSecret: "secret",
      now: () => frozen,
    });
    closers.push(() => auth.close());
    const assets = adapter({ auth });
    const { assetId } = await assets.register({ bucketName: "media", objectKey: "t/token.mp4" });
    const stale = await auth.header();
    await waitFor("the token to expire", async () => {
      const res = await fetch(`${sim.urls.assets}/admin/asset/${assetId}`, {
        headers: { authorization: stale! },
      });
      await res.arrayBuffer();
      return res.status === 401 ? true : undefined;
    });
    await expect(assets.getAsset(assetId)).resolves.toMatchObject({ id: assetId });
    expect(simCount("getAsset", "401")).toBeGreaterThanOrEqual(2);
    expect(simCount("oauthToken", "200")).toBe(2);
  });

  it("maps every status of the seed's table to its code and name; unknown ones to a metric", async () => {
    if (!existsSync(SEED)) {
      console.warn(`seed 001 not found at ${SEED}: skipping the status-table check`);
      return;
    }
    const text = readFileSync(SEED, "utf8");
    const section = text.slice(text.indexOf("Asset Statuses"), text.indexOf("Multipart Upload Flow"));
    const rows = [...section.matchAll(/^(\w+) \| (\d+) \| [^|\n]+\|$/gm)].map((m) => ({
      name: m[1]!,
      code: Number(m[2]),
    }));
    expect(rows.length).toBe(21);
    for (const { name, code } of rows) {
      expect(ASSET_STATUS_NAMES[code]).toBe(name);
      expect(resolveAssetStatus(code)).toMatchObject({ statusCode: code, statusName: name });
      expect(resolveAssetStatus(name.toUpperCase())).toMatchObject({ statusCode: code });
      expect(resolveAssetStatus(code).status).not.toBe("unknown");
    }
    expect(Object.keys(ASSET_STATUS_NAMES)).toHaveLength(rows.length);
    const count = async () =>
      (await upstreamUnknownStates.get()).values.find(
        (v) => v.labels.upstream === "assets" && v.labels.value === "99",
      )?.value ?? 0;
    const before = await count();
    expect(resolveAssetStatus(99)).toEqual({ status: "unknown", statusCode: 99 });
    expect(await count()).toBe(before + 1);
  });
});
