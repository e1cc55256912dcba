import { isUpstreamError } from "../../adapters/http/upstream-error.js";

export interface PollSettings {
  initialMs: number;
  maxMs: number;
}

/**
 * Delay before poll number `polls` (0-based): exponential from `initialMs`, capped at `maxMs`, with
 * "equal jitter" (half fixed, half random) so thousands of jobs created together spread out instead
 * of polling in lockstep, yet none polls much earlier than its backoff says.
 */
export function pollDelay(polls: number, settings: PollSettings, random: () => number = Math.random): number {
  const exp = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.min(polls, 30));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** An upstream's `Retry-After`, when the error carries one the adapter did not wait out itself. */
export function retryAfterOf(error: unknown): number | undefined {
  return isUpstreamError(error) ? error.retryAfterMs : undefined;
}
