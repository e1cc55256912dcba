import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import {
  createS3Adapter,
  ObjectTooLargeError,
  type S3Adapter,
  type S3ExpectedVersion,
} from "../../src/adapters/s3/s3-adapter.js";
import { s3SettingsFromEnv } from "../../src/adapters/s3/s3-settings.js";
import { upstreamRequests } from "../../src/metrics/upstream-metrics.js";
import { startTestS3, type TestS3 } from "../support/s3.js";

const BUCKET = "adapter-s3";
let s3server: TestS3;
let s3: S3Adapter;

async function requestCount(operation: string, status: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values
    .filter(
      (v) => v.labels.upstream === "s3" && v.labels.operation === operation && v.labels.status === status,
    )
    .reduce((sum, v) => sum + v.value, 0);
}

/** The bytes of a read that must find its version. */
async function readBytes(key: string, maxBytes: number, expected: S3ExpectedVersion = {}): Promise<Buffer> {
  const read = await s3.getVersionBounded(BUCKET, key, expected, maxBytes);
  if (read.kind !== "ok") throw new Error(`s3://${BUCKET}/${key}: ${read.kind}`);
  return read.bytes;
}

/**
 * s3rver in a child process with OpenSSL's legacy provider. s3rver encrypts its ListObjectsV2
 * continuation tokens with DES, which OpenSSL 3 (Node 18+) only offers through that provider, so
 * the in-process embedded S3 answers every truncated listing with InternalError.
 */
