import { createHash, timingSafeEqual } from "node:crypto";
import type { Queue } from "bullmq";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import { z } from "zod";
import {
  InvalidCloudEventError,
  parseAemCloudEvent,
  type AemCloudEvent,
} from "../adapters/aem/cloud-events.js";
import { moduleLogger } from "../log/logger.js";
import { aemEventHints } from "../metrics/aem-event-metrics.js";
import {
  aemFileIndexKey,
  aemPathIndexKey,
  markAemFileImported,
  type MarkFileOutcome,
} from "../processors/aem/aem-files.js";
import { hurryAemPoll } from "../processors/aem/aem-poll.js";
import type { RecordStore } from "../records/record-store.js";
import {
  cloudEventAcceptedSchema,
  cloudEventBodySchema,
  cloudEventDuplicateSchema,
  cloudEventReceivedSchema,
} from "./intake-schemas.js";
import type { RouteDoc } from "./openapi.js";
import { CLOSING, problem as problemDoc, TOO_LARGE } from "./openapi-responses.js";
import { TokenBucket } from "./token-bucket.js";

/** What the CloudEvents intake needs. */
export interface CloudEventRoutesOptions {
  /**
   * `INTAKE_TOKEN`. An event sent with it is trusted and acted on directly; a request with any
   * other Authorization (or any Authorization while it is unset) is refused with 401.
   */
  token?: string;
  records: RecordStore;
  redis: Redis;
  prefix: string;
  /** The `aem-poll` queue: an event without a token may only make the poll of its AEM job run now. */
  aemPoll?: Queue;
  /** Hints that may hurry a poll (AEM_EVENT_HINTS_PER_SECOND, AEM_EVENT_HINT_BURST). */
  hintRate?: { perSecond: number; burst: number };
  /** Clock of the hint rate limit; injected in tests. */
  now?: () => number;
  /**
   * Every partition (PARTITIONS), when there are several; `records`, `prefix` and `aemPoll` are
   * then the first one's. An event names an AEM job or path, not a partition, so its ingest is
   * looked up in each.
   */
  partitions?: readonly CloudEventPartition[];
}

/** One partition's records, key prefix and aem-poll queue. */
export interface CloudEventPartition {
  records: RecordStore;
  prefix: string;
  aemPoll?: Queue;
}

function partitionsOf(options: CloudEventRoutesOptions): readonly CloudEventPartition[] {
  return (
    options.partitions ?? [
      {
        records: options.records,
        prefix: options.prefix,
        ...(options.aemPoll ? { aemPoll: options.aemPoll } : {}),
      },
    ]
  );
}

export const CLOUDEVENTS_PATH = "/v1/events/cloudevents";
const PROCESSING_COMPLETED = "aem.assets.asset.processing_completed";
/** Senders retry for about a day; a duplicate after two is not one the sender still means. */
const DEDUPE_SECONDS = 2 * 24 * 3600;
/** The defaults of AEM_EVENT_HINTS_PER_SECOND and AEM_EVENT_HINT_BURST. */
const DEFAULT_HINT_RATE = { perSecond: 10, burst: 50 };

const log = moduleLogger("cloudevents");

const CLOUDEVENTS_DOC: RouteDoc = {
  operationId: "postCloudEvents",
  summary: "AEM CloudEvents 1.0 (structured or binary mode), e.g. processing_completed",
  description:
    "With `Authorization: Bearer <INTAKE_TOKEN>` the event is trusted: deduplicated by (source, id), acted on (202). " +
    "Without Authorization (AEM's own webhook, seed 003: Security None) only an AEM event is taken, as a " +
    "rate-limited hint to poll AEM now, and always answered 200 with the same body.",
  tags: ["intake"],
  security: [{ intakeToken: [] }, {}],
  body: {
    description: "Structured mode; in binary mode the attributes are ce-* headers and the body is the data",
    content: {
      "application/cloudevents+json": cloudEventBodySchema,
      "application/json": cloudEventBodySchema,
    },
  },
  responses: {
    "200": {
      description: "Without Authorization: received (whatever it led to); with the token: a duplicate",
      schema: z.union([cloudEventReceivedSchema, cloudEventDuplicateSchema]),
    },
    "202": { description: "Trusted event handled", schema: cloudEventAcceptedSchema },
    "400": problemDoc("With the token: not an AEM CloudEvent (the parser says why)"),
    "401": problemDoc(
      "Wrong token, INTAKE_TOKEN unset, or without Authorization a body that is not an AEM event",
    ),
    ...TOO_LARGE,
    ...CLOSING,
  },
};

