import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../support/wait-for-value.js";
import type { Json, Obj } from "../support/loose-json.js";

let sim: RunningSimulator;
let ais: string;

beforeAll(async () => {
  sim = await startSimulator({ speed: 1000, seed: 3 });
  ais = sim.urls.ais;
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.reset();
});

async function call(method: string, path: string, body?: unknown, contentType = "application/json") {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${sim.token}`, "content-type": contentType },
  };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(`${ais}${path}`, init);
  const text = await res.text();
  let json: Json = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

async function createFeed(companyId: string, type: "PUSH" | "PULL" = "PUSH"): Promise<number> {
  const body =
    type === "PULL" ? { name: "pull", type, url: "https://feeds.example/rss" } : { name: "push", type };
  const res = await call("POST", `/company/${companyId}/mediaFeeds`, body);
  expect(res.status).toBe(200);
  return res.json.id as number;
}

interface EntrySpec {
  id: string;
  title?: string;
  updated?: string;
  video?: boolean;
  image?: boolean;
}

function atom(entries: EntrySpec[], deleted: string[] = []): string {
  const body = entries
    .map((e) => {
      const parts = [`<id>${e.id}</id>`];
      if (e.title !== "") parts.push(`<title>${e.title ?? `Title ${e.id}`}</title>`);
      parts.push(`<updated>${e.updated ?? "2024-05-01T10:00:00Z"}</updated>`);
      if (e.video !== false)
        parts.push(
          `<media:content url="https://s3.example/${e.id}.mp4?X-Amz-A=1&amp;X-Amz-B=2" type="video/mp4"/>`,
        );
      if (e.image) parts.push(`<media:thumbnail url="https://s3.example/${e.id}.jpg"/>`);
      parts.push(`<vimond:category>news</vimond:category>`);
      return `<entry>${parts.join("")}</entry>`;
    })
    .join("\n");
  const tombstones = deleted
    .map((ref) => `<at:deleted-entry ref="${ref}" when="2024-05-02T00:00:00Z"/>`)
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"
      xmlns:vimond="http://www.vimond.com/vimondFeedExtension/1.0" xmlns:at="http://purl.org/atompub/tombstones/1.0">
<title>push</title><id>urn:feed</id><updated>2024-05-01T10:00:00Z</updated>
${body}${tombstones}
</feed>`;
}

async function push(feedId: number, xml: string) {
  return call("POST", `/ais/feed/${feedId}/v2/schedule`, xml, "application/atom+xml");
}

async function jobOf(companyId: string, feedId: number, jobId: number): Promise<Obj> {
  const res = await call("GET", `/company/${companyId}/mediaFeeds/${feedId}/jobs/${jobId}`);
  expect(res.status).toBe(200);
  return res.json as Obj;
}

async function waitForJobState(
  companyId: string,
  feedId: number,
  jobId: number,
  states: string[],
): Promise<Obj> {
  return waitFor(`job ${jobId} in ${states.join("/")}`, async () => {
    const job = await jobOf(companyId, feedId, jobId);
    return states.includes(job.state) ? job : undefined;
  });
}

function fastSettings(extra: Record<string, unknown> = {}) {
  sim.setScenario({ modules: { ais: { jobQueuedMs: 50, taskDurationMs: 200, ...extra } } });
}

