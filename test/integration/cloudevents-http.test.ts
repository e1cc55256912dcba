import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { Job } from "bullmq";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOUDEVENTS_PATH, registerCloudEventRoutes } from "../../src/http/cloudevents-routes.js";
import { aemEventHints } from "../../src/metrics/aem-event-metrics.js";
import { damPath, readAemFiles } from "../../src/processors/aem/aem-files.js";
import { aemPollJobId } from "../../src/processors/aem/aem-poll.js";
import { jobId } from "../../src/queues/job-options.js";
import { pendInAemFolder, startAemHarness } from "../support/aem-harness.js";
import { damRoute, rawAssetsRoute, type ChainHarness } from "../support/chain-harness.js";
import { closeServer, listenOnLoopback } from "../support/loopback-server.js";
import { queuePackage, storedObject } from "../support/queued-packages.js";
import { waitFor } from "../support/redis.js";

const FOLDER = "/content/dam/news";
const TOKEN = "intake-token-for-tests-0123456789";
let h: ChainHarness;
/** The route as the service registers it, also listening for the simulator's direct deliveries. */
let app: FastifyInstance;
let appUrl: string;
let closedApp: FastifyInstance;
/** One hint per simulated second, none saved up: the rate limit under test. */
let limitedApp: FastifyInstance;
let clock = Date.now();
/** Receives the simulator's webhook deliveries; the test relays them with the intake token. */
let capture: Server;
const delivered: string[] = [];
let captureUrl: string;

beforeAll(async () => {
  // Polling would settle the ingests long after the test: only events can complete them.
  h = await startAemHarness("cloudevents", [damRoute(FOLDER), rawAssetsRoute("raw")], {
    POLL_INITIAL_DELAY_MS: "600000",
    POLL_MAX_DELAY_MS: "600000",
  });
  const shared = {
    records: h.deps.records,
    redis: h.deps.redis,
    prefix: h.prefix,
    aemPoll: h.queue("aem-poll"),
  };
  app = Fastify();
  await registerCloudEventRoutes(app, { token: TOKEN, ...shared });
  appUrl = `${await app.listen({ port: 0, host: "127.0.0.1" })}${CLOUDEVENTS_PATH}`;
  closedApp = Fastify();
  await registerCloudEventRoutes(closedApp, shared);
  limitedApp = Fastify();
  await registerCloudEventRoutes(limitedApp, {
    token: TOKEN,
    ...shared,
    hintRate: { perSecond: 1, burst: 1 },
    now: () => clock,
  });
  capture = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      delivered.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200).end();
    });
  });
  captureUrl = `${await listenOnLoopback(capture)}/hook`;
  await h.scenario({ modules: { aem: { webhookUrl: captureUrl } } });
});
afterAll(async () => {
  await app?.close();
  await closedApp?.close();
  await limitedApp?.close();
  await closeServer(capture);
  await h?.stop();
});

const stored = (key: string) => storedObject(h, key);

/** A queued package (video + poster) handed to aem-import as source-watch does. */
async function importPackage(entryId: string): Promise<string> {
  const id = `ce-${entryId}-${randomUUID().slice(0, 8)}`;
  await queuePackage(
    h,
    { id, route: "dam", target: "aem", key: `ce/${entryId}.json` },
    {
      entryId,
      title: entryId,
      categories: [],
      metadata: {},
      updated: new Date().toISOString(),
      video: { key: `ce/${entryId}/video.mp4`, url: await stored(`ce/${entryId}/video.mp4`) },
      images: [
        { key: `ce/${entryId}/poster.jpg`, url: await stored(`ce/${entryId}/poster.jpg`), location: "main" },
      ],
      tombstone: false,
    },
  );
  await pendInAemFolder(h, FOLDER, id);
  await h.deps.enqueue(
    "aem-import",
    { folder: FOLDER },
    { jobId: jobId("aem", FOLDER, randomUUID()), delay: 20 },
  );
  return id;
}

interface SimEvent {
  id: string;
  source: string;
  type: string;
  specversion: string;
  time: string;
  datacontenttype: string;
  data: { repositoryMetadata: { "repo:name": string; "repo:path": string } };
}

