import { z } from "zod";
import { parseTimeSpec, TIME_SPEC_FORMS } from "../ops/time-spec.js";
import { STEP_NAMES } from "../queues/names.js";
import { INGEST_STATES, TARGETS, UPSTREAM_ID_FIELDS, type IngestState } from "../records/ingest-record.js";
import type { OpenApiPart } from "./openapi.js";

/**
 * Schemas of the ingests API. Requests are parsed with them; responses are typed by them (the
 * mappers in `ops/ingest-view.ts` return these types) and `GET /v1/openapi.json` is generated
 * from them, so the document cannot drift from what the handlers do.
 *
 * The list and detail mirror the VIA Orchestrate Status API (`GET /ingests`): `items` + `count` +
 * an opaque `cursor` (null on the last page); items carry `ingestId`, `assetId`, `detailsUrl`,
 * `profileName`, `error`, `mediaTypes`, `progress`, `startTime`, `endTime`, `status`, `elapsedTime`;
 * the detail adds `tasks` like VIA's. Our own facts (route, target, S3 object, upstream ids,
 * history) are extra fields next to them.
 */

/** VIA spells statuses in upper case with `_`; `waiting-objects` becomes `WAITING_OBJECTS`. */
export function statusName(state: IngestState): string {
  return state.toUpperCase().replace(/-/g, "_");
}

/** Our state for a status as a client may send it (`failed`, `FAILED`, `WAITING_OBJECTS`). */
export function stateOf(status: string): IngestState | undefined {
  const wanted = status.toLowerCase().replace(/_/g, "-");
  return INGEST_STATES.find((s) => s === wanted);
}

const STATUS_VALUES = INGEST_STATES.map(statusName) as [string, ...string[]];
const STATUS_FILTERS = [...INGEST_STATES, ...STATUS_VALUES] as [string, ...string[]];

/**
 * The list cursor is the store's `base64url("<createdAt>|<id>")`. It stays opaque to clients; it is
 * checked here only so a mangled cursor gets a 400 instead of a Redis error about a bad score.
 */
export function isWellFormedCursor(cursor: string): boolean {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) return false;
  return /^\d+(\.\d+)?\|.+$/s.test(Buffer.from(cursor, "base64url").toString("utf8"));
}

export const listQuerySchema = z
  .object({
    status: z.enum(STATUS_FILTERS).optional().describe("Only ingests in this state (either spelling)."),
    target: z.enum(TARGETS).optional().describe("Only ingests for this target."),
    route: z.string().min(1).max(200).optional().describe("Only ingests matched by this route."),
    since: z
      .union([
        z.iso.datetime({ offset: true }),
        z.string().regex(/^\d{1,15}$/, "expected epoch milliseconds"),
      ])
      .optional()
      .describe("Only ingests received at or after this time: ISO 8601 or epoch milliseconds."),
    cursor: z
      .string()
      .refine(isWellFormedCursor, "expected the cursor of a previous page")
      .optional()
      .describe("The `cursor` of the previous page."),
    limit: z.coerce.number().int().min(1).max(100).default(20).describe("Page size, 1 to 100 (default 20)."),
  })
  .strict();
export type ListQueryInput = z.input<typeof listQuerySchema>;

export const idParamsSchema = z.object({ id: z.string().min(1).max(200) });

export const listItemSchema = z.object({
  ingestId: z.string(),
  /** The upstream asset (Vimond asset, Asset Management asset) once known. */
  assetId: z.string().nullable(),
  detailsUrl: z.string(),
  /** The route that matched the package: our counterpart of VIA's processing profile. */
  profileName: z.string(),
  error: z.string().nullable(),
  mediaTypes: z.array(z.enum(["VIDEO", "IMAGE", "TOMBSTONE"])),
  progress: z.number().int().min(0).max(100),
  startTime: z.iso.datetime(),
  endTime: z.iso.datetime().nullable(),
  status: z.enum(STATUS_VALUES),
  /** Milliseconds from start to end, or to now while running. */
  elapsedTime: z.number().int().min(0),
  route: z.string(),
  target: z.enum(TARGETS),
  source: z.object({ bucket: z.string(), key: z.string(), version: z.string() }),
});
export type IngestListItem = z.infer<typeof listItemSchema>;

export const listResponseSchema = z.object({
  items: z.array(listItemSchema),
  count: z.number().int().min(0),
  /** Pass as `cursor` for the next page; null on the last one. */
  cursor: z.string().nullable(),
});
export type IngestListResponse = z.infer<typeof listResponseSchema>;

