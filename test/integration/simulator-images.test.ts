import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createImageCacheSim, createImagesSim } from "../../src/simulator/images.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { PNG, startImageOrigin, type ImageOrigin } from "../support/image-origin.js";
import type { Json } from "../support/loose-json.js";

const GIF = Buffer.from("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==", "base64");

let sim: RunningSimulator;
let origin: ImageOrigin;
let originUrl: string;
let deadUrl: string;

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${sim.token}`, ...headers } };
  if (body !== undefined) {
    init.body = Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body);
    if (!Buffer.isBuffer(body)) (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json: Json = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

const admin = (path: string) => `${sim.urls.images}/adminAPI${path}`;

async function createPack(): Promise<string> {
  const res = await call("POST", admin("/imagePacks"), { title: "poster pack" });
  expect(res.status).toBe(200);
  return res.body.id as string;
}

beforeAll(async () => {
  // The source the service downloads from: a real PNG, an HTML page posing as an image, a 404.
  origin = await startImageOrigin((path) =>
    path === "/poster.png"
      ? { contentType: "binary/octet-stream", body: PNG }
      : path === "/fake.png"
        ? { contentType: "image/png", body: "<html>AccessDenied</html>" }
        : undefined,
  );
  originUrl = origin.url;
  // A port that was free a moment ago: connecting to it is refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/poster.png`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  sim = await startSimulator({
    port: 0,
    speed: 100,
    modules: { images: createImagesSim, imageCache: createImageCacheSim },
  });
});

afterAll(async () => {
  await sim.stop();
  await origin.close();
});

beforeEach(() => sim.reset());

