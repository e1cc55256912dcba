import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl, S3RequestPresigner } from "@aws-sdk/s3-request-presigner";

/** Options of one presigned GET. */
export interface PresignGetOptions {
  /** Seconds the URL stays valid, 1 to 604800 (SigV4's limit; the caller checks it). */
  expiresIn: number;
  /** The signing time; now when unset (tests pin it to compare URLs exactly). */
  signingDate?: Date;
}

/** Presigns GET URLs with one client, the same URLs `getSignedUrl` gives. */
export interface GetPresigner {
  presign(bucket: string, key: string, options: PresignGetOptions): Promise<string>;
  /** Whether a bucket's URLs are made on the fast path (false until its first URL, or for good). */
  isFast(bucket: string): Promise<boolean>;
  /**
   * Where the SDK sends a bucket's requests and how it signs them, learned as for a presigned URL
   * (see {@link createGetPresigner}); undefined when the bucket stays on the SDK's own path.
   */
  location(bucket: string): Promise<BucketLocation | undefined>;
}

/** What a bucket's requests are made of apart from the key: origin, path, signing scope. */
export interface BucketLocation {
  protocol: string;
  hostname: string;
  port: number | undefined;
  /** The path up to and including the `/` before the key. */
  basePath: string;
  /** Query parameters the SDK adds to a GetObject besides the signature's (`x-id=GetObject`). */
  query: Record<string, string>;
  signingRegion: string;
  signingService: string;
}

type PresignRequest = Parameters<S3RequestPresigner["presign"]>[0];

/** What the SDK's URLs for one bucket are made of, apart from the key and the signature. */
interface BucketTemplate extends BucketLocation {
  signer: S3RequestPresigner;
}

/**
 * A key with what the encoding must get right (a space, `+`, unicode, `!'()*~`, segments): the
 * check that admits a bucket to the fast path compares the URL of this key with the SDK's.
 */
const PROBE_KEY = "ingest-worker/presign probe/ä+€ (1)!*'~.json";
/** The parameters the presigner itself adds to every URL. */
const SIGNATURE_PARAMS = new Set([
  "X-Amz-Algorithm",
  "X-Amz-Content-Sha256",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-Security-Token",
  "X-Amz-Signature",
  "X-Amz-SignedHeaders",
]);
/** Buckets whose template is kept; a worker reads a handful. */
const MAX_BUCKETS = 256;

/** RFC 3986 escaping as the SDK does it: `encodeURIComponent` plus `!'()*`. */
export function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A key in a path as S3's `{Key+}` label is encoded: each segment once, `/` kept. */
export function encodeKey(key: string): string {
  return key.split("/").map(escapeUri).join("/");
}

/** The URL of a signed request, formatted as `getSignedUrl` formats it (query sorted by name). */
function formatUrl(request: PresignRequest): string {
  const query = request.query ?? {};
  const parts: string[] = [];
  for (const name of Object.keys(query).sort()) {
    const value = query[name];
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      parts.push(typeof v === "string" ? `${escapeUri(name)}=${escapeUri(v)}` : escapeUri(name));
    }
  }
  const port = request.port ? `:${request.port}` : "";
  return `${request.protocol}//${request.hostname}${port}${request.path}?${parts.join("&")}`;
}