describe("AIS simulator: probes and feeds", () => {
  it("answers the public probes without a token", async () => {
    expect((await fetch(`${ais}/ping`)).status).toBe(200);
    const version = await fetch(`${ais}/version`);
    expect(version.status).toBe(200);
    expect(await version.json()).toHaveProperty("version");
    expect((await fetch(`${ais}/allMediaFeeds`)).status).toBe(401);
  });

  it("creates, reads, updates and deletes feeds within a company only", async () => {
    const id = await createFeed("10");
    const got = await call("GET", `/company/10/mediaFeeds/${id}`);
    expect(got.json).toMatchObject({ id, companyId: "10", name: "push", type: "PUSH", enabled: true });
    expect((await call("GET", `/company/11/mediaFeeds/${id}`)).status).toBe(404);
    expect((await call("GET", `/company/10/mediaFeeds/999`)).status).toBe(404);

    const list = await call("GET", `/company/10/mediaFeeds?start=0&size=10`);
    expect(list.json).toMatchObject({ start: 0, size: 10, total: 1 });
    expect((await call("GET", `/company/11/mediaFeeds`)).json.total).toBe(0);
    expect((await call("GET", `/allMediaFeeds`)).json).toHaveLength(1);

    const updated = await call("PUT", `/company/10/mediaFeeds/${id}`, {
      id,
      name: "renamed",
      type: "push",
      custom: 1,
    });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ id, name: "renamed", type: "PUSH", custom: 1 });
    expect((await call("PUT", `/company/11/mediaFeeds/${id}`, { name: "x", type: "PUSH" })).status).toBe(404);

    expect((await call("DELETE", `/company/11/mediaFeeds/${id}`)).status).toBe(404);
    expect((await call("DELETE", `/company/10/mediaFeeds/${id}`)).status).toBe(204);
    expect((await call("GET", `/company/10/mediaFeeds/${id}`)).status).toBe(404);
  });

  it("rejects bad feed definitions with 400", async () => {
    const cases: [unknown, RegExp][] = [
      [{ name: "a", type: "PUSH", id: 5 }, /server assigns/],
      [{ name: "a", type: "SOMETIMES" }, /PUSH or PULL/],
      [{ name: "a", type: "PULL" }, /url/],
      [{ type: "PUSH" }, /name/],
    ];
    for (const [body, message] of cases) {
      const res = await call("POST", "/company/1/mediaFeeds", body);
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(message);
    }
    expect((await call("POST", "/company/1/mediaFeeds", "{nope")).status).toBe(400);
  });

  it("schedules a PULL feed only when its checker is DONE (409 otherwise)", async () => {
    sim.setScenario({ modules: { ais: { pullDurationMs: 3_600_000 } } });
    const pull = await createFeed("1", "PULL");
    const first = await call("POST", `/company/1/mediaFeeds/${pull}/scheduleImmediate`);
    expect(first.status).toBe(200);
    const again = await call("POST", `/company/1/mediaFeeds/${pull}/scheduleImmediate`);
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/not DONE/);
    const status = await call("GET", `/company/1/mediaFeeds/${pull}/status`);
    expect(["READY", "RUNNING"]).toContain(status.json.checkerState);

    const pushFeed = await createFeed("1");
    expect((await call("POST", `/company/1/mediaFeeds/${pushFeed}/scheduleImmediate`)).status).toBe(409);
    expect((await call("GET", `/company/1/mediaFeeds/${pushFeed}/status`)).json.checkerState).toBe("DONE");
    expect((await call("GET", `/company/2/mediaFeeds/${pushFeed}/status`)).status).toBe(404);
  });
});