async function startPagingS3rver(bucket: string): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const script = `
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { default: S3rver } = await import("s3rver");
    const server = new S3rver({
      address: "127.0.0.1", port: 0, silent: true,
      directory: mkdtempSync(join(tmpdir(), "ingest-s3-paging-")),
      configureBuckets: [{ name: ${JSON.stringify(bucket)}, configs: [] }],
    });
    const { port } = await server.run();
    console.log(JSON.stringify({ port }));
    process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
  `;
  const child: ChildProcess = spawn(
    process.execPath,
    ["--openssl-legacy-provider", "--input-type=module", "-e", script],
    { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once("line", (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once("exit", (code) => reject(new Error(`paging s3rver exited early (code ${code})`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

beforeAll(async () => {
  s3server = await startTestS3([BUCKET]);
  s3 = createS3Adapter({ region: "us-east-1", endpoint: s3server.endpoint });
});

afterAll(async () => {
  s3.close();
  await s3server.stop();
});

describe("S3 adapter against s3rver (real S3 protocol, real SDK)", () => {
  it("puts, then heads with size, bare eTag, content type, user metadata and last-modified", async () => {
    const put = await s3.putObject(BUCKET, "head/one.json", '{"a":1}', {
      contentType: "application/json",
      metadata: { "ingest-id": "abc123" },
    });
    expect(put.eTag).toMatch(/^[0-9a-f]{32}$/);
    const head = await s3.head(BUCKET, "head/one.json");
    expect(head).toMatchObject({
      exists: true,
      size: 7,
      eTag: put.eTag,
      contentType: "application/json",
      metadata: { "ingest-id": "abc123" },
    });
    expect(head.exists && head.lastModified).toBeInstanceOf(Date);
  });

  it("heads a missing key as a value, counted as a 404", async () => {
    const before = await requestCount("HeadObject", "404");
    await expect(s3.head(BUCKET, "head/missing.json")).resolves.toEqual({ exists: false });
    expect(await requestCount("HeadObject", "404")).toBe(before + 1);
  });

  it("reads an object within the cap, and refuses one above it naming size and cap", async () => {
    const bytes = randomBytes(4096);
    await s3.putObject(BUCKET, "bounded/blob.bin", bytes);
    expect((await readBytes("bounded/blob.bin", 4096)).equals(bytes)).toBe(true);
    const error = await readBytes("bounded/blob.bin", 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    const tooLarge = error as ObjectTooLargeError;
    expect(tooLarge).toMatchObject({ size: 4096, maxBytes: 1000, bucket: BUCKET, key: "bounded/blob.bin" });
    expect(tooLarge.message).toContain("4096");
    expect(tooLarge.message).toContain("1000");
    // The aborted download must leave the client usable.
    expect((await readBytes("bounded/blob.bin", 10_000)).length).toBe(4096);
    await s3.putObject(BUCKET, "bounded/empty", "");
    expect((await readBytes("bounded/empty", 0)).length).toBe(0);
    await expect(readBytes("bounded/blob.bin", -1)).rejects.toBeInstanceOf(RangeError);
  });

  it("reads the version an event named by its eTag, with the eTag it was read at", async () => {
    const put = await s3.putObject(BUCKET, "version/same.json", '{"v":1}');
    await expect(
      s3.getVersionBounded(BUCKET, "version/same.json", { eTag: put.eTag }, 1024),
    ).resolves.toEqual({
      kind: "ok",
      bytes: Buffer.from('{"v":1}'),
      eTag: put.eTag,
    });
    // No version named: whatever the key holds now.
    const any = await s3.getVersionBounded(BUCKET, "version/same.json", {}, 1024);
    expect(any).toMatchObject({ kind: "ok", eTag: put.eTag });
  });

  it("reads an overwritten object as changed, in one GetObject", async () => {
    const first = await s3.putObject(BUCKET, "version/overwritten.json", '{"v":1}');
    const second = await s3.putObject(BUCKET, "version/overwritten.json", '{"v":2}');
    expect(second.eTag).not.toBe(first.eTag);
    // S3 and MinIO answer If-Match with 412; s3rver ignores If-Match and sends the new object
    // (200), which the adapter refuses by the ETag the response carries.
    const status = s3server.kind === "s3rver" ? "200" : "412";
    const before = await requestCount("GetObject", status);
    await expect(
      s3.getVersionBounded(BUCKET, "version/overwritten.json", { eTag: first.eTag }, 1024),
    ).resolves.toEqual({ kind: "changed" });
    expect(await requestCount("GetObject", status)).toBe(before + 1);
  });

  it("reads a deleted object as gone, counted as a GetObject 404", async () => {
    const put = await s3.putObject(BUCKET, "version/deleted.json", "{}");
    const client = createS3Client({ region: "us-east-1", endpoint: s3server.endpoint });
    try {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "version/deleted.json" }));
    } finally {
      client.destroy();
    }
    const before = await requestCount("GetObject", "404");
    await expect(
      s3.getVersionBounded(BUCKET, "version/deleted.json", { eTag: put.eTag }, 1024),
    ).resolves.toEqual({ kind: "gone" });
    expect(await requestCount("GetObject", "404")).toBe(before + 1);
    await expect(s3.getVersionBounded(BUCKET, "version/never.json", {}, 1024)).resolves.toEqual({
      kind: "gone",
    });
  });

  it("still refuses a version above the cap, and leaves the client usable", async () => {
    const bytes = randomBytes(4096);
    const put = await s3.putObject(BUCKET, "version/large.bin", bytes);
    const error = await s3.getVersionBounded(BUCKET, "version/large.bin", { eTag: put.eTag }, 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect(error).toMatchObject({ size: 4096, maxBytes: 1000, key: "version/large.bin" });
    const read = await s3.getVersionBounded(BUCKET, "version/large.bin", { eTag: put.eTag }, 4096);
    expect(read.kind === "ok" && read.bytes.equals(bytes)).toBe(true);
    await expect(s3.getVersionBounded(BUCKET, "version/large.bin", {}, -1)).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  it("presigns a GET that undici's fetch can download without credentials", async () => {
    const body = `poster ${randomBytes(8).toString("hex")}`;
    await s3.putObject(BUCKET, "presign/poster.png", body, { contentType: "image/png" });
    const url = await s3.presignGet(BUCKET, "presign/poster.png", 300);
    expect(url).toContain("X-Amz-Signature=");
    expect(url).toContain("X-Amz-Expires=300");
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(body);
    await expect(s3.presignGet(BUCKET, "presign/poster.png", 604_801)).rejects.toBeInstanceOf(RangeError);
    await expect(s3.presignGet(BUCKET, "presign/poster.png", 0)).rejects.toBeInstanceOf(RangeError);
  });

  it("lists with ListObjectsV2 paging (maxKeys 2 over 5 objects) and startAfter", async () => {
    const paging = await startPagingS3rver("paging");
    const adapter = createS3Adapter({ region: "us-east-1", endpoint: paging.endpoint });
    try {
      const keys = ["page/a", "page/b", "page/c", "page/d", "page/e"];
      for (const key of keys) await adapter.putObject("paging", key, key);
      await adapter.putObject("paging", "other/z", "z");
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await adapter.list("paging", "page/", {
          maxKeys: 2,
          ...(token !== undefined ? { continuationToken: token } : {}),
        });
        pages += 1;
        expect(page.objects.length).toBeLessThanOrEqual(2);
        for (const object of page.objects) {
          expect(object.size).toBe(object.key.length);
          expect(object.eTag).toMatch(/^[0-9a-f]{32}$/);
          expect(object.lastModified).toBeInstanceOf(Date);
        }
        seen.push(...page.objects.map((o) => o.key));
        token = page.nextContinuationToken;
      } while (token !== undefined && pages < 10);
      expect(seen).toEqual(keys);
      expect(pages).toBe(3);
      const after = await adapter.list("paging", "page/", { startAfter: "page/c" });
      expect(after.objects.map((o) => o.key)).toEqual(["page/d", "page/e"]);
      expect(after.nextContinuationToken).toBeUndefined();
    } finally {
      adapter.close();
      await paging.stop();
    }
  });

  it("lists a prefix in one page when it fits, without a continuation token", async () => {
    for (const key of ["single/1", "single/2"]) await s3.putObject(BUCKET, key, key);
    const page = await s3.list(BUCKET, "single/");
    expect(page.objects.map((o) => o.key)).toEqual(["single/1", "single/2"]);
    expect(page.nextContinuationToken).toBeUndefined();
    expect((await s3.list(BUCKET, "nothing-here/")).objects).toEqual([]);
  });

  it.each([
    ["spaces", "odd keys/with space.mp4"],
    ["plus", "odd keys/a+b.mp4"],
    ["percent", "odd keys/100%-done.mp4"],
    ["non-ASCII", "odd keys/Ærøskøbing-фильм-映画.mp4"],
  ])("round-trips a key with %s through put, head, get, list and a presigned URL", async (_what, key) => {
    const body = `bytes of ${key}`;
    const put = await s3.putObject(BUCKET, key, body);
    const head = await s3.head(BUCKET, key);
    expect(head).toMatchObject({ exists: true, size: Buffer.byteLength(body), eTag: put.eTag });
    expect((await readBytes(key, 1024, { eTag: put.eTag })).toString("utf8")).toBe(body);
    const listed = await s3.list(BUCKET, key);
    expect(listed.objects.map((o) => o.key)).toEqual([key]);
    const response = await fetch(await s3.presignGet(BUCKET, key, 60));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(body);
  });

  it("counts every SDK call in the upstream metrics by command and HTTP status", async () => {
    const before = await requestCount("PutObject", "200");
    await s3.putObject(BUCKET, "metrics/x", "x");
    expect(await requestCount("PutObject", "200")).toBe(before + 1);
  });

  it("builds client settings from the environment without turning path style off for an endpoint", async () => {
    const env = { S3_REGION: "us-east-1", S3_ENDPOINT: s3server.endpoint, S3_FORCE_PATH_STYLE: false };
    expect(s3SettingsFromEnv(env)).toEqual({ region: "us-east-1", endpoint: s3server.endpoint });
    const fromEnv = createS3Adapter(s3SettingsFromEnv(env));
    try {
      await fromEnv.putObject(BUCKET, "env/ok", "ok");
      expect(await fromEnv.head(BUCKET, "env/ok")).toMatchObject({ exists: true, size: 2 });
    } finally {
      fromEnv.close();
    }
    expect(
      s3SettingsFromEnv({ S3_REGION: "eu-north-1", S3_ENDPOINT: undefined, S3_FORCE_PATH_STYLE: true }),
    ).toEqual({ region: "eu-north-1", forcePathStyle: true });
  });
});

/** One request as a stand-in S3 received it. */
interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * An HTTP server answering every request with one scripted S3 response. s3rver ignores both
 * If-Match and versionId, so what the adapter sends, and how it takes S3's documented 412
 * PreconditionFailed and 404 NoSuchVersion answers, is checked on the wire here.
 */
interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

async function startScriptedS3(
  answer: (request: SeenRequest) => ScriptedAnswer,
): Promise<{ endpoint: string; seen: SeenRequest[]; stop(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const request = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    seen.push(request);
    const { status, headers = {}, body = "" } = answer(request);
    res.writeHead(status, { "content-length": String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    stop: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

function s3Error(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
}

describe("S3 adapter's version read on the wire (S3 behaviour s3rver does not implement)", () => {
  it("sends If-Match with the quoted eTag and takes 412 PreconditionFailed as changed", async () => {
    const stub = await startScriptedS3(() => ({
      status: 412,
      headers: { "content-type": "application/xml" },
      body: s3Error("PreconditionFailed"),
    }));
    const adapter = createS3Adapter({ region: "us-east-1", endpoint: stub.endpoint });
    try {
      await expect(
        adapter.getVersionBounded("b", "side/car.json", { eTag: "abc123" }, 1024),
      ).resolves.toEqual({
        kind: "changed",
      });
      expect(stub.seen).toHaveLength(1);
      expect(stub.seen[0]).toMatchObject({ method: "GET", headers: { "if-match": '"abc123"' } });
      expect(stub.seen[0]?.url).not.toContain("versionId");
    } finally {
      adapter.close();
      await stub.stop();
    }
  });

  it("reads a named version by VersionId, without If-Match; a missing version is gone", async () => {
    const stub = await startScriptedS3((request): ScriptedAnswer =>
      request.url.includes("versionId=v2")
        ? { status: 200, headers: { etag: '"e2"', "x-amz-version-id": "v2" }, body: "{}" }
        : { status: 404, headers: { "content-type": "application/xml" }, body: s3Error("NoSuchVersion") },
    );
    const adapter = createS3Adapter({ region: "us-east-1", endpoint: stub.endpoint });
    try {
      await expect(
        adapter.getVersionBounded("b", "side/car.json", { versionId: "v2", eTag: "e2" }, 1024),
      ).resolves.toEqual({ kind: "ok", bytes: Buffer.from("{}"), eTag: "e2", versionId: "v2" });
      expect(stub.seen[0]?.headers["if-match"]).toBeUndefined();
      await expect(
        adapter.getVersionBounded("b", "side/car.json", { versionId: "v1", eTag: "e1" }, 1024),
      ).resolves.toEqual({ kind: "gone" });
      expect(stub.seen[1]?.url).toContain("versionId=v1");
      // "null" pins nothing (a put to a versioning-suspended bucket rewrites it): the eTag does.
      await adapter.getVersionBounded("b", "side/car.json", { versionId: "null", eTag: "e0" }, 1024);
      expect(stub.seen[2]?.url).not.toContain("versionId");
      expect(stub.seen[2]?.headers["if-match"]).toBe('"e0"');
    } finally {
      adapter.close();
      await stub.stop();
    }
  });
});
