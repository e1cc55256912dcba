import type { Logger } from "../log/logger.js";

/**
 * Resolves on the first SIGTERM or SIGINT (logged when a logger is given). Kubernetes sends SIGTERM and waits
 * terminationGracePeriodSeconds before SIGKILL, so the caller's stop bound must be shorter.
 */
export function waitForStopSignal(log?: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      log?.info({ signal }, "stop signal received: not ready, no new jobs; waiting for active ones");
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
