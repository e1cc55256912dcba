import { createHash } from "node:crypto";

/**
 * A package is what successive versions of one triggering object (a sidecar, a video) under one
 * route have in common; its id names the "current ingest" pointer and the remembered entry id.
 */
export function packageIdOf(route: string, bucket: string, key: string): string {
  return createHash("sha256")
    .update(JSON.stringify([route, bucket, key]))
    .digest("hex")
    .slice(0, 40);
}

/** Where the entry id of a package's last assembled version is kept, so a delete can name it. */
export function entryIdKey(prefix: string, packageId: string): string {
  return `${prefix}:entry:${packageId}`;
}

/** What upstream entry ids may contain (the sidecar `id` rule). */
export const ENTRY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * An entry id from an object key: the key without its extension, lower-cased, with runs of
 * anything else than letters, digits, '.', '_' turned into '-' (`clips/show/take_1.mp4` →
 * `clips-show-take_1`). Stable across versions of the object. When that loses more than the
 * folder slashes (spaces, non-ASCII, upper case) a short hash of the key is added, so `a b.mp4`
 * and `a-b.mp4` stay two entries.
 */
export function keySlug(key: string): string {
  const slash = key.lastIndexOf("/");
  const dot = key.lastIndexOf(".");
  const stem = dot > slash + 1 ? key.slice(0, dot) : key;
  const slug = stem
    .toLowerCase()
    .replace(/[^a-z0-9._]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "");
  // Folders become '-' by design; anything else rewritten means two keys could meet in one slug.
  const lossless = slug === stem.replace(/\//g, "-");
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 8);
  if (slug === "") return `k-${hash}`;
  return lossless ? slug.slice(0, 128) : `${slug.slice(0, 119)}-${hash}`;
}

/** The last path segment of a key. */
export function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}
