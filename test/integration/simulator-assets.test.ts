import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAssetsSim } from "../../src/simulator/assets.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { waitFor } from "../support/wait-for-value.js";
import type { Json } from "../support/loose-json.js";

let sim: RunningSimulator;

async function call(method: string, path: string, body?: unknown) {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
  };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(`${sim.urls.assets}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as unknown as Json };
}

const register = (objectKey: string, bucketName = "media") =>
  call("POST", "/admin/asset/register", { bucketName, objectKey });

/** Polls the asset until its status is final (Available 1 or Error 17). */
function settled(id: string) {
  return waitFor(`asset ${id} to settle`, async () => {
    const res = await call("GET", `/admin/asset/${id}`);
    const body: Json = res.body;
    return body.status === 1 || body.status === 17 ? (body as Record<string, unknown>) : undefined;
  });
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, speed: 100, modules: { assets: createAssetsSim } });
});

afterAll(async () => {
  await sim.stop();
});

beforeEach(() => sim.reset());

describe("Asset Management simulator", () => {
  it("registers an object: Registering (5), then Creating (21), then Available (1)", async () => {
    sim.setScenario({ modules: { assets: { durationMs: 300_000 } } });
    const res = await register("videos/show/ep1.mp4");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 5,
      bucketName: "media",
      objectKey: "videos/show/ep1.mp4",
      name: "ep1.mp4",
      assetType: 2,
    });
    const id = res.body.id as string;
    const statuses = new Set<number>();
    const final = await waitFor("Available", async () => {
      const got = await call("GET", `/admin/asset/${id}`);
      statuses.add(got.body.status as number);
      const body: Json = got.body;
      return body.status === 1 ? (body as Record<string, unknown>) : undefined;
    });
    expect(final.statusName).toBe("Available");
    expect(statuses.has(21)).toBe(true);
    const byLocation = await call("GET", "/admin/asset?bucketName=media&objectKey=videos%2Fshow%2Fep1.mp4");
    expect(byLocation.body.id).toBe(id);
    const history = await call("GET", `/admin/asset/${id}/job-history`);
    expect(history.body).toEqual([expect.objectContaining({ jobType: "Register", status: "Completed" })]);
  });

  it("ends in Error (17) for scripted keys, and Reprocess retries them (failFirst)", async () => {
    sim.setScenario({ modules: { assets: { durationMs: 1_000, failKeys: ["broken"], failFirst: 1 } } });
    const res = await register("videos/broken.mp4");
    const id = res.body.id as string;
    const failed = await settled(id);
    expect(failed.status).toBe(17);
    expect(failed.errorMessage).toContain("broken.mp4");
    const ok = await settled((await register("videos/fine.mp4")).body.id as string);
    expect(ok.status).toBe(1);

    // Long enough that the second Reprocess surely finds the asset still busy.
    sim.setScenario({ modules: { assets: { durationMs: 100_000 } } });
    const reprocess = await call("POST", "/admin/asset/Reprocess", { targetIds: [id] });
    expect(reprocess.status).toBe(200);
    expect(reprocess.body).toMatchObject({ successCount: 1, results: [{ id, success: true }] });
    const busy = await call("POST", "/admin/asset/reprocess", { targetIds: [id] });
    expect(busy.body.results[0]).toMatchObject({ success: false });
    expect((await settled(id)).status).toBe(1);
    const history = await call("GET", `/admin/asset/${id}/job-history`);
    const jobs = history.body as { jobType: string; status: string }[];
    expect(jobs.map((j) => [j.jobType, j.status])).toEqual([
      ["Register", "Failed"],
      ["Reprocess", "Completed"],
    ]);
    const stats = sim.stats().modules.assets as Json;
    expect(stats).toMatchObject({ registrations: 2, reprocesses: 1, byStatus: { Available: 2 } });
  });

  it("without failFirst a failing key fails every attempt", async () => {
    sim.setScenario({ modules: { assets: { durationMs: 500, failKeys: ["*.bad"] } } });
    const id = (await register("x.bad")).body.id as string;
    expect((await settled(id)).status).toBe(17);
    await call("POST", "/admin/asset/Reprocess", { targetIds: [id] });
    expect((await settled(id)).status).toBe(17);
  });

  it("counts duplicate registrations of one object", async () => {
    await register("dup.mp4");
    await register("dup.mp4");
    expect((sim.stats().modules.assets as Json).duplicateRegistrations).toBe(1);
  });

  it("answers the documented errors: 400, 401, 403, 404", async () => {
    expect((await call("POST", "/admin/asset/register", { bucketName: "media" })).status).toBe(400);
    expect((await call("POST", "/admin/asset/register", "{oops")).status).toBe(400);
    expect((await call("GET", "/admin/asset/not-a-guid")).status).toBe(400);
    expect((await call("GET", "/admin/asset")).status).toBe(400);
    expect((await call("POST", "/admin/asset/Reprocess", { targetIds: [] })).status).toBe(400);
    expect((await call("POST", "/admin/asset/Frobnicate", { targetIds: [] })).status).toBe(400);
    const unknown = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    expect((await call("GET", `/admin/asset/${unknown}`)).status).toBe(404);
    expect((await call("GET", `/admin/asset/${unknown}/job-history`)).status).toBe(404);
    expect((await call("GET", "/admin/asset?bucketName=media&objectKey=none")).status).toBe(404);
    const reprocessUnknown = await call("POST", "/admin/asset/Reprocess", { targetIds: [unknown] });
    expect(reprocessUnknown.body.results[0]).toMatchObject({ id: unknown, success: false });
    sim.setScenario({ modules: { assets: { forbiddenBuckets: ["locked"], missingKeys: ["ghost"] } } });
    expect((await register("a.mp4", "locked")).status).toBe(403);
    expect((await register("ghost.mp4")).status).toBe(404);
    const anonymous = await fetch(`${sim.urls.assets}/admin/asset/${unknown}`);
    expect(anonymous.status).toBe(401);
  });
});