describe("AIS simulator: push", () => {
  it("creates a job with METADATA, VIDEO and IMAGE tasks that reaches DONE", async () => {
    fastSettings();
    const feed = await createFeed("1");
    const res = await push(
      feed,
      atom([
        { id: "e1", image: true },
        { id: "e2", video: false },
      ]),
    );
    expect(res.status).toBe(200);
    const job = res.json;
    expect(job).toMatchObject({ mediaFeedId: feed, taskCount: 4 });
    expect(["QUEUED", "RUNNING", "DONE"]).toContain(job.state);
    const types = (job.tasks as Json[]).map((t) => `${t.entryId}:${t.type}`).sort();
    expect(types).toEqual(["e1:IMAGE", "e1:METADATA", "e1:VIDEO", "e2:METADATA"]);
    const done = await waitForJobState("1", feed, job.id, ["DONE", "FAILED"]);
    expect(done.state).toBe("DONE");
    expect(done.started).toBeTypeOf("string");
    expect(done.finished).toBeTypeOf("string");
    for (const task of done.tasks as Json[])
      expect(task).toMatchObject({ state: "DONE", attempts: 1, jobId: job.id });

    const tasks = await call("GET", `/company/1/mediaFeeds/${feed}/jobs/${job.id}/tasks?state=done&size=2`);
    expect(tasks.json).toMatchObject({ total: 4, size: 2 });
    expect(tasks.json.items).toHaveLength(2);
    const taskId = (done.tasks as Json[])[0].id;
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs/${job.id}/tasks/${taskId}`)).json.id).toBe(
      taskId,
    );
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs/${job.id}/tasks/1`)).status).toBe(404);
    expect((await call("GET", `/company/2/mediaFeeds/${feed}/jobs/${job.id}`)).status).toBe(404);
  });

  it("keeps one asset id per entry across pushes and counts duplicate pushes", async () => {
    fastSettings();
    const feed = await createFeed("1");
    const first = await push(feed, atom([{ id: "dup" }]));
    const second = await push(feed, atom([{ id: "dup" }]));
    const third = await push(feed, atom([{ id: "dup", updated: "2024-06-01T00:00:00Z" }]));
    const assetIds = [first, second, third].map((r): unknown => (r.json.tasks as Json[])[0].assetId);
    expect(new Set(assetIds).size).toBe(1);
    expect(first.json.id).not.toBe(second.json.id);
    const stats = sim.stats().modules.ais as Json;
    expect(stats.pushes.byEntryId).toEqual({ dup: 3 });
    expect(stats.pushes.byEntryVersion).toEqual({
      "dup@2024-05-01T10:00:00Z": 2,
      "dup@2024-06-01T00:00:00Z": 1,
    });
    expect(stats.pushes.duplicateVersions).toBe(1);
    expect(sim.stats().requests["ais.pushV2"]).toEqual({ "200": 3 });
  });

  it("answers 400 for malformed XML, DOCTYPE, and entries without id or title", async () => {
    const feed = await createFeed("1");
    const cases: [string, RegExp][] = [
      ["<feed><entry>", /malformed/],
      [
        `<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "y">]><feed xmlns="http://www.w3.org/2005/Atom"/>`,
        /DOCTYPE/,
      ],
      [atom([{ id: "t", title: "" }]), /no <title>/],
      [`<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title></entry></feed>`, /missing <id>/],
      [`<rss><channel/></rss>`, /Atom <feed>/],
      ["", /empty/],
    ];
    for (const [xml, message] of cases) {
      const res = await push(feed, xml);
      expect(res.status, xml).toBe(400);
      expect(res.json.message).toMatch(message);
    }
    expect((sim.stats().modules.ais as Json).pushes.total).toBe(0);
  });

  it("refuses PULL feeds with 403, unknown feeds with 404, and accepts the deprecated push with 204", async () => {
    const pull = await createFeed("1", "PULL");
    expect((await push(pull, atom([{ id: "a" }]))).status).toBe(403);
    expect((await push(424242, atom([{ id: "a" }]))).status).toBe(404);
    const feed = await createFeed("1");
    const v1 = await call("POST", `/ais/feed/${feed}/schedule`, atom([{ id: "a" }]), "application/atom+xml");
    expect(v1.status).toBe(204);
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs`)).json.total).toBe(1);
  });

  it("renders tasks under a tenant's field and type names (taskFields, taskTypeNames)", async () => {
    fastSettings({
      taskFields: {
        id: "task_id",
        entryId: "source.guid",
        entryUpdated: "source.updated",
        assetId: "asset.id",
        type: "kind",
        state: "status",
        jobId: null,
      },
      taskTypeNames: { VIDEO: "video-import", METADATA: "meta" },
    });
    const feed = await createFeed("1");
    const res = await push(feed, atom([{ id: "e1", updated: "2024-05-01T10:00:00Z" }]));
    expect(res.status).toBe(200);
    const tasks = (await call("GET", `/company/1/mediaFeeds/${feed}/jobs/${res.json.id}/tasks`)).json
      .items as Obj[];
    expect(tasks.map((t): string => String(t.kind)).sort()).toEqual(["meta", "video-import"]);
    for (const task of tasks) {
      expect(task).toMatchObject({
        task_id: expect.any(Number),
        status: expect.any(String),
        source: { guid: "e1", updated: "2024-05-01T10:00:00Z" },
        asset: { id: expect.any(Number) },
        mediaFeedId: feed,
      });
      for (const gone of ["id", "entryId", "entryUpdated", "assetId", "type", "state", "jobId"])
        expect(task).not.toHaveProperty(gone);
    }
    // The job view embeds the same shape; task control still works by the task's id.
    expect((res.json.tasks as Obj[])[0]).toHaveProperty("task_id");
    const retried = await call("GET", `/ais/api/task/${tasks[0]?.task_id}/retry`);
    expect(retried.json).toHaveProperty("task_id", tasks[0]?.task_id);
  });

  it("refuses task field names that would collide", async () => {
    // Moving a field onto a name another field gave up is fine; sharing one is not.
    const swap = await fetch(`${ais}/_sim/scenario`, {
      method: "POST",
      body: JSON.stringify({ modules: { ais: { taskFields: { id: "taskId", entryId: "id" } } } }),
    });
    expect(swap.status).toBe(200);
    for (const taskFields of [
      { entryId: "id" },
      { entryId: "ref", assetId: "ref" },
      { entryId: "x", assetId: "x.id" },
      { type: "not a name" },
    ]) {
      const res = await fetch(`${ais}/_sim/scenario`, {
        method: "POST",
        body: JSON.stringify({ modules: { ais: { taskFields } } }),
      });
      expect(res.status, JSON.stringify(taskFields)).toBe(400);
    }
  });

  it("turns a tombstone into an UNPUBLISH task (FAILED for an entry never imported)", async () => {
    fastSettings();
    const feed = await createFeed("1");
    await push(feed, atom([{ id: "gone" }]));
    const res = await push(feed, atom([], ["gone", "never"]));
    expect(res.status).toBe(200);
    const job = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    const byRef = Object.fromEntries((job.tasks as Json[]).map((t) => [t.entryId, t]));
    expect(byRef.gone).toMatchObject({ type: "UNPUBLISH", state: "DONE" });
    expect(byRef.never).toMatchObject({
      type: "UNPUBLISH",
      state: "FAILED",
      errorCode: "ASSET_NOT_FOUND",
      retryable: false,
    });
    expect(job.state).toBe("FAILED");
  });

  it("can lose the push response after the job was created (errorAfterEffect)", async () => {
    const feed = await createFeed("1");
    sim.setScenario({ faults: { ais: { pushV2: { errorAfterEffect: { reset: 1 } } } } });
    await expect(
      fetch(`${ais}/ais/feed/${feed}/v2/schedule`, {
        method: "POST",
        headers: { authorization: `Bearer ${sim.token}` },
        body: atom([{ id: "ghost" }]),
      }),
    ).rejects.toThrow();
    const jobs = await call("GET", `/company/1/mediaFeeds/${feed}/jobs`);
    expect(jobs.json.total).toBe(1);
    expect(sim.stats().requests["ais.pushV2"]).toEqual({ reset: 1 });
  });
});

describe("AIS simulator: outcomes, retry and abort", () => {
  it("fails the first attempt transiently, then succeeds on task retry", async () => {
    fastSettings({ outcomes: { flaky: { failFirst: 1, taskTypes: ["VIDEO"] } } });
    const feed = await createFeed("1");
    const res = await push(feed, atom([{ id: "flaky" }]));
    const failed = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    expect(failed.state).toBe("FAILED");
    const video = (failed.tasks as Json[]).find((t) => t.type === "VIDEO");
    expect(video).toMatchObject({
      state: "FAILED",
      retryable: true,
      errorCode: "TRANSIENT_ERROR",
      attempts: 1,
    });
    expect((failed.tasks as Json[]).find((t) => t.type === "METADATA").state).toBe("DONE");

    const retried = await call("GET", `/ais/api/task/${video.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.json.attempts).toBe(2);
    const done = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    expect(done.state).toBe("DONE");
    const errors = await call("GET", `/dashboard/tasks/errors/video?companyId=1&days=1`);
    expect(errors.json).toEqual([]);
  });

  it("fails permanently with a non-retryable error; job retry re-runs only failed tasks", async () => {
    fastSettings({ outcomes: { bad: { failPermanently: true, taskTypes: ["VIDEO"] } } });
    const feed = await createFeed("1");
    const res = await push(feed, atom([{ id: "bad" }]));
    const failed = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    expect((failed.tasks as Json[]).find((t) => t.type === "VIDEO")).toMatchObject({
      retryable: false,
      errorCode: "INVALID_INPUT",
    });
    const retried = await call("GET", `/ais/api/job/${res.json.id}/retry`);
    const attempts = Object.fromEntries((retried.json.tasks as Json[]).map((t) => [t.type, t.attempts]));
    expect(attempts).toEqual({ METADATA: 1, VIDEO: 2 });
    const again = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    expect(again.state).toBe("FAILED");
    const errors = await call("GET", `/dashboard/tasks/errors/video?companyId=1&days=1`);
    expect(errors.json).toHaveLength(1);
  });

  it("aborts a stalled job (unfinished tasks ABORTED) and a retry runs them again", async () => {
    fastSettings({ outcomes: { stuck: { stall: true, taskTypes: ["VIDEO"] } } });
    const feed = await createFeed("1");
    const res = await push(feed, atom([{ id: "stuck" }]));
    await waitFor("the METADATA task to finish while VIDEO stalls", async () => {
      const job = await jobOf("1", feed, res.json.id);
      const meta = (job.tasks as Json[]).find((t) => t.type === "METADATA");
      return job.state === "RUNNING" && meta.state === "DONE" ? job : undefined;
    });
    const aborted = await call("GET", `/ais/api/job/${res.json.id}/abort`);
    expect(aborted.status).toBe(200);
    expect(aborted.json.state).toBe("ABORTED");
    const states = Object.fromEntries((aborted.json.tasks as Json[]).map((t) => [t.type, t.state]));
    expect(states).toEqual({ METADATA: "DONE", VIDEO: "ABORTED" });
    expect((await jobOf("1", feed, res.json.id)).state).toBe("ABORTED");
    const listed = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?state=ABORTED`);
    expect(listed.json.total).toBe(1);

    sim.setScenario({ modules: { ais: { outcomes: null } } });
    const retried = await call("GET", `/ais/api/asset/${aborted.json.tasks[0].assetId}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.json.retriedTaskIds).toHaveLength(1);
    expect((await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"])).state).toBe("DONE");
  });

  it("draws fractions once per entry from the seed", async () => {
    fastSettings({ fractions: { failPermanently: 0.5, taskTypes: ["METADATA"] } });
    const feed = await createFeed("1");
    const entries = Array.from({ length: 40 }, (_, i) => ({ id: `f${i}`, video: false }));
    const res = await push(feed, atom(entries));
    const job = await waitForJobState("1", feed, res.json.id, ["DONE", "FAILED"]);
    const failed = (job.tasks as Json[]).filter((t) => t.state === "FAILED").length;
    expect(failed).toBeGreaterThan(5);
    expect(failed).toBeLessThan(35);
  });

  it("answers 404 for unknown ids in job control", async () => {
    for (const path of [
      "/ais/api/job/999999/retry",
      "/ais/api/job/999999/abort",
      "/ais/api/task/1/retry",
      "/ais/api/asset/5/retry",
      "/ais/api/job/abc/retry",
    ]) {
      expect((await call("GET", path)).status, path).toBe(404);
    }
  });
});

