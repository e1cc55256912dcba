import { z } from "zod";
import {
  boolean,
  doc,
  httpUrl,
  httpUrlList,
  integer,
  list,
  oneOf,
  optionalPort,
  optionalText,
  port,
  redisUrl,
  text,
} from "./env-fields.js";

/** A REDIS_CLUSTER_NODES item: `host:port` or `[v6]:port`. */
const CLUSTER_NODE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** Upstreams that routes can target or that the chain calls; each has the same family of settings. */
export const UPSTREAMS = ["AIS", "STATUS", "IMAGES", "AEM", "ASSETS", "ASSET_BIND"] as const;
export type UpstreamKey = (typeof UPSTREAMS)[number];

const UPSTREAM_NAMES: Record<UpstreamKey, string> = {
  AIS: "the Vimond Asset Importer Service",
  STATUS: "the VIA Orchestrate Status API",
  IMAGES: "the Vimond Image Service",
  AEM: "the AEM Assets Import API",
  ASSETS: "the Asset Management API",
  ASSET_BIND: "the asset REST API that binds image packs to assets",
};

function upstreamFields(key: UpstreamKey) {
  const name = UPSTREAM_NAMES[key];
  return {
    [`${key}_BASE_URL`]: doc(httpUrl(), `Base URL of ${name}. Required when a route needs it.`),
    [`${key}_TOKEN`]: doc(optionalText(), `Static bearer token for ${name}.`),
    [`${key}_TOKEN_FILE`]: doc(
      optionalText(),
      `File holding the bearer token for ${name}; re-read when it changes (mounted secrets).`,
    ),
    [`${key}_OAUTH_TOKEN_URL`]: doc(
      httpUrl(),
      `OAuth2 token endpoint for ${name} (client credentials); used instead of a static token.`,
    ),
    [`${key}_CLIENT_ID`]: doc(optionalText(), `OAuth2 client id for ${name}.`),
    [`${key}_CLIENT_SECRET`]: doc(optionalText(), `OAuth2 client secret for ${name}.`),
    [`${key}_TIMEOUT_MS`]: doc(integer(15_000, 100), `Per-request timeout towards ${name}, in ms.`),
  } as const;
}

const upstreamShape = Object.assign({}, ...UPSTREAMS.map(upstreamFields)) as Record<
  `${UpstreamKey}_${"BASE_URL" | "OAUTH_TOKEN_URL"}`,
  ReturnType<typeof httpUrl>
> &
  Record<
    `${UpstreamKey}_${"TOKEN" | "TOKEN_FILE" | "CLIENT_ID" | "CLIENT_SECRET"}`,
    ReturnType<typeof optionalText>
  > &
  Record<`${UpstreamKey}_TIMEOUT_MS`, ReturnType<typeof integer>>;

/**
 * Every environment variable the worker reads. Defaults suit a laptop: local Redis, no upstreams.
 * Settings of an upstream are checked only when a route targets it (see `requireUpstreams`).
 */
