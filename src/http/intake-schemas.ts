import { z } from "zod";
import { aemCloudEventSchema } from "../adapters/aem/cloud-events.js";
import { SnsMessage } from "../intake/sns-signature.js";

/**
 * Bodies of the intake webhooks, for the OpenAPI document. The parsers (`intake/normalize.ts`,
 * `adapters/aem/cloud-events.ts`) stay the authority: a notification is read leniently (a bad
 * record is ignored and reported in `problems`, not a 400), so these describe the envelopes only.
 */

const s3Record = z.looseObject({
  eventName: z.string().describe("ObjectCreated:* or ObjectRemoved:*; other events are counted as ignored."),
  eventTime: z.string().describe("ISO 8601"),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({
      key: z.string().describe("URL-encoded as S3 sends it (`+` is a space)."),
      size: z.number().int().nullish(),
      eTag: z.string().nullish(),
      versionId: z.string().nullish(),
      sequencer: z.string().nullish(),
    }),
  }),
});

export const s3NotificationSchema = z
  .looseObject({ Records: z.array(s3Record) })
  .describe("An S3 (or MinIO) event notification.");

export const eventBridgeS3EventSchema = z
  .looseObject({
    "detail-type": z.string().describe("Object Created or Object Deleted"),
    time: z.string(),
    detail: z.looseObject({
      bucket: z.looseObject({ name: z.string() }),
      object: z.looseObject({
        key: z.string(),
        size: z.number().int().nullish(),
        etag: z.string().nullish(),
      }),
    }),
  })
  .describe("An EventBridge S3 event (API destination).");

export const s3TestEventSchema = z
  .looseObject({ Event: z.literal("s3:TestEvent") })
  .describe("Sent by S3 when notifications are configured; acknowledged, nothing to do.");

/** What `POST /v1/events/s3` takes, as JSON or (SNS) as text/plain. */
export const intakeBodySchema = z.union([
  s3NotificationSchema,
  eventBridgeS3EventSchema,
  s3TestEventSchema,
  SnsMessage.describe("An SNS HTTP(S) delivery; its Message holds one of the others. Signature-checked."),
]);

export const intakeAcceptedSchema = z.object({
  /** Events stored in Redis (one source-watch job per object version). */
  accepted: z.number().int().min(0),
  /** Records that produced no event: other event types, malformed records. */
  ignored: z.number().int().min(0),
  /** Why malformed records were ignored (field path and problem, at most 10). */
  problems: z.array(z.string()).optional(),
});
export type IntakeAccepted = z.infer<typeof intakeAcceptedSchema>;

export const snsConfirmedSchema = z.object({ confirmed: z.literal(true) });

/** A CloudEvent in structured mode; in binary mode the attributes are `ce-*` headers. */
export const cloudEventBodySchema = aemCloudEventSchema;

export const cloudEventAcceptedSchema = z.object({
  accepted: z.literal(true),
  type: z.string(),
  /** 1 when the event named a file of an ingest. */
  matched: z.number().int().min(0),
  ingestId: z.string().optional(),
  outcome: z.string().optional(),
});

export const cloudEventDuplicateSchema = z.object({ duplicate: z.literal(true), id: z.string() });

/** The answer to an event without Authorization, whatever it led to. */
export const cloudEventReceivedSchema = z.object({ received: z.literal(true) });
