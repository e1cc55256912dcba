import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  aemSettingsFromEnv,
  createAemAdapter,
  InvalidAemImportError,
  type AemAdapter,
  type AemAdapterSettings,
} from "../../src/adapters/aem/aem-adapter.js";
import {
  importAcceptedSchema,
  jobStatusSchema,
  resultPageSchema,
} from "../../src/adapters/aem/aem-schemas.js";
import {
  assetIdOfEvent,
  InvalidCloudEventError,
  parseAemCloudEvent,
} from "../../src/adapters/aem/cloud-events.js";
import { staticBearerToken } from "../../src/adapters/http/auth/static-token.js";
import { UpstreamConfigError } from "../../src/adapters/upstream-settings.js";
import { parseEnv, requireUpstreams } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { UpstreamError } from "../../src/adapters/http/upstream-error.js";
import { upstreamUnknownStates } from "../../src/metrics/upstream-metrics.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { closeServer, listenOnLoopback } from "../support/loopback-server.js";
import { waitFor } from "../support/wait-for-value.js";

const SEED = path.resolve(process.cwd(), "../shared/seeds/003_414aa4b6acaa4b66.txt");
const UNKNOWN_JOB = "b79f5f05-06e2-4d12-a5ae-ad9bc308fccf";

async function failure<E = UpstreamError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

let sim: RunningSimulator;
let origin: Server;
let originUrl: string;
let hook: Server;
let hookUrl: string;
const delivered: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
const closers: Array<() => Promise<void>> = [];
let waits: number[] = [];

/** The simulator takes any non-empty key unless the scenario names one. */
const API_KEY = "adapter-test-key";

function adapter(overrides: Partial<AemAdapterSettings> = {}): AemAdapter {
  const created = createAemAdapter({
    upstream: "aem",
    baseUrl: sim.urls.aem,
    auth: staticBearerToken(sim.token),
    apiKey: API_KEY,
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 5_000, maxTotalMs: 30_000 },
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  closers.push(() => created.close());
  return created;
}

const files = (count: number, prefix = "f") =>
  Array.from({ length: count }, (_, i) => ({
    fileName: `${prefix}${String(i).padStart(3, "0")}.png`,
    url: `${originUrl}/ok/${prefix}${i}.png`,
    mimeType: "image/png",
    fileSize: 9,
  }));

function simCount(operation: string, status: string): number {
  return sim.stats().requests[`aem.${operation}`]?.[status] ?? 0;
}

beforeAll(async () => {
  origin = createServer((req, res) => {
    res.writeHead(req.url?.startsWith("/ok/") ? 200 : 404, { "content-type": "image/png" });
    res.end("png-bytes");
  });
  originUrl = await listenOnLoopback(origin);
  hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      delivered.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200);
      res.end();
    });
  });
  hookUrl = `${await listenOnLoopback(hook)}/v1/events/cloudevents`;
  sim = await startSimulator({ port: 0, speed: 1000, holdMs: 5_000 });
});

afterAll(async () => {
  await sim.stop();
  await closeServer(origin);
  await closeServer(hook);
});

