import { setTimeout as delay } from "node:timers/promises";
import { Pool } from "undici";
import type { Dispatcher } from "undici";
import type { ZodType } from "zod";
import { withUpstreamMetrics } from "../../metrics/upstream-metrics.js";
import { noAuth, type AuthProvider } from "./auth/auth-provider.js";
import { DEFAULT_RETRY_POLICY, nextRetryDelay, parseRetryAfter, type RetryPolicy } from "./backoff.js";
import { readBoundedText, ResponseTooLargeError } from "./read-body.js";
import { classifyTransportError } from "./transport-errors.js";
import { bodyExcerpt, isUpstreamError, UpstreamError } from "./upstream-error.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A query parameter; arrays repeat the key, undefined drops it. */
export type QueryValue = string | number | boolean | undefined | readonly (string | number)[];

/** Everything that shapes how one upstream origin is called. Durations in milliseconds. */
export interface UpstreamHttpSettings {
  /** Metric label and error field, e.g. `ais`, `status`, `images`. */
  upstream: string;
  /** Origin plus an optional path prefix, e.g. `https://t.asset-importer.prod.vmnd.tv`. */
  baseUrl: string;
  auth?: AuthProvider;
  /** Sent with every request (the Status API's `X-Vimond-Tenant` goes here). */
  defaultHeaders?: Record<string, string>;
  /** Cap on keep-alive connections to this origin. Default 10. */
  connections?: number;
  /** Idle time before a kept-alive socket is closed. Default 10 s. */
  keepAliveTimeoutMs?: number;
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Time to wait for the response headers. Default 30 s. */
  headersTimeoutMs?: number;
  /** Longest gap between body chunks. Default 30 s. */
  bodyTimeoutMs?: number;
  /** Responses larger than this abort with `too_large`. Default 8 MiB. */
  maxResponseBytes?: number;
  retry?: Partial<RetryPolicy>;
  /** Injected in tests to observe backoff waits without spending them. */
  sleep?: (ms: number) => Promise<void>;
  /** Random source in [0, 1) for jitter; injected in tests. */
  random?: () => number;
  /** Clock for the total retry budget; injected in tests. */
  now?: () => number;
}

/** One logical call; the client may turn it into several attempts. */
export interface UpstreamRequest<T> {
  /** Metric label, e.g. `pushFeed`, `getImportJob` (the seed's operationId where it has one). */
  operation: string;
  method: HttpMethod;
  /** Path below the base URL, starting with `/`; callers encode path parameters. */
  path: string;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  /** Raw body; set `content-type` in `headers`. */
  body?: string | Uint8Array;
  /** Serialized as JSON with `content-type: application/json`; ignored when `body` is set. */
  json?: unknown;
  /**
   * Validates the parsed body of every expected response (an empty body parses as undefined).
   * When several statuses are expected, the schema must accept each of their bodies.
   */
  schema?: ZodType<T>;
  /**
   * Whether repeating the request is harmless. Defaults to true for GET, HEAD, PUT and DELETE.
   * A non-idempotent request is retried only after failures that prove it had no effect (429,
   * 408, a refused connection); one that failed after it may have been sent surfaces as
   * `ambiguous`.
   */
  idempotent?: boolean;
  /** Statuses that count as success. Default: any 2xx. */
  expect?: readonly number[];
  /** Keep no body excerpt on errors (token endpoints: their bodies are credentials). */
  sensitiveResponse?: boolean;
}

/** A successful (expected) response. */
export interface UpstreamResponse<T> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON (validated when a schema was given); undefined for an empty or non-JSON body. */
  body: T;
  rawText: string;
}

/** A client bound to one upstream origin with its own connection pool. */
export interface UpstreamClient {
  readonly upstream: string;
  readonly baseUrl: string;
  request<T = unknown>(request: UpstreamRequest<T>): Promise<UpstreamResponse<T>>;
  /** Waits for in-flight requests and closes the pool. */
  close(): Promise<void>;
}

const IDEMPOTENT_METHODS = new Set<HttpMethod>(["GET", "HEAD", "PUT", "DELETE"]);

type AttemptOutcome<T> =
  | { kind: "ok"; status: number; response: UpstreamResponse<T> }
  | { kind: "status"; status: number; headers: Record<string, string | string[] | undefined>; text: string };

