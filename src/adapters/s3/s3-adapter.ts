import {
  GetObjectCommand,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { withAwsMetrics } from "../../metrics/aws-sdk-metrics.js";
import { createS3Client, type S3ClientSettings } from "./client.js";
import { ObjectTooLargeError } from "./object-too-large-error.js";
import { createLeanS3, type LeanResponse } from "./lean-request.js";
import { createGetPresigner } from "./presign-get.js";

export { ObjectTooLargeError } from "./object-too-large-error.js";

const UPSTREAM = "s3";
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 604_800;

/** What a HEAD found. ETags are given without their surrounding quotes, as S3 events carry them. */
export type S3HeadResult =
  | {
      exists: true;
      size: number;
      eTag: string;
      versionId?: string;
      contentType?: string;
      /** User metadata (`x-amz-meta-*`), keys lower-cased by S3. */
      metadata: Record<string, string>;
      lastModified?: Date;
    }
  | { exists: false };

/**
 * The object version a read is about, as an S3 event names it (ETag without quotes). With a
 * `versionId` that exact version is read; else with an `eTag` only the object with that ETag.
 */
export interface S3ExpectedVersion {
  versionId?: string | undefined;
  eTag?: string | undefined;
}

/** What {@link S3Adapter.getVersionBounded} found. */
export type S3VersionRead =
  /** The expected version's bytes. */
  | { kind: "ok"; bytes: Buffer; eTag: string; versionId?: string }
  /** The key (or that version of it) no longer exists. */
  | { kind: "gone" }
  /** The key now holds another version. */
  | { kind: "changed" };

/** One object of a listing. */
export interface S3ListedObject {
  key: string;
  size: number;
  /** Without quotes. */
  eTag: string;
  lastModified: Date;
}

/** Paging of a ListObjectsV2 call. */
export interface S3ListOptions {
  /** List keys after this one (first page of a resumed backfill). */
  startAfter?: string;
  /** From the previous page's `nextContinuationToken`. */
  continuationToken?: string;
  /** Page size, at most 1000 (S3's own cap). */
  maxKeys?: number;
}

/** One page of a listing; `nextContinuationToken` is set only when more keys follow. */
export interface S3ListPage {
  objects: S3ListedObject[];
  nextContinuationToken?: string;
}

/** Options of {@link S3Adapter.putObject}. */
export interface S3PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
}

/**
 * Everything the worker does with S3. Every call that reaches S3 is counted in the upstream
 * metrics (`upstream="s3"`, operation = the command name).
 */
export interface S3Adapter {
  /** HEAD; a missing object (404) is a value, not an error. */
  head(bucket: string, key: string): Promise<S3HeadResult>;
  /**
   * Reads one version of an object into memory in one GetObject: by `VersionId` when the version
   * is known, else conditional on its ETag (`If-Match`; S3 answers 412 when the key was
   * overwritten), else whatever the key holds. A missing key or version is `gone`, another version
   * `changed`, both values. Refuses anything above `maxBytes` with {@link ObjectTooLargeError}: by
   * the declared length first, then by counting while streaming (a length can be absent or wrong).
   */
  getVersionBounded(
    bucket: string,
    key: string,
    expected: S3ExpectedVersion,
    maxBytes: number,
  ): Promise<S3VersionRead>;
  /** A presigned GET URL (no request is made); `expirySeconds` from 1 to 604800. */
  presignGet(bucket: string, key: string, expirySeconds: number): Promise<string>;
  /** One ListObjectsV2 page under `prefix`. */
  list(bucket: string, prefix: string, options?: S3ListOptions): Promise<S3ListPage>;
  /** Writes an object (tests and the demo; the worker itself never writes to source buckets). */
  putObject(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    options?: S3PutOptions,
  ): Promise<{ eTag: string; versionId?: string }>;
  /** Releases the SDK's sockets. */
  close(): void;
}

/** S3 returns ETags quoted (`"abc"`); events and listings are compared without the quotes. */
function bareETag(eTag: string | undefined): string {
  return (eTag ?? "").replace(/^"(.*)"$/, "$1");
}

/** The HTTP status and error name of an SDK error (either may be missing). */
function errorOf(error: unknown): { status?: number | undefined; name?: unknown } {
  if (typeof error !== "object" || error === null) return {};
  const { $metadata, name } = error as { $metadata?: { httpStatusCode?: number }; name?: unknown };
  return { status: $metadata?.httpStatusCode, name };
}

function isNotFound(error: unknown): boolean {
  const { status, name } = errorOf(error);
  return status === 404 || name === "NotFound" || name === "NoSuchKey";
}

function isPreconditionFailed(error: unknown): boolean {
  const { status, name } = errorOf(error);
  return status === 412 || name === "PreconditionFailed";
}

/** S3 reports an unversioned object's version as "null"; that names no version. */
function presentVersionId(versionId: string | undefined): string | undefined {
  return versionId !== undefined && versionId !== "null" ? versionId : undefined;
}

