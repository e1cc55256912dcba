import { mapStateName } from "../state-names.js";
import { mapTaskState, type TaskState } from "./ais-states.js";

/**
 * Seed 000 names the task operations ("per-asset tasks within an import job") but defines no
 * ImportTask schema: the field names below are candidates, tried in order, matched without regard
 * to case, `_` or `-` (`entry_id`, `EntryId` and `entryId` are one name). A dotted name reads a
 * nested object (`asset.id` is `{ "asset": { "id": … } }`). docs/upstreams.md lists them for
 * operators to check against their tenant; keep the two in step.
 */
export const TASK_FIELD_CANDIDATES = {
  /** The task's own id (retry path `/ais/api/task/{taskId}/retry`). Required. */
  id: ["id", "taskId", "importTaskId", "uuid"],
  /** Its state (mapped by `ais-states.ts`). Required. */
  state: ["state", "status", "taskState", "taskStatus"],
  /** The import job it belongs to; the job being read when absent. */
  jobId: ["jobId", "importJobId", "job.id", "importJob.id"],
  /** The Atom `<id>` of the entry (or `ref` of the deleted-entry) the task imports. */
  entryId: [
    "entryId",
    "atomEntryId",
    "atomId",
    "entryRef",
    "entryGuid",
    "feedEntryId",
    "entry.id",
    "atomEntry.id",
    "entry.entryId",
    "entry",
    "externalId",
    "sourceId",
    "source.id",
    "guid",
  ],
  /** The entry's Atom `<updated>` (the version pushed); a bare `updated` is the task's own time. */
  entryUpdated: [
    "entryUpdated",
    "atomUpdated",
    "entryVersion",
    "sourceUpdated",
    "entry.updated",
    "atomEntry.updated",
    "entry.version",
    "source.updated",
  ],
  /** What the task imports: metadata, video, image, or an unpublish (tombstone). */
  type: ["type", "taskType", "kind", "importType", "category", "mediaType"],
  /** The Vimond asset the entry became. */
  assetId: ["assetId", "vimondAssetId", "vmAssetId", "targetAssetId", "asset.id", "asset.assetId", "asset"],
  errorCode: ["errorCode", "failureCode", "error.code", "error.errorCode", "failure.code"],
  errorMessage: [
    "errorMessage",
    "failureMessage",
    "failureReason",
    "error.message",
    "error.errorMessage",
    "failure.message",
    "error",
    "message",
    "reason",
  ],
  retryable: ["retryable", "retriable", "isRetryable", "canRetry", "error.retryable"],
  attempts: ["attempts", "attempt", "attemptCount", "tries"],
  /** When AIS created the task; status-track ignores video ingests older than it. */
  created: ["created", "createdAt", "creationDate", "createdDate", "dateCreated"],
} as const satisfies Record<string, readonly string[]>;

export type TaskField = keyof typeof TASK_FIELD_CANDIDATES;

/** Task kinds the chain reasons about; anything else keeps its (normalized) name. */
export type KnownTaskType = "METADATA" | "VIDEO" | "IMAGE" | "UNPUBLISH";
export const KNOWN_TASK_TYPES: ReadonlySet<string> = new Set<KnownTaskType>([
  "METADATA",
  "VIDEO",
  "IMAGE",
  "UNPUBLISH",
]);
/** The type of a task that names none. */
export const UNKNOWN_TASK_TYPE = "UNKNOWN";

/** Type names (normalized) by kind; the dashboard routes of seed 000 speak of "metadata" and "video". */
const TYPE_SYNONYMS: Record<KnownTaskType, readonly string[]> = {
  METADATA: ["METADATA", "META", "META_DATA", "METADATA_IMPORT", "ASSET_METADATA", "ASSET"],
  VIDEO: ["VIDEO", "VIDEO_IMPORT", "MEDIA", "MEDIA_IMPORT", "VIDEO_FILE", "TRANSCODE", "ENCODE"],
  IMAGE: ["IMAGE", "IMAGES", "IMAGE_IMPORT", "POSTER", "THUMBNAIL", "ARTWORK"],
  UNPUBLISH: ["UNPUBLISH", "DELETE", "DELETED_ENTRY", "TOMBSTONE", "REMOVE", "UNPUBLISH_ASSET"],
};
const TYPE_TABLE: Readonly<Record<string, KnownTaskType>> = Object.fromEntries(
  Object.entries(TYPE_SYNONYMS).flatMap(([type, names]) =>
    names.map((name) => [name, type as KnownTaskType]),
  ),
);

/** One task of an import job, whatever names the tenant's AIS gives its fields. */
export interface NormalizedTask {
  id: string;
  jobId: string;
  /** Absent until AIS has matched the entry to an asset (and for unknown tombstones). */
  assetId?: string;
  /** The Atom entry id the task imports; absent when no candidate field carries it. */
  entryId?: string;
  /** The entry's `<updated>` as AIS recorded it; absent when the task does not say. */
  entryUpdated?: string;
  /** `UNKNOWN` when no candidate field names a type. */
  type: KnownTaskType | (string & {});
  /** The type name as AIS sent it. */
  rawType?: string;
  state: TaskState;
  /** The state name as AIS sent it, for records and logs. */
  rawState: string;
  errorCode?: string;
  errorMessage?: string;
  /** AIS's own verdict on whether retrying can help; absent when it gives none. */
  retryable?: boolean;
  attempts?: number;
  /** When AIS created the task (ms since the epoch). */
  createdAt?: number;
  raw: unknown;
}