/** Creates the client for one upstream origin. */
export function createUpstreamClient(settings: UpstreamHttpSettings): UpstreamClient {
  const base = new URL(settings.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const auth = settings.auth ?? noAuth;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...settings.retry };
  const maxResponseBytes = settings.maxResponseBytes ?? 8 * 1024 * 1024;
  const sleep = settings.sleep ?? ((ms: number) => delay(ms));
  const random = settings.random ?? Math.random;
  const now = settings.now ?? Date.now;
  const defaultHeaders = lowerCaseKeys({
    "user-agent": "ingest-worker",
    accept: "application/json",
    ...settings.defaultHeaders,
  });
  const pool = new Pool(base.origin, {
    connections: settings.connections ?? 10,
    keepAliveTimeout: settings.keepAliveTimeoutMs ?? 10_000,
    connectTimeout: settings.connectTimeoutMs ?? 5_000,
    headersTimeout: settings.headersTimeoutMs ?? 30_000,
    bodyTimeout: settings.bodyTimeoutMs ?? 30_000,
  });

  async function attemptOnce<T>(
    request: UpstreamRequest<T>,
    authorization: string | undefined,
    idempotent: boolean,
  ): Promise<AttemptOutcome<T>> {
    const secrets = secretsOf(authorization);
    const fail = (details: {
      status: UpstreamError["status"];
      retryable: boolean;
      ambiguous: boolean;
      text?: string;
      cause?: unknown;
    }): UpstreamError =>
      new UpstreamError({
        upstream: settings.upstream,
        operation: request.operation,
        attempts: 1,
        status: details.status,
        retryable: details.retryable,
        ambiguous: details.ambiguous,
        cause: details.cause,
        ...excerptOf(details.text, request.sensitiveResponse, secrets),
      });

    let response: Dispatcher.ResponseData;
    try {
      response = await pool.request({
        method: request.method,
        path: buildPath(basePath, request.path, request.query),
        headers: requestHeaders(defaultHeaders, request, authorization),
        body: requestBody(request),
      });
    } catch (error) {
      const failure = classifyTransportError(error);
      throw fail({
        status: failure.kind,
        retryable: failure.retryable,
        ambiguous: failure.maybeSent && !idempotent,
        cause: causeOf(error),
      });
    }

    let text: string;
    try {
      text = await readBoundedText(response.body, response.headers["content-length"], maxResponseBytes);
    } catch (error) {
      // The server answered, so a non-idempotent request was processed whatever the body said.
      if (error instanceof ResponseTooLargeError) {
        throw fail({ status: "too_large", retryable: false, ambiguous: !idempotent, cause: error });
      }
      const failure = classifyTransportError(error);
      throw fail({
        status: failure.kind,
        retryable: failure.retryable,
        ambiguous: !idempotent,
        cause: causeOf(error),
      });
    }

    const status = response.statusCode;
    const headers = response.headers;
    if (!isExpected(status, request.expect)) return { kind: "status", status, headers, text };

    let parsed: unknown;
    try {
      parsed = parseBody(text, headers["content-type"], request.schema !== undefined);
    } catch (error) {
      throw fail({
        status: "invalid_response",
        retryable: false,
        ambiguous: !idempotent,
        text,
        cause: error,
      });
    }
    let body = parsed as T;
    if (request.schema) {
      const result = request.schema.safeParse(parsed);
      if (!result.success) {
        throw fail({
          status: "invalid_response",
          retryable: false,
          ambiguous: !idempotent,
          text,
          cause: result.error,
        });
      }
      body = result.data;
    }
    return { kind: "ok", status, response: { status, headers, body, rawText: text } };
  }

  async function request<T = unknown>(request: UpstreamRequest<T>): Promise<UpstreamResponse<T>> {
    const idempotent = request.idempotent ?? IDEMPOTENT_METHODS.has(request.method);
    const started = now();
    let attempts = 0;
    let retries = 0;
    let reauthenticated = false;

    for (;;) {
      attempts += 1;
      const authorization = await auth.header();
      let failure: UpstreamError;
      try {
        const outcome = await withUpstreamMetrics(
          settings.upstream,
          request.operation,
          () => attemptOnce(request, authorization, idempotent),
          (result) => result.status,
          (error) => (isUpstreamError(error) ? error.status : "error"),
        );
        if (outcome.kind === "ok") return outcome.response;
        // A 401 means the request had no effect, so one retry with a fresh token is safe for
        // every method; a second 401 is a real authorization problem.
        if (outcome.status === 401 && authorization !== undefined && !reauthenticated) {
          reauthenticated = true;
          auth.invalidate();
          continue;
        }
        failure = statusError(settings.upstream, request, outcome, idempotent, authorization, now());
      } catch (error) {
        if (!isUpstreamError(error)) throw error;
        failure = error;
      }

      // A non-idempotent request is repeated only when it provably had no effect (a 429 or 408,
      // or a connection that never opened); one that may have landed surfaces as ambiguous.
      const wait =
        failure.retryable && (idempotent || !failure.ambiguous) && retries + 1 < policy.maxAttempts
          ? nextRetryDelay(retries, policy, failure.retryAfterMs, random)
          : undefined;
      if (wait === undefined || now() - started + wait > policy.maxTotalMs) {
        throw failure.withAttempts(attempts);
      }
      retries += 1;
      await sleep(wait);
    }
  }

  return {
    upstream: settings.upstream,
    baseUrl: settings.baseUrl,
    request,
    close: () => pool.close(),
  };
}

