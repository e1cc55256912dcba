import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_BUCKET, startDemoStack, type DemoStack } from "../../src/demo/demo-stack.js";
import { demoScenario, samplePackage } from "../../src/demo/sample-packages.js";
import { registerIntakeRoutes } from "../../src/http/intake-routes.js";
import type { ObjectEvent } from "../../src/intake/object-event.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { snsStringToSign, verifySnsSignature, type SnsMessage } from "../../src/intake/sns-signature.js";
import { configureLogger } from "../../src/log/logger.js";
import { startCanary, type Canary } from "../support/canary.js";
import { captureLog } from "../support/captured-log.js";
import { uploadDemoPackage, waitForEveryIngestToEnd } from "../support/demo-uploads.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

/**
 * Intrusion: who may call the worker, what the worker may be made to call, and what it may write to
 * its logs. Runs the real service (demo stack) with every upstream behind a recording loopback proxy,
 * so the test sees exactly which URLs the worker handed to upstreams, and with the root logger
 * captured so the test can grep every line for secrets.
 */

const INTAKE_TOKEN = "demo-intake-token";
const API_TOKEN = "demo-api-token";

interface Recorded {
  upstream: string;
  method: string;
  url: string;
  body: string;
}

interface Proxy {
  url: string;
  /** Where requests go; set once the simulator it fronts is up. */
  target: string;
  /** Answer 401 instead of forwarding, echoing the bearer token (a careless upstream's error body). */
  deny: boolean;
  close(): Promise<void>;
}