export const envSchema = z.object({
  LOG_LEVEL: doc(oneOf(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"), "Log level."),
  HTTP_PORT: doc(port(8080), "Port of the worker's HTTP server (health, metrics, intake, ingests API)."),
  HTTP_HOST: doc(text("0.0.0.0"), "Address the HTTP server binds to."),
  ADMIN_PORT: doc(
    optionalPort(),
    "Port of a second HTTP server for operators: /metrics, Bull Board, the ingests and queues API (and /healthz, /readyz, the OpenAPI document); those then leave HTTP_PORT, which keeps health and the intake webhooks. Unset: everything on HTTP_PORT.",
  ),
  ADMIN_HOST: doc(optionalText(), "Address the ADMIN_PORT server binds to. Unset: HTTP_HOST."),
  OPENAPI_SERVER_URL: doc(
    httpUrl(),
    "The `servers` URL of GET /v1/openapi.json (how clients reach the worker, e.g. through an ingress). Unset: `/`, the host that served the document.",
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: doc(
    httpUrl(),
    "OpenTelemetry collector (OTLP/HTTP, e.g. http://otel-collector:4318): when set, `run` exports one trace per package (docs/operations.md, Tracing); unset: no tracing SDK is loaded. The other OTEL_EXPORTER_OTLP_* variables (headers, timeout, a traces-only endpoint) are read by the exporter itself.",
  ),
  OTEL_SERVICE_NAME: doc(text("ingest-worker"), "The `service.name` of exported spans."),
  REDIS_URL: doc(redisUrl("redis://127.0.0.1:6379"), "Redis for the queues and ingest records (noeviction)."),
  REDIS_CLUSTER_NODES: doc(
    list((item) => CLUSTER_NODE.test(item), "a comma-separated list of host:port"),
    "Seed nodes of a Redis Cluster (host:port,…); when set, the worker connects in cluster mode and REDIS_URL only lends its credentials and TLS.",
  ),
  QUEUE_PREFIX: doc(
    text("{ingest}"),
    "Prefix of every Redis key; keep the {hash tag} so a Redis Cluster puts them on one slot.",
  ),
  PARTITIONS: doc(
    integer(1, 1, 64),
    "Key spaces the chain is split into ({ingest-0} … {ingest-N-1}), so a Redis Cluster spreads the load over its masters; a package stays in one. Change it only with `ingest-worker partitions migrate` (docs/operations.md, Partitions).",
  ),
  WORKER_CONCURRENCY: doc(integer(16, 1, 1000), "Jobs each step's worker runs at once in this process."),
  JOB_LOCK_MS: doc(
    integer(30_000, 1000, 3_600_000),
    "Lock of an active job, renewed at half its length; a killed worker's jobs run again once it lapses.",
  ),
  STALLED_INTERVAL_MS: doc(
    integer(30_000, 500, 3_600_000),
    "How often each worker looks for jobs whose lock lapsed (stalled) and puts them back to wait.",
  ),
  SHUTDOWN_TIMEOUT_MS: doc(
    integer(20_000, 0),
    "How long SIGTERM waits for active jobs before closing; keep below the pod's grace period.",
  ),
  SHUTDOWN_DELAY_MS: doc(
    integer(0, 0, 600_000),
    "After SIGTERM, how long /readyz answers 503 while everything still runs, before workers stop and the intake closes (lets load balancers stop routing here; a preStop sleep does the same before SIGTERM).",
  ),
  ROUTES_FILE: doc(
    optionalText(),
    "Routes file (JSON or YAML). Without one, events are counted as unrouted.",
  ),
  INTAKE_TOKEN: doc(
    optionalText(),
    "Bearer token accepted by POST /v1/events/s3 and /v1/events/cloudevents.",
  ),
  INTAKE_BODY_LIMIT_BYTES: doc(integer(1_048_576, 1024), "Largest intake request body; larger → 413."),
  API_TOKEN: doc(optionalText(), "Bearer token for the ingests API and Bull Board. Unset: those are closed."),
  BOARD_READ_ONLY: doc(boolean(true), "Bull Board without retry/remove buttons."),
  S3_REGION: doc(text("us-east-1"), "Region of the source buckets."),
  S3_ENDPOINT: doc(httpUrl(), "S3-compatible endpoint (MinIO, s3rver); unset for AWS S3."),
  S3_FORCE_PATH_STYLE: doc(boolean(false), "Path-style bucket addressing (on by default for S3_ENDPOINT)."),
  PRESIGN_EXPIRY_SECONDS: doc(
    integer(21_600, 60, 604_800),
    "Lifetime of presigned GET URLs handed to upstreams (max 7 days).",
  ),
  SIDECAR_MAX_BYTES: doc(integer(1_048_576, 1024), "Largest sidecar (manifest) the worker reads."),
  SQS_QUEUE_URL: doc(httpUrl(), "SQS queue receiving S3 notifications; unset disables the SQS consumer."),
  SQS_ENDPOINT: doc(httpUrl(), "SQS-compatible endpoint (the simulator, LocalStack); unset for AWS."),
  SQS_WAIT_SECONDS: doc(integer(20, 0, 20), "Long-poll wait of each SQS receive."),
  SQS_VISIBILITY_SECONDS: doc(integer(120, 1, 43_200), "Visibility timeout for received SQS messages."),
  POLL_BUCKETS: doc(
    list(),
    "Buckets (bucket or bucket/prefix) to poll with ListObjectsV2 when they send no notifications.",
  ),
  POLL_INTERVAL_MS: doc(integer(60_000, 1000), "Interval of the bucket poller."),
  ATOM_BATCH_MAX_ENTRIES: doc(integer(50, 1, 1000), "Most entries in one Atom push."),
  ATOM_BATCH_MAX_WAIT_MS: doc(
    integer(250, 0, 60_000),
    "Longest an entry waits for others to share its push.",
  ),
  POLL_INITIAL_DELAY_MS: doc(integer(2000, 10), "First delay before polling an import job or ingest."),
  POLL_MAX_DELAY_MS: doc(integer(60_000, 100), "Cap of the exponential polling delay."),
  STUCK_DEADLINE_SECONDS: doc(
    integer(21_600, 1),
    "An ingest not finished after this long is failed as stuck.",
  ),
  STATUS_SWEEP: doc(
    boolean(true),
    "Follow video ingests with one bulk GET /ingests sweep per tenant instead of one poll per ingest (docs/operations.md, Status sweeps); false polls per ingest.",
  ),
  STATUS_SWEEP_INTERVAL_MS: doc(integer(30_000, 10), "Interval of the status sweep (STATUS_SWEEP)."),
  STATUS_SWEEP_FALLBACK_MS: doc(
    integer(150_000, 10),
    "With STATUS_SWEEP, how long an ingest waits for a sweep before it reads its own status once (no ingest left unpolled when no sweeper runs).",
  ),
  STATUS_SWEEP_PAGE_LIMIT: doc(integer(100, 1, 1000), "The limit of each GET /ingests page a sweep reads."),
  STATUS_SWEEP_MAX_PAGES: doc(
    integer(200, 1, 100_000),
    "Most pages one sweep reads; awaited ingests it does not reach fall back to their own reads.",
  ),
  TASK_RETRY_MAX: doc(integer(3, 0, 20), "Retries of a failed import task with a transient error."),
  MANIFEST_WAIT_SECONDS: doc(
    integer(3600, 1),
    "How long a manifest waits for the objects it names before its ingest fails.",
  ),
  NOTIFY_URLS: doc(httpUrlList(), "URLs that get a CloudEvent when an ingest completes or fails."),
  NOTIFY_SECRET: doc(optionalText(), "HMAC-SHA256 key signing notifications."),
  AIS_COMPANY_ID: doc(
    optionalText(),
    "Publisher (companyId) whose media feeds the AIS job and task paths name; a route may override it.",
  ),
  VIMOND_TENANT: doc(
    optionalText(),
    "Tenant of the Vimond platform; the default of STATUS_TENANT and IMAGES_CACHE_TENANT (unset: IMAGES_CACHE_TENANT, else vimond).",
  ),
  STATUS_TENANT: doc(
    optionalText(),
    "Sent as X-Vimond-Tenant with every Status API request (seed 002); unset: VIMOND_TENANT, else IMAGES_CACHE_TENANT, else vimond.",
  ),
  IMAGES_CACHE_URL: doc(
    httpUrl(),
    "Unified platform API for image cache invalidation (https://manage.api.{environment}.vmnd.tv); unset: no forced invalidation.",
  ),
  IMAGES_CACHE_ENVIRONMENT: doc(
    text("prod"),
    "Environment segment of the cache invalidation path ({environment}-lof).",
  ),
  IMAGES_CACHE_TENANT: doc(
    optionalText(),
    "Tenant segment of the cache invalidation path; unset: VIMOND_TENANT, else vimond.",
  ),
  ...upstreamShape,
  AEM_API_KEY: doc(
    optionalText(),
    "API key (the Adobe client id) sent as x-api-key with every AEM request: seed 003 secures each operation with Bearer and ApiKeyAuth. Required when a route targets AEM.",
  ),
  AEM_EVENT_HINTS_PER_SECOND: doc(
    integer(10, 0, 10_000),
    "AEM CloudEvents without the intake token (AEM's own webhook delivery) per second, per replica, that may make an AEM job's poll run early; the rest are answered 200 and counted as limited. 0: such events never hurry a poll.",
  ),
  AEM_EVENT_HINT_BURST: doc(
    integer(50, 1, 100_000),
    "How many of those hints may come back to back before AEM_EVENT_HINTS_PER_SECOND applies.",
  ),
  ASSET_BIND_BASE_URL: doc(
    httpUrl(),
    "Asset REST API that binds a new image pack to its asset (sets the asset's imagePackId, seed 004); unset: packs are not bound (a warning at start-up). Without ASSET_BIND_TOKEN, _TOKEN_FILE or _OAUTH_TOKEN_URL the IMAGES_* credentials are used.",
  ),
  ASSET_BIND_PATH: doc(
    text("/api/assets/{assetId}")
      .refine((path) => path.startsWith("/") && path.includes("{assetId}"))
      .meta({ expects: "a path that starts with / and contains {assetId}" }),
    "Path of an asset below ASSET_BIND_BASE_URL; {assetId} is replaced by the Vimond asset id.",
  ),
  ASSET_BIND_METHOD: doc(
    oneOf(["PATCH", "PUT"], "PATCH"),
    'How the binding is written: PATCH sends {"imagePackId": …}; PUT sends the asset as read with imagePackId replaced.',
  ),
});

export type Env = z.infer<typeof envSchema>;
