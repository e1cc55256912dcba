import type { Redis } from "ioredis";
import type { AisAdapter, FeedScope, ImportTask } from "../../adapters/ais/ais-adapter.js";
import {
  buildAtomFeed,
  type AtomEntryInput,
  type AtomFeedInput,
  type AtomTombstoneInput,
} from "../../adapters/ais/atom-feed.js";
import { isUpstreamError } from "../../adapters/http/upstream-error.js";
import { chainActions, eventToPush } from "../../metrics/ingest-metrics.js";
import { jobId } from "../../queues/job-options.js";
import type { StepContext, StepResult } from "../../queues/step.js";
import type { AtomPushPayload } from "../../queues/payloads.js";
import { TERMINAL_STATES, type IngestPackage, type IngestRecord } from "../../records/ingest-record.js";
import { linkPackages } from "../../telemetry/tracing.js";
import type { ChainDeps } from "../every-target/deps.js";
import { requireVimond } from "./vimond-adapters.js";
import { defineHandler } from "../step-table.js";

const STEP_NAME = "atom-push";

/**
 * The batch of a media feed that is being pushed. At most one exists per feed, so a crash or an
 * ambiguous push leaves exactly one place that knows which ingests may already be upstream.
 */
export interface InflightBatch {
  /** BullMQ id of the atom-push job that owns the batch. */
  owner: string;
  ingestIds: string[];
  /** When the batch was claimed (ms). */
  startedAt: number;
  /** Set just before the push request goes out: from then on the push may have taken effect. */
  sentAt?: number;
  /** Set once the push (or a reconcile) produced the import job. */
  importJobId?: string;
}

/** Claims up to ARGV[2] ids from the pending list unless a batch is in flight (then returns it). */
const CLAIM = `
local current = redis.call('GET', KEYS[2])
if current then return {'held', current} end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #ids == 0 then return {'empty', ''} end
redis.call('LTRIM', KEYS[1], #ids, -1)
local value = cjson.encode({owner = ARGV[1], ingestIds = ids, startedAt = tonumber(ARGV[3])})
redis.call('SET', KEYS[2], value)
return {'claimed', value}
`;

