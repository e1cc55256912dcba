import { createHash } from "node:crypto";

/**
 * Partitions (`PARTITIONS=N`): the chain split into N key spaces, each with its own {hash tag}, so
 * a Redis Cluster spreads queues and records over its masters instead of keeping them all in the
 * one slot of `{ingest}`. A package (one triggering object: bucket and key) lives in exactly one
 * partition, chosen by a stable hash, so its events, record, per-package keys and every job of its
 * chain share a slot and the multi-key scripts keep working. With N = 1 (the default) the only
 * partition is QUEUE_PREFIX itself: nothing changes for an existing installation.
 *
 * Keys that are not about one package (the layout marker, leases, poller watermarks, backfill
 * checkpoints) stay under QUEUE_PREFIX, the "base" prefix.
 */

/** The most partitions a layout may have: each one costs a worker (a blocking connection) per step. */
export const MAX_PARTITIONS = 64;

const HASH_TAG = /\{([^{}]+)\}/;

/** Why a prefix cannot be split, or undefined when it can. */
export function partitionPrefixProblem(prefix: string, count: number): string | undefined {
  if (count > 1 && !HASH_TAG.test(prefix))
    return `PARTITIONS=${count} needs a QUEUE_PREFIX with a {hash tag} to split (e.g. {ingest}), got ${JSON.stringify(prefix)}`;
  return undefined;
}

const SLOTS = 16384;

/** CRC16-XMODEM, the hash Redis Cluster maps keys to slots with (cluster spec, appendix A). */
export function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a hash tag's content. */
export function slotOf(tag: string): number {
  return crc16(tag) % SLOTS;
}

/**
 * The key prefix of every partition: QUEUE_PREFIX alone for N = 1; otherwise partition i's tag is
 * `<tag>-<i>` (`{ingest-3}`), or `<tag>-<i>.<salt>` with the first salt that puts it in the middle
 * of the i-th of N equal slot ranges. Hash tags hash at random, and twelve random slots over three
 * masters leave one with six partitions about half the time; evenly spaced slots give every master
 * of a cluster whose masters own equal contiguous ranges (what `redis-cli --cluster create` and
 * managed services do) the same number of partitions, as long as N is a multiple of the masters.
 */
export function partitionPrefixes(prefix: string, count: number): string[] {
  const problem = partitionPrefixProblem(prefix, count);
  if (problem) throw new Error(problem);
  if (count === 1) return [prefix];
  const [, tag] = HASH_TAG.exec(prefix)!;
  const width = SLOTS / count;
  return Array.from({ length: count }, (_, i) => {
    const centre = (i + 0.5) * width;
    const fits = (candidate: string) => Math.abs(slotOf(candidate) - centre) <= width / 4;
    let candidate = `${tag}-${i}`;
    // About 2N tries on average; the bound only guards against a bug.
    for (let salt = 0; !fits(candidate) && salt < 1_000_000; salt++) candidate = `${tag}-${i}.${salt}`;
    return prefix.replace(HASH_TAG, `{${candidate}}`);
  });
}

/**
 * The partition of an object: a hash of bucket and key, not of the version, so every version of a
 * package (and its delete) lands where its record and remembered entry id are. SHA-256 rather than
 * a faster hash because it is what the rest of the ids use and it is the same in every process.
 */
export function partitionOf(bucket: string, key: string, count: number): number {
  if (count === 1) return 0;
  const digest = createHash("sha256")
    .update(JSON.stringify([bucket, key]))
    .digest();
  return digest.readUInt32BE(0) % count;
}

/** Where the partition count the keys were written with is kept (under the base prefix). */
export function layoutKey(prefix: string): string {
  return `${prefix}:layout`;
}
