import type { Logger } from "../log/logger.js";
import type { S3Notification } from "../intake/s3rver-bridge.js";
import type { EmbeddedS3 } from "./embedded-s3.js";

/** A running relay of the embedded S3's notifications to somewhere else. */
export interface NotificationRelay {
  /** Resolves once every notification received so far has been delivered (or failed and was logged). */
  idle(): Promise<void>;
  /** Ignores notifications from now on (the embedded S3 has no way to unsubscribe), then waits for idle. */
  stop(): Promise<void>;
}

/**
 * Hands each embedded S3 notification to `deliver`. The notification callback cannot report
 * failure to anyone, so a failed delivery is logged with `failure` and never thrown; a lost
 * event is recovered by `ingest-worker replay` or `backfill`, as one lost by S3 would be.
 */
export function relayNotifications(
  s3: EmbeddedS3,
  deliver: (notification: S3Notification) => Promise<unknown>,
  log: Logger,
  failure: string,
): NotificationRelay {
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  s3.onNotification((notification) => {
    if (stopped) return;
    const work = deliver(notification).then(
      () => undefined,
      (error: unknown) => {
        log.error({ err: (error as Error).message }, failure);
      },
    );
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  const idle = async () => {
    while (inFlight.size > 0) await Promise.all([...inFlight]);
  };
  return {
    idle,
    async stop() {
      stopped = true;
      await idle();
    },
  };
}
