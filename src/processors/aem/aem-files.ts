import type { Redis } from "ioredis";
import { z } from "zod";
import { TERMINAL_STATES, type IngestRecord } from "../../records/ingest-record.js";
import type { RecordStore } from "../../records/record-store.js";

/**
 * Per-file bookkeeping of the `aem` target. An ingest is complete when every one of its files is
 * imported, and two paths learn that: the `aem-poll` step (the job's result) and the CloudEvents
 * webhook (one `processing_completed` per file). Both work on the same record fields, so whichever
 * comes first wins and the other finds the record terminal.
 *
 * On the ingest hash: `aem:files` (the file list, JSON) and `aemf:<fileName>` = pending | imported.
 * Beside it: `<prefix>:aem-file:<aemJobId>:<fileName>` and `<prefix>:aem-path:<damPath>` → ingest id,
 * so an event naming a job and file (or only a DAM path) finds its ingest.
 */

/** One file of a package as imported into AEM. */
export const aemFileSchema = z.object({
  /** The AEM file name: unique within the folder (the entry id is part of it). */
  name: z.string(),
  /** The S3 object's base name, used in messages ("poster.jpg: ..."). */
  label: z.string(),
  key: z.string(),
  url: z.string(),
  mimeType: z.string().optional(),
  fileSize: z.number().optional(),
});
export type AemFile = z.infer<typeof aemFileSchema>;

const FILES_FIELD = "aem:files";
const FILE_FIELD = "aemf:";

/** Index entries outlive any import the worker still follows. */
export function aemIndexTtlSeconds(stuckDeadlineSeconds: number): number {
  return stuckDeadlineSeconds + 24 * 3600;
}

export function aemFileIndexKey(prefix: string, aemJobId: string, fileName: string): string {
  return `${prefix}:aem-file:${aemJobId}:${fileName}`;
}

export function aemPathIndexKey(prefix: string, damPath: string): string {
  return `${prefix}:aem-path:${damPath}`;
}

/** Where a file lands in the DAM (the folder path plus the file name). */
export function damPath(folder: string, fileName: string): string {
  return `${folder.replace(/\/+$/, "")}/${fileName}`;
}

const baseName = (key: string) => key.split("/").pop() || key;
/** AEM node names must not hold `/ : [ ] | *` and friends; keep a conservative set. */
const safeName = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, "_");

/**
 * The files of a package (video, then images) with AEM names `<entryId>-<base name>`. The entry id
 * makes names unique across packages sharing a folder, and keeps them stable across versions of
 * one package, so a new version lands on the same DAM path as the one it replaces. `taken` holds
 * names already used in the same request; a clash (two live versions of one entry in one batch,
 * or two images with the same base name) gets the ingest id or a counter added.
 */
export function packageFiles(record: IngestRecord, taken: Set<string>): AemFile[] {
  const pkg = record.package;
  if (!pkg) return [];
  const sources = [...(pkg.video ? [pkg.video] : []), ...pkg.images];
  return sources.map((file) => {
    const label = baseName(file.key);
    let name = safeName(`${pkg.entryId}-${label}`);
    if (taken.has(name)) name = safeName(`${pkg.entryId}-${record.id.slice(0, 8)}-${label}`);
    for (let n = 2; taken.has(name); n += 1) name = safeName(`${pkg.entryId}-${n}-${label}`);
    taken.add(name);
    return {
      name,
      label,
      key: file.key,
      url: file.url,
      ...(file.contentType !== undefined ? { mimeType: file.contentType } : {}),
      ...(file.size !== undefined ? { fileSize: file.size } : {}),
    };
  });
}

/**
 * Stores an ingest's file list and marks each file pending (a file already marked imported by an
 * event of an earlier, ambiguous attempt stays imported), plus the DAM path index.
 */
export async function saveAemFiles(
  redis: Redis,
  records: RecordStore,
  prefix: string,
  ingestId: string,
  folder: string,
  files: AemFile[],
  ttlSeconds: number,
): Promise<void> {
  const key = records.key(ingestId);
  const tx = redis.multi().hset(key, FILES_FIELD, JSON.stringify(files));
  for (const file of files) {
    tx.hsetnx(key, `${FILE_FIELD}${file.name}`, "pending");
    tx.set(aemPathIndexKey(prefix, damPath(folder, file.name)), ingestId, "EX", ttlSeconds);
  }
  await tx.exec();
}

/** Points `<job, file>` at the ingest, once AEM named the job. */
export async function indexAemJob(
  redis: Redis,
  prefix: string,
  aemJobId: string,
  byIngest: ReadonlyMap<string, AemFile[]>,
  ttlSeconds: number,
): Promise<void> {
  const tx = redis.multi();
  for (const [ingestId, files] of byIngest) {
    for (const file of files)
      tx.set(aemFileIndexKey(prefix, aemJobId, file.name), ingestId, "EX", ttlSeconds);
  }
  await tx.exec();
}

/** The file list saved by `aem-import`, or an empty list. */
export async function readAemFiles(redis: Redis, records: RecordStore, ingestId: string): Promise<AemFile[]> {
  const raw = await redis.hget(records.key(ingestId), FILES_FIELD);
  if (raw === null) return [];
  return z.array(aemFileSchema).parse(JSON.parse(raw));
}

/**
 * Marks one file imported and reports whether that made the ingest whole. Atomic, so two events
 * (or an event and a poll) never both see "one file left".
 * ARGV: terminal states (","), the file's field. Returns missing | terminal | unknown | pending | complete.
 */
const MARK_FILE = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if string.find(',' .. ARGV[1] .. ',', ',' .. state .. ',', 1, true) then return 'terminal' end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 'unknown' end
redis.call('HSET', KEYS[1], ARGV[2], 'imported')
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 5) == 'aemf:' and all[i + 1] ~= 'imported' then return 'pending' end
end
return 'complete'
`;

export type MarkFileOutcome = "missing" | "terminal" | "unknown" | "pending" | "complete";

type MarkingRedis = Redis & { aemMarkFile(record: string, terminal: string, field: string): Promise<string> };

/** Marks a file imported; completes the ingest when it was the last one. */
export async function markAemFileImported(
  redis: Redis,
  records: RecordStore,
  ingestId: string,
  fileName: string,
): Promise<MarkFileOutcome> {
  if (!("aemMarkFile" in redis)) redis.defineCommand("aemMarkFile", { numberOfKeys: 1, lua: MARK_FILE });
  const outcome = (await (redis as MarkingRedis).aemMarkFile(
    records.key(ingestId),
    [...TERMINAL_STATES].join(","),
    `${FILE_FIELD}${fileName}`,
  )) as MarkFileOutcome;
  if (outcome === "complete") await records.transition(ingestId, "completed");
  return outcome;
}

/** Records the final per-file states the poll read from the job's result. */
export async function setAemFileStates(
  redis: Redis,
  records: RecordStore,
  ingestId: string,
  states: ReadonlyMap<string, "imported" | "failed">,
): Promise<void> {
  if (states.size === 0) return;
  const pairs = [...states].flatMap(([name, state]) => [`${FILE_FIELD}${name}`, state]);
  await redis.hset(records.key(ingestId), ...pairs);
}