export const taskSchema = z.object({
  name: z.string(),
  status: z.enum(["TASK_RUNNING", "TASK_WAITING", "TASK_COMPLETED", "TASK_FAILED", "TASK_SKIPPED"]),
  startTime: z.iso.datetime(),
  endTime: z.iso.datetime().nullable(),
  elapsedTime: z.number().int().min(0),
  detail: z.string().nullable(),
});

export const historyEntrySchema = z.object({ time: z.iso.datetime(), step: z.string(), message: z.string() });

export const detailSchema = listItemSchema.extend({
  tasks: z.array(taskSchema),
  upstream: z.partialRecord(z.enum(UPSTREAM_ID_FIELDS), z.string()),
  attempts: z.record(z.string(), z.number()),
  branches: z.record(z.string(), z.string()),
  labels: z.record(z.string(), z.string()),
  eventTime: z.iso.datetime(),
  updatedTime: z.iso.datetime(),
  /** Oldest first, capped (the store keeps the last 50 lines). */
  history: z.array(historyEntrySchema),
});
export type IngestDetail = z.infer<typeof detailSchema>;

export const actionResponseSchema = z.object({
  ingestId: z.string(),
  status: z.enum(STATUS_VALUES),
  message: z.string(),
  /** Retry only: the source-watch job that re-runs the ingest. */
  jobId: z.string().optional(),
  /** Retry only: how many times this ingest has been retried, this one included. */
  retry: z.number().int().optional(),
});
export type IngestActionResponse = z.infer<typeof actionResponseSchema>;

export const errorResponseSchema = z.object({
  error: z.string(),
  /** One `field: problem` line per invalid field (400 only). */
  issues: z.array(z.string()).optional(),
});

/** `POST /v1/ingests/retry`: which ingests to retry (the list's filters) and how many at most. */
export const bulkRetryBodySchema = z
  .object({
    status: z
      .enum(["failed", "cancelled", "FAILED", "CANCELLED"])
      .describe("Retry the ingests in this state: failed or cancelled (either spelling)."),
    since: z
      .string()
      .refine((text) => parseTimeSpec(text, Date.now()) !== undefined, TIME_SPEC_FORMS)
      .optional()
      .describe("Only ingests received at or after this time: ISO 8601, epoch ms, or a duration back (2h)."),
    route: z.string().min(1).max(200).optional().describe("Only ingests matched by this route."),
    target: z.enum(TARGETS).optional().describe("Only ingests for this target."),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .describe("At most this many, newest first (1 to 10000, default 1000); `more` says when more matched."),
    dryRun: z.boolean().default(false).describe("Select and check only; nothing is retried."),
  })
  .strict();
export type BulkRetryBody = z.input<typeof bulkRetryBodySchema>;

export const bulkRetryResponseSchema = z.object({
  dryRun: z.boolean(),
  limit: z.number().int(),
  /** Ingests selected, at most `limit`. */
  matched: z.number().int().min(0),
  /** More than `limit` matched: send the same request again for the next ones. */
  more: z.boolean(),
  counts: z.object({
    retried: z.number().int().min(0),
    wouldRetry: z.number().int().min(0),
    refused: z.number().int().min(0),
  }),
  retried: z.array(z.object({ ingestId: z.string(), jobId: z.string(), retry: z.number().int() })),
  /** Dry run only: what a real run would retry. */
  wouldRetry: z.array(z.string()),
  /** Each with the message a single `POST /v1/ingests/{id}/retry` would answer. */
  refused: z.array(
    z.object({ ingestId: z.string(), reason: z.enum(["not-found", "conflict"]), message: z.string() }),
  ),
});
export type BulkRetryResponse = z.infer<typeof bulkRetryResponseSchema>;

export const stepParamsSchema = z.object({
  step: z.enum(STEP_NAMES).describe("A step's queue name (source-watch, atom-push, …)."),
});

export const queueStateSchema = z.object({
  step: z.enum(STEP_NAMES),
  /** Paused globally (BullMQ Queue.pause): no worker takes its jobs; new jobs wait. */
  paused: z.boolean(),
  state: z.enum(["paused", "running"]),
  counts: z.object({
    waiting: z.number().int().min(0),
    active: z.number().int().min(0),
    delayed: z.number().int().min(0),
    failed: z.number().int().min(0),
  }),
});
export type QueueStateResponse = z.infer<typeof queueStateSchema>;

export const queueListResponseSchema = z.object({ queues: z.array(queueStateSchema) });

/** A zod schema as an OpenAPI 3.1 schema object (JSON Schema 2020-12, without `$schema`). */
function jsonSchema(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  });
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({
  description,
  content: { "application/json": { schema: ref(name) } },
});
const idParameter = {
  name: "id",
  in: "path",
  required: true,
  schema: jsonSchema(idParamsSchema.shape.id, "input"),
};
const stepParameter = {
  name: "step",
  in: "path",
  required: true,
  schema: jsonSchema(stepParamsSchema.shape.step, "input"),
};
const ERRORS = {
  "401": json("Error", "Missing or wrong bearer token, or API_TOKEN unset"),
};
const BAD_ID = { "400": json("Error", "Invalid id (1 to 200 characters)") };

