import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAemSim } from "../../src/simulator/aem.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { closeServer, listenOnLoopback } from "../support/loopback-server.js";
import { waitFor } from "../support/wait-for-value.js";
import type { Json } from "../support/loose-json.js";

/** Any non-empty key passes unless the scenario names one (`modules.aem.apiKey`). */
const API_KEY = "simulator-test-key";
let sim: RunningSimulator;
let origin: Server;
let originUrl: string;
let hook: Server;
let hookUrl: string;
const events: { headers: IncomingHttpHeaders; contentType: string | undefined; body: Json }[] = [];
/** What the webhook receiver answers; the seed's receiver answers 200. */
let hookStatus = 200;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    req.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    req.on("end", () => resolve(text));
  });
}

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = {
    method,
    redirect: "manual",
    headers: {
      authorization: `Bearer ${sim.token}`,
      "x-api-key": API_KEY,
      "content-type": "application/json",
      ...headers,
    },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text ? JSON.parse(text) : undefined) as unknown as Json,
  };
}

const file = (name: string, path = "/poster.png") => ({
  fileName: name,
  url: `${originUrl}${path}`,
  mimeType: "image/png",
});

async function startImport(files: unknown[], folder = "/content/dam/ingest"): Promise<string> {
  const res = await call("POST", `${sim.urls.aem}/import/from-url`, { folder, files });
  expect(res.status).toBe(202);
  return res.headers.get("location")!;
}

beforeAll(async () => {
  origin = createServer((req, res) => {
    res.writeHead(req.url === "/poster.png" ? 200 : 404, { "content-type": "image/png" });
    res.end("png-bytes");
  });
  originUrl = await listenOnLoopback(origin);
  hook = createServer((req, res) => {
    void readBody(req).then((text) => {
      events.push({ headers: req.headers, contentType: req.headers["content-type"], body: JSON.parse(text) });
      res.writeHead(hookStatus);
      res.end();
    });
  });
  hookUrl = `${await listenOnLoopback(hook)}/v1/events/cloudevents`;
  sim = await startSimulator({ port: 0, speed: 100, modules: { aem: createAemSim } });
});

afterAll(async () => {
  await sim.stop();
  await closeServer(origin);
  await closeServer(hook);
});

beforeEach(() => {
  sim.reset();
  events.length = 0;
  hookStatus = 200;
});

