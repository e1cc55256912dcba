import type { S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { Agent, request } from "undici";
import { awsErrorStatus } from "../../metrics/aws-sdk-metrics.js";
import { withUpstreamMetrics } from "../../metrics/upstream-metrics.js";
import { ATTR, withAwsSpan } from "../../telemetry/tracing.js";
import { encodeKey, escapeUri, type BucketLocation, type GetPresigner } from "./presign-get.js";

/** A lean request's answer: status, headers (lower-case names) and the unread body (GET). */
export interface LeanResponse {
  status: number;
  headers: Record<string, string>;
  /** Undefined after a HEAD; read it or call `discard`. */
  body?: AsyncIterable<Uint8Array>;
  discard(): void;
}

/** Signed GET/HEAD of one object over keep-alive, or undefined where the SDK must do it. */
export interface LeanS3 {
  /**
   * Sends the request, or answers undefined without sending when the bucket is not on the lean
   * path (or `GET` needs the SDK's response checksums). A transport error rejects.
   */
  send(
    method: "GET" | "HEAD",
    bucket: string,
    key: string,
    options?: { versionId?: string; ifMatch?: string },
  ): Promise<LeanResponse | undefined>;
  close(): Promise<void>;
}

const UPSTREAM = "s3";
/** Sockets kept per S3 origin: as many as the worker's concurrency could use at once. */
const CONNECTIONS_PER_ORIGIN = 64;

/** A signer per bucket location: its region and service, the client's credentials and hash. */
function signerFor(client: S3Client, location: BucketLocation): SignatureV4 {
  return new SignatureV4({
    credentials: client.config.credentials,
    region: location.signingRegion,
    service: location.signingService,
    sha256: client.config.sha256,
    // S3 signs the path as sent (each key segment escaped once), as the SDK's S3 signer does.
    uriEscapePath: false,
    // Adds x-amz-content-sha256 (of the empty body), which S3 requires with header signing.
    applyChecksum: true,
  });
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(",") : value;
  }
  return flat;
}

/**
 * S3 GetObject and HeadObject without the SDK's per-request machinery. A `send` through the client
 * copies its config, resolves endpoint rules and runs some twenty middlewares: ~0.7 ms of CPU per
 * HEAD where the request itself needs the signature and a socket write. What the stack decides
 * depends on the bucket, not the key, so the lean path uses the bucket's location exactly as the
 * presigner learned and proved it against `getSignedUrl` (endpoint, path or virtual-host style,
 * signing region and service; plain SigV4 only), signs with `@smithy/signature-v4` (the SDK's own
 * signer) and the client's credential provider chain (`config.credentials`, the SDK's memoized
 * chain with its refreshes), and sends over an undici keep-alive pool. A bucket the presigner did
 * not admit stays on the SDK. GetObject stays on the SDK too where the client validates response
 * checksums (`responseChecksumValidation` WHEN_SUPPORTED, AWS's default): that is a check of the
 * SDK's this path would drop. Every request is counted in the upstream metrics as the SDK's are.
 */
export function createLeanS3(client: S3Client, presigner: GetPresigner): LeanS3 {
  const agent = new Agent({ connections: CONNECTIONS_PER_ORIGIN, keepAliveTimeout: 4_000 });
  const signers = new WeakMap<BucketLocation, SignatureV4>();
  let getChecked: Promise<boolean> | undefined;

  /** Whether GetObject may skip the SDK: only when the client validates no response checksum. */
  function leanGet(): Promise<boolean> {
    getChecked ??= Promise.resolve(client.config.responseChecksumValidation())
      .then((mode) => mode === "WHEN_REQUIRED")
      .catch(() => false);
    return getChecked;
  }

  async function send(
    method: "GET" | "HEAD",
    bucket: string,
    key: string,
    options: { versionId?: string; ifMatch?: string } = {},
  ): Promise<LeanResponse | undefined> {
    if (method === "GET" && !(await leanGet())) return undefined;
    const location = await presigner.location(bucket);
    if (location === undefined) return undefined;
    let signer = signers.get(location);
    if (signer === undefined) {
      signer = signerFor(client, location);
      signers.set(location, signer);
    }
    const host = location.port !== undefined ? `${location.hostname}:${location.port}` : location.hostname;
    const query: Record<string, string> = method === "GET" ? { ...location.query } : {};
    if (options.versionId !== undefined) query.versionId = options.versionId;
    const headers: Record<string, string> = { host };
    if (options.ifMatch !== undefined) headers["if-match"] = options.ifMatch;
    const path = location.basePath + encodeKey(key);
    const signed = await signer.sign({
      method,
      protocol: location.protocol,
      hostname: location.hostname,
      ...(location.port !== undefined ? { port: location.port } : {}),
      path,
      query,
      headers,
    });
    const search = Object.keys(query)
      .sort()
      .map((name) => `${escapeUri(name)}=${escapeUri(query[name]!)}`)
      .join("&");
    const url = `${location.protocol}//${host}${path}${search ? `?${search}` : ""}`;
    // undici writes the Host header from the URL, the same value that was signed.
    const { host: _signedHost, ...sent } = signed.headers;
    const operation = method === "GET" ? "GetObject" : "HeadObject";
    // The same S3.<operation> span as an SDK call has; undici's own client span sits under it.
    const response = await withAwsSpan(
      "S3",
      operation,
      { [ATTR.bucket]: bucket, [ATTR.key]: key },
      () =>
        withUpstreamMetrics(
          UPSTREAM,
          operation,
          // reset: false keeps the socket after a HEAD, which undici otherwise closes (it guards
          // against servers that send a body anyway; S3 sends none): one TCP and TLS handshake
          // per HEAD would cost more than the request.
          () => request(url, { method, headers: sent, dispatcher: agent, reset: false }),
          (r) => r.statusCode,
          awsErrorStatus,
        ),
      (r) => (r as { statusCode?: number } | undefined)?.statusCode,
    );
    const body = response.body;
    const discard = () => {
      // undici fails a destroyed body with an AbortError: nobody is reading it any more.
      body.on("error", () => {});
      body.destroy();
    };
    if (method === "HEAD") {
      await body.dump();
      return { status: response.statusCode, headers: flatHeaders(response.headers), discard };
    }
    return { status: response.statusCode, headers: flatHeaders(response.headers), body, discard };
  }

  return { send, close: () => agent.close() };
}
