import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOARD_PATH } from "../../src/http/board.js";
import type { Service } from "../../src/runtime/service.js";
import { startIdleService } from "../support/idle-service.js";
import { cleanupPrefix, uniquePrefix } from "../support/redis.js";

/**
 * ADMIN_PORT over real HTTP: the operator routes (metrics, Bull Board, ingests and queues API)
 * move to the second server and are gone from the intake port, health answers on both, and
 * readiness on both turns 503 once the runtime drains while liveness stays 200.
 */
const API_TOKEN = "admin-port-api-token";
const INTAKE_TOKEN = "admin-port-intake-token";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const notification = {
  Records: [
    {
      eventName: "ObjectCreated:Put",
      eventTime: "2024-05-01T12:00:00.000Z",
      s3: { bucket: { name: "in" }, object: { key: "a/b.mp4", size: 5, eTag: "e1", versionId: "v1" } },
    },
  ],
};

async function startWorker(extra: Record<string, string>) {
  const prefix = uniquePrefix("admin-port");
  const service = await startIdleService(prefix, { API_TOKEN, INTAKE_TOKEN, ...extra });
  return { service, prefix };
}

/** Every operator route, as a request that answers 200 when served with the token. */
const OPERATOR_ROUTES = ["/metrics", `${BOARD_PATH}/`, "/v1/ingests?limit=1", "/v1/queues"];

describe("ADMIN_PORT", () => {
  let service: Service;
  let prefix: string;
  let intake: string;
  let admin: string;

  beforeAll(async () => {
    ({ service, prefix } = await startWorker({ ADMIN_PORT: "0" }));
    intake = service.runtime.url!;
    admin = service.runtime.adminUrl!;
  });
  afterAll(async () => {
    await service?.stop();
    await cleanupPrefix(prefix);
  });

  it("listens on a second port", () => {
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(admin).not.toBe(intake);
  });

  it("serves the operator routes on the admin port and not on the intake port", async () => {
    for (const path of OPERATOR_ROUTES) {
      const onAdmin = await fetch(`${admin}${path}`, { headers: bearer(API_TOKEN) });
      expect(onAdmin.status, `admin ${path}`).toBe(200);
      await onAdmin.arrayBuffer();
      const onIntake = await fetch(`${intake}${path}`, { headers: bearer(API_TOKEN) });
      expect(onIntake.status, `intake ${path}`).toBe(404);
      await onIntake.arrayBuffer();
    }
    const metrics = await fetch(`${admin}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    expect(await metrics.text()).toContain("ingest_");
    // The token still guards the ingests API on its new port.
    expect((await fetch(`${admin}/v1/ingests`)).status).toBe(401);
  });

  it("keeps the intake webhooks on the intake port only", async () => {
    const post = (base: string) =>
      fetch(`${base}/v1/events/s3`, {
        method: "POST",
        headers: { ...bearer(INTAKE_TOKEN), "content-type": "application/json" },
        body: JSON.stringify(notification),
      });
    const accepted = await post(intake);
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toEqual({ accepted: 1, ignored: 0 });
    expect((await post(admin)).status).toBe(404);
  });

  it("answers health and readiness on both ports", async () => {
    for (const base of [intake, admin]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: "ready", checks: { shutdown: "ok", redis: "ok" } });
    }
  });

  it("documents on each port only the routes that port serves", async () => {
    const paths = async (base: string) =>
      Object.keys(((await (await fetch(`${base}/v1/openapi.json`)).json()) as { paths: object }).paths);
    const intakePaths = await paths(intake);
    const adminPaths = await paths(admin);
    expect(intakePaths).toEqual(expect.arrayContaining(["/healthz", "/readyz", "/v1/events/s3"]));
    expect(intakePaths).not.toContain("/metrics");
    expect(intakePaths.filter((p) => p.startsWith("/v1/ingests") || p === "/v1/queues")).toEqual([]);
    expect(adminPaths).toEqual(expect.arrayContaining(["/metrics", "/v1/ingests", "/v1/queues", "/readyz"]));
    expect(adminPaths.filter((p) => p.startsWith("/v1/events/"))).toEqual([]);
  });

  // Last: draining cannot be undone.
  it("turns readiness 503 on both ports when draining, while liveness stays 200", async () => {
    service.runtime.drain();
    for (const base of [intake, admin]) {
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: "not ready",
        checks: { shutdown: expect.stringMatching(/stop signal/), redis: "ok" },
      });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    }
  });
});

describe("without ADMIN_PORT", () => {
  it("serves everything on HTTP_PORT, as before", async () => {
    const { service, prefix } = await startWorker({});
    try {
      expect(service.runtime.adminUrl).toBeUndefined();
      for (const path of OPERATOR_ROUTES) {
        const res = await fetch(`${service.runtime.url!}${path}`, { headers: bearer(API_TOKEN) });
        expect(res.status, path).toBe(200);
        await res.arrayBuffer();
      }
    } finally {
      await service.stop();
      await cleanupPrefix(prefix);
    }
  });
});