/** Replaces (ARGV[2]) or deletes (ARGV[2] = '') the batch, only while ARGV[1] still owns it. */
const SWAP = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current).owner ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`;

type BatchRedis = Redis & {
  atomBatchClaim(
    pending: string,
    inflight: string,
    owner: string,
    max: string,
    now: string,
  ): Promise<[string, string]>;
  atomBatchSwap(inflight: string, owner: string, value: string): Promise<number>;
};

/** Clock difference tolerated between this worker and AIS when listing jobs by creation time. */
const RECONCILE_SKEW_MS = 5 * 60_000;
/** Most recent jobs inspected when looking for a push whose answer was lost. */
const RECONCILE_MAX_JOBS = 20;
/**
 * How long a watch job waits before it looks at an in-flight batch again. Only an owner that failed
 * for good (its attempts used up) or was removed leaves a batch for the watch to take over, so this
 * bounds the delay of that rare case, not of ordinary pushes.
 */
export const WATCH_DELAY_MS = 10_000;
/** BullMQ states in which the owner of a batch will still finish it. */
const LIVE_JOB_STATES = new Set(["active", "waiting", "delayed", "prioritized", "waiting-children"]);

/** Redis keys of a media feed's micro-batching. */
export function feedKeys(prefix: string, mediaFeedId: string) {
  return {
    pending: `${prefix}:feed:${mediaFeedId}:pending`,
    inflight: `${prefix}:feed:${mediaFeedId}:inflight`,
  };
}

/** The `<updated>` AIS recorded for a task's entry, read from its candidate fields (task-normalizer.ts). */
export function entryUpdatedOf(task: ImportTask): string | undefined {
  return task.entryUpdated;
}

function sameInstant(a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [Date.parse(a), Date.parse(b)];
  return !Number.isNaN(x) && x === y;
}

/**
 * Whether a task imports this package version. The entry id names the asset; the `<updated>` we
 * pushed names the version, so a task of an earlier push of the same entry does not match.
 */
export function taskMatchesPackage(task: ImportTask, pkg: IngestPackage): boolean {
  if (task.entryId !== pkg.entryId) return false;
  const updated = entryUpdatedOf(task);
  return updated === undefined || sameInstant(updated, pkg.updated);
}

function entryOf(pkg: IngestPackage): AtomEntryInput {
  const entry: AtomEntryInput = {
    id: pkg.entryId,
    title: pkg.title,
    updated: pkg.updated,
    categories: pkg.categories,
    extensions: pkg.metadata,
    images: pkg.images.map((image) => ({ url: image.url, location: image.location })),
  };
  if (pkg.summary !== undefined) entry.summary = pkg.summary;
  if (pkg.publish) entry.publishWindow = pkg.publish;
  if (pkg.video) {
    entry.video = { url: pkg.video.url };
    if (pkg.video.contentType !== undefined) entry.video.type = pkg.video.contentType;
    if (pkg.video.size !== undefined) entry.video.fileSize = pkg.video.size;
  }
  return entry;
}

function tombstoneOf(pkg: IngestPackage): AtomTombstoneInput {
  return { ref: pkg.entryId, when: pkg.updated, comment: "source package deleted" };
}

/** The Atom document for a set of packages: entries, and tombstones for deleted packages. */
export function feedDocument(mediaFeedId: string, packages: readonly IngestPackage[], now: number): string {
  const input: AtomFeedInput = {
    feedId: `urn:ingest-worker:feed:${mediaFeedId}`,
    title: `ingest-worker push to media feed ${mediaFeedId}`,
    updated: new Date(now).toISOString(),
    entries: packages.filter((p) => !p.tombstone).map(entryOf),
    tombstones: packages.filter((p) => p.tombstone).map(tombstoneOf),
  };
  return buildAtomFeed(input);
}

interface Member {
  id: string;
  record: IngestRecord;
  pkg: IngestPackage;
}

/**
 * atom-push: flushes the pending entries of one media feed as one Atom push (`v2/schedule`).
 *
 * Entries wait in a Redis list; a flush moves up to ATOM_BATCH_MAX_ENTRIES of them into the feed's
 * single in-flight batch (Lua, so no entry is claimed twice), pushes them, hands the import job to
 * job-poll and releases the batch. The batch outlives a crash or an ambiguous push, and whoever
 * resumes it looks for the import job among the feed's recent jobs before pushing again: one
 * package version yields one import.
 */
export function createAtomPushProcessor(deps: ChainDeps) {
  if (!("atomBatchClaim" in deps.redis)) {
    deps.redis.defineCommand("atomBatchClaim", { numberOfKeys: 2, lua: CLAIM });
    deps.redis.defineCommand("atomBatchSwap", { numberOfKeys: 1, lua: SWAP });
  }
  const redis = deps.redis as BatchRedis;
  const { records, env } = deps;

  async function swap(
    keys: { inflight: string },
    owner: string,
    next: InflightBatch | null,
  ): Promise<boolean> {
    return (await redis.atomBatchSwap(keys.inflight, owner, next ? JSON.stringify(next) : "")) === 1;
  }

  async function ownerIsLive(owner: string): Promise<boolean> {
    const queue = deps.queues.get(STEP_NAME);
    if (!queue) return false;
    return LIVE_JOB_STATES.has(await queue.getJobState(owner));
  }

  /** Enqueues the next flush when entries arrived while this batch was out. */
  async function chainNext(payload: AtomPushPayload, keys: { pending: string }, batch: InflightBatch) {
    if ((await redis.llen(keys.pending)) === 0) return;
    const { watch: _watch, ...flush } = payload;
    await deps.enqueue(STEP_NAME, flush, {
      jobId: jobId("push", payload.mediaFeedId, "after", batch.owner, batch.startedAt),
    });
  }

  /** The batch's ingests that still need this push; terminal, empty and invalid ones drop out. */
  async function members(batch: InflightBatch, mediaFeedId: string): Promise<Member[]> {
    const found: Member[] = [];
    const loaded = await records.getMany(batch.ingestIds);
    linkPackages(loaded.map((record) => record?.traceparent));
    for (const [i, id] of batch.ingestIds.entries()) {
      const record = loaded[i];
      if (!record || TERMINAL_STATES.has(record.state)) continue;
      if (!record.package) {
        await records.fail(id, "atom-push: the record has no assembled package");
        continue;
      }
      try {
        // Built alone first so a malformed package fails its own ingest, not the whole batch.
        feedDocument(mediaFeedId, [record.package], deps.now());
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        await records.fail(id, `atom-push: the package cannot be written as Atom: ${error.message}`);
        continue;
      }
      found.push({ id, record, pkg: record.package });
    }
    // Two versions of one entry in one push would be two tasks for one asset: the newest wins.
    const newest = new Map<string, Member>();
    for (const member of found) {
      const other = newest.get(member.pkg.entryId);
      if (!other || Date.parse(member.pkg.updated) >= Date.parse(other.pkg.updated)) {
        newest.set(member.pkg.entryId, member);
      }
    }
    const kept: Member[] = [];
    for (const member of found) {
      const winner = newest.get(member.pkg.entryId);
      if (winner === member) kept.push(member);
      else
        await records.transition(member.id, "superseded", {
          error: `entry ${member.pkg.entryId} version ${member.pkg.updated} replaced by ingest ${winner?.id} in the same push`,
        });
    }
    return kept;
  }

  /** Looks among the feed's recent jobs for members pushed by an attempt whose answer was lost. */
  async function reconcile(
    ais: AisAdapter,
    payload: AtomPushPayload,
    batch: InflightBatch,
    pending: Member[],
  ): Promise<Map<string, Member[]>> {
    const scope: FeedScope = payload.companyId ? { companyId: payload.companyId } : {};
    const since = (batch.sentAt ?? batch.startedAt) - RECONCILE_SKEW_MS;
    const jobs = await ais.listJobs(payload.mediaFeedId, { ...scope, fromDate: new Date(since) });
    const byJob = new Map<string, Member[]>();
    let left = pending;
    for (const job of jobs.slice(0, RECONCILE_MAX_JOBS)) {
      if (left.length === 0) break;
      const tasks = await ais.listTasks(payload.mediaFeedId, job.id, scope);
      const inJob = left.filter((m) => tasks.some((task) => taskMatchesPackage(task, m.pkg)));
      if (inJob.length > 0) byJob.set(job.id, inJob);
      left = left.filter((m) => !inJob.includes(m));
    }
    return byJob;
  }

  /** Records the push on every member and hands the import job to job-poll. */
  async function adopt(
    payload: AtomPushPayload,
    importJobId: string,
    group: Member[],
    startedAt: number,
    how: string,
    sentAt: number,
  ): Promise<void> {
    if (group.length === 0) return;
    const now = deps.now();
    // One pipeline of one script call per member, instead of five round trips each.
    await records.updateMany(
      group.map(({ id, record }) => {
        if (record.pushedAt === undefined) eventToPush.observe(Math.max(0, (now - record.eventAt) / 1000));
        return [
          id,
          {
            upstream: { importJobId, mediaFeedId: payload.mediaFeedId },
            // When the push left, not when its answer came: the bound below which a video ingest
            // belongs to an earlier version (remediate, status-track), so it must not be later
            // than anything this push started upstream.
            ...(record.pushedAt === undefined ? { fields: { pushedAt: String(sentAt) } } : {}),
            transition: { to: "importing", from: ["queued", "pushing"] },
            step: {
              name: STEP_NAME,
              timing: { status: "done", startedAt, endedAt: now, detail: `import job ${importJobId}` },
            },
            history: [
              { step: STEP_NAME, message: `${how} import job ${importJobId} (${group.length} entries)` },
            ],
          },
        ] as const;
      }),
    );
    await deps.enqueue(
      "job-poll",
      {
        mediaFeedId: payload.mediaFeedId,
        ...(payload.companyId ? { companyId: payload.companyId } : {}),
        importJobId,
        ingestIds: group.map((m) => m.id),
        polls: 0,
      },
      { jobId: jobId("poll", importJobId), delay: env.POLL_INITIAL_DELAY_MS },
    );
  }

  async function flush(
    payload: AtomPushPayload,
    batch: InflightBatch,
    ctx: StepContext,
  ): Promise<StepResult> {
    const { ais } = requireVimond(deps);
    const keys = feedKeys(deps.prefix, payload.mediaFeedId);
    const startedAt = deps.now();
    let pending = await members(batch, payload.mediaFeedId);
    let adopted = 0;

    if (batch.importJobId !== undefined) {
      // The push succeeded before a crash: finish the hand-over, nothing goes out again.
      await adopt(payload, batch.importJobId, pending, startedAt, "pushed in", batch.sentAt ?? startedAt);
      adopted = pending.length;
      pending = [];
    } else if (batch.sentAt !== undefined && pending.length > 0) {
      const found = await reconcile(ais, payload, batch, pending);
      for (const [importJobId, group] of found) {
        chainActions.inc({ action: "reconcile_hit" });
        ctx.log.info({ importJobId, entries: group.length }, "reconciled a push whose answer was lost");
        await adopt(payload, importJobId, group, startedAt, "reconciled: found in", batch.sentAt);
        adopted += group.length;
        pending = pending.filter((m) => !group.includes(m));
      }
    }

    if (pending.length > 0) {
      await records.updateMany(
        pending.map(({ id }) => [id, { transition: { to: "pushing", from: ["queued"] } }] as const),
      );
      const xml = feedDocument(
        payload.mediaFeedId,
        pending.map((m) => m.pkg),
        deps.now(),
      );
      const sending: InflightBatch = { ...batch, sentAt: deps.now() };
      // Marked before the request leaves: after a crash the next run must reconcile first.
      if (!(await swap(keys, batch.owner, sending))) throw new Error("atom-push lost its in-flight batch");
      let importJobId: string;
      try {
        ({ jobId: importJobId } = await ais.pushFeed(payload.mediaFeedId, xml));
      } catch (error) {
        if (!isUpstreamError(error) || error.ambiguous) {
          // The push may have taken effect: the retry (same job, same batch) reconciles first.
          for (const { id } of pending)
            await records.history(id, STEP_NAME, `push outcome unknown: ${String(error)}`);
          throw error;
        }
        const { sentAt: _sent, ...unsent } = sending;
        await swap(keys, batch.owner, unsent);
        if (error.retryable) {
          if (error.retryAfterMs !== undefined) {
            return {
              outcome: "waiting",
              delayMs: error.retryAfterMs,
              reason: `AIS asked to wait: ${error.message}`,
            };
          }
          throw error;
        }
        for (const { id } of pending) {
          await records.step(id, STEP_NAME, {
            status: "failed",
            startedAt,
            endedAt: deps.now(),
            detail: error.message,
          });
          await records.fail(id, `AIS rejected the Atom push: ${error.message}`);
        }
        await swap(keys, batch.owner, null);
        await chainNext(payload, keys, batch);
        return {
          outcome: "done",
          detail: `push rejected for ${pending.length} entries (HTTP ${error.status})`,
        };
      }
      await swap(keys, batch.owner, { ...sending, importJobId });
      await adopt(payload, importJobId, pending, startedAt, "pushed in", sending.sentAt ?? startedAt);
    }

    await swap(keys, batch.owner, null);
    await chainNext(payload, keys, batch);
    if (pending.length + adopted === 0) return { outcome: "skipped", reason: "no live entries in the batch" };
    return { outcome: "done", detail: `pushed ${pending.length}, reconciled ${adopted}` };
  }

  return defineHandler("atom-push", async (payload, ctx) => {
    requireVimond(deps);
    const keys = feedKeys(deps.prefix, payload.mediaFeedId);
    const owner = String(ctx.job.id);
    const [kind, value] = await redis.atomBatchClaim(
      keys.pending,
      keys.inflight,
      owner,
      String(env.ATOM_BATCH_MAX_ENTRIES),
      String(deps.now()),
    );
    if (kind === "empty") return { outcome: "skipped", reason: "nothing pending for the feed" };
    let batch = JSON.parse(value) as InflightBatch;
    if (batch.owner !== owner) {
      // The owner chains the next flush itself when it releases the batch (chainNext), so a flush
      // that finds the batch held has nothing to wait for and ends. Re-delaying every 50-100 ms
      // instead cost ~9 job runs per push in a burst. One watch job per batch (a deterministic id)
      // covers an owner that fails for good, which would chain nothing: it takes the batch over.
      if (!payload.watch) {
        const { watch: _watch, ...flushPayload } = payload;
        await deps.enqueue(
          STEP_NAME,
          { ...flushPayload, watch: true },
          { jobId: jobId("push", payload.mediaFeedId, "watch", batch.startedAt), delay: WATCH_DELAY_MS },
        );
        return { outcome: "skipped", reason: `batch in flight (${batch.owner}); it chains the next flush` };
      }
      const waitMs = WATCH_DELAY_MS * (1 + deps.random());
      if (await ownerIsLive(batch.owner)) {
        return {
          outcome: "waiting",
          delayMs: waitMs,
          reason: `watching the batch in flight (${batch.owner})`,
        };
      }
      // Its owner died (retries exhausted, removed): take it over; it may have pushed, so the
      // flush below reconciles exactly as the owner's own retry would.
      const inherited: InflightBatch = { ...batch, owner };
      if (!(await swap(keys, batch.owner, inherited))) {
        return { outcome: "waiting", delayMs: waitMs, reason: "in-flight batch changed hands" };
      }
      ctx.log.warn({ previousOwner: batch.owner }, "took over the in-flight batch of a dead job");
      batch = inherited;
    }
    return flush(payload, batch, ctx);
  });
}
