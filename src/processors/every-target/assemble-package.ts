import { ObjectTooLargeError, type S3HeadResult, type S3VersionRead } from "../../adapters/s3/s3-adapter.js";
import type { Route } from "../../config/routes.js";
import type { ObjectEvent } from "../../intake/object-event.js";
import type { IngestPackage } from "../../records/ingest-record.js";
import { SidecarKeyError, resolveSidecarKey, urlHost } from "../../sidecar/object-key.js";
import { parseSidecar } from "../../sidecar/parse-sidecar.js";
import type { Sidecar } from "../../sidecar/sidecar-schema.js";
import type { ChainDeps } from "./deps.js";
import { ENTRY_ID, fileNameOf, keySlug } from "./package-identity.js";

/** What assembling a package from S3 came to. */
export type Assembly =
  /** Everything present and valid: the package, with presigned URLs. */
  | { kind: "package"; pkg: IngestPackage }
  /** Bad input (sidecar, metadata): the ingest fails with this reason. */
  | { kind: "invalid"; reason: string }
  /** Objects the sidecar names are not there (yet). */
  | { kind: "missing"; keys: string[] }
  /** The triggering object changed or went away after the event: a later event handles it. */
  | { kind: "replaced"; reason: string };

type PresentHead = Extract<S3HeadResult, { exists: true }>;

/**
 * Whether HEAD still shows the object version the event was about. S3 reads the latest version,
 * so reading a sidecar that was overwritten since would assemble the new content under the old
 * version's ingest.
 */
function sameVersion(event: ObjectEvent, head: PresentHead): boolean {
  if (event.versionId !== undefined && head.versionId !== undefined)
    return event.versionId === head.versionId;
  if (event.eTag !== undefined) return event.eTag === head.eTag;
  return true;
}

async function presignFile(deps: ChainDeps, route: Route, key: string, head: PresentHead) {
  // Only keys of the route's own bucket are ever presigned; a sidecar cannot name another bucket.
  const url = await deps.s3.presignGet(route.bucket, key, deps.env.PRESIGN_EXPIRY_SECONDS);
  return {
    key,
    url,
    size: head.size,
    eTag: head.eTag,
    ...(head.contentType !== undefined ? { contentType: head.contentType } : {}),
  };
}

/** An `allowHosts` entry as URL hosts are compared: lower case, IDN as punycode. */
function normalizeHost(host: string): string {
  try {
    return new URL(`https://${host}/`).hostname.toLowerCase();
  } catch {
    return host.toLowerCase();
  }
}

/**
 * Why a sidecar's URLs are refused on this route, or undefined: each URL's host must be in the
 * route's `allowHosts` (exact, case-insensitive; IDN compared as punycode). Asset Management
 * registers the media by bucket and key, so its routes take no media URL.
 */
function urlRefusal(route: Route, sidecar: Sidecar): string | undefined {
  const allowed = new Set(route.allowHosts.map(normalizeHost));
  const named = [
    { field: "media.url", url: sidecar.media.url },
    ...sidecar.images.map((image, i) => ({ field: `images[${i}].url`, url: image.url })),
  ];
  for (const { field, url } of named) {
    if (url === undefined) continue;
    if (field === "media.url" && route.target === "asset-management")
      return `${field}: route ${route.name} registers media by S3 key (target asset-management); name it by media.key`;
    const host = urlHost(url);
    if (!allowed.has(host))
      return allowed.size === 0
        ? `${field}: host ${JSON.stringify(host)} is not allowed: route ${route.name} has no allowHosts, so sidecars may name objects by key only`
        : `${field}: host ${JSON.stringify(host)} is not in the allowHosts of route ${route.name} (${[...allowed].join(", ")})`;
  }
  return undefined;
}

