import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { ingestDetailsSchema, ingestListSchema } from "../../src/simulator/status-schemas.js";
import { waitFor } from "../support/wait-for-value.js";
import type { Obj } from "../support/loose-json.js";

/** CI clones the repository with `../shared` beside it; the seed documents live there. */
const SEED = resolve(process.cwd(), "../shared/seeds/002_30df27f1c8128abb.txt");
const seedPresent = existsSync(SEED);
if (!seedPresent) console.warn(`seed document not found at ${SEED}: the seed-example checks are skipped`);

/** The seed's JSON examples: blocks opened by a line holding only `{`, parsed once they close. */
function seedExamples(): Obj[] {
  const lines = readFileSync(SEED, "utf8").split(/\r?\n/);
  const examples: Obj[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "{") continue;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j]?.trim() !== "}") continue;
      try {
        examples.push(JSON.parse(lines.slice(i, j + 1).join("\n")) as Obj);
        i = j;
        break;
      } catch {
        // An inner object closed; keep extending the block.
      }
    }
  }
  return examples;
}

let sim: RunningSimulator;
let status: string;
let feedId: number;

beforeAll(async () => {
  sim = await startSimulator({ speed: 1000, seed: 11 });
  status = sim.urls.status;
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(async () => {
  sim.reset();
  sim.setScenario({ modules: { ais: { jobQueuedMs: 20, taskDurationMs: 100 } } });
  const res = await fetch(`${sim.urls.ais}/company/1/mediaFeeds`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "push", type: "PUSH" }),
  });
  feedId = ((await res.json()) as Obj).id as number;
});

/** GET with the token and, as every example of seed 002 sends it, `X-Vimond-Tenant: vimond`. */
async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${status}${path}`, {
    headers: { authorization: `Bearer ${sim.token}`, "x-vimond-tenant": "vimond", ...headers },
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Obj };
}

/** Pushes entries with video through AIS; returns their asset ids (as the Status API spells them). */
async function importVideos(ids: string[]): Promise<string[]> {
  const entries = ids
    .map(
      (id) =>
        `<entry><id>${id}</id><title>${id}</title><media:content url="https://s3.example/${id}.mp4" type="video/mp4"/></entry>`,
    )
    .join("");
  const xml = `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">${entries}</feed>`;
  const res = await fetch(`${sim.urls.ais}/ais/feed/${feedId}/v2/schedule`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/atom+xml" },
    body: xml,
  });
  expect(res.status).toBe(200);
  const job = (await res.json()) as Obj;
  return (job.tasks as Obj[]).filter((t) => t.type === "VIDEO").map((t) => String(t.assetId));
}

async function ingestFor(assetId: string, until: (item: Obj) => boolean = () => true): Promise<Obj> {
  return waitFor(`an ingest for asset ${assetId}`, async () => {
    const list = await get(`/ingests?assetId=${assetId}`);
    const item = (list.json.items as Obj[])[0];
    return item && until(item) ? item : undefined;
  });
}

describe("Status simulator: the seed's shapes", () => {
  it.skipIf(!seedPresent)("the schemas accept the seed's own JSON examples", () => {
    const examples = seedExamples();
    const lists = examples.filter((e) => "items" in e);
    const details = examples.filter((e) => "tasks" in e);
    expect(lists.length).toBe(2);
    expect(details.length).toBe(1);
    for (const list of lists) expect(() => ingestListSchema.parse(list)).not.toThrow();
    for (const detail of details) expect(() => ingestDetailsSchema.parse(detail)).not.toThrow();
  });

  it.skipIf(!seedPresent)(
    "live responses carry every field of the seed's examples, with the same schemas",
    async () => {
      const examples = seedExamples();
      const seedItem = (examples.find((e) => "items" in e)?.items as Obj[])[0]!;
      const seedDetails = examples.find((e) => "tasks" in e)!;
      const [assetId] = await importVideos(["shape"]);
      const item = await ingestFor(assetId!, (i) => i.status === "COMPLETED");
      const list = await get(`/ingests?assetId=${assetId}`);
      ingestListSchema.parse(list.json);
      expect(Object.keys(list.json).sort()).toEqual(["count", "cursor", "items"]);
      for (const key of Object.keys(seedItem)) expect(item, key).toHaveProperty(key);
      const details = await get(item.detailsUrl as string);
      ingestDetailsSchema.parse(details.json);
      for (const key of Object.keys(seedDetails)) expect(details.json, key).toHaveProperty(key);
      const seedTask = (seedDetails.tasks as Obj[])[0]!;
      for (const key of Object.keys(seedTask))
        expect((details.json.tasks as Obj[])[0], key).toHaveProperty(key);
    },
  );
});