function statusError<T>(
  upstream: string,
  request: UpstreamRequest<T>,
  outcome: Extract<AttemptOutcome<T>, { kind: "status" }>,
  idempotent: boolean,
  authorization: string | undefined,
  nowMs: number,
): UpstreamError {
  const { status } = outcome;
  const serverError = status >= 500 && status !== 501;
  // 429 and 408 mean the server did not process the request; a 5xx may have half-applied it.
  const retryable = serverError || status === 429 || status === 408;
  const retryAfterMs = parseRetryAfter(outcome.headers["retry-after"], nowMs);
  return new UpstreamError({
    upstream,
    operation: request.operation,
    status,
    retryable,
    ambiguous: status >= 500 && !idempotent,
    attempts: 1,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...excerptOf(outcome.text, request.sensitiveResponse, secretsOf(authorization)),
  });
}

function isExpected(status: number, expect: readonly number[] | undefined): boolean {
  return expect ? expect.includes(status) : status >= 200 && status < 300;
}

function parseBody(text: string, contentType: string | string[] | undefined, wantJson: boolean): unknown {
  const type = (Array.isArray(contentType) ? contentType[0] : contentType) ?? "";
  if (text.trim() === "") return undefined;
  // Servers mislabel JSON often enough that a schema is taken as the caller's word that it is JSON.
  if (/[/+]json\b/i.test(type) || wantJson) return JSON.parse(text) as unknown;
  return undefined;
}

function buildPath(basePath: string, path: string, query: Record<string, QueryValue> | undefined): string {
  if (!path.startsWith("/")) throw new TypeError(`upstream path must start with "/": ${path}`);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    const values: readonly (string | number | boolean)[] = Array.isArray(value) ? value : [value];
    for (const item of values) params.append(key, String(item));
  }
  const search = params.toString();
  if (search === "") return basePath + path;
  return `${basePath}${path}${path.includes("?") ? "&" : "?"}${search}`;
}

function requestHeaders<T>(
  defaults: Record<string, string>,
  request: UpstreamRequest<T>,
  authorization: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { ...defaults };
  if (request.body === undefined && request.json !== undefined) headers["content-type"] = "application/json";
  Object.assign(headers, lowerCaseKeys(request.headers ?? {}));
  if (authorization !== undefined) headers.authorization = authorization;
  return headers;
}

function requestBody<T>(request: UpstreamRequest<T>): string | Uint8Array | undefined {
  if (request.body !== undefined) return request.body;
  if (request.json !== undefined) return JSON.stringify(request.json);
  return undefined;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
}

/** The header value and the bare token: either may be echoed back in an error body. */
function secretsOf(authorization: string | undefined): string[] {
  if (authorization === undefined) return [];
  const space = authorization.indexOf(" ");
  return space > 0 ? [authorization, authorization.slice(space + 1)] : [authorization];
}

function excerptOf(
  text: string | undefined,
  sensitive: boolean | undefined,
  secrets: readonly string[],
): { bodyExcerpt?: string } {
  if (text === undefined || sensitive) return {};
  const excerpt = bodyExcerpt(text, secrets);
  return excerpt === undefined ? {} : { bodyExcerpt: excerpt };
}

/**
 * Keeps only the code and message of a transport error: undici errors can reference sockets and
 * request objects, which have no place in logs or job records.
 */
function causeOf(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
}