/** The template of the SDK's URL for {@link PROBE_KEY}; undefined when this code cannot reproduce it. */
function parseTemplate(url: string, client: S3Client): BucketTemplate | undefined {
  const queryAt = url.indexOf("?");
  if (queryAt < 0) return undefined;
  const location = url.slice(0, queryAt);
  const encodedProbe = encodeKey(PROBE_KEY);
  if (!location.endsWith(`/${encodedProbe}`)) return undefined;
  const base = location.slice(0, location.length - encodedProbe.length);
  const parsed = new URL(base);
  const origin = `${parsed.protocol}//${parsed.host}`;
  if (!base.startsWith(origin)) return undefined;

  const params = new URLSearchParams(url.slice(queryAt + 1));
  const query: Record<string, string> = {};
  for (const [name, value] of params) {
    if (params.getAll(name).length !== 1) return undefined;
    if (!SIGNATURE_PARAMS.has(name)) query[name] = value;
  }
  // Plain SigV4 signing nothing but the host: SigV4a, S3 Express sessions and extra signed headers
  // stay with getSignedUrl.
  if (params.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") return undefined;
  if (params.get("X-Amz-SignedHeaders") !== "host") return undefined;
  if (params.has("X-Amz-S3session-Token")) return undefined;
  // X-Amz-Credential is `<access key id>/<date>/<region>/<service>/aws4_request`.
  const scope = (params.get("X-Amz-Credential") ?? "").split("/");
  const signingRegion = scope.at(-3);
  const signingService = scope.at(-2);
  if (scope.length < 5 || !signingRegion || !signingService) return undefined;

  return {
    protocol: parsed.protocol,
    hostname: parsed.hostname,
    port: parsed.port === "" ? undefined : Number(parsed.port),
    basePath: base.slice(origin.length),
    query,
    signingRegion,
    signingService,
    // Built as getSignedUrl builds its presigner, once per bucket instead of once per URL.
    signer: new S3RequestPresigner({
      ...client.config,
      signingName: signingService,
      region: () => Promise.resolve(signingRegion),
    }),
  };
}

/**
 * Presigned GET URLs without running the client's middleware stack per URL. `getSignedUrl` clones
 * and resolves the whole stack (endpoint rules, serializer, a dozen middlewares) for every URL:
 * about 270 µs of CPU per URL, where the signing itself takes 35. What the stack contributes
 * depends on the bucket, not the key (the SDK's own endpoint cache leaves the key out), so it is
 * learned once per bucket from `getSignedUrl`'s URL for a probe key; a URL is then the bucket's
 * template, the key encoded as S3's `{Key+}` label, and the SDK's own S3 presigner with the
 * client's credentials. A bucket is admitted only when the template signs the probe key to exactly
 * the SDK's URL at the same instant; anything else (SigV4a, S3 Express, a middleware adding a
 * signed header) keeps `getSignedUrl`. Middlewares added to the client after a bucket's first URL
 * are not seen.
 */
export function createGetPresigner(client: S3Client): GetPresigner {
  const templates = new Map<string, Promise<BucketTemplate | undefined>>();

  function slow(bucket: string, key: string, options: PresignGetOptions): Promise<string> {
    return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), options);
  }

  async function fast(template: BucketTemplate, key: string, options: PresignGetOptions): Promise<string> {
    const request: PresignRequest = {
      method: "GET",
      protocol: template.protocol,
      hostname: template.hostname,
      port: template.port,
      path: template.basePath + encodeKey(key),
      query: { ...template.query },
      headers: {},
    };
    const signed = await template.signer.presign(request, {
      expiresIn: options.expiresIn,
      ...(options.signingDate !== undefined ? { signingDate: options.signingDate } : {}),
      signingRegion: template.signingRegion,
      signingService: template.signingService,
    });
    return formatUrl(signed);
  }

  async function learn(bucket: string): Promise<BucketTemplate | undefined> {
    const probe = { expiresIn: 900, signingDate: new Date() };
    const expected = await slow(bucket, PROBE_KEY, probe);
    const template = parseTemplate(expected, client);
    if (template === undefined) return undefined;
    return (await fast(template, PROBE_KEY, probe)) === expected ? template : undefined;
  }

  function templateOf(bucket: string): Promise<BucketTemplate | undefined> {
    let template = templates.get(bucket);
    if (template === undefined) {
      if (templates.size >= MAX_BUCKETS) templates.delete(templates.keys().next().value as string);
      // A failure (say, credentials not yet available) is not remembered: the next URL tries again.
      template = learn(bucket).catch(() => {
        templates.delete(bucket);
        return undefined;
      });
      templates.set(bucket, template);
    }
    return template;
  }

  return {
    async presign(bucket, key, options) {
      const template = await templateOf(bucket);
      return template !== undefined ? fast(template, key, options) : slow(bucket, key, options);
    },
    async isFast(bucket) {
      return (await templates.get(bucket)) !== undefined;
    },
    location: (bucket) => templateOf(bucket),
  };
}