describe("Status simulator: lifecycle", () => {
  it("creates an ingest when AIS finishes a VIDEO task and runs it to COMPLETED", async () => {
    sim.setScenario({
      modules: {
        status: { durationsMs: { retrieval: 300, encoding: 600, distribution: 300, playout: 300 } },
      },
    });
    const [assetId] = await importVideos(["life"]);
    const seen = new Set<string>();
    const done = await ingestFor(assetId!, (i) => {
      seen.add(i.status as string);
      ingestListSchema.parse({ items: [i], count: 1, cursor: null });
      return i.status === "COMPLETED";
    });
    expect(done).toMatchObject({ assetId, progress: 100, mediaTypes: ["VIDEO"], error: null });
    expect(done.endTime).toBeTypeOf("string");
    expect(
      [...seen].every((s) => ["RETRIEVAL", "ENCODING", "DISTRIBUTION", "PLAYOUT", "COMPLETED"].includes(s)),
    ).toBe(true);
    const details = await get(`/ingests/${done.ingestId}`);
    expect((details.json.tasks as Obj[]).map((t) => `${t.name}:${t.status}`)).toEqual([
      "RETRIEVAL:TASK_COMPLETED",
      "ENCODING:TASK_COMPLETED",
      "DISTRIBUTION:TASK_COMPLETED",
      "PLAYOUT:TASK_COMPLETED",
    ]);
    expect(details.json.input.filesets[0].files[0].uri).toBe("https://s3.example/life.mp4");
    expect((sim.stats().modules.status as Obj).byStatus).toEqual({ COMPLETED: 1 });
  });

  it("ends FAILED or SKIPPED as scripted per asset", async () => {
    const [failing, skipping] = await importVideos(["will-fail", "will-skip"]);
    sim.setScenario({
      modules: {
        status: {
          outcomes: { [failing!]: { outcome: "FAILED", failAt: "DISTRIBUTION" }, [skipping!]: "SKIPPED" },
        },
      },
    });
    // The outcome is fixed when the ingest is created, so script before AIS finishes: push again.
    const [failing2, skipping2] = await importVideos(["will-fail", "will-skip"]);
    expect([failing2, skipping2]).toEqual([failing, skipping]);
    const failed = await ingestFor(
      failing!,
      (i) => ["FAILED", "COMPLETED"].includes(i.status as string) && i.startTime !== undefined,
    );
    const newest = await waitFor("the second ingest to settle", async () => {
      const list = await get(`/ingests?assetId=${failing}`);
      const items = list.json.items as Obj[];
      return items.length === 2 && items.every((i) => ["FAILED", "COMPLETED"].includes(i.status as string))
        ? items
        : undefined;
    });
    expect(newest.map((i): unknown => i.status).sort()).toEqual(["COMPLETED", "FAILED"]);
    const failedItem = newest.find((i) => i.status === "FAILED")!;
    expect(failedItem.error).toMatchObject({ task: "DISTRIBUTION" });
    expect(failed.assetId).toBe(failing);
    const detail = await get(`/ingests/${failedItem.ingestId}`);
    expect((detail.json.tasks as Obj[]).at(-1)).toMatchObject({
      name: "DISTRIBUTION",
      status: "TASK_FAILED",
    });

    const skipped = await waitFor("the skipped ingest", async () => {
      const list = await get(`/ingests?assetId=${skipping}&status=SKIPPED`);
      return (list.json.items as Obj[])[0];
    });
    expect(skipped.progress).toBe(20);
  });

  it("cancels a running ingest with 204 and reports CANCELLED", async () => {
    sim.setScenario({ modules: { status: { durationsMs: { encoding: 3_600_000_000 } } } });
    const [assetId] = await importVideos(["cancel-me"]);
    const running = await ingestFor(assetId!, (i) => i.status === "ENCODING");
    const res = await fetch(`${status}/cancel/${running.ingestId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${sim.token}` },
    });
    expect(res.status).toBe(204);
    const after = await get(`/ingests/${running.ingestId}`);
    expect(after.json.status).toBe("CANCELLED");
    expect(after.json.endTime).toBeTypeOf("string");
    expect((after.json.tasks as Obj[]).at(-1)).toMatchObject({ name: "ENCODING", status: "TASK_CANCELLED" });
    ingestDetailsSchema.parse(after.json);
    const unknown = await fetch(`${status}/cancel/nope`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${sim.token}` },
    });
    expect(unknown.status).toBe(404);
  });

  it("withdraws an announced ingest when the AIS job is aborted first", async () => {
    sim.setScenario({ modules: { ais: { taskDurationMs: { VIDEO: 3_600_000_000 } } } });
    const [assetId] = await importVideos(["aborted"]);
    const jobs = await fetch(`${sim.urls.ais}/company/1/mediaFeeds/${feedId}/jobs`, {
      headers: { authorization: `Bearer ${sim.token}` },
    });
    const jobId = (((await jobs.json()) as Obj).items as Obj[])[0]!.id as number;
    await fetch(`${sim.urls.ais}/ais/api/job/${jobId}/abort`, {
      headers: { authorization: `Bearer ${sim.token}` },
    });
    expect((sim.stats().modules.status as Obj).ingests).toBe(0);
    expect((await get(`/ingests?assetId=${assetId}`)).json.count).toBe(0);
  });
});

describe("Status simulator: listing", () => {
  it("pages newest first with an opaque cursor", async () => {
    const assets = await importVideos(["p1", "p2", "p3", "p4", "p5"]);
    await waitFor("five ingests", async () => ((await get("/ingests")).json.count === 5 ? true : undefined));
    const seen: Obj[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : "?limit=2";
      const page = await get(`/ingests${query}`);
      expect(page.status).toBe(200);
      ingestListSchema.parse(page.json);
      seen.push(...(page.json.items as Obj[]));
      cursor = page.json.cursor as string | null;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen.map((i): unknown => i.ingestId)).size).toBe(5);
    expect(new Set(seen.map((i): unknown => i.assetId))).toEqual(new Set(assets));
    const starts = seen.map((i) => Date.parse(i.startTime as string));
    expect([...starts].sort((a, b) => b - a)).toEqual(starts);
    expect((await get("/ingests?cursor=bm90LWEtY3Vyc29y")).status).toBe(400);
    expect((await get("/ingests?limit=0")).status).toBe(400);
  });

  it("filters by ingestId, profileName and status, honours the tenant header, and 404s unknown ids", async () => {
    const [assetId] = await importVideos(["filters"]);
    const item = await ingestFor(assetId!, (i) => i.status === "COMPLETED");
    expect((await get(`/ingests?ingestId=${item.ingestId}`)).json.count).toBe(1);
    expect((await get(`/ingests?profileName=${item.profileName}`)).json.count).toBe(1);
    expect((await get(`/ingests?profileName=other`)).json.count).toBe(0);
    expect((await get(`/ingests?status=COMPLETED`)).json.count).toBe(1);
    expect((await get(`/ingests?status=FAILED`)).json.count).toBe(0);
    expect((await get(`/ingests`, { "x-vimond-tenant": "vimond" })).json.count).toBe(1);
    expect((await get(`/ingests`, { "x-vimond-tenant": "someone-else" })).json.count).toBe(0);
    expect((await get(`/ingests/${item.ingestId}`, { "x-vimond-tenant": "someone-else" })).status).toBe(404);
    expect((await get(`/ingests/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
  });

  it("answers list and detail without X-Vimond-Tenant with a 400 error body, as the seed always sends it", async () => {
    const [assetId] = await importVideos(["no-tenant"]);
    const item = await ingestFor(assetId!, () => true);
    const bare = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${status}${path}`, {
        headers: { authorization: `Bearer ${sim.token}`, ...headers },
      });
      return { status: res.status, json: (await res.json()) as Obj };
    };
    for (const path of [`/ingests`, `/ingests?assetId=${assetId}`, `/ingests/${item.ingestId}`]) {
      const answer = await bare(path);
      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({ error: "bad_request", message: "X-Vimond-Tenant header is required" });
      expect((await bare(path, { "x-vimond-tenant": "  " })).status).toBe(400);
    }
    // The lenient reading stays available to a scenario that wants it.
    sim.setScenario({ modules: { status: { requireTenantHeader: false } } });
    expect((await bare(`/ingests?assetId=${assetId}`)).json.count).toBe(1);
  });

  it("cancels without X-Vimond-Tenant, as the seed's cancel example does; a wrong tenant sees nothing", async () => {
    sim.setScenario({ modules: { status: { durationsMs: { encoding: 3_600_000_000 } } } });
    const [assetId] = await importVideos(["cancel-bare"]);
    const running = await ingestFor(assetId!, (i) => i.status === "ENCODING");
    const cancel = (headers: Record<string, string>) =>
      fetch(`${status}/cancel/${running.ingestId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${sim.token}`, ...headers },
      }).then((r) => r.status);
    expect(await cancel({ "x-vimond-tenant": "someone-else" })).toBe(404);
    expect(await cancel({})).toBe(204);
    expect((await get(`/ingests/${running.ingestId}`)).json.status).toBe("CANCELLED");
  });

  it.skipIf(!seedPresent)(
    "answers 25 items by default with the seed's cursor (base64 of the last item's startTime and ingestId)",
    async () => {
      // The seed's first example: no limit sent, 25 items, a cursor naming the last of them.
      const seedList = seedExamples().find((e) => "items" in e && e.count === 25)!;
      const seedLast = (seedList.items as Obj[]).at(-1)!;
      expect(JSON.parse(Buffer.from(seedList.cursor as string, "base64").toString("utf8"))).toEqual({
        startTime: seedLast.startTime,
        ingestId: seedLast.ingestId,
      });
      const assets = await importVideos(Array.from({ length: 30 }, (_, i) => `d${i}`));
      await waitFor("30 ingests", async () => ((await get("/ingests")).json.cursor ? true : undefined));
      const first = await get("/ingests");
      expect(first.json.count).toBe(25);
      expect((first.json.items as Obj[]).length).toBe(25);
      const last = (first.json.items as Obj[]).at(-1)!;
      expect(JSON.parse(Buffer.from(first.json.cursor as string, "base64").toString("utf8"))).toEqual({
        startTime: last.startTime,
        ingestId: last.ingestId,
      });
      const second = await get(`/ingests?cursor=${encodeURIComponent(first.json.cursor as string)}`);
      expect(second.json.count).toBe(5);
      expect(second.json.cursor).toBeNull();
      const all = [...(first.json.items as Obj[]), ...(second.json.items as Obj[])];
      expect(new Set(all.map((i): unknown => i.assetId))).toEqual(new Set(assets));
      // Newest first across the page boundary, ties broken the same way on both pages.
      const starts = all.map((i) => Date.parse(i.startTime as string));
      expect([...starts].sort((a, b) => b - a)).toEqual(starts);
      // A filter holds across pages: the cursor continues the filtered list.
      const one = await get(`/ingests?assetId=${assets[0]}&limit=1`);
      expect(one.json.count).toBe(1);
      expect(one.json.cursor).toBeNull();
    },
  );

  it("refuses requests beyond the scenario's rate limit with 429 and Retry-After, without effect", async () => {
    sim.setScenario({ modules: { status: { rateLimit: { perSecond: 0.5, burst: 3 } } } });
    const answers: Array<{ status: number; retryAfter: string | null }> = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${status}/ingests`, {
        headers: { authorization: `Bearer ${sim.token}`, "x-vimond-tenant": "vimond" },
      });
      answers.push({ status: res.status, retryAfter: res.headers.get("retry-after") });
      if (res.status === 429) {
        expect(await res.json()).toEqual({ error: "too_many_requests", message: "rate limit exceeded" });
      } else await res.text();
    }
    // 0.5/s refills one token in 2 s: the six requests above come far faster than that.
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.slice(3).every((a) => a.status === 429 && Number(a.retryAfter) >= 1)).toBe(true);
    expect(sim.stats().requests["status.listIngests"]?.["429"]).toBe(3);
    expect(sim.stats().modules.status).toMatchObject({ rateLimited: 3 });
    const bad = await fetch(`${sim.urls.ais}/_sim/scenario`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ modules: { status: { rateLimit: { perSecond: 0 } } } }),
    });
    expect(bad.status).toBe(400);
  });

  it("requires a token", async () => {
    expect((await fetch(`${status}/ingests`)).status).toBe(401);
  });
});
