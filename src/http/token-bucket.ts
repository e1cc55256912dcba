/** Settings of a {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second; 0 means the bucket never refills (and, with no burst, never gives). */
  perSecond: number;
  /** Most tokens held at once: how many takes may come back to back after a quiet spell. */
  burst: number;
  /** Injected in tests. */
  now?: () => number;
}

/**
 * A token bucket in process memory: `take()` succeeds while tokens are left and refills continuously
 * at `perSecond`. In memory on purpose: it guards what unauthenticated callers may make this
 * process do, and costs nothing to ask (no Redis round trip per request); with N replicas the
 * cluster-wide rate is N times the setting.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly now: () => number;

  constructor(private readonly options: TokenBucketOptions) {
    this.now = options.now ?? Date.now;
    this.tokens = options.burst;
    this.last = this.now();
  }

  /** Takes one token; false when none is left (the caller drops the work, not the request). */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Seconds until the next token (0 when one is there; Infinity for a bucket that never refills). */
  secondsToNext(): number {
    this.refill();
    if (this.tokens >= 1) return 0;
    return this.options.perSecond > 0 ? (1 - this.tokens) / this.options.perSecond : Infinity;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.options.burst, this.tokens + elapsed * this.options.perSecond);
  }
}
