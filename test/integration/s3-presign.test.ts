import { GetObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import { createGetPresigner } from "../../src/adapters/s3/presign-get.js";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import { startTestS3, type TestS3 } from "../support/s3.js";

const BUCKET = "s3-presign";
const AT = new Date("2026-11-22T12:34:56Z");
const CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

/** Keys whose URL encoding is easy to get wrong. */
const TRICKY_KEYS = [
  "plain.mp4",
  "dir/sub dir/with space.mp4",
  "a+b=c&d.mp4",
  "100%-done.mp4",
  "Ærøskøbing/фильм/映画 😀.png",
  "(parens)!*'~_.-.jpg",
  "/leading-slash",
  "trailing-slash/",
  "double//slash",
  "question?hash#colon:semi;at@comma,.txt",
  "%2F-looks-encoded",
  "a/../b/./c",
  "",
];

let s3server: TestS3;
let adapter: S3Adapter;

beforeAll(async () => {
  s3server = await startTestS3([BUCKET]);
  adapter = createS3Adapter({ region: "us-east-1", endpoint: s3server.endpoint });
});

afterAll(async () => {
  adapter?.close();
  await s3server?.stop();
});

function sdkUrl(client: S3Client, bucket: string, key: string): Promise<string> {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn: 3600,
    signingDate: AT,
  });
}

describe("presigned GET URLs without the middleware stack", () => {
  const clients: Array<[string, () => S3Client]> = [
    [
      "the embedded S3 (path style)",
      () => createS3Client({ region: "us-east-1", endpoint: s3server.endpoint }),
    ],
    [
      "an S3-compatible endpoint with a base path",
      () =>
        createS3Client({
          region: "eu-west-1",
          endpoint: "https://minio.example.com:9000/s3/",
          ...CREDENTIALS,
        }),
    ],
    ["AWS, virtual-hosted", () => createS3Client({ region: "us-east-1", ...CREDENTIALS })],
    [
      "AWS, path style",
      () => createS3Client({ region: "eu-central-1", forcePathStyle: true, ...CREDENTIALS }),
    ],
    [
      "AWS with FIPS, dual-stack and a session token",
      () =>
        new S3Client({
          region: "us-west-2",
          useFipsEndpoint: true,
          useDualstackEndpoint: true,
          credentials: { ...CREDENTIALS, sessionToken: "session/token+with=odd chars" },
        } satisfies S3ClientConfig),
    ],
  ];

  it.each(clients)("signs exactly getSignedUrl's URL for tricky keys: %s", async (_what, make) => {
    const client = make();
    const presigner = createGetPresigner(client);
    try {
      for (const bucket of ["media-bucket", "dotted.bucket.name"]) {
        for (const key of TRICKY_KEYS) {
          const fast = await presigner.presign(bucket, key, { expiresIn: 3600, signingDate: AT });
          expect(fast, `s3://${bucket}/${key}`).toBe(await sdkUrl(client, bucket, key));
        }
        expect(await presigner.isFast(bucket)).toBe(true);
      }
    } finally {
      client.destroy();
    }
  });

  it("gives URLs that download every tricky key from the embedded S3", async () => {
    const client = createS3Client({ region: "us-east-1", endpoint: s3server.endpoint });
    const presigner = createGetPresigner(client);
    try {
      // s3rver keeps objects as files: no empty or dot segments.
      const storable = TRICKY_KEYS.filter(
        (k) => !k.split("/").some((s) => s === "" || s === "." || s === ".."),
      );
      expect(storable.length).toBeGreaterThan(7);
      for (const key of storable) {
        const body = `bytes of ${key}`;
        await adapter.putObject(BUCKET, key, body);
        const url = await presigner.presign(BUCKET, key, { expiresIn: 60 });
        expect(url).toMatch(/X-Amz-Expires=60&/);
        const response = await fetch(url);
        expect(response.status, key).toBe(200);
        expect(await response.text()).toBe(body);
        // Through the adapter as the worker calls it, too.
        expect((await fetch(await adapter.presignGet(BUCKET, key, 60))).status).toBe(200);
      }
      expect(await presigner.isFast(BUCKET)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it("keeps getSignedUrl for a bucket whose URLs it cannot reproduce (a signed header)", async () => {
    const client = createS3Client({ region: "us-east-1", endpoint: s3server.endpoint });
    client.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-ingest-test"] = "1";
        return next(args);
      },
      { step: "build", name: "addSignedTestHeader" },
    );
    const presigner = createGetPresigner(client);
    try {
      const url = await presigner.presign(BUCKET, "a b.mp4", { expiresIn: 3600, signingDate: AT });
      expect(url).toContain("X-Amz-SignedHeaders=host%3Bx-ingest-test");
      expect(url).toBe(await sdkUrl(client, BUCKET, "a b.mp4"));
      expect(await presigner.isFast(BUCKET)).toBe(false);
    } finally {
      client.destroy();
    }
  });

  it("rejects with the SDK's own error where the SDK cannot build the URL", async () => {
    const client = new S3Client({
      region: "us-east-1",
      useAccelerateEndpoint: true,
      credentials: CREDENTIALS,
    });
    const presigner = createGetPresigner(client);
    try {
      const expected = await sdkUrl(client, "dotted.bucket", "k").catch((error: unknown) => error);
      expect(expected).toBeInstanceOf(Error);
      const error = await presigner.presign("dotted.bucket", "k", { expiresIn: 60 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe((expected as Error).message);
      expect(await presigner.isFast("dotted.bucket")).toBe(false);
      // A lone surrogate cannot be encoded: the SDK's URIError, on the fast path as well.
      await expect(presigner.presign("plain-bucket", "\uD800", { expiresIn: 60 })).rejects.toBeInstanceOf(
        URIError,
      );
      expect(await presigner.isFast("plain-bucket")).toBe(true);
    } finally {
      client.destroy();
    }
  });
});
