import { createHash, createHmac } from "node:crypto";

/**
 * AWS Signature V4 for S3 in a few dozen lines: what the same-work reference (reference-worker.ts)
 * signs its GETs and HEADs and presigns its media URLs with, instead of the AWS SDK. It covers the
 * cases the reference needs (path-style URLs, unsigned payloads, no session token) and nothing
 * else; test/unit/bench-sigv4.test.ts checks it against the SDK's own signer.
 */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

const UNSIGNED = "UNSIGNED-PAYLOAD";

/** RFC 3986 escaping as SigV4 wants it: `encodeURIComponent` plus `!'()*`. */
function escape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** An object key as a path: each segment escaped once, `/` kept (S3 does not double-encode). */
export function encodeKeyPath(key: string): string {
  return key.split("/").map(escape).join("/");
}

const hmac = (key: Buffer | string, text: string) => createHmac("sha256", key).update(text, "utf8").digest();
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** `20261203T135935Z` and `20261203` of an instant. */
function stamps(at: Date): { amzDate: string; day: string } {
  const amzDate = at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  return { amzDate, day: amzDate.slice(0, 8) };
}

/**
 * Signs requests with one set of credentials. The derived signing key depends only on the day, so
 * it is kept: per request that leaves two SHA-256 and one HMAC, which is all the SDK's signer
 * does underneath its middleware.
 */
export function createSigner(credentials: SigV4Credentials) {
  let cached: { day: string; key: Buffer } | undefined;
  function signingKey(day: string): Buffer {
    if (cached?.day !== day) {
      const kDate = hmac(`AWS4${credentials.secretAccessKey}`, day);
      const kRegion = hmac(kDate, credentials.region);
      cached = { day, key: hmac(hmac(kRegion, "s3"), "aws4_request") };
    }
    return cached.key;
  }
  const scopeOf = (day: string) => `${day}/${credentials.region}/s3/aws4_request`;

  /** The signature over a canonical request whose headers (lower-case names) are `headers`. */
  function signature(
    method: string,
    path: string,
    query: Array<[string, string]>,
    headers: Array<[string, string]>,
    amzDate: string,
    day: string,
  ): { signature: string; signedHeaders: string } {
    const canonicalQuery = query
      .map(([k, v]) => [escape(k), escape(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const sorted = [...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const signedHeaders = sorted.map(([k]) => k).join(";");
    const canonical = [
      method,
      path,
      canonicalQuery,
      sorted.map(([k, v]) => `${k}:${v.trim()}\n`).join(""),
      signedHeaders,
      UNSIGNED,
    ].join("\n");
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scopeOf(day)}\n${sha256(canonical)}`;
    return { signature: createHmac("sha256", signingKey(day)).update(toSign).digest("hex"), signedHeaders };
  }

  return {
    /**
     * Headers for a header-signed request to `host` + `path` (already encoded). `extra` headers
     * (lower-case names, e.g. `if-match`) are signed too.
     */
    headers(
      method: string,
      host: string,
      path: string,
      extra: Record<string, string> = {},
      at = new Date(),
    ): Record<string, string> {
      const { amzDate, day } = stamps(at);
      const headers: Record<string, string> = {
        ...extra,
        host,
        "x-amz-content-sha256": UNSIGNED,
        "x-amz-date": amzDate,
      };
      const signed = signature(method, path, [], Object.entries(headers), amzDate, day);
      headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scopeOf(day)}, SignedHeaders=${signed.signedHeaders}, Signature=${signed.signature}`;
      return headers;
    },

    /** A presigned GET URL (`origin` like `http://host:port`, `path` already encoded). */
    presignGet(origin: string, path: string, expiresIn: number, at = new Date()): string {
      const { amzDate, day } = stamps(at);
      const host = origin.replace(/^[a-z]+:\/\//, "");
      const query: Array<[string, string]> = [
        ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
        ["X-Amz-Content-Sha256", UNSIGNED],
        ["X-Amz-Credential", `${credentials.accessKeyId}/${scopeOf(day)}`],
        ["X-Amz-Date", amzDate],
        ["X-Amz-Expires", String(expiresIn)],
        ["X-Amz-SignedHeaders", "host"],
        ["x-id", "GetObject"],
      ];
      const signed = signature("GET", path, query, [["host", host]], amzDate, day);
      // Sorted by name, as the SDK's presigner formats its URLs.
      const search = [...query, ["X-Amz-Signature", signed.signature] as [string, string]]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${escape(k)}=${escape(v)}`)
        .join("&");
      return `${origin}${path}?${search}`;
    },
  };
}

export type SigV4Signer = ReturnType<typeof createSigner>;
