import { z } from "zod";
import { jsonError } from "../core/responses.js";
import type { SimResponse } from "../core/types.js";
import { TokenBucket } from "../../http/token-bucket.js";

/**
 * `scenario.modules.status.rateLimit`: requests per (real) second the whole Status API answers
 * before it says 429. A real API of this kind limits per client; the simulator has one client per
 * run, so one bucket stands for it. `burst` is how many may come back to back (default perSecond).
 */
export const rateLimitSchema = z
  .object({
    perSecond: z.number().positive().max(100_000),
    burst: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export type RateLimitSettings = z.infer<typeof rateLimitSchema>;

/** A token bucket over `now()`; `check` answers undefined (go on) or the 429 to send. */
export interface RateLimiter {
  check(settings: RateLimitSettings | undefined): SimResponse | undefined;
  /** Requests refused so far. */
  refused(): number;
  reset(): void;
}

export function createRateLimiter(now: () => number): RateLimiter {
  // One bucket per setting: a scenario that changes the limit starts it afresh (full burst).
  let bucket: { key: string; tokens: TokenBucket } | undefined;
  let refused = 0;
  return {
    check(settings) {
      if (!settings) {
        bucket = undefined;
        return undefined;
      }
      const burst = settings.burst ?? Math.max(1, Math.ceil(settings.perSecond));
      const key = `${settings.perSecond}/${burst}`;
      if (bucket?.key !== key)
        bucket = { key, tokens: new TokenBucket({ perSecond: settings.perSecond, burst, now }) };
      if (bucket.tokens.take()) return undefined;
      refused += 1;
      // Whole seconds, as the delay-seconds form of Retry-After is; never 0, which means "now".
      const retryAfter = Math.max(1, Math.ceil(bucket.tokens.secondsToNext()));
      return jsonError(429, "too_many_requests", "rate limit exceeded", {
        "retry-after": String(retryAfter),
      });
    },
    refused: () => refused,
    reset() {
      bucket = undefined;
      refused = 0;
    },
  };
}
