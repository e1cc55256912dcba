import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/runtime/free-port.js";
import { CLI, requireBuild, spawnNode, workerEnv } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

/**
 * What Kubernetes sees of a stop: the real `ingest-worker run`, a source-watch job held active by
 * an S3 endpoint that does not answer until the test lets it, then SIGTERM. Readiness must turn
 * 503 (on the intake and the admin port) while the job is still draining and liveness stays 200;
 * once S3 answers, the job ends and the process exits 0 without cutting anything off.
 */
const INTAKE_TOKEN = "drain-intake-token";

/** An S3 endpoint that holds every request until `release()`, then answers each 404 NoSuchKey. */
function holdingS3(): { server: Server; held: () => number; release: () => void; url: () => string } {
  const pending: Array<[IncomingMessage, ServerResponse]> = [];
  let released = false;
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(404, { "content-type": "application/xml" });
    res.end(
      req.method === "HEAD" ? undefined : "<Error><Code>NoSuchKey</Code><Message>none</Message></Error>",
    );
  };
  const server = createServer((req, res) => {
    req.resume();
    if (released) answer(req, res);
    else pending.push([req, res]);
  });
  return {
    server,
    held: () => pending.length,
    release: () => {
      released = true;
      for (const [req, res] of pending.splice(0)) answer(req, res);
    },
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
}

describe("readiness during a graceful stop", () => {
  const prefix = uniquePrefix("drain");
  const dir = mkdtempSync(join(tmpdir(), "ingest-drain-"));
  const s3 = holdingS3();
  let queue: Queue;

  beforeAll(async () => {
    requireBuild();
    await new Promise<void>((done) => s3.server.listen(0, "127.0.0.1", done));
    queue = new Queue("source-watch", { connection: { url: testRedisUrl() }, prefix });
  });
  afterAll(async () => {
    s3.release();
    await new Promise((done) => s3.server.close(done));
    await queue.close();
    await cleanupPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers /readyz 503 after SIGTERM while a job drains, /healthz 200, then exits 0", async () => {
    const routesFile = join(dir, "routes.yaml");
    writeFileSync(
      routesFile,
      [
        "routes:",
        "  - name: raw",
        "    bucket: media-in",
        "    prefix: raw/",
        "    trigger: media",
        "    target: asset-management",
        "    assetManagement: { parentFolder: raw }",
        "",
      ].join("\n"),
    );
    const [port, adminPort] = [await freePort(), await freePort()];
    const run = spawnNode(
      [CLI, "run"],
      workerEnv(port, prefix, {
        ADMIN_PORT: String(adminPort),
        ROUTES_FILE: routesFile,
        S3_ENDPOINT: s3.url(),
        AWS_ACCESS_KEY_ID: "drain",
        AWS_SECRET_ACCESS_KEY: "drain",
        // Never reached: the job is held at S3, before any upstream call.
        ASSETS_BASE_URL: "http://127.0.0.1:9",
        ASSETS_TOKEN: "unused",
        INTAKE_TOKEN,
        // Long enough never to cut the held job off on a loaded machine; the test ends it.
        SHUTDOWN_TIMEOUT_MS: "120000",
        // Exercises the wait between not-ready and the drain; nothing below depends on its length.
        SHUTDOWN_DELAY_MS: "200",
      }),
    );
    try {
      await run.waitForOutput(/ingest-worker running/);
      const intake = `http://127.0.0.1:${port}`;
      const admin = `http://127.0.0.1:${adminPort}`;
      for (const base of [intake, admin]) expect((await fetch(`${base}/readyz`)).status).toBe(200);

      const posted = await fetch(`${intake}/v1/events/s3`, {
        method: "POST",
        headers: { authorization: `Bearer ${INTAKE_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          Records: [
            {
              eventName: "ObjectCreated:Put",
              eventTime: "2024-05-01T12:00:00.000Z",
              s3: {
                bucket: { name: "media-in" },
                object: { key: "raw/clip.mp4", size: 5, eTag: "e1", versionId: "v1" },
              },
            },
          ],
        }),
      });
      expect(posted.status).toBe(202);
      await waitFor("source-watch to be held at S3", () => s3.held() > 0);
      const [job] = await queue.getJobs(["active"]);
      expect(job, "the held job is active").toBeDefined();

      run.child.kill("SIGTERM");
      const notReady = await waitFor("readiness to turn 503", async () => {
        const res = await fetch(`${intake}/readyz`);
        return res.status === 503 ? ((await res.json()) as { checks: Record<string, string> }) : undefined;
      });
      expect(notReady.checks.shutdown).toMatch(/stop signal received/);
      expect(notReady.checks.redis).toBe("ok");
      // Still draining: the job is active, S3 still holds it, and the process is alive.
      expect(await job!.getState()).toBe("active");
      expect(s3.held()).toBeGreaterThan(0);
      expect((await fetch(`${intake}/healthz`)).status).toBe(200);
      expect((await fetch(`${admin}/readyz`)).status).toBe(503);
      expect((await fetch(`${admin}/healthz`)).status).toBe(200);
      expect(run.child.exitCode).toBeNull();

      s3.release();
      expect(await run.exited).toBe(0);
      expect(run.output()).toMatch(/"forced":false[^\n]*"msg":"stopped"/);
      expect(await job!.getState()).not.toBe("active");
    } finally {
      run.child.kill("SIGKILL");
    }
  });
});