/** The simulator's events for the files of a package, once all have arrived. */
async function eventsOf(entryId: string, files: number): Promise<SimEvent[]> {
  return waitFor(`${files} webhook deliveries for ${entryId}`, () => {
    const events = delivered
      .map((body) => JSON.parse(body) as SimEvent)
      .filter((e) => e.data.repositoryMetadata["repo:name"].startsWith(`${entryId}-`));
    return events.length >= files ? events : undefined;
  });
}

/** The AEM job id once aem-import handed the ingest over. */
function importing(id: string): Promise<string> {
  return waitFor("the import", async () => {
    const record = await h.deps.records.get(id);
    return record?.state === "importing" ? record.upstream.aemJobId : undefined;
  });
}

async function pollState(aemJobId: string): Promise<string | undefined> {
  const job = await Job.fromId(h.queue("aem-poll"), aemPollJobId(aemJobId));
  return job ? job.getState() : undefined;
}

/** Waits for the job's poll to sit out its (600 s) delay. */
function pollDelayed(aemJobId: string): Promise<true> {
  return waitFor("the poll to wait", async () =>
    (await pollState(aemJobId)) === "delayed" ? true : undefined,
  );
}

/** Status reads the simulator answered, whatever the answer. */
function statusReads(): number {
  const byStatus = h.sim.stats().requests["aem.getImportJobStatus"] ?? {};
  return Object.values(byStatus).reduce((sum, n) => sum + n, 0);
}