beforeEach(() => {
  sim.reset();
  sim.setScenario({ modules: { aem: { verifyUrls: false } } });
  delivered.length = 0;
  waits = [];
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe("AEM adapter against the simulator", () => {
  it("imports from URLs, then polls status with Retry-After and ETag (304 while nothing changed)", async () => {
    const aem = adapter();
    // A week of simulated time: the job stays PROCESSING; Retry-After 5000 simulated s → 5 s.
    sim.setScenario({ modules: { aem: { jobDurationMs: 604_800_000, retryAfterSeconds: 5_000 } } });
    const { jobId, statusUrl } = await aem.importFromUrl({ folder: "/content/dam/ingest", files: files(2) });
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(statusUrl).toBe(`${sim.urls.aem}/import/jobs/${jobId}/status`);

    const processing = await aem.getStatus(jobId);
    expect(processing).toMatchObject({ kind: "processing", retryAfterMs: 5_000 });
    const etag = processing.kind === "processing" ? processing.etag : undefined;
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    await expect(aem.getStatus(jobId, etag)).resolves.toEqual({ kind: "not-modified", retryAfterMs: 5_000 });
    expect(simCount("getImportJobStatus", "304")).toBe(1);
  });

  it("surfaces the 303 to the result as done without following it, then reads the result", async () => {
    const aem = adapter();
    sim.setScenario({ modules: { aem: { jobDurationMs: 2_000, webhookUrl: hookUrl } } });
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/ingest/", files: files(3) });
    const first = await aem.getStatus(jobId);
    const staleTag = first.kind === "processing" ? first.etag : undefined;
    const done = await waitFor("the job to settle", async () => {
      const status = await aem.getStatus(jobId, staleTag);
      return status.kind === "done" ? status : undefined;
    });
    expect(done).toEqual({
      kind: "done",
      resultUrl: `${sim.urls.aem}/import/jobs/${jobId}/result`,
      state: "COMPLETED",
    });
    expect(simCount("getImportJobStatus", "303")).toBeGreaterThanOrEqual(1);
    // undici did not follow the redirect: nothing asked for the result yet.
    expect(simCount("getImportJobResult", "200")).toBe(0);

    const { items } = await aem.getResult(jobId);
    expect(items).toHaveLength(3);
    for (const [i, item] of items.entries()) {
      expect(item).toMatchObject({
        fileName: `f00${i}.png`,
        state: "imported",
        url: `${originUrl}/ok/f${i}.png`,
        path: `/content/dam/ingest/f00${i}.png`,
      });
      expect(item.assetId).toMatch(/^urn:aaid:aem:/);
      expect(item.error).toBeUndefined();
    }

    // Completion also arrives as structured-mode CloudEvents, one per imported file.
    await waitFor("three CloudEvents", () => (delivered.length >= 3 ? true : undefined));
    const events = delivered.map((d) => parseAemCloudEvent(d.body, d.headers));
    for (const event of events) {
      expect(event).toMatchObject({
        mode: "structured",
        type: "aem.assets.asset.processing_completed",
        source: "acct:aem-p12345-e67890@adobe.com",
        specversion: "1.0",
      });
      expect(event.time).toBeDefined();
    }
    expect(new Set(events.map(assetIdOfEvent))).toEqual(new Set(items.map((item) => item.assetId)));
  });

  it("follows the result cursor across pages (120 files → 50 + 50 + 20)", async () => {
    const aem = adapter();
    sim.setScenario({ modules: { aem: { jobDurationMs: 100 } } });
    const { jobId } = await aem.importFromUrl({ folder: "urn:aaid:aem:folder-1", files: files(120) });
    await waitFor("done", async () => ((await aem.getStatus(jobId)).kind === "done" ? true : undefined));
    const { items } = await aem.getResult(jobId);
    expect(items.map((item) => item.fileName)).toEqual(files(120).map((file) => file.fileName));
    expect(items.every((item) => item.state === "imported" && item.path === undefined)).toBe(true);
    expect(simCount("getImportJobResult", "200")).toBe(3);
  });

  it("reports failed files with a one-line error: scripted failures and undownloadable URLs", async () => {
    const aem = adapter();
    sim.setScenario({ modules: { aem: { jobDurationMs: 100, failFiles: ["bad-*"], verifyUrls: true } } });
    const input = [
      ...files(1, "good-"),
      ...files(1, "bad-"),
      { fileName: "missing.png", url: `${originUrl}/missing.png` },
    ];
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/mixed", files: input });
    const done = await waitFor("done", async () => {
      const status = await aem.getStatus(jobId);
      return status.kind === "done" ? status : undefined;
    });
    expect(done.state).toBe("COMPLETED");
    const { items } = await aem.getResult(jobId);
    expect(items.map((item) => [item.fileName, item.state])).toEqual([
      ["good-000.png", "imported"],
      ["bad-000.png", "failed"],
      ["missing.png", "failed"],
    ]);
    expect(items[1]?.error).toContain("scripted failure");
    expect(items[2]?.error).toContain("Could not download");
    expect(items[1]?.assetId).toBeUndefined();
  });

  it("refuses more than 300 files, no files, and a bad folder before sending anything", async () => {
    const aem = adapter();
    const tooMany = await failure(
      aem.importFromUrl({ folder: "/content/dam/x", files: files(301) }),
      InvalidAemImportError,
    );
    expect(tooMany.message).toContain("300");
    expect(tooMany.message).toContain("301");
    await failure(aem.importFromUrl({ folder: "/content/dam/x", files: [] }), InvalidAemImportError);
    await failure(aem.importFromUrl({ folder: "/tmp/x", files: files(1) }), InvalidAemImportError);
    expect(sim.stats().requests["aem.importFromUrl"]).toBeUndefined();
    await expect(aem.importFromUrl({ folder: "/content/dam/x", files: files(300) })).resolves.toHaveProperty(
      "jobId",
    );
  });

  it("sends assetMetadata on the request (seed 003), which the simulator applies to every file", async () => {
    const aem = adapter();
    sim.setScenario({ modules: { aem: { jobDurationMs: 100 } } });
    const assetMetadata = { "dc:title": "Storm", "dc:subject": ["news", "weather"] };
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/x", files: files(2), assetMetadata });
    await waitFor("done", async () => ((await aem.getStatus(jobId)).kind === "done" ? true : undefined));
    const raw = await fetch(`${sim.urls.aem}/import/jobs/${jobId}/result`, {
      headers: { authorization: `Bearer ${sim.token}`, "x-api-key": API_KEY },
    });
    const body = (await raw.json()) as { items: Array<{ assetMetadata?: unknown }> };
    expect(body.items.map((item) => item.assetMetadata)).toEqual([assetMetadata, assetMetadata]);

    // A value that is neither a string nor a list of strings is refused before sending...
    const bad = { "dc:title": 7 } as unknown as Record<string, string>;
    await failure(
      aem.importFromUrl({ folder: "/content/dam/x", files: files(1), assetMetadata: bad }),
      InvalidAemImportError,
    );
    // ...and the simulator answers a wrongly typed assetMetadata with 400, as the seed's server would.
    for (const wrong of ["dc:title=Storm", ["Storm"], { "dc:title": { nested: true } }]) {
      const res = await fetch(`${sim.urls.aem}/import/from-url`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${sim.token}`,
          "x-api-key": API_KEY,
          "content-type": "application/json",
        },
        body: JSON.stringify({ folder: "/content/dam/x", files: files(1), assetMetadata: wrong }),
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("assetMetadata");
    }
  });

  it("answers 404 for an unknown job and for the result of an unsettled one; 403 for a forbidden folder", async () => {
    const aem = adapter();
    expect(await failure(aem.getStatus(UNKNOWN_JOB), UpstreamError)).toMatchObject({ status: 404 });
    sim.setScenario({
      modules: { aem: { jobDurationMs: 604_800_000, forbiddenFolders: ["/content/dam/private*"] } },
    });
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/x", files: files(1) });
    expect(await failure(aem.getResult(jobId), UpstreamError)).toMatchObject({
      status: 404,
      retryable: false,
    });
    const forbidden = await failure(
      aem.importFromUrl({ folder: "/content/dam/private/a", files: files(1) }),
      UpstreamError,
    );
    expect(forbidden).toMatchObject({ status: 403, ambiguous: false });
  });

  it("retries status polls through 429 (honouring Retry-After), 5xx, resets and timeouts", async () => {
    const aem = adapter({ headersTimeoutMs: 300 });
    sim.setScenario({ modules: { aem: { jobDurationMs: 604_800_000 } } });
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/x", files: files(1) });

    sim.setScenario({
      faults: { aem: { getImportJobStatus: { burst429: { count: 2, retryAfterSeconds: 2 } } } },
    });
    await expect(aem.getStatus(jobId)).resolves.toMatchObject({ kind: "processing" });
    expect(waits.filter((ms) => ms >= 2_000)).toHaveLength(2);

    for (const fault of ["500", "reset", "timeout"] as const) {
      sim.setScenario({ faults: { aem: { getImportJobStatus: { errorRates: { [fault]: 1 } } } } });
      const error = await failure(aem.getStatus(jobId), UpstreamError);
      expect(error).toMatchObject({ retryable: true, attempts: 3 });
      expect(error.status).toBe(fault === "500" ? 500 : fault);
    }
    sim.setScenario({ faults: { aem: null } });
    await expect(aem.getStatus(jobId)).resolves.toMatchObject({ kind: "processing" });
  });

  it("sends the API key as x-api-key with every request (seed 003: Bearer and ApiKeyAuth)", async () => {
    sim.setScenario({ modules: { aem: { jobDurationMs: 100, apiKey: API_KEY } } });
    const aem = adapter();
    const { jobId } = await aem.importFromUrl({ folder: "/content/dam/x", files: files(1) });
    await waitFor("done", async () => ((await aem.getStatus(jobId)).kind === "done" ? true : undefined));
    await expect(aem.getResult(jobId)).resolves.toMatchObject({ items: [{ state: "imported" }] });
    // The simulator refuses any other key with 401, and the adapter surfaces it without retrying.
    const wrong = adapter({ apiKey: "someone-elses-key" });
    const refused = await failure(wrong.getStatus(jobId), UpstreamError);
    expect(refused).toMatchObject({ status: 401, retryable: false });
    expect(simCount("getImportJobStatus", "401")).toBeGreaterThanOrEqual(1);
  });

  it("is not built without AEM_API_KEY, and routes to AEM do not start without it", () => {
    const env = parseEnv({ AEM_BASE_URL: sim.urls.aem, AEM_TOKEN: sim.token });
    expect(() => aemSettingsFromEnv(env)).toThrow(UpstreamConfigError);
    expect(() => aemSettingsFromEnv(env)).toThrow(/AEM_API_KEY/);
    const routes = parseRoutes({
      routes: [{ name: "dam", bucket: "media", target: "aem", aem: { folder: "/content/dam/news" } }],
    });
    expect(() => requireUpstreams(env, routes)).toThrow(/AEM_API_KEY must be set .*routes dam need it/);
    const keyed = parseEnv({ AEM_BASE_URL: sim.urls.aem, AEM_TOKEN: sim.token, AEM_API_KEY: "key" });
    expect(() => requireUpstreams(keyed, routes)).not.toThrow();
    expect(aemSettingsFromEnv(keyed)).toMatchObject({ upstream: "aem", apiKey: "key" });
  });

  it("never retries an import: a 5xx or a lost response is ambiguous", async () => {
    const aem = adapter();
    sim.setScenario({ faults: { aem: { importFromUrl: { errorRates: { "502": 1 } } } } });
    const error = await failure(
      aem.importFromUrl({ folder: "/content/dam/x", files: files(1) }),
      UpstreamError,
    );
    expect(error).toMatchObject({ status: 502, ambiguous: true, attempts: 1 });
    sim.setScenario({ faults: { aem: { importFromUrl: { errorAfterEffect: { reset: 1 } } } } });
    const lost = await failure(
      aem.importFromUrl({ folder: "/content/dam/x", files: files(1) }),
      UpstreamError,
    );
    expect(lost).toMatchObject({ status: "reset", ambiguous: true });
    expect((sim.stats().modules.aem as { jobs: number }).jobs).toBe(1);
  });
});

describe("AEM adapter against a server shaped like the seed", () => {
  it("takes the job id from Location when data has none, and a 200 with a settled state as done", async () => {
    const server = createServer((req, res) => {
      if (req.method === "POST") {
        res.writeHead(202, {
          "content-type": "application/json",
          location: `/import/jobs/${UNKNOWN_JOB}/status`,
        });
        res.end(
          JSON.stringify({
            operation: "aem.assets.import.fromurl",
            status: 200,
            description: "OK",
            data: {},
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: UNKNOWN_JOB, state: "Failed", progress: {}, errors: [], warnings: [] }));
    });
    const url = await listenOnLoopback(server);
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const aem = createAemAdapter({ upstream: "aem-seed", baseUrl: url, apiKey: "k" });
    closers.push(() => aem.close());
    const { jobId, statusUrl } = await aem.importFromUrl({ folder: "urn:aaid:aem:f", files: files(1) });
    expect(jobId).toBe(UNKNOWN_JOB);
    expect(statusUrl).toBe(`${url}/import/jobs/${UNKNOWN_JOB}/status`);
    await expect(aem.getStatus(jobId)).resolves.toEqual({
      kind: "done",
      resultUrl: `${url}/import/jobs/${UNKNOWN_JOB}/result`,
      state: "Failed",
    });
  });
});

describe("AEM adapter with states it does not know", () => {
  it("treats an unknown job state as processing and an unknown item state as unknown, counting both", async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          req.url?.includes("/result")
            ? { items: [{ fileName: "a.png", state: "QUARANTINED" }] }
            : { id: UNKNOWN_JOB, state: "Reticulating" },
        ),
      );
    });
    const url = await listenOnLoopback(server);
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const aem = createAemAdapter({ upstream: "aem-odd", baseUrl: url, apiKey: "k" });
    closers.push(() => aem.close());
    const count = async (value: string) =>
      (await upstreamUnknownStates.get()).values.find(
        (v) => v.labels.upstream === "aem" && v.labels.value === value,
      )?.value ?? 0;
    const before = [await count("RETICULATING"), await count("QUARANTINED")];
    await expect(aem.getStatus(UNKNOWN_JOB)).resolves.toEqual({ kind: "processing" });
    await expect(aem.getResult(UNKNOWN_JOB)).resolves.toEqual({
      items: [{ fileName: "a.png", state: "unknown" }],
    });
    expect([await count("RETICULATING"), await count("QUARANTINED")]).toEqual([
      before[0]! + 1,
      before[1]! + 1,
    ]);
  });
});

describe("AEM CloudEvents", () => {
  const attributes = {
    specversion: "1.0",
    type: "aem.assets.asset.processing_completed",
    source: "acct:aem-p56789-e12345@adobe.com",
    id: "7c1104e5-4cd7-47d6-a50f-2568c480f2e9",
    time: "2018-04-05T17:31:00Z",
  };
  const data = { assetId: "urn:aaid:aem:1a034bee-ebda-4787-bad3-f924d0772b75" };

  it("parses structured mode from bytes, text or an already-parsed body", () => {
    const event = { ...attributes, datacontenttype: "application/json", data };
    const headers = { "Content-Type": "application/cloudevents+json; charset=utf-8" };
    for (const body of [Buffer.from(JSON.stringify(event)), JSON.stringify(event), event]) {
      expect(parseAemCloudEvent(body, headers)).toEqual({
        ...attributes,
        datacontenttype: "application/json",
        data,
        mode: "structured",
      });
    }
  });

  it("parses binary mode: ce-* headers (percent-decoded) and the body as data", () => {
    const headers = {
      "ce-specversion": "1.0",
      "ce-type": attributes.type,
      "ce-source": attributes.source,
      "ce-id": attributes.id,
      "ce-time": attributes.time,
      "ce-subject": "%2Fcontent%2Fdam%2Fm%C3%B8de.png",
      "content-type": "application/json",
    };
    const event = parseAemCloudEvent(Buffer.from(JSON.stringify(data)), headers);
    expect(event).toMatchObject({ ...attributes, subject: "/content/dam/møde.png", data, mode: "binary" });
    expect(assetIdOfEvent(event)).toBe(data.assetId);
    expect(parseAemCloudEvent(data, headers).data).toEqual(data);
  });

  it.each([
    ["a batch", { "content-type": "application/cloudevents-batch+json" }, "[]", /batch/],
    ["invalid JSON", { "content-type": "application/cloudevents+json" }, "{", /JSON/],
    [
      "a foreign source",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({ ...attributes, source: "https://example.com" }),
      /source/,
    ],
    [
      "no id",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({ ...attributes, id: "" }),
      /id/,
    ],
    [
      "specversion 0.3",
      { "ce-specversion": "0.3", "ce-id": "1", "ce-source": attributes.source, "ce-type": attributes.type },
      "{}",
      /specversion/,
    ],
    [
      "a non-aem type",
      { "content-type": "application/cloudevents+json" },
      JSON.stringify({ ...attributes, type: "com.example.x" }),
      /type/,
    ],
    ["XML", { "content-type": "application/xml" }, "<x/>", /content type/],
  ])("refuses %s with InvalidCloudEventError", (_what, headers, body, message) => {
    expect(() => parseAemCloudEvent(body, headers)).toThrow(InvalidCloudEventError);
    expect(() => parseAemCloudEvent(body, headers)).toThrow(message);
  });
});

describe("seed 003 examples parse with the adapter's schemas", () => {
  /** The seed's JSON samples, bullet markers removed (collapsed objects stay empty). */
  function seedSamples(): unknown[] {
    const text = readFileSync(SEED, "utf8");
    const blocks = [...text.matchAll(/^application\/json\n(\{\n[\s\S]*?\n\}|\[\n[\s\S]*?\n\])$/gm)];
    return blocks.map((match) => JSON.parse(match[1]!.replaceAll("\u2022 ", "")) as unknown);
  }

  it("CloudEvents, job status, import accepted and result pages", (context) => {
    if (!existsSync(SEED)) {
      console.warn(`seed 003 not found at ${SEED}: skipping`);
      context.skip();
    }
    const samples = seedSamples() as Array<Record<string, unknown>>;
    const events = samples.filter((s) => "specversion" in s);
    expect(events).toHaveLength(6);
    for (const sample of events) {
      const event = parseAemCloudEvent(JSON.stringify(sample), {
        "content-type": "application/cloudevents+json",
      });
      expect(event.type).toMatch(/^aem\.assets\.asset\./);
      expect(event.time).toBeDefined();
    }
    const statuses = samples.filter((s) => "state" in s);
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    for (const sample of statuses) expect(jobStatusSchema.parse(sample)?.state).toBe("PROCESSING");
    const accepted = samples.filter((s) => s.operation === "aem.assets.import.fromurl");
    expect(accepted).toHaveLength(1);
    expect(importAcceptedSchema.safeParse(accepted[0]).success).toBe(true);
    const pages = samples.filter((s) => "items" in s && "cursor" in s);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    for (const sample of pages) expect(resultPageSchema.safeParse(sample).success).toBe(true);
  });
});
