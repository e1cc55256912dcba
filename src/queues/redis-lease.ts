import type { Redis } from "ioredis";
import { luaScript } from "./lua-script.js";

/** Extends the lease only while this owner still holds it. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes the lease only while this owner still holds it (a lapsed lease may be someone else's). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** One Redis key held by at most one owner at a time, for `ttlMs` unless renewed. */
export interface RedisLease {
  /** Takes the lease when free, or renews it when this owner holds it; false when another holds it. */
  acquire(): Promise<boolean>;
  /** Extends a held lease; false when it lapsed and may be someone else's now. */
  renew(): Promise<boolean>;
  /** Gives the lease up (only when still this owner's). */
  release(): Promise<void>;
  readonly owner: string;
}

/**
 * A lease (SET NX PX, renewed and released by compare-and-act scripts): the owner that dies
 * simply stops renewing, and the key lapses after `ttlMs` for another replica to take.
 */
export function redisLease(redis: Redis, key: string, owner: string, ttlMs: number): RedisLease {
  const renewScript = luaScript(redis, "ingestLeaseRenew", 1, RENEW);
  const releaseScript = luaScript(redis, "ingestLeaseRelease", 1, RELEASE);
  const renew = async () => Number(await renewScript(key, owner, ttlMs)) === 1;
  return {
    owner,
    async acquire() {
      if ((await redis.set(key, owner, "PX", ttlMs, "NX")) === "OK") return true;
      return renew();
    },
    renew,
    async release() {
      await releaseScript(key, owner);
    },
  };
}