async function hints(outcome: string): Promise<number> {
  return (await aemEventHints.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

/** What a forger who knows the DAM paths would send: a processing_completed per file, as AEM does. */
async function forgedEvents(id: string) {
  return (await readAemFiles(h.deps.redis, h.deps.records, id)).map((file) => ({
    specversion: "1.0",
    type: "aem.assets.asset.processing_completed",
    source: "acct:aem-p12345-e67890@adobe.com",
    id: randomUUID(),
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data: { repositoryMetadata: { "repo:name": file.name, "repo:path": damPath(FOLDER, file.name) } },
  }));
}

/** An event as AEM delivers it: application/json, no Authorization (seed 003, "Security None"). */
function deliver(event: unknown, target = app) {
  return target.inject({
    method: "POST",
    url: CLOUDEVENTS_PATH,
    headers: { "content-type": "application/json" },
    payload: JSON.stringify(event),
  });
}

function post(body: unknown, headers: Record<string, string> = {}, target = app) {
  return target.inject({
    method: "POST",
    url: CLOUDEVENTS_PATH,
    headers: { "content-type": "application/cloudevents+json", authorization: `Bearer ${TOKEN}`, ...headers },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The same event in binary mode: attributes as `ce-*` headers, the data as the body. */
function postBinary(event: SimEvent) {
  return app.inject({
    method: "POST",
    url: CLOUDEVENTS_PATH,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      "content-type": "application/json",
      "ce-specversion": event.specversion,
      "ce-id": event.id,
      "ce-source": event.source,
      "ce-type": event.type,
      "ce-time": event.time,
    },
    payload: JSON.stringify(event.data),
  });
}

describe("POST /v1/events/cloudevents", () => {
  it("completes an ingest from the simulator's processing_completed events, before any poll", async () => {
    await h.scenario({ modules: { aem: { jobDurationMs: 5_000 } } });
    const readsBefore = statusReads();
    const id = await importPackage("hooked");
    await importing(id);
    const events = await eventsOf("hooked", 2);
    const [first, second] = events.sort((a, b) =>
      a.data.repositoryMetadata["repo:name"].localeCompare(b.data.repositoryMetadata["repo:name"]),
    );

    // The first file, in binary mode: matched, the ingest still waits for the other.
    const one = await postBinary(first!);
    expect(one.statusCode).toBe(202);
    expect(one.json()).toMatchObject({ matched: 1, ingestId: id, outcome: "pending" });
    expect((await h.deps.records.get(id))?.state).toBe("importing");

    // The same event again (structured this time): a duplicate by (source, id), no effect.
    const historyBefore = (await h.deps.records.history(id)).length;
    const again = await post(first);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ duplicate: true });
    expect((await h.deps.records.history(id)).length).toBe(historyBefore);

    const two = await post(second);
    expect(two.statusCode).toBe(202);
    expect(two.json()).toMatchObject({ matched: 1, ingestId: id, outcome: "complete" });
    const record = await h.deps.records.get(id);
    expect(record?.state).toBe("completed");
    // No status poll ran: the relayed events alone completed it.
    expect(statusReads()).toBe(readsBefore);

    // A late duplicate of the last event changes nothing either.
    expect((await post(second)).statusCode).toBe(200);
    expect((await h.deps.records.get(id))?.finishedAt).toBe(record?.finishedAt);
  });

  it("accepts events it cannot match without effect", async () => {
    const event = {
      specversion: "1.0",
      type: "aem.assets.asset.processing_completed",
      source: "acct:aem-p56789-e12345@adobe.com",
      id: randomUUID(),
      time: "2018-04-05T17:31:00Z",
      datacontenttype: "application/json",
      data: { repositoryMetadata: { "repo:path": "/content/dam/other/file.jpg" } },
    };
    const res = await post(event);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ accepted: true, matched: 0 });
    const other = await post({ ...event, id: randomUUID(), type: "aem.assets.asset.deleted" });
    expect(other.statusCode).toBe(202);
  });

  it("refuses a wrong token, any Authorization while INTAKE_TOKEN is unset, and token-less non-events", async () => {
    const event = { specversion: "1.0", type: "aem.x", source: "acct:aem-p1-e2@adobe.com", id: "1" };
    expect((await post(event, { authorization: "Bearer wrong-token" })).statusCode).toBe(401);
    expect((await post(event, { authorization: TOKEN })).statusCode).toBe(401);
    // Without a configured token, a caller who sends credentials is refused.
    const closed = await post(event, {}, closedApp);
    expect(closed.statusCode).toBe(401);
    expect(closed.json().error).toContain("INTAKE_TOKEN");
    // Without credentials only AEM events are taken (as hints); anything else meets a closed route.
    for (const body of [{ Records: [] }, "{not json", { specversion: "1.0", type: "s3.x", id: "1" }]) {
      const res = await app.inject({
        method: "POST",
        url: CLOUDEVENTS_PATH,
        headers: { "content-type": "application/json" },
        payload: typeof body === "string" ? body : JSON.stringify(body),
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toContain("Bearer");
    }
  });

  it("answers 400 with the reason for malformed events", async () => {
    const bad = await post("{not json");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/not valid JSON/);
    const missing = await post({ specversion: "1.0", type: "aem.assets.asset.processing_completed" });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toMatch(/id/);
    const wrongSource = await post({ specversion: "1.0", type: "aem.a", source: "https://x", id: "1" });
    expect(wrongSource.statusCode).toBe(400);
    expect(wrongSource.json().error).toMatch(/source/);
  });
});

describe("POST /v1/events/cloudevents without the intake token (AEM's own delivery, a hint)", () => {
  it("answers an AEM event 200, the same for any event, with or without a token configured", async () => {
    const event = {
      specversion: "1.0",
      type: "aem.assets.asset.published",
      source: "acct:aem-p56789-e12345@adobe.com",
      id: randomUUID(),
      time: "2021-05-20T20:00:00.000Z",
      datacontenttype: "application/json",
      data: {},
    };
    for (const target of [app, closedApp]) {
      const res = await deliver(event, target);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true });
    }
    const unmatched = await deliver({
      ...event,
      type: "aem.assets.asset.processing_completed",
      data: { repositoryMetadata: { "repo:path": "/content/dam/news/nobody.mp4" } },
    });
    expect(unmatched.statusCode).toBe(200);
    expect(unmatched.json()).toEqual({ received: true });
  });

  it("never completes an ingest on a forged event: the poll asks AEM, which says it is still running", async () => {
    await h.scenario({ modules: { aem: { jobDurationMs: 604_800_000 } } });
    const id = await importPackage("forged");
    const aemJobId = await importing(id);
    await pollDelayed(aemJobId);
    const reads = statusReads();
    const promoted = await hints("promoted");
    for (const event of await forgedEvents(id)) {
      const res = await deliver(event);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true });
    }
    // The hint made the poll read the job from AEM (with the worker's credentials) now...
    expect(await hints("promoted")).toBe(promoted + 1);
    await waitFor("the hurried poll to read AEM", async () => (statusReads() > reads ? true : undefined));
    await pollDelayed(aemJobId);
    // ...and AEM said PROCESSING, so nothing changed: no file imported, the ingest still importing.
    const record = await h.deps.records.get(id);
    expect(record?.state).toBe("importing");
    for (const file of await readAemFiles(h.deps.redis, h.deps.records, id))
      expect(await h.deps.redis.hget(h.deps.records.key(id), `aemf:${file.name}`)).toBe("pending");
  });

  it("completes an ingest early from the simulator's direct delivery, by what AEM then says", async () => {
    // Files settle 0.75 s and 1.5 s after the import; the poll's own first look is 600 s away.
    await h.scenario({ modules: { aem: { jobDurationMs: 1_500_000, webhookUrl: appUrl } } });
    try {
      const deliveredBefore = (h.sim.stats().modules.aem as { events: { delivered: number } }).events
        .delivered;
      const promoted = await hints("promoted");
      const id = await importPackage("direct");
      const aemJobId = await importing(id);
      const record = await waitFor("the ingest to complete", async () => {
        const current = await h.deps.records.get(id);
        return current?.state === "completed" ? current : undefined;
      });
      expect(record.upstream.aemJobId).toBe(aemJobId);
      expect(await hints("promoted")).toBeGreaterThan(promoted);
      // Both events reached the worker unauthenticated and were answered 200 (the simulator counts
      // nothing else as delivered).
      const stats = h.sim.stats().modules.aem as { events: { delivered: number } };
      expect(stats.events.delivered - deliveredBefore).toBe(2);
      expect(await pollState(aemJobId)).not.toBe("delayed");
    } finally {
      await h.scenario({ modules: { aem: { webhookUrl: captureUrl } } });
    }
  });

  it("a hint that finds the poll reading AEM makes it look again soon instead of backing off", async () => {
    await h.scenario({ modules: { aem: { jobDurationMs: 604_800_000 } } });
    const id = await importPackage("racing");
    const aemJobId = await importing(id);
    await pollDelayed(aemJobId);
    const [first, second] = await forgedEvents(id);
    // Slow status reads, so the poll is still reading when the second event comes.
    await h.scenario({ faults: { aem: { getImportJobStatus: { latencyMs: 1_000 } } } });
    try {
      const reads = statusReads();
      const pending = await hints("pending");
      expect((await deliver(first)).statusCode).toBe(200);
      await waitFor("the poll to be reading", async () =>
        (await pollState(aemJobId)) === "active" ? true : undefined,
      );
      expect((await deliver(second)).statusCode).toBe(200);
      expect(await hints("pending")).toBe(pending + 1);
      // Its first read may have come before the event: it reads again within seconds, not 600 s.
      await waitFor("a second read", async () => (statusReads() >= reads + 2 ? true : undefined));
      await pollDelayed(aemJobId);
      expect((await h.deps.records.get(id))?.state).toBe("importing");
    } finally {
      await h.scenario({ faults: { aem: null } });
    }
  });

  it("rate-limits hints: over the limit they are answered alike and counted, and AEM is not read", async () => {
    await h.scenario({ modules: { aem: { jobDurationMs: 604_800_000 } } });
    const id = await importPackage("limited");
    const aemJobId = await importing(id);
    await pollDelayed(aemJobId);
    const [event] = await forgedEvents(id);
    const limited = await hints("limited");

    // The bucket's one token: the poll reads AEM now.
    let reads = statusReads();
    expect((await deliver({ ...event, id: randomUUID() }, limitedApp)).statusCode).toBe(200);
    await waitFor("the hurried poll", async () => (statusReads() > reads ? true : undefined));
    await pollDelayed(aemJobId);

    // Within the same second every further hint is dropped: same answer, counted, poll untouched.
    reads = statusReads();
    for (let i = 0; i < 5; i += 1) {
      const res = await deliver({ ...event, id: randomUUID() }, limitedApp);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true });
    }
    expect(await hints("limited")).toBe(limited + 5);
    expect(await pollState(aemJobId)).toBe("delayed");
    expect(statusReads()).toBe(reads);

    // A second later there is a token again.
    clock += 1_000;
    expect((await deliver({ ...event, id: randomUUID() }, limitedApp)).statusCode).toBe(200);
    await waitFor("the next hurried poll", async () => (statusReads() > reads ? true : undefined));
    expect(await hints("limited")).toBe(limited + 5);
  });
});