/**
 * What a `processing_completed` event's data says about the file. The seed leaves `data` open; AEM
 * sends `repositoryMetadata` (`repo:name`, `repo:path`); a relay may add `importJobId`.
 */
const eventDataSchema = z.looseObject({
  importJobId: z.string().min(1).optional(),
  repositoryMetadata: z
    .looseObject({
      "repo:name": z.string().min(1).optional(),
      "repo:path": z.string().min(1).optional(),
    })
    .optional(),
});

/** The reply body of an accepted event. */
interface Accepted {
  accepted: true;
  type: string;
  matched: number;
  ingestId?: string;
  outcome?: MarkFileOutcome;
}

/** What an event without the token led to (the label of `ingest_aem_event_hints_total`). */
type HintOutcome = "promoted" | "pending" | "limited" | "unmatched" | "ignored";

function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match?.[1]) return false;
  // Digests first: equal lengths for timingSafeEqual, and no early exit on the first wrong byte.
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(match[1]), digest(token));
}

/**
 * `POST /v1/events/cloudevents`: AEM CloudEvents 1.0 in structured or binary mode, from AEM itself
 * or from a relay holding the intake token.
 *
 * With `Authorization: Bearer <INTAKE_TOKEN>` an event is trusted: deduplicated by (source, id) as
 * the seed asks (200 for a duplicate), 400 with the parser's message for anything that is not an
 * AEM event, 202 once handled; a `processing_completed` marks its file imported, and the ingest
 * completed when it was the last file.
 *
 * Without an Authorization header it is what AEM sends (seed 003: webhooks are "Security None",
 * `application/json`, answered 200), and anyone could send the same, so it is never trusted to
 * change state: a `processing_completed` naming a file of an open AEM ingest only makes that AEM
 * job's poll run now, and the poll reads the job from AEM (authenticated) and acts on what AEM
 * says. Such hints are rate-limited (over the limit they are answered alike and counted, and AEM is
 * not read sooner), write nothing to Redis but a "look again soon" mark for a poll that is already
 * reading (one key per open AEM job), and are always answered 200 with the same body, so the
 * answer tells a stranger nothing. A body that is not an AEM event gets 401. Polling stays the
 * fallback for lost or dropped events.
 */
export async function registerCloudEventRoutes(
  app: FastifyInstance,
  options: CloudEventRoutesOptions,
): Promise<void> {
  const bucket = new TokenBucket({
    ...(options.hintRate ?? DEFAULT_HINT_RATE),
    ...(options.now ? { now: options.now } : {}),
  });
  await app.register(async (scope) => {
    // Binary mode carries any content type, and structured mode a JSON one the default parser does
    // not know: read every body as bytes and let the CloudEvents parser say what is wrong with it.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    scope.post(CLOUDEVENTS_PATH, { config: { openapi: CLOUDEVENTS_DOC } }, (request, reply) =>
      handle(options, bucket, request, reply),
    );
  });
}

async function handle(
  options: CloudEventRoutesOptions,
  bucket: TokenBucket,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const authorization = request.headers.authorization;
  if (authorization === undefined || authorization.trim() === "")
    return hint(options, bucket, request, reply);
  const token = options.token !== undefined && options.token !== "" ? options.token : undefined;
  if (token === undefined || !bearerMatches(authorization, token)) {
    // A caller that tried to authenticate and failed is told so rather than demoted to a hint.
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="ingest-worker"')
      .send({
        error:
          token === undefined
            ? "INTAKE_TOKEN is unset: CloudEvents with an Authorization header are refused until it is configured"
            : "unauthorized: send Authorization: Bearer <INTAKE_TOKEN>",
      });
  }
  let event: AemCloudEvent;
  try {
    event = parseAemCloudEvent(request.body ?? "", request.headers);
  } catch (error) {
    if (error instanceof InvalidCloudEventError) return reply.code(400).send({ error: error.message });
    throw error;
  }
  const seenKey = `${options.prefix}:ce:${createHash("sha256").update(`${event.source}\n${event.id}`).digest("hex")}`;
  const first = await options.redis.set(seenKey, String(Date.now()), "EX", DEDUPE_SECONDS, "NX");
  if (first === null) return reply.code(200).send({ duplicate: true, id: event.id });
  try {
    return reply.code(202).send(await apply(options, event));
  } catch (error) {
    // Not handled: forget the event so the sender's retry is not taken for a duplicate.
    await options.redis.del(seenKey);
    throw error;
  }
}

