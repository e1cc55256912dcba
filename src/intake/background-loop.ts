import type { Logger } from "../log/logger.js";

/** A start/stop handle around one long-running async loop. */
export interface BackgroundLoop {
  /** Starts the loop (no-op when running). */
  start: () => void;
  /** Aborts the loop's signal and resolves once the loop has returned. */
  stop: () => Promise<void>;
  running: () => boolean;
}

/**
 * Runs `run(signal)` in the background until `stop()`. An unexpected rejection is logged rather
 * than left unhandled; the SQS consumer, the bucket poller and the status sweeper each hold one.
 */
export function backgroundLoop(
  run: (signal: AbortSignal) => Promise<void>,
  log: Logger,
  what: string,
): BackgroundLoop {
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  return {
    start: () => {
      if (loop !== undefined) return;
      controller = new AbortController();
      loop = run(controller.signal).catch((error: unknown) => {
        log.error({ err: (error as Error).message }, `${what} stopped unexpectedly`);
      });
    },
    stop: async () => {
      controller?.abort();
      await loop;
      loop = undefined;
      controller = undefined;
    },
    running: () => loop !== undefined,
  };
}

/** Resolves after `ms`, or at once when the loop's signal aborts, so a stop never waits out a pause. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
