import type { S3ListedObject } from "../adapters/s3/s3-adapter.js";
import type { ObjectEvent } from "./object-event.js";

/**
 * The ObjectCreated event of an object found by listing a bucket. The bucket poller and the
 * backfill both turn listings into events, so both mark them with the poller as their source.
 */
export function listedObjectEvent(bucket: string, object: S3ListedObject): ObjectEvent {
  return {
    kind: "created",
    eventName: "ObjectCreated:Put",
    bucket,
    key: object.key,
    size: object.size,
    ...(object.eTag !== "" ? { eTag: object.eTag } : {}),
    eventTime: object.lastModified.toISOString(),
    source: "poller",
  };
}