/** An event without credentials: AEM's own delivery, or a forgery; either way only a hint. */
async function hint(
  options: CloudEventRoutesOptions,
  bucket: TokenBucket,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  let event: AemCloudEvent;
  try {
    event = parseAemCloudEvent(request.body ?? "", request.headers);
  } catch (error) {
    if (!(error instanceof InvalidCloudEventError)) throw error;
    // Only AEM events are taken without credentials; for anything else the route is closed.
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="ingest-worker"')
      .send({
        error: `without Authorization only AEM CloudEvents are accepted (${error.message}); send anything else with Bearer <INTAKE_TOKEN>`,
      });
  }
  const outcome = await hintOutcome(options, bucket, event);
  aemEventHints.inc({ outcome });
  log.debug({ eventId: event.id, type: event.type, outcome }, "AEM event without token");
  // The seed's answer, whatever happened: an AEM retry would change nothing, and a forger learns nothing.
  return reply.code(200).send({ received: true });
}

async function hintOutcome(
  options: CloudEventRoutesOptions,
  bucket: TokenBucket,
  event: AemCloudEvent,
): Promise<HintOutcome> {
  if (event.type !== PROCESSING_COMPLETED) return "ignored";
  const match = await ingestOfEvent(options, event);
  // A late event for an ingest that already ended takes no token from the ones still open.
  if (match === undefined || (await match.partition.records.isTerminal(match.ingestId))) return "unmatched";
  // Before reading the record: over the limit a hint costs two small reads and no AEM request.
  if (!bucket.take()) return "limited";
  const { records, aemPoll, prefix } = match.partition;
  const aemJobId = (await records.get(match.ingestId))?.upstream.aemJobId;
  if (aemJobId === undefined || aemPoll === undefined) return "unmatched";
  // The job id comes from the record, not the event: the poll reads the job this worker imported.
  const hurried = await hurryAemPoll({ queue: aemPoll, redis: options.redis, prefix }, aemJobId);
  return hurried === "missing" ? "unmatched" : hurried;
}

/**
 * The ingest an event's file belongs to. The job and file name identify the import exactly; the
 * DAM path alone points at the newest ingest imported there, which is the one an event without a
 * job id (AEM's own) is most likely about.
 */
async function ingestOfEvent(
  options: CloudEventRoutesOptions,
  event: AemCloudEvent,
): Promise<{ ingestId: string; name: string; partition: CloudEventPartition } | undefined> {
  const parsed = eventDataSchema.safeParse(event.data);
  if (!parsed.success) return undefined;
  const { importJobId, repositoryMetadata } = parsed.data;
  const path = repositoryMetadata?.["repo:path"];
  const name = repositoryMetadata?.["repo:name"] ?? path?.split("/").pop();
  if (name === undefined) return undefined;
  for (const partition of partitionsOf(options)) {
    let ingestId: string | null = null;
    if (importJobId !== undefined)
      ingestId = await options.redis.get(aemFileIndexKey(partition.prefix, importJobId, name));
    if (ingestId === null && path !== undefined)
      ingestId = await options.redis.get(aemPathIndexKey(partition.prefix, path));
    if (ingestId !== null) return { ingestId, name, partition };
  }
  return undefined;
}

async function apply(options: CloudEventRoutesOptions, event: AemCloudEvent): Promise<Accepted> {
  const accepted: Accepted = { accepted: true, type: event.type, matched: 0 };
  if (event.type !== PROCESSING_COMPLETED) return accepted;
  const match = await ingestOfEvent(options, event);
  if (match === undefined) return accepted;
  const { ingestId, name } = match;
  const outcome = await markAemFileImported(options.redis, match.partition.records, ingestId, name);
  log.info({ ingestId, eventId: event.id, file: name, outcome }, "AEM processing_completed");
  return { ...accepted, matched: 1, ingestId, outcome };
}