/**
 * The OpenAPI 3.1 document of the ingests API, generated from the same schemas the handlers parse
 * with, so the document and the behaviour cannot drift apart. `GET /v1/openapi.json` merges it
 * with the other routes' (http/openapi.ts); an operation without an `operationId` gets one
 * derived from its method and path there.
 */
export function buildOpenApiDocument(): OpenApiPart & { openapi: string; info: object } {
  const queryParameters = Object.entries(listQuerySchema.shape).map(([name, field]) => ({
    name,
    in: "query",
    required: false,
    ...(field.description !== undefined ? { description: field.description } : {}),
    schema: jsonSchema(field, "input"),
  }));
  return {
    openapi: "3.1.0",
    info: {
      title: "ingest-worker ingests API",
      version: "1",
      description:
        "Where every package stands. The list is shaped like the VIA Orchestrate Status API list (items, count, cursor).",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API_TOKEN" } },
      schemas: {
        IngestList: jsonSchema(listResponseSchema),
        IngestListItem: jsonSchema(listItemSchema),
        IngestDetail: jsonSchema(detailSchema),
        IngestAction: jsonSchema(actionResponseSchema),
        BulkRetryRequest: jsonSchema(bulkRetryBodySchema, "input"),
        BulkRetry: jsonSchema(bulkRetryResponseSchema),
        QueueState: jsonSchema(queueStateSchema),
        QueueList: jsonSchema(queueListResponseSchema),
        Error: jsonSchema(errorResponseSchema),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      "/v1/ingests": {
        get: {
          operationId: "listIngests",
          summary: "Recent ingests, newest first",
          parameters: queryParameters,
          responses: {
            "200": json("IngestList", "A page of ingests"),
            "400": json("Error", "Invalid query"),
            ...ERRORS,
          },
        },
      },
      "/v1/ingests/{id}": {
        get: {
          operationId: "getIngest",
          summary: "One ingest: steps with timings, upstream ids, errors, history",
          parameters: [idParameter],
          responses: {
            "200": json("IngestDetail", "The ingest"),
            ...BAD_ID,
            "404": json("Error", "Unknown id"),
            ...ERRORS,
          },
        },
      },
      "/v1/ingests/{id}/retry": {
        post: {
          operationId: "retryIngest",
          summary: "Run a failed or cancelled ingest again from source-watch",
          parameters: [idParameter],
          responses: {
            "202": json("IngestAction", "Re-opened and queued"),
            ...BAD_ID,
            "404": json("Error", "Unknown id"),
            "409": json("Error", "Running, completed or superseded: nothing to retry"),
            ...ERRORS,
          },
        },
      },
      "/v1/ingests/retry": {
        post: {
          summary: "Retry every failed (or cancelled) ingest that matches, each as a single retry would",
          requestBody: {
            required: true,
            content: { "application/json": { schema: ref("BulkRetryRequest") } },
          },
          responses: {
            "200": json("BulkRetry", "Dry run: what would be retried and what refused"),
            "202": json("BulkRetry", "Retried (and refused) ingests with their counts"),
            "400": json("Error", "Invalid body"),
            ...ERRORS,
          },
        },
      },
      "/v1/queues": {
        get: {
          summary: "Each step's queue: paused or running, and its waiting/active/delayed/failed counts",
          responses: { "200": json("QueueList", "The step queues in chain order"), ...ERRORS },
        },
      },
      "/v1/queues/{step}/pause": {
        post: {
          summary: "Pause a step globally (all workers); jobs added meanwhile wait, none is lost",
          parameters: [stepParameter],
          responses: { "200": json("QueueState", "Paused"), "404": json("Error", "Unknown step"), ...ERRORS },
        },
      },
      "/v1/queues/{step}/resume": {
        post: {
          summary: "Resume a paused step",
          parameters: [stepParameter],
          responses: {
            "200": json("QueueState", "Running"),
            "404": json("Error", "Unknown step"),
            ...ERRORS,
          },
        },
      },
      "/v1/ingests/{id}/cancel": {
        post: {
          operationId: "cancelIngest",
          summary: "Cancel a running ingest",
          parameters: [idParameter],
          responses: {
            "200": json("IngestAction", "Cancelled"),
            ...BAD_ID,
            "404": json("Error", "Unknown id"),
            "409": json("Error", "Already ended"),
            ...ERRORS,
          },
        },
      },
    },
  };
}
