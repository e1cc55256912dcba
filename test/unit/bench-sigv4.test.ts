import { createHash, createHmac } from "node:crypto";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import { createSigner, encodeKeyPath } from "../../src/bench/sigv4.js";

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const at = new Date("2026-12-03T13:59:35.123Z");
const KEY = "news/run 1/ä+€ (1)!*'~/manifest.json";

const bytes = (data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof data === "string"
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** node:crypto as the SDK's Checksum interface (an HMAC when given a secret). */
class NodeSha256 {
  private hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(bytes(data));
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset() {}
}

/**
 * The benchmark's same-work reference signs S3 requests without the SDK; if its signatures were
 * wrong a strict S3 would refuse them and the reference would do less work than the chain.
 */
describe("bench SigV4 signer", () => {
  const signer = createSigner({ ...credentials, region: "us-east-1" });

  it("signs a HEAD with an If-Match header exactly as the SDK's SignatureV4 does", async () => {
    const path = `/bench-in/${encodeKeyPath(KEY)}`;
    const ours = signer.headers("GET", "127.0.0.1:9000", path, { "if-match": '"abc"' }, at);
    const sdk = new SignatureV4({
      credentials,
      region: "us-east-1",
      service: "s3",
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    const signed = await sdk.sign(
      {
        method: "GET",
        protocol: "http:",
        hostname: "127.0.0.1",
        port: 9000,
        path,
        query: {},
        headers: {
          host: "127.0.0.1:9000",
          "if-match": '"abc"',
          "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
      },
      { signingDate: at },
    );
    expect(ours.authorization).toBe(signed.headers.authorization);
    expect(ours["x-amz-date"]).toBe(signed.headers["x-amz-date"]);
  });

  it("presigns a GET URL identical to getSignedUrl's", async () => {
    // The worker's own client, so the URL is the one the chain puts into its Atom feeds.
    const client = createS3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9000", ...credentials });
    const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: "bench-in", Key: KEY }), {
      expiresIn: 21600,
      signingDate: at,
    });
    const ours = signer.presignGet("http://127.0.0.1:9000", `/bench-in/${encodeKeyPath(KEY)}`, 21600, at);
    expect(ours).toBe(expected);
    client.destroy();
  });

  it("gives a different signature for a different key (the test above can fail)", () => {
    const a = signer.presignGet("http://127.0.0.1:9000", "/bench-in/a", 60, at);
    const b = signer.presignGet("http://127.0.0.1:9000", "/bench-in/b", 60, at);
    expect(new URL(a).searchParams.get("X-Amz-Signature")).not.toBe(
      new URL(b).searchParams.get("X-Amz-Signature"),
    );
  });
});
