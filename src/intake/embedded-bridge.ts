import { moduleLogger } from "../log/logger.js";
import type { EmbeddedS3 } from "../runtime/embedded-s3.js";
import { relayNotifications, type NotificationRelay } from "../runtime/notification-relay.js";
import { acceptNotification, type EventSink } from "./accept.js";

const log = moduleLogger("embedded-bridge");

/** A running bridge from the embedded S3's notifications into the sink. */
export type EmbeddedBridge = NotificationRelay;

/**
 * Feeds the embedded S3's notifications (already reshaped into real S3 records) through the same
 * `acceptNotification` as every other source, as source `embedded`.
 */
export function bridgeEmbeddedS3(s3: EmbeddedS3, sink: EventSink): EmbeddedBridge {
  return relayNotifications(
    s3,
    (notification) => acceptNotification(notification, "embedded", sink),
    log,
    "embedded S3 notification not accepted",
  );
}