describe("Image Service simulator", () => {
  it("answers the public probes without a token", async () => {
    const ping = await fetch(`${sim.urls.images}/api/ping`);
    expect(ping.status).toBe(200);
    expect(await ping.text()).toBe("pong");
    expect((await fetch(`${sim.urls.images}/api/systemsCheck`)).status).toBe(200);
    sim.setScenario({ modules: { images: { systemsCheckFails: true } } });
    expect((await fetch(`${sim.urls.images}/api/systemsCheck`)).status).toBe(503);
  });

  it("requires a bearer token on the admin API", async () => {
    const res = await fetch(admin("/imagePacks"), { method: "POST" });
    expect(res.status).toBe(401);
  });

  it("creates, reads, updates and lists image packs; unknown packs are 404", async () => {
    const id = await createPack();
    const got = await call("GET", admin(`/imagePack/${id}`));
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, title: "poster pack", imageLocations: {} });
    const updated = await call("PUT", admin(`/imagePack/${id}`), { description: "new" });
    expect(updated.body).toMatchObject({ id, description: "new" });
    expect(updated.body.title).toBeUndefined();
    expect((await call("GET", admin("/imagePacks"))).body).toEqual([id]);
    expect((await call("GET", admin("/imagePacks?offset=1"))).body).toEqual([]);
    expect((await call("GET", admin("/imagePacks?offset=-1"))).status).toBe(400);
    expect((await call("GET", admin("/imagePack/unknown"))).status).toBe(404);
  });

  it("lists at most 1000 pack ids per page", async () => {
    const ids: string[] = [];
    // In parallel batches: 1001 sequential round trips are slow on a loaded machine.
    for (let i = 0; i < 1001; i += 50) {
      const batch = Array.from({ length: Math.min(50, 1001 - i) }, () => createPack());
      ids.push(...(await Promise.all(batch)));
    }
    const first = await call("GET", admin("/imagePacks"));
    expect(first.body).toHaveLength(1000);
    const second = await call("GET", admin("/imagePacks?offset=1000"));
    expect(second.body).toHaveLength(1);
    expect(new Set([...(first.body as string[]), ...(second.body as string[])])).toEqual(new Set(ids));
  });

  it("fetchImage downloads a real image into the (pack, location) and counts duplicate fetches", async () => {
    const id = await createPack();
    const url = `${originUrl}/poster.png`;
    const fetched = await call(
      "POST",
      admin(`/imagePack/${id}/main/fetchImage?imageUrl=${encodeURIComponent(url)}`),
    );
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({
      name: "main",
      contentType: "image/png",
      size: PNG.length,
      sourceUrl: url,
    });
    const pack = await call("GET", admin(`/imagePack/${id}`));
    const imageId = pack.body.imageLocations.main.imageId as string;
    const original = await fetch(admin(`/image/${imageId}`), {
      headers: { authorization: `Bearer ${sim.token}` },
    });
    expect(Buffer.from(await original.arrayBuffer()).equals(PNG)).toBe(true);
    const served = await fetch(`${sim.urls.images}/api/v2/img/${id}?location=main`);
    expect(served.headers.get("content-type")).toBe("image/png");

    await call("POST", admin(`/imagePack/${id}/main/fetchImage?imageUrl=${encodeURIComponent(url)}`));
    const stats = sim.stats().modules.images as Json;
    expect(stats.fetchesByPackLocation[`${id}/main`]).toBe(2);
    expect(stats.duplicateFetches).toBe(1);
  });

  it("fetchImage answers 422 for a non-image, a 404 source, an unreachable host and a missing imageUrl", async () => {
    const id = await createPack();
    const fetchFrom = (url: string) =>
      call("POST", admin(`/imagePack/${id}/main/fetchImage?imageUrl=${encodeURIComponent(url)}`));
    expect((await fetchFrom(`${originUrl}/fake.png`)).status).toBe(422);
    expect((await fetchFrom(`${originUrl}/missing.png`)).status).toBe(422);
    expect((await fetchFrom(deadUrl)).status).toBe(422);
    expect((await fetchFrom("not a url")).status).toBe(422);
    expect((await call("POST", admin(`/imagePack/${id}/main/fetchImage`))).status).toBe(422);
    const pack = await call("GET", admin(`/imagePack/${id}`));
    expect(pack.body.imageLocations).toEqual({});
    expect((sim.stats().modules.images as Json).fetchesFailed).toBe(5);
  });

  it("fetchImage failures can be scripted by URL pattern; unknown packs are 404", async () => {
    const id = await createPack();
    sim.setScenario({ modules: { images: { failFetch: ["poster"] } } });
    const url = encodeURIComponent(`${originUrl}/poster.png`);
    expect((await call("POST", admin(`/imagePack/${id}/main/fetchImage?imageUrl=${url}`))).status).toBe(422);
    expect((await call("POST", admin(`/imagePack/nope/main/fetchImage?imageUrl=${url}`))).status).toBe(404);
  });

  it("uploads raw and multipart originals; a non-image upload is 422", async () => {
    const id = await createPack();
    const raw = await call("POST", admin(`/imagePack/${id}/thumb/upload`), GIF, {
      "content-type": "image/gif",
    });
    expect(raw.status).toBe(200);
    expect(raw.body.contentType).toBe("image/gif");
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(PNG)], { type: "image/png" }), "poster.png");
    const multipart = await fetch(admin(`/imagePack/${id}/main/upload`), {
      method: "POST",
      headers: { authorization: `Bearer ${sim.token}` },
      body: form,
    });
    expect(multipart.status).toBe(200);
    expect(((await multipart.json()) as Json).contentType).toBe("image/png");
    const bad = await call("POST", admin(`/imagePack/${id}/main/upload`), Buffer.from("hello"), {
      "content-type": "application/octet-stream",
    });
    expect(bad.status).toBe(422);
  });

  it("keeps per-location settings; {} clears them; deleteImageLocation drops the slot", async () => {
    const id = await createPack();
    const cropInfo = { x: 0.1, y: 0.1, width: 0.5, height: 0.5 };
    const put = await call("PUT", admin(`/imagePack/${id}/main`), { cropInfo, resizeGravity: "north" });
    expect(put.body).toMatchObject({ cropInfo, resizeGravity: "north" });
    expect((await call("GET", admin(`/imagePack/${id}/main`))).body).toMatchObject({ cropInfo });
    const cleared = await call("PUT", admin(`/imagePack/${id}/main`), {});
    expect(cleared.body.cropInfo).toBeUndefined();
    const region = await call("PUT", admin(`/imagePack/${id}/main/no`), { resizeGravity: "south" });
    expect(region.body.regions).toEqual({ no: { resizeGravity: "south" } });
    expect((await call("PUT", admin(`/imagePack/${id}/main`), { cropInfo: { x: "a" } })).status).toBe(400);
    const deleted = await call("POST", admin(`/imagePack/${id}/deleteImageLocation`), {
      imageLocationName: "main",
    });
    expect(deleted.status).toBe(200);
    expect((await call("GET", admin(`/imagePack/${id}/main`))).status).toBe(404);
  });

  it("location configs need ?force=true to change size (409 otherwise)", async () => {
    expect((await call("PUT", admin("/imageLocationConfig/thumb"), { width: 320, height: 180 })).status).toBe(
      200,
    );
    expect((await call("PUT", admin("/imageLocationConfig/thumb"), { width: 640, height: 360 })).status).toBe(
      409,
    );
    expect(
      (await call("PUT", admin("/imageLocationConfig/thumb?force=true"), { width: 640, height: 360 })).status,
    ).toBe(200);
    expect((await call("GET", admin("/imageLocationConfig/thumb"))).body).toMatchObject({ width: 640 });
    expect((await call("GET", admin("/imageLocationConfig/none"))).status).toBe(404);
    expect((await call("PUT", admin("/imageLocationConfigs"), [{ width: 1 }])).status).toBe(400);
    expect(
      (await call("PUT", admin("/imageLocationConfigs"), [{ name: "thumb", width: 1, height: 1 }])).status,
    ).toBe(409);
  });

  it("invalidates a pack's cache on the imageCache host: 204, 404 for unknown packs", async () => {
    const id = await createPack();
    const url = `${sim.urls.imageCache}/prod-lof/images/tenant1/${id}`;
    expect((await call("DELETE", url)).status).toBe(204);
    expect((await call("DELETE", `${sim.urls.imageCache}/prod-lof/images/tenant1/unknown`)).status).toBe(404);
    expect((await call("DELETE", `${sim.urls.imageCache}/prod/images/tenant1/${id}`)).status).toBe(404);
    expect((await fetch(url, { method: "DELETE" })).status).toBe(401);
    expect((sim.stats().modules.imageCache as Json).invalidationsByPack).toEqual({ [id]: 1 });
  });

  it("binds a pack to an asset (imagePackId): PATCH merges, PUT replaces, unknown packs are 422", async () => {
    const asset = (id: string) => `${sim.urls.images}/api/assets/${id}`;
    const packId = await createPack();
    expect((await call("GET", asset("42"), undefined, { authorization: "" })).status).toBe(401);
    expect((await call("GET", asset("42"))).body).toMatchObject({ id: "42", imagePackId: null });

    const bound = await call("PATCH", asset("42"), { imagePackId: packId });
    expect(bound.status).toBe(200);
    expect(bound.body).toMatchObject({ id: "42", imagePackId: packId });
    expect((await call("GET", asset("42"))).body).toMatchObject({ imagePackId: packId });
    expect((await call("PATCH", asset("42"), { imagePackId: "no-such-pack" })).status).toBe(422);
    expect((await call("PATCH", asset("42"), { imagePackId: { nested: true } })).status).toBe(400);
    expect((await call("PUT", asset("42"), { title: "no pack named" })).status).toBe(400);
    // The same value again is accepted, and counted as a write a careful client never sends.
    expect((await call("PATCH", asset("42"), { imagePackId: packId })).status).toBe(200);

    await call("PATCH", asset("43"), { title: "kept", imagePackId: null });
    const replaced = await call("PUT", asset("43"), { imagePackId: packId, genre: "news" });
    expect(replaced.body).toMatchObject({ id: "43", imagePackId: packId, genre: "news" });
    expect(replaced.body).not.toHaveProperty("title");

    expect(sim.stats().modules.images).toMatchObject({
      assets: 2,
      assetsBound: 2,
      bindings: { writes: 4, redundant: 1, refused: 3 },
    });
  });

  it("answers 404 for assets the scenario says do not exist, and injects faults on the binding", async () => {
    const asset = (id: string) => `${sim.urls.images}/api/assets/${id}`;
    const packId = await createPack();
    sim.setScenario({ modules: { images: { missingAssets: ["gone-*"] } } });
    expect((await call("GET", asset("gone-1"))).status).toBe(404);
    expect((await call("PATCH", asset("gone-1"), { imagePackId: packId })).status).toBe(404);
    expect((await call("GET", asset("here-1"))).status).toBe(200);
    sim.setScenario({ faults: { images: { bindImagePack: { errorRates: { "503": 1 } } } } });
    expect((await call("PATCH", asset("here-1"), { imagePackId: packId })).status).toBe(503);
    expect((await call("GET", asset("here-1"))).body).toMatchObject({ imagePackId: null });
  });

  it("refuses invalid module settings with a 400 on the scenario", async () => {
    const res = await fetch(`${sim.urls.images}/_sim/scenario`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ modules: { images: { failFetchTypo: [] } } }),
    });
    expect(res.status).toBe(400);
  });
});