describe("AEM Assets Import simulator", () => {
  it("validates the import body per the seed (400 as problem details), 401 without a token", async () => {
    const post = (body: unknown) => call("POST", `${sim.urls.aem}/import/from-url`, body);
    const tooMany = Array.from({ length: 301 }, (_, i) => file(`f${i}.png`));
    const cases = [
      { files: [file("a.png")] },
      { folder: "/tmp/x", files: [file("a.png")] },
      { folder: "/content/dam/x", files: [] },
      { folder: "/content/dam/x", files: tooMany },
      { folder: "/content/dam/x", files: [{ fileName: "a.png", url: "not a url" }] },
      { folder: "/content/dam/x", files: [{ url: `${originUrl}/poster.png` }] },
    ];
    for (const body of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.body).toMatchObject({ status: 400, title: "Bad Request" });
    }
    const exactly300 = await post({ folder: "/content/dam/x", files: tooMany.slice(0, 300) });
    expect(exactly300.status).toBe(202);
    const anonymous = await fetch(`${sim.urls.aem}/import/from-url`, { method: "POST", body: "{}" });
    expect(anonymous.status).toBe(401);
  });

  it("answers 401 without the x-api-key the seed's ApiKeyAuth asks for, and for a wrong one", async () => {
    const body = { folder: "/content/dam/x", files: [file("a.png")] };
    const keyless = await fetch(`${sim.urls.aem}/import/from-url`, {
      method: "POST",
      headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(keyless.status).toBe(401);
    expect(keyless.headers.get("content-type")).toContain("application/problem+json");
    expect(await keyless.text()).toContain("x-api-key");
    expect((await call("POST", `${sim.urls.aem}/import/from-url`, body, { "x-api-key": "" })).status).toBe(
      401,
    );
    // Refused before the handler: no job was created.
    expect((sim.stats().modules.aem as Json).jobs).toBe(0);
    const location = await startImport([file("a.png")]);
    for (const path of [location, location.replace(/status$/, "result"), `${sim.urls.aem}/import/jobs`]) {
      const res = await fetch(path, { headers: { authorization: `Bearer ${sim.token}` } });
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
    }

    // With a key configured, only that key passes.
    sim.setScenario({ modules: { aem: { apiKey: "the-right-key" } } });
    expect((await call("GET", location)).status).toBe(401);
    expect((await call("GET", location, undefined, { "x-api-key": "the-right-key" })).status).toBe(200);
  });

  it("answers 403 for a folder the scenario forbids, 404/400 for unknown or malformed job ids", async () => {
    sim.setScenario({ modules: { aem: { forbiddenFolders: ["/content/dam/secret*"] } } });
    const res = await call("POST", `${sim.urls.aem}/import/from-url`, {
      folder: "/content/dam/secret/a",
      files: [file("a.png")],
    });
    expect(res.status).toBe(403);
    const unknown = "b79f5f05-06e2-4d12-a5ae-ad9bc308fccf";
    expect((await call("GET", `${sim.urls.aem}/import/jobs/${unknown}/status`)).status).toBe(404);
    expect((await call("GET", `${sim.urls.aem}/import/jobs/${unknown}/result`)).status).toBe(404);
    expect((await call("GET", `${sim.urls.aem}/import/jobs/not-a-uuid/status`)).status).toBe(400);
  });

  it("reports PROCESSING with Retry-After and an ETag that If-None-Match turns into 304", async () => {
    sim.setScenario({ modules: { aem: { jobDurationMs: 3_600_000, retryAfterSeconds: 300 } } });
    const location = await startImport([file("a.png")]);
    expect(location).toMatch(new RegExp(`^${sim.urls.aem}/import/jobs/[0-9a-f-]{36}/status$`));
    const status = await call("GET", location);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      operation: "aem.assets.import.fromurl",
      state: "PROCESSING",
      progress: { total: 1, imported: 0, failed: 0 },
    });
    expect(Number(status.headers.get("retry-after"))).toBe(3);
    const etag = status.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    const notModified = await call("GET", location, undefined, { "if-none-match": etag });
    expect(notModified.status).toBe(304);
    const head = await fetch(location, {
      method: "HEAD",
      headers: { authorization: `Bearer ${sim.token}`, "x-api-key": API_KEY },
    });
    expect(head.headers.get("etag")).toBe(etag);
    // The result only exists once the job settled.
    expect((await call("GET", location.replace(/status$/, "result"))).status).toBe(404);
  });

  it("finishes with 303 to a paged result listing imported and failed files", async () => {
    sim.setScenario({ modules: { aem: { jobDurationMs: 1_000, failFiles: ["scripted-*"] } } });
    const location = await startImport([
      file("good.png"),
      file("scripted-fail.png"),
      file("missing.png", "/missing.png"),
    ]);
    const done = await waitFor("the job to finish", async () => {
      const res = await call("GET", location);
      return res.status === 303 ? res : undefined;
    });
    const resultUrl = done.headers.get("location")!;
    expect(resultUrl).toBe(location.replace(/status$/, "result"));
    expect(done.body).toMatchObject({ state: "COMPLETED", progress: { total: 3, imported: 1, failed: 2 } });
    expect(done.body.errors).toHaveLength(2);

    const page1 = await call("GET", `${resultUrl}?limit=2`);
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.items[0]).toMatchObject({
      fileName: "good.png",
      state: "IMPORTED",
      path: "/content/dam/ingest/good.png",
    });
    expect(page1.body.items[0].assetId).toMatch(/^urn:aaid:aem:/);
    expect(page1.body.items[1]).toMatchObject({ fileName: "scripted-fail.png", state: "FAILED" });
    const page2 = await call("GET", `${resultUrl}?limit=2&cursor=${page1.body.cursor as string}`);
    expect(page2.body.items).toEqual([expect.objectContaining({ fileName: "missing.png", state: "FAILED" })]);
    expect(page2.body.items[0].error.detail).toContain("404");
    expect(page2.body.cursor).toBeUndefined();
    expect((await call("GET", `${resultUrl}?limit=51`)).status).toBe(400);
    expect((await call("GET", `${resultUrl}?cursor=zzz`)).status).toBe(400);
    const etag = page1.headers.get("etag")!;
    expect((await call("GET", `${resultUrl}?limit=2`, undefined, { "if-none-match": etag })).status).toBe(
      304,
    );
  });

  it("a job whose every file fails ends FAILED", async () => {
    sim.setScenario({ modules: { aem: { jobDurationMs: 100 } } });
    const location = await startImport([file("gone.png", "/gone.png")]);
    const done = await waitFor("the job to finish", async () => {
      const res = await call("GET", location);
      return res.status === 303 ? res : undefined;
    });
    expect(done.body.state).toBe("FAILED");
  });

  it("posts processing_completed CloudEvents as seed 003 does: application/json, no credentials", async () => {
    sim.setScenario({
      modules: { aem: { jobDurationMs: 500, webhookUrl: hookUrl, failFiles: ["bad.png"] } },
    });
    const location = await startImport([file("one.png"), file("bad.png"), file("two.png")]);
    await waitFor("two events", () => (events.length >= 2 ? true : undefined));
    for (const event of events) {
      // Seed 003: "Request Body schema: application/json", "Security None".
      expect(event.contentType).toBe("application/json");
      expect(event.headers.authorization).toBeUndefined();
      expect(event.headers["x-api-key"]).toBeUndefined();
      expect(Object.keys(event.headers).filter((name) => name.startsWith("ce-"))).toEqual([]);
      // The seed's required attributes, and nothing about the import job in the data.
      expect(Object.keys(event.body).sort()).toEqual(
        ["data", "datacontenttype", "id", "source", "specversion", "time", "type"].sort(),
      );
      expect(event.body).toMatchObject({
        specversion: "1.0",
        type: "aem.assets.asset.processing_completed",
        datacontenttype: "application/json",
      });
      expect(Object.keys(event.body.data)).toEqual(["repositoryMetadata"]);
      expect(event.body.source).toMatch(/^acct:aem(-cmstg)?-p\d+-e\d+@adobe\.com$/);
      expect(event.body.id).toBeTruthy();
      expect(Number.isNaN(Date.parse(event.body.time as string))).toBe(false);
      expect(event.body.data.repositoryMetadata["repo:assetId"]).toMatch(/^urn:aaid:aem:/);
      expect(event.body.data.repositoryMetadata["repo:path"]).toMatch(
        /^\/content\/dam\/ingest\/(one|two)\.png$/,
      );
    }
    expect(events.map((e): string => e.body.data.repositoryMetadata["repo:name"] as string).sort()).toEqual([
      "one.png",
      "two.png",
    ]);
    await waitFor("the job to finish", async () =>
      (await call("GET", location)).status === 303 ? true : undefined,
    );
    expect((sim.stats().modules.aem as Json).events.delivered).toBe(2);
  });

  it("takes only a 200 as delivered: any other answer is retried, then counted failed", async () => {
    hookStatus = 202;
    sim.setScenario({
      modules: { aem: { jobDurationMs: 100, webhookUrl: hookUrl, webhookMaxAttempts: 2 } },
    });
    await startImport([file("one.png")]);
    const stats = await waitFor("the delivery to be given up", () => {
      const counters = (sim.stats().modules.aem as { events: { failed: number } }).events;
      return counters.failed >= 1 ? counters : undefined;
    });
    expect(stats).toMatchObject({ delivered: 0, failed: 1, attempts: 2 });
    expect(events).toHaveLength(2);
  });
});
