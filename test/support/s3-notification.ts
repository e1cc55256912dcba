/** One object of a notification; `size` defaults to 1. */
export interface NotifiedObject {
  key: string;
  eTag: string;
  size?: number;
  sequencer?: string;
  versionId?: string;
}

/**
 * An S3 event notification (`Records[]`, event version 2.1) of `ObjectCreated:Put` for each object
 * of `bucket`. Keys go in as given: encode them first where a test needs S3's own key encoding.
 */
export function s3PutNotification(
  bucket: string,
  objects: NotifiedObject[],
  eventTime: string = new Date().toISOString(),
): { Records: unknown[] } {
  return {
    Records: objects.map(({ size = 1, ...object }) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      eventTime,
      eventName: "ObjectCreated:Put",
      s3: { bucket: { name: bucket }, object: { size, ...object } },
    })),
  };
}
