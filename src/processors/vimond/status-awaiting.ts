import type { Redis } from "ioredis";
import { z } from "zod";
import { videoIngestFromRaw, type VideoIngest } from "../../adapters/index.js";
import { luaScript } from "../../queues/lua-script.js";

/**
 * HSET KEYS[1] ARGV[1] ARGV[3] only while KEYS[2] (the entries hash) still holds ARGV[1] with the
 * value ARGV[2] (or any value, when ARGV[2] is empty): a sweep's write must not bring back an entry
 * its job forgot meanwhile, which would hold the paging bound back with no job left to drop it.
 */
const SET_IF_AWAITED = `
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current or (ARGV[2] ~= '' and current ~= ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/** What a status sweep needs to know about one ingest that waits for its video ingest. */
export const awaitedEntrySchema = z.object({
  run: z.number().int().min(0),
  assetId: z.string().min(1),
  /** Video ingests that started before this belong to an earlier import (status-track's bound). */
  notBefore: z.number().optional(),
  /** The earliest its video ingest can have started: where a sweep may stop paging back. */
  since: z.number(),
  /** When status-track began following it (the branch's timing, the stuck deadline). */
  startedAt: z.number(),
  profileName: z.string().optional(),
  /** The last phase written to the record, so a sweep writes only changes. */
  phase: z.string().optional(),
});
export type AwaitedEntry = z.infer<typeof awaitedEntrySchema>;

/**
 * A finished sweep: `at` (our clock) it started, and the start time of the oldest ingest its pages
 * reached (`null`: it read to the end of the list). An awaited ingest whose bound is not older
 * than `reached` was placed by that sweep, or has no video ingest yet.
 */
const sweepMarkSchema = z.object({ at: z.number(), reached: z.number().nullable() });
export type SweepMark = z.infer<typeof sweepMarkSchema>;

/** What a sweep saw of an ended video ingest, left for the ingest's own status-track job. */
const seenSchema = z.object({ run: z.number().int(), items: z.array(z.unknown()) });

/**
 * The ingests awaiting their video ingest, per Status tenant, in Redis (STATUS_SWEEP): a sorted
 * set by `since` (the oldest bounds how far back a sweep pages), a hash of entries, and a hash of
 * what a sweep saw for an ingest's job to act on. One job per ingest still makes every decision,
 * so a sweep and a job never both act on one ingest (an asset retried twice, say).
 */
export class AwaitedIngests {
  readonly keys: { order: string; entries: string; seen: string; lease: string; swept: string };
  private readonly setIfAwaited: ReturnType<typeof luaScript>;
  /** The stored JSON each entry `all()` returned was read from (for compare-and-set). */
  private readonly stored = new WeakMap<AwaitedEntry, string>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly tenant: string,
  ) {
    const base = `${prefix}:status-sweep:${encodeURIComponent(tenant)}`;
    this.keys = {
      order: `${base}:awaiting`,
      entries: `${base}:entries`,
      seen: `${base}:seen`,
      lease: `${base}:lease`,
      swept: `${base}:swept`,
    };
    this.setIfAwaited = luaScript(redis, "ingestSweepSetIfAwaited", 2, SET_IF_AWAITED);
  }

  /** Registers (or refreshes) an awaited ingest. */
  async register(ingestId: string, entry: AwaitedEntry): Promise<void> {
    await this.redis
      .multi()
      .zadd(this.keys.order, entry.since, ingestId)
      .hset(this.keys.entries, ingestId, JSON.stringify(entry))
      .exec();
  }

  /** Drops an ingest that no longer waits (its branch ended, or its run was replaced). */
  async forget(ingestId: string, run?: number): Promise<void> {
    if (run !== undefined) {
      const current = await this.entry(ingestId);
      // A newer run registered under the same id: leave it (its job re-registers anyway).
      if (current && current.run !== run) return;
    }
    await this.redis
      .multi()
      .zrem(this.keys.order, ingestId)
      .hdel(this.keys.entries, ingestId)
      .hdel(this.keys.seen, ingestId)
      .exec();
  }

  async entry(ingestId: string): Promise<AwaitedEntry | undefined> {
    return parseStored(awaitedEntrySchema, await this.redis.hget(this.keys.entries, ingestId));
  }

  /** Every awaited ingest; an entry that does not parse is dropped (it can only be a stale format). */
  async all(): Promise<Map<string, AwaitedEntry>> {
    const raw = await this.redis.hgetall(this.keys.entries);
    const entries = new Map<string, AwaitedEntry>();
    for (const [id, json] of Object.entries(raw)) {
      const entry = parseStored(awaitedEntrySchema, json);
      if (entry) {
        entries.set(id, entry);
        this.stored.set(entry, json);
      } else await this.forget(id);
    }
    return entries;
  }

  /** The ingest ids with the oldest `since`, oldest first. */
  async oldest(count: number): Promise<string[]> {
    return this.redis.zrange(this.keys.order, "0", String(count - 1));
  }

  /** Notes a finished sweep: when it started and how far back it read (null: all history). */
  async markSwept(sweep: SweepMark): Promise<void> {
    await this.redis.set(this.keys.swept, JSON.stringify(sweep));
  }

  /** The last finished sweep, if any. */
  async lastSwept(): Promise<SweepMark | undefined> {
    return parseStored(sweepMarkSchema, await this.redis.get(this.keys.swept));
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.keys.order);
  }

  /**
   * Records the phase a sweep wrote to the record (`entry` as `all()` returned it), unless the
   * entry changed (its job registered again) or went away (its job forgot it) meanwhile.
   */
  async setPhase(ingestId: string, entry: AwaitedEntry, phase: string): Promise<void> {
    const { keys } = this;
    const current = this.stored.get(entry);
    if (current === undefined) return;
    await this.setIfAwaited(
      keys.entries,
      keys.entries,
      ingestId,
      current,
      JSON.stringify({ ...entry, phase }),
    );
  }

  /** Leaves a sweep's view of an asset's ingests (newest first) for the ingest's job, if it still waits. */
  async putSeen(ingestId: string, run: number, ingests: readonly VideoIngest[]): Promise<void> {
    const seen = JSON.stringify({ run, items: ingests.map((ingest) => ingest.raw) });
    await this.setIfAwaited(this.keys.seen, this.keys.entries, ingestId, "", seen);
  }

  /** Takes (reads and removes) what a sweep saw for this run of the ingest, if anything. */
  async takeSeen(ingestId: string, run: number): Promise<VideoIngest[] | undefined> {
    const [[, raw]] = (await this.redis
      .multi()
      .hget(this.keys.seen, ingestId)
      .hdel(this.keys.seen, ingestId)
      .exec()) as [[unknown, string | null], unknown];
    const seen = parseStored(seenSchema, raw);
    if (!seen || seen.run !== run) return undefined;
    return seen.items.map(videoIngestFromRaw).filter((ingest) => ingest !== undefined);
  }
}

/**
 * A stored JSON value read back with its schema: undefined when it is missing, not JSON or not of
 * the schema, which every caller treats as nothing stored.
 */
function parseStored<T>(schema: z.ZodType<T>, json: string | null | undefined): T | undefined {
  if (!json) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
