import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { AuthProvider } from "../../src/adapters/http/auth/auth-provider.js";
import { staticBearerToken } from "../../src/adapters/http/auth/static-token.js";
import {
  createUpstreamClient,
  type UpstreamClient,
  type UpstreamHttpSettings,
} from "../../src/adapters/http/upstream-client.js";
import { UpstreamError } from "../../src/adapters/http/upstream-error.js";
import { upstreamRequests } from "../../src/metrics/upstream-metrics.js";
import { freePort } from "../../src/runtime/free-port.js";

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Script = (req: SeenRequest, res: ServerResponse, index: number) => void;

interface ScriptedServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback server that answers the n-th request with `script(req, res, n)`. */
async function scriptedServer(script: Script): Promise<ScriptedServer> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      script(request, res, seen.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const handle = {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(handle.close);
  return handle;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** A client with a unique upstream label (metrics stay per test) and recorded, instant backoff waits. */
function client(
  baseUrl: string,
  overrides: Partial<UpstreamHttpSettings> = {},
): { http: UpstreamClient; upstream: string; waits: number[] } {
  const upstream = `test_${randomUUID().slice(0, 8)}`;
  const waits: number[] = [];
  const http = createUpstreamClient({
    upstream,
    baseUrl,
    retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5_000, maxTotalMs: 60_000 },
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...overrides,
  });
  cleanups.push(() => http.close());
  return { http, upstream, waits };
}

async function countOf(upstream: string, status: string | number, operation?: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values
    .filter(
      (v) =>
        v.labels.upstream === upstream &&
        v.labels.status === String(status) &&
        (operation === undefined || v.labels.operation === operation),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamError);
    return error as UpstreamError;
  }
  throw new Error("expected the request to fail");
}

const jobSchema = z.object({ id: z.string(), state: z.string() });