/** A GetObject whose body has not been read yet; `discard` stops the download. */
interface OpenedGet {
  eTag: string | undefined;
  versionId: string | undefined;
  contentLength: number | undefined;
  body: AsyncIterable<Uint8Array> | undefined;
  discard: () => void;
}

/** A header's number (Content-Length), undefined when absent or not a number. */
function headerNumber(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** User metadata from `x-amz-meta-*` headers, as the SDK's deserializer gives it. */
function metadataOf(headers: Record<string, string>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (name.startsWith("x-amz-meta-")) metadata[name.slice(11)] = value;
  return metadata;
}

/** A HEAD's answer on the lean path as {@link S3HeadResult}; undefined for what the SDK must map. */
function leanHead(response: LeanResponse): S3HeadResult | undefined {
  if (response.status === 404) return { exists: false };
  if (response.status !== 200) return undefined;
  const { headers } = response;
  const versionId = presentVersionId(headers["x-amz-version-id"]);
  const lastModified = headers["last-modified"] ? new Date(headers["last-modified"]) : undefined;
  return {
    exists: true,
    size: headerNumber(headers["content-length"]) ?? 0,
    eTag: bareETag(headers.etag),
    metadata: metadataOf(headers),
    ...(versionId !== undefined ? { versionId } : {}),
    ...(headers["content-type"] !== undefined ? { contentType: headers["content-type"] } : {}),
    ...(lastModified !== undefined && !Number.isNaN(lastModified.getTime()) ? { lastModified } : {}),
  };
}

/** Builds the adapter on a client from {@link createS3Client}; pass `client` to share one. */
export function createS3Adapter(settings: S3ClientSettings, client?: S3Client): S3Adapter {
  const s3 = client ?? createS3Client(settings);
  const presigner = createGetPresigner(s3);
  const fast = createLeanS3(s3, presigner);

  async function head(bucket: string, key: string): Promise<S3HeadResult> {
    const lean = await tryLean(() => fast.send("HEAD", bucket, key));
    const found = lean && leanHead(lean);
    if (found) return found;
    return sdkHead(bucket, key);
  }

  /**
   * A lean request, or undefined for the SDK to do it: not on the lean path, or a transport error
   * (the SDK's send retries and maps it as it always did, at the cost of a second request).
   */
  async function tryLean(send: () => Promise<LeanResponse | undefined>): Promise<LeanResponse | undefined> {
    try {
      return await send();
    } catch {
      return undefined;
    }
  }

  async function sdkHead(bucket: string, key: string): Promise<S3HeadResult> {
    try {
      const out = await withAwsMetrics(
        UPSTREAM,
        "HeadObject",
        () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
        { "aws.s3.bucket": bucket, "aws.s3.key": key },
      );
      const versionId = presentVersionId(out.VersionId);
      return {
        exists: true,
        size: out.ContentLength ?? 0,
        eTag: bareETag(out.ETag),
        metadata: { ...out.Metadata },
        ...(versionId !== undefined ? { versionId } : {}),
        ...(out.ContentType !== undefined ? { contentType: out.ContentType } : {}),
        ...(out.LastModified !== undefined ? { lastModified: out.LastModified } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return { exists: false };
      throw error;
    }
  }

  async function openGet(input: GetObjectCommandInput): Promise<OpenedGet> {
    const abort = new AbortController();
    const out: GetObjectCommandOutput = await withAwsMetrics(
      UPSTREAM,
      "GetObject",
      () => s3.send(new GetObjectCommand(input), { abortSignal: abort.signal }),
      { "aws.s3.bucket": input.Bucket ?? "", "aws.s3.key": input.Key ?? "" },
    );
    return {
      eTag: out.ETag,
      versionId: out.VersionId,
      contentLength: out.ContentLength,
      body: out.Body as AsyncIterable<Uint8Array> | undefined,
      discard: () => {
        // The rest of a body nobody reads must not be pulled through the socket.
        abort.abort();
        (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
      },
    };
  }

  /**
   * Reads an opened body, refusing more than `maxBytes` by the declared length first, then by
   * counting while streaming (a length can be absent or wrong).
   */
  async function readCapped(
    { contentLength, body, discard }: OpenedGet,
    bucket: string,
    key: string,
    maxBytes: number,
  ): Promise<Buffer> {
    const tooLarge = (size: number, sizeIsLowerBound: boolean) => {
      discard();
      return new ObjectTooLargeError({ bucket, key, size, maxBytes, sizeIsLowerBound });
    };
    if (contentLength !== undefined && contentLength > maxBytes) {
      throw tooLarge(contentLength, false);
    }
    if (body === undefined) return Buffer.alloc(0);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.byteLength;
      // Leaving the loop early destroys the stream, so nothing past the cap is buffered.
      if (size > maxBytes) throw tooLarge(size, true);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, size);
  }

  async function getVersionBounded(
    bucket: string,
    key: string,
    expected: S3ExpectedVersion,
    maxBytes: number,
  ): Promise<S3VersionRead> {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
    // The "null" version is rewritten in place by a put to a versioning-suspended bucket, so it
    // pins nothing; the ETag does.
    const versionId = presentVersionId(expected.versionId);
    const eTag = expected.eTag !== undefined ? bareETag(expected.eTag) : undefined;
    const condition =
      versionId !== undefined ? { VersionId: versionId } : eTag !== undefined ? { IfMatch: `"${eTag}"` } : {};
    let opened: OpenedGet | undefined;
    const lean = await tryLean(() =>
      fast.send("GET", bucket, key, {
        ...(versionId !== undefined ? { versionId } : {}),
        ...(condition.IfMatch !== undefined ? { ifMatch: condition.IfMatch } : {}),
      }),
    );
    if (lean !== undefined) {
      // The statuses the SDK path maps to values; any other answer goes to the SDK, which retries
      // and throws exactly as before.
      if (lean.status === 404) return { kind: "gone" };
      if (lean.status === 412) return { kind: "changed" };
      if (lean.status === 200) {
        opened = {
          eTag: lean.headers.etag,
          versionId: lean.headers["x-amz-version-id"],
          contentLength: headerNumber(lean.headers["content-length"]),
          body: lean.body,
          discard: () => lean.discard(),
        };
      } else lean.discard();
    }
    if (opened === undefined) {
      try {
        opened = await openGet({ Bucket: bucket, Key: key, ...condition });
      } catch (error) {
        // A VersionId that no longer exists answers 404 NoSuchVersion: gone as well.
        if (isNotFound(error)) return { kind: "gone" };
        if (isPreconditionFailed(error)) return { kind: "changed" };
        throw error;
      }
    }
    // The response names the version it carries. Checking it costs no request and covers servers
    // that ignore VersionId or If-Match and answer with the current object: s3rver (the embedded
    // S3 of the demo and the tests) ignores both.
    const gotETag = bareETag(opened.eTag);
    const gotVersionId = presentVersionId(opened.versionId);
    const same =
      versionId !== undefined && gotVersionId !== undefined
        ? gotVersionId === versionId
        : eTag !== undefined
          ? gotETag === eTag
          : true;
    if (!same) {
      opened.discard();
      return { kind: "changed" };
    }
    const bytes = await readCapped(opened, bucket, key, maxBytes);
    return {
      kind: "ok",
      bytes,
      eTag: gotETag,
      ...(gotVersionId !== undefined ? { versionId: gotVersionId } : {}),
    };
  }

  async function presignGet(bucket: string, key: string, expirySeconds: number): Promise<string> {
    if (!Number.isInteger(expirySeconds) || expirySeconds < 1 || expirySeconds > MAX_PRESIGN_SECONDS) {
      throw new RangeError(
        `presign expiry must be an integer from 1 to ${MAX_PRESIGN_SECONDS} seconds, got ${expirySeconds}`,
      );
    }
    return presigner.presign(bucket, key, { expiresIn: expirySeconds });
  }

  async function list(bucket: string, prefix: string, options: S3ListOptions = {}): Promise<S3ListPage> {
    const out = await withAwsMetrics(UPSTREAM, "ListObjectsV2", () =>
      s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(options.startAfter !== undefined ? { StartAfter: options.startAfter } : {}),
          ...(options.continuationToken !== undefined
            ? { ContinuationToken: options.continuationToken }
            : {}),
          ...(options.maxKeys !== undefined ? { MaxKeys: options.maxKeys } : {}),
        }),
      ),
    );
    const objects: S3ListedObject[] = [];
    for (const item of out.Contents ?? []) {
      if (item.Key === undefined) continue;
      objects.push({
        key: item.Key,
        size: item.Size ?? 0,
        eTag: bareETag(item.ETag),
        lastModified: item.LastModified ?? new Date(0),
      });
    }
    // Some S3-compatible servers send a token on the last page; IsTruncated is the authority.
    const more = out.IsTruncated === true && out.NextContinuationToken !== undefined;
    return more ? { objects, nextContinuationToken: out.NextContinuationToken } : { objects };
  }

  async function putObject(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    options: S3PutOptions = {},
  ): Promise<{ eTag: string; versionId?: string }> {
    const out = await withAwsMetrics(UPSTREAM, "PutObject", () =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
          ...(options.metadata !== undefined ? { Metadata: options.metadata } : {}),
        }),
      ),
    );
    return {
      eTag: bareETag(out.ETag),
      ...(out.VersionId !== undefined ? { versionId: out.VersionId } : {}),
    };
  }

  return {
    head,
    getVersionBounded,
    presignGet,
    list,
    putObject,
    close: () => {
      void fast.close();
      // A shared client belongs to whoever made it.
      if (client === undefined) s3.destroy();
    },
  };
}