describe("AIS simulator: lists, dashboard and settings", () => {
  it("filters jobs by state and date and pages them", async () => {
    fastSettings();
    const feed = await createFeed("1");
    for (let i = 0; i < 3; i++) await push(feed, atom([{ id: `l${i}` }]));
    const all = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?size=2`);
    expect(all.json).toMatchObject({ total: 3, start: 0, size: 2 });
    expect(all.json.items).toHaveLength(2);
    expect(all.json.items[0].id).toBeGreaterThan(all.json.items[1].id);
    const second = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?size=2&start=2`);
    expect(second.json.items).toHaveLength(1);
    const future = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?fromDate=2999-01-01T00:00:00Z`);
    expect(future.json.total).toBe(0);
    const past = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?toDate=2000-01-01T00:00:00Z`);
    expect(past.json.total).toBe(0);
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs?fromDate=yesterday`)).status).toBe(400);
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs?state=SLEEPING`)).status).toBe(400);
    expect((await call("GET", `/company/1/mediaFeeds/${feed}/jobs?size=-1`)).status).toBe(400);
    await waitFor("all jobs DONE", async () => {
      const done = await call("GET", `/company/1/mediaFeeds/${feed}/jobs?state=DONE`);
      return done.json.total === 3 ? true : undefined;
    });
  });

  it("computes the dashboard from state and counts its calls", async () => {
    fastSettings({ outcomes: { broken: { failPermanently: true } } });
    const feed = await createFeed("7");
    await createFeed("7", "PULL");
    const res = await push(feed, atom([{ id: "ok" }, { id: "broken", video: false }]));
    await waitForJobState("7", feed, res.json.id, ["DONE", "FAILED"]);
    expect((await call("GET", "/dashboard/feeds?companyId=7")).json).toEqual({
      total: 2,
      push: 1,
      pull: 1,
      enabled: 2,
    });
    const taskStats = await call("GET", "/dashboard/tasks?companyId=7&days=1");
    expect(taskStats.json).toMatchObject({ days: 1, total: 3, byState: { DONE: 2, FAILED: 1 } });
    expect((await call("GET", "/dashboard/feeds/errors?companyId=7")).json).toEqual([
      { mediaFeedId: feed, name: "push", failedTasks: 1 },
    ]);
    expect((await call("GET", "/dashboard/tasks/errors/metadata?companyId=7")).json).toHaveLength(1);
    expect((await call("GET", "/dashboard/tasks/company?companyId=7")).json[0]).toMatchObject({
      companyId: "7",
      total: 3,
    });
    expect((await call("GET", "/dashboard/tasks/date?companyId=7")).json).toHaveLength(1);
    expect((await call("GET", "/dashboard/tasks?days=0")).status).toBe(400);
    const stats = sim.stats();
    expect((stats.modules.ais as Json).dashboardCalls).toBe(7);
    expect(stats.requests["ais.getDashboardTaskStats"]).toEqual({ "200": 1, "400": 1 });
    expect((stats.modules.ais as Json).tasks).toEqual({ DONE: 2, FAILED: 1 });
  });

  it("validates module settings", async () => {
    const bad = await fetch(`${ais}/_sim/scenario`, {
      method: "POST",
      body: JSON.stringify({ modules: { ais: { outcomes: { x: { failFirst: 0 } } } } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).message).toMatch(/modules\.ais: outcomes\.x\.failFirst/);
    const unknownKey = await fetch(`${ais}/_sim/scenario`, {
      method: "POST",
      body: JSON.stringify({ modules: { ais: { jobDuration: 5 } } }),
    });
    expect(unknownKey.status).toBe(400);
  });
});