/** Reads and validates the sidecar, checks every object it names, and presigns them. */
export async function assembleManifest(deps: ChainDeps, route: Route, event: ObjectEvent): Promise<Assembly> {
  const where = `sidecar s3://${event.bucket}/${event.key}`;
  // One GET of the version the event named (not HEAD, then GET): S3 reads the latest version, so
  // a sidecar overwritten since would assemble the new content under the old version's ingest.
  let read: S3VersionRead;
  try {
    read = await deps.s3.getVersionBounded(
      route.bucket,
      event.key,
      { versionId: event.versionId, eTag: event.eTag },
      deps.env.SIDECAR_MAX_BYTES,
    );
  } catch (error) {
    if (error instanceof ObjectTooLargeError)
      return { kind: "invalid", reason: `${where}: ${error.message}` };
    throw error;
  }
  if (read.kind === "gone")
    return { kind: "replaced", reason: `${where} was deleted before it could be read` };
  if (read.kind === "changed")
    return { kind: "replaced", reason: `${where} was overwritten before it could be read` };
  const { bytes } = read;
  const parsed = parseSidecar(bytes, { fileName: event.key, maxBytes: deps.env.SIDECAR_MAX_BYTES });
  if (!parsed.ok) return { kind: "invalid", reason: `${where}: ${parsed.errors.join("; ")}` };
  const { sidecar } = parsed;

  const refused = urlRefusal(route, sidecar);
  if (refused !== undefined) return { kind: "invalid", reason: `${where}: ${refused}` };

  // Every object the sidecar names, media first: a key of the route's bucket, or an allowed URL.
  const refs = [sidecar.media, ...sidecar.images];
  let resolved: Array<{ key: string } | { url: string }>;
  try {
    resolved = refs.map((ref) =>
      ref.url !== undefined
        ? { url: new URL(ref.url).href }
        : // The schema guarantees exactly one of key and url; "" would be refused, never presigned.
          { key: resolveSidecarKey(event.key, ref.key ?? "") },
    );
  } catch (error) {
    if (error instanceof SidecarKeyError) return { kind: "invalid", reason: `${where}: ${error.message}` };
    throw error;
  }

  const keys = resolved.flatMap((ref) => ("key" in ref ? [ref.key] : []));
  const heads = await Promise.all(keys.map((key) => deps.s3.head(route.bucket, key)));
  const missing = keys.filter((_, i) => heads[i]?.exists !== true);
  if (missing.length > 0) return { kind: "missing", keys: [...new Set(missing)] };
  const headOf = new Map(keys.map((key, i) => [key, heads[i] as PresentHead]));

  const files = await Promise.all(
    resolved.map(async (ref) =>
      // An allow-listed URL goes to upstreams as given (normalized by the URL parser, so the host
      // checked is the host fetched); its `key` is the URL, which is what the sidecar named.
      "url" in ref
        ? { key: ref.url, url: ref.url }
        : presignFile(deps, route, ref.key, headOf.get(ref.key) as PresentHead),
    ),
  );
  const [video, ...imageFiles] = files;
  return {
    kind: "package",
    pkg: {
      entryId: sidecar.id,
      title: sidecar.title,
      ...(sidecar.summary !== undefined ? { summary: sidecar.summary } : {}),
      categories: sidecar.categories,
      ...(sidecar.publish !== undefined ? { publish: sidecar.publish } : {}),
      metadata: sidecar.metadata,
      updated: event.eventTime,
      ...(video !== undefined ? { video } : {}),
      images: imageFiles.map((file, i) => ({ ...file, location: sidecar.images[i]?.location ?? "" })),
      tombstone: false,
    },
  };
}

/** A media-triggered package: the video alone, described by its S3 user metadata. */
export async function assembleMedia(deps: ChainDeps, route: Route, event: ObjectEvent): Promise<Assembly> {
  const where = `media s3://${event.bucket}/${event.key}`;
  const head = await deps.s3.head(route.bucket, event.key);
  if (!head.exists) return { kind: "replaced", reason: `${where} was deleted before it could be read` };
  if (!sameVersion(event, head))
    return { kind: "replaced", reason: `${where} was overwritten before it could be read` };

  const meta = head.metadata;
  const given = meta["entry-id"]?.trim();
  if (given !== undefined && given !== "" && !ENTRY_ID.test(given)) {
    return {
      kind: "invalid",
      reason: `${where}: x-amz-meta-entry-id ${JSON.stringify(given.slice(0, 200))}: expected 1–128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    };
  }
  const title = meta.title?.trim();
  const summary = meta.summary?.trim();
  const categories = (meta.categories ?? "")
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  return {
    kind: "package",
    pkg: {
      entryId: given !== undefined && given !== "" ? given : keySlug(event.key),
      title: title !== undefined && title !== "" ? title : fileNameOf(event.key),
      ...(summary !== undefined && summary !== "" ? { summary } : {}),
      categories,
      metadata: {},
      updated: event.eventTime,
      video: await presignFile(deps, route, event.key, head),
      images: [],
      tombstone: false,
    },
  };
}

/** The package of a delete: the entry to unpublish, nothing to fetch. */
export function tombstonePackage(entryId: string, event: ObjectEvent): IngestPackage {
  return {
    entryId,
    title: entryId,
    categories: [],
    metadata: {},
    updated: event.eventTime,
    images: [],
    tombstone: true,
  };
}
