import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { acceptNotification, type EventSink } from "../intake/accept.js";
import { NotificationError } from "../intake/normalize.js";
import { signingCertUrlProblem, verifySnsSignature } from "../intake/sns-signature.js";
import { moduleLogger } from "../log/logger.js";
import {
  intakeAcceptedSchema,
  intakeBodySchema,
  snsConfirmedSchema,
  type IntakeAccepted,
} from "./intake-schemas.js";
import type { RouteDoc } from "./openapi.js";
import { CLOSING, problem as problemDoc, TOO_LARGE } from "./openapi-responses.js";

const log = moduleLogger("intake-http");

/** Options of {@link registerIntakeRoutes}. */
export interface IntakeRoutesOptions {
  /** `INTAKE_TOKEN`; unset: only SNS messages with a valid signature are accepted. */
  token?: string | undefined;
  sink: EventSink;
  /** Signature check of SNS deliveries (tests pass one with their own certificate fetcher). */
  verifySns?: typeof verifySnsSignature;
  /** Confirms an SNS subscription by GETting its SubscribeURL (already checked to be an SNS host). */
  fetchSubscribe?: (url: string) => Promise<void>;
}

const SNS_TYPES = new Set(["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]);
const SUBSCRIBE_TIMEOUT_MS = 5_000;

/** Compares through fixed-length digests, so neither the content nor the length of the token leaks by timing. */
function tokenMatches(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearerOf(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

/**
 * Why a SubscribeURL must not be fetched, or undefined when it may: HTTPS, no credentials, and the
 * same SNS host rule as signing certificates. A signed message from a topic we do not own could
 * otherwise make the worker GET an arbitrary (internal) URL.
 */
export function subscribeUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "SubscribeURL is not a URL";
  }
  if (parsed.protocol !== "https:") return "SubscribeURL must use https";
  if (parsed.username !== "" || parsed.password !== "") return "SubscribeURL must not carry credentials";
  // Reuses the certificate host rule (SNS host, default port) on a synthetic certificate path.
  const problem = signingCertUrlProblem(`https://${parsed.host}/host-check.pem`);
  return problem?.replace("SigningCertURL", "SubscribeURL");
}

async function defaultFetchSubscribe(url: string): Promise<void> {
  const response = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(SUBSCRIBE_TIMEOUT_MS) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`SubscribeURL answered HTTP ${response.status}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function problem(reply: FastifyReply, status: number, message: string) {
  return reply.code(status).send({ error: message });
}

const INTAKE_DOC: RouteDoc = {
  operationId: "postS3Events",
  summary: "S3 object notifications pushed over HTTP (SNS, MinIO webhook, EventBridge, a relay)",
  description:
    "Answers 202 only once the events are in Redis. Authenticated by `Authorization: Bearer <INTAKE_TOKEN>`, " +
    "or without a header by a valid SNS signature in the body (SNS deliveries, `x-amz-sns-message-type`); " +
    "a signed `SubscriptionConfirmation` is confirmed (200).",
  tags: ["intake"],
  security: [{ intakeToken: [] }, {}],
  body: {
    description: "A notification; SNS posts its JSON as text/plain",
    content: { "application/json": intakeBodySchema, "text/plain": intakeBodySchema },
  },
  responses: {
    "200": { description: "SNS subscription confirmed", schema: snsConfirmedSchema },
    "202": {
      description: "Events stored; ignored records counted, malformed ones explained",
      schema: intakeAcceptedSchema,
    },
    "400": problemDoc("Not JSON, not a notification, or an unconfirmable SubscriptionConfirmation"),
    "401": problemDoc("Wrong bearer token, no credentials, or an SNS signature that does not verify"),
    ...TOO_LARGE,
    "502": problemDoc("The SNS SubscribeURL could not be fetched"),
    "503": {
      ...CLOSING["503"],
      headers: { "Retry-After": { description: "Seconds", schema: { type: "integer" } } },
    },
  },
};

/**
 * `POST /v1/events/s3`: S3 notifications pushed over HTTP (an SNS HTTPS subscription, a MinIO
 * webhook, EventBridge API destinations, anything holding `INTAKE_TOKEN`). Answers 202 only once
 * the events are in Redis, 503 when they could not be stored (the sender retries), 401 without a
 * valid bearer token or SNS signature, 400 for a body that is not a notification, 413 above the
 * server's body limit.
 */
export async function registerIntakeRoutes(
  app: FastifyInstance,
  options: IntakeRoutesOptions,
): Promise<void> {
  const verifySns = options.verifySns ?? verifySnsSignature;
  const fetchSubscribe = options.fetchSubscribe ?? defaultFetchSubscribe;
  const token = options.token !== undefined && options.token !== "" ? options.token : undefined;

  // Own scope: SNS posts JSON as text/plain, and the raw text is parsed here so a bad body is a 400
  // with our message; other routes keep Fastify's parsers. The server's bodyLimit still applies.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => done(null, body));

    scope.post("/v1/events/s3", { config: { openapi: INTAKE_DOC } }, async (request, reply) => {
      const bearer = bearerOf(request.headers.authorization);
      if (bearer !== undefined && (token === undefined || !tokenMatches(bearer, token)))
        return problem(reply, 401, "invalid token");
      let body: unknown;
      try {
        body = JSON.parse(typeof request.body === "string" ? request.body : "") as unknown;
      } catch (error) {
        // Without credentials, say nothing about the body.
        if (bearer === undefined) return problem(reply, 401, "missing credentials");
        return problem(reply, 400, `body: not valid JSON (${(error as Error).message})`);
      }

      const snsHeader = request.headers["x-amz-sns-message-type"];
      const looksSns =
        typeof snsHeader === "string" ||
        (isObject(body) && typeof body.Type === "string" && SNS_TYPES.has(body.Type));
      if (bearer === undefined && !looksSns) return problem(reply, 401, "missing credentials");
      let signed = false;
      if (
        looksSns &&
        (bearer === undefined || (isObject(body) && body.Type === "SubscriptionConfirmation"))
      ) {
        const verdict = await verifySns(body);
        if (!verdict.ok) {
          log.warn({ reason: verdict.reason }, "SNS message refused");
          return problem(reply, 401, `SNS signature: ${verdict.reason}`);
        }
        signed = true;
      }

      let result;
      try {
        result = await acceptNotification(body, "http", options.sink);
      } catch (error) {
        if (error instanceof NotificationError) return problem(reply, 400, error.message);
        log.error({ err: (error as Error).message }, "intake could not store events");
        return reply
          .header("retry-after", "5")
          .code(503)
          .send({ error: "events could not be stored; retry" });
      }

      if (result.subscribeUrl !== undefined) {
        // Only a signed confirmation is honoured (checked above), and only toward an SNS host.
        const urlProblem = subscribeUrlProblem(result.subscribeUrl);
        if (!signed || urlProblem !== undefined) {
          log.warn({ reason: urlProblem ?? "unsigned" }, "SNS subscription not confirmed");
          return problem(reply, 400, urlProblem ?? "SubscriptionConfirmation needs a valid SNS signature");
        }
        try {
          await fetchSubscribe(result.subscribeUrl);
        } catch (error) {
          log.warn({ err: (error as Error).message }, "SNS subscription confirmation failed");
          return problem(reply, 502, "subscription confirmation failed");
        }
        log.info("SNS subscription confirmed");
        return reply.code(200).send({ confirmed: true });
      }
      const accepted: IntakeAccepted = {
        accepted: result.accepted,
        ignored: result.ignored,
        ...(result.problems.length > 0 ? { problems: result.problems } : {}),
      };
      return reply.code(202).send(accepted);
    });
  });
}