describe("upstream HTTP client", () => {
  it("retries an idempotent GET after a 500 and counts both attempts", async () => {
    const server = await scriptedServer((_req, res, n) =>
      n === 0 ? json(res, 500, { error: "boom" }) : json(res, 200, { id: "j1", state: "RUNNING" }),
    );
    const { http, upstream, waits } = client(server.url);

    const response = await http.request({
      operation: "getJob",
      method: "GET",
      path: "/jobs/j1",
      schema: jobSchema,
    });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ id: "j1", state: "RUNNING" });
    expect(server.seen).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(await countOf(upstream, 500, "getJob")).toBe(1);
    expect(await countOf(upstream, 200, "getJob")).toBe(1);
  });

  it("gives up after maxAttempts with a retryable, non-ambiguous error", async () => {
    const server = await scriptedServer((_req, res) => json(res, 503, { error: "down" }));
    const { http, upstream } = client(server.url, {
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 10, maxTotalMs: 60_000 },
    });

    const error = await failure(http.request({ operation: "getJob", method: "GET", path: "/jobs/x" }));

    expect(server.seen).toHaveLength(3);
    expect(error).toMatchObject({
      upstream,
      operation: "getJob",
      status: 503,
      retryable: true,
      ambiguous: false,
    });
    expect(error.attempts).toBe(3);
    expect(error.bodyExcerpt).toContain("down");
    expect(await countOf(upstream, 503)).toBe(3);
  });

  it("honours Retry-After on 429 and waits at least that long before retrying", async () => {
    const server = await scriptedServer((_req, res, n) =>
      n === 0 ? json(res, 429, { error: "slow down" }, { "retry-after": "2" }) : json(res, 200, {}),
    );
    const { http, upstream, waits } = client(server.url);

    const response = await http.request({ operation: "list", method: "GET", path: "/ingests" });

    expect(response.status).toBe(200);
    expect(waits).toEqual([2_000]);
    expect(await countOf(upstream, 429)).toBe(1);
  });

  it("does not wait for a Retry-After beyond the cap; hands it to the caller instead", async () => {
    const server = await scriptedServer((_req, res) => json(res, 429, {}, { "retry-after": "3600" }));
    const { http } = client(server.url);

    const error = await failure(http.request({ operation: "list", method: "GET", path: "/ingests" }));

    expect(server.seen).toHaveLength(1);
    expect(error).toMatchObject({ status: 429, retryable: true, ambiguous: false, retryAfterMs: 3_600_000 });
  });

  it("stops retrying when the total retry time would pass maxTotalMs", async () => {
    const server = await scriptedServer((_req, res) => json(res, 500, {}));
    const { http, waits } = client(server.url, {
      random: () => 0.99,
      retry: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 100, maxRetryAfterMs: 1_000, maxTotalMs: 50 },
    });

    const error = await failure(http.request({ operation: "get", method: "GET", path: "/x" }));

    expect(server.seen).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(error.status).toBe(500);
  });

  it("retries a GET whose socket was reset, labelling the failed attempts `reset`", async () => {
    const server = await scriptedServer((_req, res, n) =>
      n < 2 ? res.socket?.destroy() : json(res, 200, {}),
    );
    const { http, upstream } = client(server.url);

    const response = await http.request({ operation: "get", method: "GET", path: "/x" });

    expect(response.status).toBe(200);
    expect(server.seen).toHaveLength(3);
    expect(await countOf(upstream, "reset")).toBe(2);
    expect(await countOf(upstream, 200)).toBe(1);
  });

  it("never retries a POST after it was sent, and marks the failure ambiguous", async () => {
    const server = await scriptedServer((_req, res) => res.socket?.destroy());
    const { http, upstream } = client(server.url);

    const error = await failure(
      http.request({
        operation: "pushFeed",
        method: "POST",
        path: "/ais/feed/f1/v2/schedule",
        body: "<feed/>",
        headers: { "content-type": "application/atom+xml" },
      }),
    );

    expect(server.seen).toHaveLength(1);
    expect(error).toMatchObject({ status: "reset", ambiguous: true, retryable: true, attempts: 1 });
    expect(await countOf(upstream, "reset", "pushFeed")).toBe(1);
  });

  it("treats a POST answered with 5xx as ambiguous and does not retry it", async () => {
    const server = await scriptedServer((_req, res) => json(res, 502, {}));
    const { http } = client(server.url);

    const error = await failure(
      http.request({ operation: "pushFeed", method: "POST", path: "/p", json: {} }),
    );

    expect(server.seen).toHaveLength(1);
    expect(error).toMatchObject({ status: 502, ambiguous: true, retryable: true });
  });

  it("retries a POST the caller flagged idempotent", async () => {
    const server = await scriptedServer((_req, res, n) =>
      n === 0 ? json(res, 500, {}) : json(res, 200, {}),
    );
    const { http } = client(server.url);

    const response = await http.request({
      operation: "retryTask",
      method: "POST",
      path: "/p",
      json: { a: 1 },
      idempotent: true,
    });

    expect(response.status).toBe(200);
    expect(server.seen).toHaveLength(2);
    expect(server.seen[0]?.headers["content-type"]).toBe("application/json");
    expect(server.seen[0]?.body).toBe('{"a":1}');
  });

  it("times out a server that never sends headers, and retries only when idempotent", async () => {
    const server = await scriptedServer(() => {
      // never answer
    });
    const { http, upstream } = client(server.url, {
      headersTimeoutMs: 200,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 10, maxTotalMs: 60_000 },
    });

    const getError = await failure(http.request({ operation: "get", method: "GET", path: "/hang" }));
    expect(getError).toMatchObject({ status: "timeout", retryable: true, ambiguous: false, attempts: 2 });
    expect(server.seen).toHaveLength(2);

    const postError = await failure(
      http.request({ operation: "post", method: "POST", path: "/hang", json: {} }),
    );
    expect(postError).toMatchObject({ status: "timeout", ambiguous: true, attempts: 1 });
    expect(server.seen).toHaveLength(3);
    expect(await countOf(upstream, "timeout")).toBe(3);
  });

  it("aborts a body past the size bound, with or without Content-Length, and does not retry", async () => {
    const big = "x".repeat(10_000);
    const server = await scriptedServer((req, res) => {
      if (req.url === "/declared") {
        res.writeHead(200, { "content-type": "text/plain", "content-length": String(big.length) });
        res.end(big);
      } else {
        // chunked: the size is only known while reading
        res.writeHead(200, { "content-type": "text/plain" });
        for (let i = 0; i < 10; i += 1) res.write(big);
        res.end();
      }
    });
    const { http, upstream } = client(server.url, { maxResponseBytes: 1_024 });

    for (const path of ["/declared", "/chunked"]) {
      const error = await failure(http.request({ operation: "big", method: "GET", path }));
      expect(error).toMatchObject({ status: "too_large", retryable: false });
    }
    expect(server.seen).toHaveLength(2);
    expect(await countOf(upstream, "too_large")).toBe(2);
  });

  it("reports a body that fails the schema as invalid_response", async () => {
    const server = await scriptedServer((_req, res) => json(res, 200, { id: 42 }));
    const { http, upstream } = client(server.url);

    const error = await failure(
      http.request({ operation: "getJob", method: "GET", path: "/j", schema: jobSchema }),
    );

    expect(error).toMatchObject({ status: "invalid_response", retryable: false });
    expect(server.seen).toHaveLength(1);
    expect(await countOf(upstream, "invalid_response")).toBe(1);
  });

  it("retries a POST whose connection never opened (`connect` is never ambiguous), up to the bound", async () => {
    const port = await freePort();
    const { http, waits } = client(`http://127.0.0.1:${port}`);

    const error = await failure(
      http.request({ operation: "pushFeed", method: "POST", path: "/p", json: {} }),
    );

    expect(error).toMatchObject({ status: "connect", retryable: true, ambiguous: false, attempts: 4 });
    expect(waits).toHaveLength(3);
  });

  it("retries a POST refused with 429 (it had no effect), honouring Retry-After", async () => {
    const server = await scriptedServer((_req, res, n) =>
      n === 0 ? json(res, 429, {}, { "retry-after": "2" }) : json(res, 201, { id: "j1", state: "queued" }),
    );
    const { http, waits } = client(server.url);

    const response = await http.request({ operation: "pushFeed", method: "POST", path: "/p", json: {} });

    expect(response.status).toBe(201);
    expect(server.seen).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(2000);
  });

  it("on a 401 invalidates the token and retries once with a fresh one, even for POST", async () => {
    let issued = 0;
    let invalidations = 0;
    const auth: AuthProvider = {
      header: async () => `Bearer token-${issued === 0 ? (issued = 1) : issued}`,
      invalidate: () => {
        invalidations += 1;
        issued += 1;
      },
    };
    const server = await scriptedServer((req, res) =>
      req.headers.authorization === "Bearer token-2" ? json(res, 200, { ok: true }) : json(res, 401, {}),
    );
    const { http, upstream } = client(server.url, { auth });

    const response = await http.request({ operation: "pushFeed", method: "POST", path: "/p", json: {} });

    expect(response.status).toBe(200);
    expect(invalidations).toBe(1);
    expect(server.seen.map((r) => r.headers.authorization)).toEqual(["Bearer token-1", "Bearer token-2"]);
    expect(await countOf(upstream, 401)).toBe(1);
    expect(await countOf(upstream, 200)).toBe(1);
  });

  it("surfaces a second 401 without further retries", async () => {
    const server = await scriptedServer((_req, res) => json(res, 401, { error: "invalid token" }));
    const { http } = client(server.url, { auth: staticBearerToken("never-valid-token-123") });

    const error = await failure(http.request({ operation: "get", method: "GET", path: "/x" }));

    expect(server.seen).toHaveLength(2);
    expect(error).toMatchObject({ status: 401, retryable: false, ambiguous: false, attempts: 2 });
  });

  it("never carries the token or Authorization header in the error, even when the server echoes it", async () => {
    const token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl";
    const server = await scriptedServer((req, res) =>
      json(res, 500, { error: "failed", echoed: req.headers.authorization, again: token }),
    );
    const { http } = client(server.url, {
      auth: staticBearerToken(token),
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1, maxTotalMs: 1 },
    });

    const error = await failure(http.request({ operation: "get", method: "GET", path: "/x" }));

    expect(server.seen[0]?.headers.authorization).toBe(`Bearer ${token}`);
    expect(error.bodyExcerpt).toContain("[redacted]");
    expect(error.bodyExcerpt).toContain("failed");
    const renderings = [
      error.message,
      error.bodyExcerpt ?? "",
      JSON.stringify(error),
      JSON.stringify(error.details()),
      inspect(error, { depth: 10 }),
      String(error.stack),
    ];
    for (const text of renderings) {
      expect(text).not.toContain(token);
      expect(text.toLowerCase()).not.toContain("authorization: bearer");
    }
  });

  it("keeps no excerpt of a sensitive response", async () => {
    const server = await scriptedServer((_req, res) => json(res, 400, { access_token: "leaky-token-value" }));
    const { http } = client(server.url);

    const error = await failure(
      http.request({ operation: "token", method: "POST", path: "/t", body: "x", sensitiveResponse: true }),
    );

    expect(error.bodyExcerpt).toBeUndefined();
    expect(inspect(error)).not.toContain("leaky-token-value");
  });

  it("sends default headers, the base path prefix and the query", async () => {
    const server = await scriptedServer((_req, res) => json(res, 200, { items: [] }));
    const { http } = client(`${server.url}/prefix/`, { defaultHeaders: { "X-Vimond-Tenant": "vimond" } });

    const response = await http.request({
      operation: "listIngests",
      method: "GET",
      path: "/ingests",
      query: { assetId: "869214", status: ["COMPLETED", "FAILED"], limit: 10, skip: undefined },
      headers: { "x-request-id": "r1" },
    });

    expect(response.body).toEqual({ items: [] });
    const seen = server.seen[0]!;
    expect(seen.url).toBe("/prefix/ingests?assetId=869214&status=COMPLETED&status=FAILED&limit=10");
    expect(seen.headers["x-vimond-tenant"]).toBe("vimond");
    expect(seen.headers["x-request-id"]).toBe("r1");
    expect(seen.headers.authorization).toBeUndefined();
  });

  it("returns an expected non-2xx status as a value and leaves non-JSON bodies raw", async () => {
    const server = await scriptedServer((req, res) => {
      if (req.url === "/missing") return json(res, 404, { error: "not found" });
      res.writeHead(200, { "content-type": "application/xml" });
      res.end("<ok/>");
    });
    const { http } = client(server.url);

    const missing = await http.request({
      operation: "get",
      method: "GET",
      path: "/missing",
      expect: [200, 404],
    });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: "not found" });

    const xml = await http.request({ operation: "get", method: "GET", path: "/xml" });
    expect(xml.body).toBeUndefined();
    expect(xml.rawText).toBe("<ok/>");
  });
});
