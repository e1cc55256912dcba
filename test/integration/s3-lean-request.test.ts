import { createHash, createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";

const credentials = { accessKeyId: "AKIDLEAN", secretAccessKey: "lean/secret+key" };
const KEY = "news/run 1/ä+€ (1)!*'~/manifest.json";
/** Headers the SDK adds for itself, not for S3: the lean path leaves them out. */
const SDK_ONLY = new Set(["amz-sdk-invocation-id", "amz-sdk-request", "x-amz-user-agent", "user-agent"]);

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** An S3 stand-in answering by a script; every request it sees is kept. */
async function startStub(
  answer: (
    request: Seen,
    index: number,
  ) => { status: number; headers?: Record<string, string>; body?: string },
) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const request = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    seen.push(request);
    const { status, headers = {}, body = "" } = answer(request, seen.length - 1);
    res.writeHead(status, { "content-length": String(Buffer.byteLength(body)), ...headers });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  let connections = 0;
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    /** TCP connections accepted so far. */
    connections: () => connections,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const hmac = (key: Buffer | string, text: string) => createHmac("sha256", key).update(text, "utf8").digest();
const escape = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * SigV4 verification written from the specification, independent of any signer under test: the
 * canonical request of what arrived (path as sent, query sorted, the signed headers), then the
 * signature with the secret. True when the Authorization header's signature is the right one.
 */
function verifySigV4(request: Seen, secret: string): boolean {
  const auth = String(request.headers.authorization ?? "");
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(
      auth,
    );
  if (!match) return false;
  const [, , day, region, service, signedHeaders, signature] = match as unknown as string[];
  const [path, search = ""] = request.url.split("?") as [string, string?];
  const query = search
    .split("&")
    .filter(Boolean)
    .map((pair) =>
      pair
        .split("=")
        .map((part) => escape(decodeURIComponent(part ?? "")))
        .join("="),
    )
    .sort()
    .join("&");
  const names = signedHeaders!.split(";");
  const canonical = [
    request.method,
    path,
    query,
    names.map((name) => `${name}:${String(request.headers[name] ?? "").trim()}\n`).join(""),
    signedHeaders,
    String(request.headers["x-amz-content-sha256"]),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${String(request.headers["x-amz-date"])}\n${scope}\n${createHash("sha256").update(canonical).digest("hex")}`;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day!), region!), service!), "aws4_request");
  return createHmac("sha256", key).update(toSign).digest("hex") === signature;
}

describe("S3 adapter's lean GET/HEAD path", () => {
  let stub: Awaited<ReturnType<typeof startStub>>;
  let adapter: S3Adapter;
  /** Answers for the next requests, in order; then 200 with the object. */
  const script: number[] = [];

  beforeAll(async () => {
    stub = await startStub((request): Answer => {
      const status = script.shift() ?? 200;
      if (status !== 200)
        return {
          status,
          headers: { "content-type": "application/xml" },
          body: `<Error><Code>E${status}</Code></Error>`,
        };
      return {
        status: 200,
        headers: {
          etag: '"e1"',
          "x-amz-version-id": "v1",
          "content-type": "application/json",
          "last-modified": "Thu, 03 Dec 2026 13:59:35 GMT",
          "x-amz-meta-origin": "camera-7",
        },
        body: request.method === "HEAD" ? "" : '{"ok":true}',
      };
    });
    adapter = createS3Adapter({ region: "eu-west-1", endpoint: stub.endpoint, ...credentials });
  });
  afterAll(async () => {
    adapter?.close();
    await stub?.stop();
  });

  it("sends one correctly signed HEAD and GET per call, without the SDK's own headers", async () => {
    const before = stub.seen.length;
    await expect(adapter.head("bucket-a", KEY)).resolves.toEqual({
      exists: true,
      size: 0,
      eTag: "e1",
      versionId: "v1",
      contentType: "application/json",
      metadata: { origin: "camera-7" },
      lastModified: new Date("2026-12-03T13:59:35Z"),
    });
    await expect(adapter.getVersionBounded("bucket-a", KEY, { versionId: "v1" }, 1024)).resolves.toEqual({
      kind: "ok",
      bytes: Buffer.from('{"ok":true}'),
      eTag: "e1",
      versionId: "v1",
    });
    const [head, get] = stub.seen.slice(before);
    expect(stub.seen.length - before).toBe(2);
    for (const request of [head!, get!]) {
      expect(verifySigV4(request, credentials.secretAccessKey)).toBe(true);
      expect(String(request.headers.authorization)).toContain("/eu-west-1/s3/aws4_request");
      expect(request.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update("").digest("hex"));
      for (const name of SDK_ONLY) expect(request.headers[name], name).toBeUndefined();
    }
    expect(head!.method).toBe("HEAD");
    expect(head!.url).toBe(`/bucket-a/${KEY.split("/").map(escape).join("/")}`);
    expect(get!.url).toContain("versionId=v1");
  });

  it("sends the request the SDK sends: same path, query, signed S3 headers and credential scope", async () => {
    // A 503 to the lean GET hands the read to the SDK, whose request is then the next one seen.
    script.push(503);
    const before = stub.seen.length;
    const read = await adapter.getVersionBounded("bucket-a", KEY, { eTag: "e1" }, 1024);
    expect(read.kind).toBe("ok");
    const [lean, sdk] = stub.seen.slice(before);
    expect(stub.seen.length - before).toBe(2);
    expect(sdk!.headers["amz-sdk-invocation-id"]).toBeDefined();
    expect(verifySigV4(sdk!, credentials.secretAccessKey)).toBe(true);
    expect(verifySigV4(lean!, credentials.secretAccessKey)).toBe(true);
    expect(lean!.url).toBe(sdk!.url);
    const signed = (r: Seen) =>
      /SignedHeaders=([^,]+)/
        .exec(String(r.headers.authorization))![1]!
        .split(";")
        .filter((h) => !SDK_ONLY.has(h));
    expect(signed(lean!)).toEqual(signed(sdk!));
    for (const name of ["if-match", "x-amz-content-sha256", "host"])
      expect(lean!.headers[name], name).toBe(sdk!.headers[name]);
    const scope = (r: Seen) =>
      /Credential=([^,]+)/.exec(String(r.headers.authorization))![1]!.split("/").slice(2);
    expect(scope(lean!)).toEqual(scope(sdk!));
  });

  it("keeps its connection across HEADs, as across GETs", async () => {
    // undici closes the socket after a HEAD unless the request says otherwise: a new TCP (and, on
    // S3, TLS) connection for every existence check.
    await adapter.head("bucket-a", KEY);
    const before = stub.connections();
    for (let i = 0; i < 4; i++) await adapter.head("bucket-a", KEY);
    expect(stub.connections() - before, "connections opened by four HEADs in a row").toBe(0);
  });

  it("leaves an error status to the SDK, which maps it as before", async () => {
    // Lean HEAD 403, then the SDK's HEAD 403 (not retried): thrown as the SDK throws it.
    script.push(403, 403);
    await expect(adapter.head("bucket-a", "denied.json")).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
    // A missing object and a changed one are values on the lean path, in one request each.
    const before = stub.seen.length;
    script.push(404);
    await expect(adapter.head("bucket-a", "gone.json")).resolves.toEqual({ exists: false });
    script.push(412);
    await expect(adapter.getVersionBounded("bucket-a", "x.json", { eTag: "e0" }, 1024)).resolves.toEqual({
      kind: "changed",
    });
    expect(stub.seen.length - before).toBe(2);
  });

  it("still refuses a body above the cap by its declared length", async () => {
    await expect(adapter.getVersionBounded("bucket-a", KEY, { eTag: "e1" }, 4)).rejects.toMatchObject({
      name: "ObjectTooLargeError",
    });
  });
});
