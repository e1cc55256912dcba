import type { Redis } from "ioredis";

/**
 * The in-flight batch of a DAM folder. Ingest ids wait in `<prefix>:aem:<folder>:pending` (pushed
 * by source-watch); an `aem-import` job moves some of them into `...:inflight`, owned by its BullMQ
 * job id, before calling AEM. A crash or a retry of the same job finds its batch again; another job
 * finds the folder busy; a job that died with a batch in hand can be taken over. `...:job` holds the
 * AEM job id as soon as AEM accepted the batch, so a retry after that point does not import twice.
 */
export interface AemBatchKeys {
  pending: string;
  inflight: string;
  owner: string;
  job: string;
}

export function aemBatchKeys(prefix: string, folder: string): AemBatchKeys {
  const base = `${prefix}:aem:${folder}`;
  return {
    pending: `${base}:pending`,
    inflight: `${base}:inflight`,
    owner: `${base}:inflight:owner`,
    job: `${base}:inflight:job`,
  };
}

/** KEYS: pending, inflight, owner, job. ARGV: job id, most ids to claim. */
const CLAIM = `
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then return {'busy', owner} end
if owner == ARGV[1] then
  local ids = redis.call('LRANGE', KEYS[2], 0, -1)
  table.insert(ids, 1, redis.call('GET', KEYS[4]) or '')
  table.insert(ids, 1, 'resume')
  return ids
end
local out = {'claimed', ''}
for i = 1, tonumber(ARGV[2]) do
  local id = redis.call('LPOP', KEYS[1])
  if not id then break end
  redis.call('RPUSH', KEYS[2], id)
  out[#out + 1] = id
end
if #out == 2 then return {'empty'} end
redis.call('SET', KEYS[3], ARGV[1])
return out
`;

/** KEYS: owner. ARGV: the dead owner, the new owner. Returns 1 when taken over. */
const TAKE_OVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: pending, inflight, owner. ARGV: job id, ids to hand back (in order). */
const GIVE_BACK = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
for i = #ARGV, 2, -1 do
  redis.call('LREM', KEYS[2], 0, ARGV[i])
  redis.call('LPUSH', KEYS[1], ARGV[i])
end
return 1
`;

/** KEYS: inflight, owner, job. ARGV: job id, AEM job id. */
const SET_JOB = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;

/** KEYS: inflight, owner, job. ARGV: job id. */
const RELEASE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`;

export type ClaimResult =
  | { kind: "claimed"; ids: string[] }
  | { kind: "resume"; ids: string[]; aemJobId?: string }
  | { kind: "busy"; owner: string }
  | { kind: "empty" };

type BatchRedis = Redis & {
  aemBatchClaim(...args: string[]): Promise<string[]>;
  aemBatchTakeOver(...args: string[]): Promise<number>;
  aemBatchGiveBack(...args: string[]): Promise<number>;
  aemBatchSetJob(...args: string[]): Promise<number>;
  aemBatchRelease(...args: string[]): Promise<number>;
};

/** The batch operations of one folder, each one Lua script (atomic against other workers). */
export class AemBatch {
  private readonly redis: BatchRedis;

  constructor(
    redis: Redis,
    readonly keys: AemBatchKeys,
    private readonly owner: string,
  ) {
    if (!("aemBatchClaim" in redis)) {
      redis.defineCommand("aemBatchClaim", { numberOfKeys: 4, lua: CLAIM });
      redis.defineCommand("aemBatchTakeOver", { numberOfKeys: 1, lua: TAKE_OVER });
      redis.defineCommand("aemBatchGiveBack", { numberOfKeys: 3, lua: GIVE_BACK });
      redis.defineCommand("aemBatchSetJob", { numberOfKeys: 3, lua: SET_JOB });
      redis.defineCommand("aemBatchRelease", { numberOfKeys: 3, lua: RELEASE });
    }
    this.redis = redis as BatchRedis;
  }

  /** Claims up to `max` pending ids, or finds this job's own batch again. */
  async claim(max: number): Promise<ClaimResult> {
    const { pending, inflight, owner, job } = this.keys;
    const [kind, second, ...rest] = await this.redis.aemBatchClaim(
      pending,
      inflight,
      owner,
      job,
      this.owner,
      String(max),
    );
    if (kind === "busy") return { kind, owner: second ?? "" };
    if (kind === "claimed") return { kind, ids: rest };
    if (kind === "resume") return { kind, ids: rest, ...(second ? { aemJobId: second } : {}) };
    return { kind: "empty" };
  }

  /** Takes the batch of a job that can no longer finish it. */
  async takeOver(deadOwner: string): Promise<boolean> {
    return (await this.redis.aemBatchTakeOver(this.keys.owner, deadOwner, this.owner)) === 1;
  }

  /** Puts ids back at the head of the pending list (they did not fit this request). */
  async giveBack(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const { pending, inflight, owner } = this.keys;
    await this.redis.aemBatchGiveBack(pending, inflight, owner, this.owner, ...ids);
  }

  /** Remembers the AEM job that took the batch. */
  async setAemJob(aemJobId: string): Promise<void> {
    const { inflight, owner, job } = this.keys;
    await this.redis.aemBatchSetJob(inflight, owner, job, this.owner, aemJobId);
  }

  /** Ends the batch (every id is accounted for). */
  async release(): Promise<void> {
    const { inflight, owner, job } = this.keys;
    await this.redis.aemBatchRelease(inflight, owner, job, this.owner);
  }

  async pendingCount(): Promise<number> {
    return this.redis.llen(this.keys.pending);
  }
}