/** A task the worker cannot use at all, and why; its field names are kept for the log line. */
export interface UnreadableTask {
  reason: "not_an_object" | "no_id" | "no_state";
  /** The task's top-level field names (never values: those may carry anything). */
  keys: string[];
  raw: unknown;
}

export type NormalizeResult = { ok: true; task: NormalizedTask } | { ok: false; unreadable: UnreadableTask };

/** Most field names kept from an unreadable task, so a huge object cannot flood a log line. */
const MAX_KEYS = 30;

/** Case, `_` and `-` do not count in a field name. */
const canonical = (name: string) => name.replace(/[_-]/g, "").toLowerCase();

/** Candidate names in canonical form, computed once each (there are a few dozen). */
const canonicalNames = new Map<string, string>();
function canonicalName(name: string): string {
  let found = canonicalNames.get(name);
  if (found === undefined) {
    found = canonical(name);
    canonicalNames.set(name, found);
  }
  return found;
}

/**
 * Each object's own keys by canonical form (the first in key order for each), built once per
 * object: a task is asked for some forty candidate names, which compared every key each time.
 */
const keyIndexes = new WeakMap<object, Map<string, string>>();
function keyIndex(object: Record<string, unknown>): Map<string, string> {
  let index = keyIndexes.get(object);
  if (index === undefined) {
    index = new Map();
    for (const key of Object.keys(object)) {
      const name = canonical(key);
      if (!index.has(name)) index.set(name, key);
    }
    keyIndexes.set(object, index);
  }
  return index;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The value of one own field of `object`, matched canonically; first match in key order wins. */
function field(object: Record<string, unknown>, name: string): unknown {
  const key = keyIndex(object).get(canonicalName(name));
  return key === undefined ? undefined : object[key];
}

/** The value at a dotted candidate name, or undefined. */
function at(object: Record<string, unknown>, path: string): unknown {
  let value: unknown = object;
  for (const part of path.split(".")) {
    if (!isRecord(value)) return undefined;
    value = field(value, part);
  }
  return value;
}

/** The first candidate whose value `read` accepts. */
function first<T>(object: Record<string, unknown>, name: TaskField, read: (value: unknown) => T | undefined) {
  for (const candidate of TASK_FIELD_CANDIDATES[name]) {
    const value = read(at(object, candidate));
    if (value !== undefined) return value;
  }
  return undefined;
}

/** An id: a non-empty string or an integer, kept as a string (AIS ids are numbers in practice). */
function readId(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim() === "" ? undefined : value.trim();
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

function readText(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

function readBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === "true" || value === "false") return value === "true";
  return undefined;
}

function readCount(value: unknown): number | undefined {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** An ISO 8601 text or epoch milliseconds. */
function readInstant(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
  if (typeof value !== "string") return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}

/** An Atom `<updated>` as text; an epoch number becomes ISO 8601 so it compares by instant. */
function readUpdated(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return new Date(value).toISOString();
  return readText(value);
}

/** Maps a task type name; an unknown name is counted (`field` `task.type`) and kept as sent. */
export function mapTaskType(value: string): KnownTaskType | (string & {}) {
  const mapped = mapStateName(TYPE_TABLE, value, { upstream: "ais", field: "task.type" });
  return mapped === "unknown" ? value.trim().toUpperCase() : mapped;
}

/**
 * Reads one task of `jobId` from whatever a server sent. Only an id and a state are required;
 * every other field is optional, so a tenant whose AIS names a field differently gets a task the
 * chain can still reason about (job-poll decides what to do with one it cannot place).
 */
export function normalizeTask(raw: unknown, jobId: string): NormalizeResult {
  if (!isRecord(raw)) return { ok: false, unreadable: { reason: "not_an_object", keys: [], raw } };
  const id = first(raw, "id", readId);
  const rawState = first(raw, "state", readText);
  if (id === undefined || rawState === undefined) {
    const keys = Object.keys(raw).slice(0, MAX_KEYS);
    return { ok: false, unreadable: { reason: id === undefined ? "no_id" : "no_state", keys, raw } };
  }
  const rawType = first(raw, "type", readText);
  const task: NormalizedTask = {
    id,
    jobId: first(raw, "jobId", readId) ?? jobId,
    type: rawType === undefined ? UNKNOWN_TASK_TYPE : mapTaskType(rawType),
    state: mapTaskState(rawState),
    rawState,
    raw,
  };
  const optional = {
    rawType,
    assetId: first(raw, "assetId", readId),
    entryId: first(raw, "entryId", readId),
    entryUpdated: first(raw, "entryUpdated", readUpdated),
    errorCode: first(raw, "errorCode", readId),
    errorMessage: first(raw, "errorMessage", readText),
    retryable: first(raw, "retryable", readBoolean),
    attempts: first(raw, "attempts", readCount),
    createdAt: first(raw, "created", readInstant),
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) Object.assign(task, { [key]: value });
  }
  return { ok: true, task };
}