/** A loopback forwarding proxy in front of one simulator upstream that records every request. */
async function startRecordingProxy(upstream: string, log: Recorded[]): Promise<Proxy> {
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      log.push({ upstream, method: req.method ?? "", url: req.url ?? "", body: body.toString("utf8") });
      if (proxy.deny) {
        res.writeHead(401, { "content-type": "application/json" }).end(
          JSON.stringify({
            error: "unauthorized",
            message: `token rejected: ${req.headers.authorization ?? ""}`,
          }),
        );
        return;
      }
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          ([name]) => !["host", "connection", "content-length"].includes(name),
        ),
      ) as Record<string, string>;
      const answer = await fetch(`${proxy.target}${req.url ?? ""}`, {
        method: req.method ?? "GET",
        headers,
        ...(body.length > 0 ? { body } : {}),
        redirect: "manual",
      });
      const out = Buffer.from(await answer.arrayBuffer());
      const back: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (!["content-encoding", "transfer-encoding", "connection", "content-length"].includes(name))
          back[name] = value;
      });
      res.writeHead(answer.status, back).end(out);
    })().catch((error: unknown) => {
      res.writeHead(502).end(String(error));
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const proxy: Proxy = {
    url: `http://127.0.0.1:${port}`,
    target: "http://127.0.0.1:9",
    deny: false,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
  return proxy;
}

function snsNotification(overrides: Record<string, string> = {}): SnsMessage & Record<string, string> {
  return {
    Type: "Notification",
    MessageId: "0f3c-intrusion",
    TopicArn: "arn:aws:sns:us-east-1:123456789012:media-in-events",
    Message: JSON.stringify({ Records: [] }),
    Timestamp: new Date().toISOString(),
    SignatureVersion: "2",
    Signature: Buffer.from("forged").toString("base64"),
    SigningCertURL: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
    ...overrides,
  };
}

function signSns(message: SnsMessage, key: KeyObject): string {
  return sign("sha256", Buffer.from(snsStringToSign(message), "utf8"), key).toString("base64");
}

describe("intrusion", () => {
  const prefix = uniquePrefix("intrusion");
  const lines: string[] = [];
  const recorded: Recorded[] = [];
  const proxies = new Map<string, Proxy>();
  let canary: Canary;
  let stack: DemoStack;
  let base: string;

  beforeAll(async () => {
    // Everything the process logs from here on, at debug, lands in `lines`.
    captureLog("debug", lines);
    // Never to be contacted: non-AWS certificate hosts and SSRF targets point here. It answers
    // like a certificate host, so only the worker's own checks keep it unused.
    canary = await startCanary("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n");
    // The worker talks to the upstreams through recording proxies; their targets are set once the
    // stack has started the simulator (no upstream call happens before the first upload).
    const upstreams = { AIS: "ais", STATUS: "status", IMAGES: "images", IMAGES_CACHE: "imageCache" } as const;
    const env: Record<string, string> = {};
    for (const [variable, name] of Object.entries(upstreams)) {
      const proxy = await startRecordingProxy(name, recorded);
      proxies.set(name, proxy);
      env[variable === "IMAGES_CACHE" ? "IMAGES_CACHE_URL" : `${variable}_BASE_URL`] = proxy.url;
    }
    stack = await startDemoStack({ speed: 50, redisUrl: testRedisUrl(), prefix, env });
    for (const [name, proxy] of proxies) proxy.target = stack.sim.urls[name as keyof typeof stack.sim.urls];
    base = stack.service.runtime.url!;
  });
  afterAll(async () => {
    await stack?.stop();
    for (const proxy of proxies.values()) await proxy.close();
    await canary?.close();
    await cleanupPrefix(prefix);
    configureLogger({});
  });

  async function call(
    path: string,
    init: { method?: string; token?: string; authorization?: string; body?: string } = {},
  ) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
    if (init.authorization !== undefined) headers.authorization = init.authorization;
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? "GET",
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  it("intake refuses requests without the token or with a wrong one (401)", async () => {
    const notification = JSON.stringify({ Records: [] });
    for (const path of ["/v1/events/s3", "/v1/events/cloudevents"]) {
      for (const auth of [
        undefined,
        "Bearer wrong-token",
        `Bearer ${INTAKE_TOKEN}x`,
        `Bearer ${API_TOKEN}`,
        `Basic ${Buffer.from(`admin:${INTAKE_TOKEN}`).toString("base64")}`,
        INTAKE_TOKEN,
      ]) {
        const res = await call(path, {
          method: "POST",
          body: notification,
          ...(auth !== undefined ? { authorization: auth } : {}),
        });
        expect({ path, auth, status: res.status }).toEqual({ path, auth, status: 401 });
        expect(res.text).toMatch(/"error"/);
      }
    }
    // The right token is let in (the refusals above are not a broken route).
    expect(
      (await call("/v1/events/s3", { method: "POST", body: notification, token: INTAKE_TOKEN })).status,
    ).toBe(202);
  });

  it("refuses SNS messages whose SigningCertURL is not an AWS SNS host, without fetching it", async () => {
    const hostile = [
      `http://${canary.host}/cert.pem`,
      `https://${canary.host}/cert.pem`,
      `https://sns.us-east-1.amazonaws.com@${canary.host}/cert.pem`,
      `https://sns.us-east-1.amazonaws.com.${canary.host.split(":")[0]}.nip.io/cert.pem`,
      `https://sns.us-east-1.amazonaws.com:${canary.host.split(":")[1]}/cert.pem`,
      "https://sns.us-east-1.amazonaws.com/cert.txt",
      "file:///etc/passwd",
    ];
    for (const url of hostile) {
      for (const type of ["Notification", "SubscriptionConfirmation"] as const) {
        const body = snsNotification({
          Type: type,
          SigningCertURL: url,
          ...(type === "SubscriptionConfirmation"
            ? { SubscribeURL: `http://${canary.host}/subscribe`, Token: "t" }
            : {}),
        });
        const res = await call("/v1/events/s3", { method: "POST", body: JSON.stringify(body) });
        expect({ url, type, status: res.status }).toEqual({ url, type, status: 401 });
        expect(res.text).toContain("SNS signature");
      }
    }
    expect(canary.requests).toEqual([]);
  });

  it("refuses forged and tampered SNS signatures, and a signed SubscribeURL outside AWS", async () => {
    // The real intake route with a local certificate source: the test holds AWS's key pair here.
    const aws = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const attacker = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = aws.publicKey.export({ type: "spki", format: "pem" }).toString();
    const fetchCert = async () => pem;
    const events: ObjectEvent[] = [];
    const app = Fastify();
    await registerIntakeRoutes(app, {
      token: INTAKE_TOKEN,
      sink: { enqueue: async (batch) => void events.push(...batch) },
      verifySns: (body) => verifySnsSignature(body, { fetchCert }),
      fetchSubscribe: async (url) => {
        throw new Error(`must not fetch ${url}`);
      },
    });
    const s3 = JSON.stringify({
      Records: [
        {
          eventName: "ObjectCreated:Put",
          eventTime: "2024-06-01T12:00:00Z",
          s3: { bucket: { name: DEMO_BUCKET }, object: { key: "news/x/manifest.json", eTag: "e" } },
        },
      ],
    });
    const post = (body: unknown) =>
      app.inject({
        method: "POST",
        url: "/v1/events/s3",
        payload: JSON.stringify(body),
        headers: { "content-type": "text/plain" },
      });
    try {
      const genuine = snsNotification({ Message: s3 });
      genuine.Signature = signSns(genuine, aws.privateKey);
      const forged = snsNotification({ Message: s3 });
      forged.Signature = signSns(forged, attacker.privateKey);
      const tampered = { ...genuine, Message: s3.replace("news/x", "news/evil") };
      const downgraded = { ...genuine, SignatureVersion: "1" };

      expect((await post(forged)).statusCode).toBe(401);
      expect((await post(tampered)).statusCode).toBe(401);
      expect((await post(downgraded)).statusCode).toBe(401);
      expect((await post({ ...genuine, Signature: "" })).statusCode).toBe(401);
      expect(events).toEqual([]);
      // Control: the genuine message is accepted, so the refusals above are the signature's doing.
      expect((await post(genuine)).statusCode).toBe(202);
      expect(events.map((e) => e.key)).toEqual(["news/x/manifest.json"]);

      // A correctly signed confirmation still may not make the worker GET a non-SNS URL.
      const confirm = snsNotification({
        Type: "SubscriptionConfirmation",
        SubscribeURL: `https://${canary.host}/confirm`,
        Token: "t",
      });
      confirm.Signature = signSns(confirm, aws.privateKey);
      const res = await post(confirm);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: expect.stringMatching(/SubscribeURL/) });
    } finally {
      await app.close();
    }
    expect(canary.requests).toEqual([]);
  });

  it("the ingests API, its write actions and Bull Board require API_TOKEN", async () => {
    const guarded: Array<{ method: string; path: string }> = [
      { method: "GET", path: "/v1/ingests" },
      { method: "GET", path: "/v1/ingests?limit=1" },
      { method: "GET", path: "/v1/ingests/some-id" },
      { method: "POST", path: "/v1/ingests/some-id/retry" },
      { method: "POST", path: "/v1/ingests/some-id/cancel" },
      { method: "GET", path: "/admin/queues" },
      { method: "GET", path: "/admin/queues/" },
      { method: "GET", path: "/admin/queues/api/queues" },
      { method: "PUT", path: "/admin/queues/api/queues/source-watch/retry/failed" },
      { method: "GET", path: "/admin/queues/static/../api/queues" },
    ];
    const routes = stack.service.runtime.http!.printRoutes({ commonPrefix: false });
    const missing = ["/v1/ingests", "/admin/queues"].filter((p) => !routes.includes(p));
    if (missing.length > 0)
      console.warn(`[intrusion] skipped auth checks of unregistered routes: ${missing.join(", ")}`);
    const wrong = [
      undefined,
      "Bearer nope",
      `Bearer ${INTAKE_TOKEN}`,
      `Basic ${Buffer.from(`admin:nope`).toString("base64")}`,
      `Basic ${Buffer.from(`root:${API_TOKEN}`).toString("base64")}`,
      API_TOKEN,
    ];
    for (const { method, path } of guarded) {
      if (missing.some((m) => path.startsWith(m))) continue;
      for (const auth of wrong) {
        const res = await call(path, {
          method,
          ...(auth !== undefined ? { authorization: auth } : {}),
          ...(method !== "GET" ? { body: "{}" } : {}),
        });
        expect({ method, path, auth, status: res.status }).toEqual({ method, path, auth, status: 401 });
      }
    }
    if (!missing.includes("/admin/queues")) {
      const challenge = await call("/admin/queues");
      expect(challenge.headers.get("www-authenticate")).toMatch(/Basic/);
      // Control: the right credentials open the board and the API.
      expect((await call("/admin/queues/api/queues", { token: API_TOKEN })).status).toBe(200);
      const basic = `Basic ${Buffer.from(`admin:${API_TOKEN}`).toString("base64")}`;
      expect((await call("/admin/queues", { authorization: basic })).status).toBe(200);
    }
    if (!missing.includes("/v1/ingests"))
      expect((await call("/v1/ingests", { token: API_TOKEN })).status).toBe(200);
  });

  it("hands upstreams only presigned URLs of the route's bucket; a sidecar cannot point them elsewhere", async () => {
    const packages = Array.from({ length: 10 }, (_, i) => samplePackage(i, "intrusion")).filter(
      (p) => p.target === "vimond",
    );
    stack.sim.setScenario(demoScenario(packages));
    const { s3, records } = stack.service.deps;
    const ids: string[] = [];
    for (const pkg of packages) ids.push(await uploadDemoPackage(s3, pkg));
    // SSRF attempts: sidecars naming the metadata service, another bucket, the canary.
    for (const [name, key] of [
      ["imds", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"],
      ["bucket", "s3://other-bucket/video.mp4"],
      ["canary", `http://${canary.host}/video.mp4`],
      ["root-of-other", "//other-bucket/video.mp4"],
    ] as const) {
      const put = await s3.putObject(
        DEMO_BUCKET,
        `news/ssrf-${name}/manifest.json`,
        JSON.stringify({
          id: `ssrf-${name}`,
          title: "T",
          media: { key },
          images: [{ key, location: "main" }],
        }),
      );
      ids.push(
        objectVersionKey({
          kind: "created",
          bucket: DEMO_BUCKET,
          key: `news/ssrf-${name}/manifest.json`,
          eTag: put.eTag,
        }),
      );
    }
    await waitForEveryIngestToEnd(records, ids, 60_000);
    for (const [i, pkg] of packages.entries()) expect((await records.get(ids[i]!))?.state).toBe(pkg.expected);
    for (const id of ids.slice(-4)) {
      const record = await records.get(id);
      expect(record?.state).toBe("failed");
      expect(record?.lastError).toMatch(/is a URL/);
    }

    const bucketUrl = `${stack.s3.endpoint}/${DEMO_BUCKET}/`;
    const handed: string[] = [];
    for (const r of recorded) {
      if (r.upstream === "ais" && r.method === "POST" && r.url.includes("/schedule")) {
        // Every URL in the Atom feed that is not an XML namespace: media and image links.
        for (const m of r.body.matchAll(/(?:url|href)="([^"]+)"/g)) handed.push(m[1]!.replace(/&amp;/g, "&"));
      }
      if (r.upstream === "images") {
        const imageUrl = new URL(r.url, "http://x").searchParams.get("imageUrl");
        if (imageUrl !== null) handed.push(imageUrl);
      }
    }
    expect(handed.filter((u) => u.includes("video.mp4")).length).toBeGreaterThan(0);
    expect(recorded.some((r) => r.upstream === "images" && r.url.includes("imageUrl="))).toBe(true);
    for (const url of handed) {
      expect(url.startsWith(bucketUrl), url).toBe(true);
      expect(url).toMatch(/[?&]X-Amz-Signature=[0-9a-f]{64}/);
    }
    const everything = recorded.map((r) => `${r.url}\n${r.body}`).join("\n");
    expect(everything).not.toContain("169.254.169.254");
    expect(everything).not.toContain("other-bucket");
    expect(everything).not.toContain(canary.host);
    expect(canary.requests).toEqual([]);

    // Upstream 401s, their error bodies echoing the token: the Image Service proxy now refuses every
    // request. Delayed retries are promoted so the image-fetch jobs use up their attempts at once and
    // the worker logs their final error, as it would after hours in production.
    proxies.get("images")!.deny = true;
    const refused = [20, 23].map((i) => samplePackage(i, "intrusion-401"));
    expect(refused.map((p) => p.target)).toEqual(["vimond", "vimond"]);
    const refusedIds: string[] = [];
    for (const pkg of refused) refusedIds.push(await uploadDemoPackage(s3, pkg));
    const imageFetch = stack.service.runtime.queues.get("image-fetch")!;
    await waitFor(
      "the refused image fetches to fail for good",
      async () => {
        for (const job of await imageFetch.getDelayed()) await job.promote().catch(() => undefined);
        return refusedIds.every((id) =>
          lines.some(
            (l) => l.includes("job failed for good") && l.includes(`img-${id}`) && l.includes("HTTP 401"),
          ),
        );
      },
      60_000,
    );
    // (A step job that fails for good leaves its ingest `processing` with the branch pending: reported
    // in RELIABILITY.md, so the record's state is not asserted here.)
    const apiViews = await Promise.all(
      refusedIds.map((id) => call(`/v1/ingests/${id}`, { token: API_TOKEN })),
    );
    await call("/v1/ingests", { token: API_TOKEN });
    await call("/v1/events/s3", { method: "POST", token: INTAKE_TOKEN, body: "{not json" });
    const log = lines.join("");
    expect(log).toMatch(/401/);
    const signatures = handed.map((u) => new URL(u).searchParams.get("X-Amz-Signature")!);
    const secrets = [stack.sim.token, INTAKE_TOKEN, API_TOKEN, ...new Set(signatures)];
    expect(secrets.filter((secret) => log.includes(secret))).toEqual([]);
    // Nor in what the ingests API shows of those failures.
    const shown = apiViews.map((v) => v.text).join("\n");
    expect(secrets.filter((secret) => shown.includes(secret))).toEqual([]);
    console.info(
      `[intrusion] ${handed.length} URLs handed to upstreams checked; ${log.split("\n").length} log lines grepped`,
    );
    expect(log).not.toMatch(/X-Amz-Signature=[0-9a-f]{16}/i);
  }, 120_000);
});
