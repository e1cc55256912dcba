import type { FastifyInstance, FastifyReply } from "fastify";
import type { Redis } from "ioredis";
import type { PartitionSet } from "../ops/partition-set.js";
import { formatIssues, issueMessage } from "../intake/format-issues.js";
import {
  cancelIngest,
  retryIngest,
  type ActionOutcome,
  type IngestActionDeps,
} from "../ops/ingest-actions.js";
import { bulkRetry } from "../ops/bulk-retry.js";
import { toDetail, toListResponse } from "../ops/ingest-view.js";
import { listQueueStates, setStepPaused, stepOf, type StepQueues } from "../ops/queue-control.js";
import { parseTimeSpec } from "../ops/time-spec.js";
import { apiAuth } from "./auth.js";
import {
  buildOpenApiDocument,
  bulkRetryBodySchema,
  idParamsSchema,
  listQuerySchema,
  stateOf,
  statusName,
  type BulkRetryResponse,
  type IngestActionResponse,
  type QueueStateResponse,
} from "./ingests-schemas.js";

/** Options of {@link registerIngestRoutes}. */
export interface IngestRoutesOptions {
  /** `API_TOKEN`; unset: every route answers 401. */
  token: string | undefined;
  redis: Redis;
  /** Every partition's records and source-watch queue (retry adds its job there). */
  partitions: PartitionSet;
  /**
   * Every step's queue (one map per partition), for `/v1/queues` (pause, resume, counts); unset:
   * those routes answer 404.
   */
  queues?: StepQueues | readonly StepQueues[];
  now?: () => number;
}

function badRequest(reply: FastifyReply, issues: string[]) {
  return reply.code(400).send({ error: "invalid request", issues });
}

function refused(reply: FastifyReply, outcome: Extract<ActionOutcome<object>, { ok: false }>) {
  return reply.code(outcome.reason === "not-found" ? 404 : 409).send({ error: outcome.message });
}

/**
 * The ingests API: `GET /v1/ingests` (filters, cursor, limit), `GET /v1/ingests/{id}`,
 * `POST /v1/ingests/{id}/retry`, `POST /v1/ingests/retry` (bulk), `POST /v1/ingests/{id}/cancel`,
 * and the step queues (`GET /v1/queues`, `POST /v1/queues/{step}/pause|resume`), all behind
 * `API_TOKEN`, described for `GET /v1/openapi.json` by `buildOpenApiDocument`. Handlers parse
 * with zod themselves (not fastify's ajv) so 400 answers carry the same `field: problem` lines as
 * the rest of the worker.
 */
export async function registerIngestRoutes(
  app: FastifyInstance,
  options: IngestRoutesOptions,
): Promise<void> {
  const now = options.now ?? Date.now;
  const actions: IngestActionDeps = { partitions: options.partitions, redis: options.redis, now };
  const records = options.partitions.records;
  // Served with every other route's at `GET /v1/openapi.json` (server.ts).
  app.openApi?.addDocument(buildOpenApiDocument(), { tags: ["ingests"] });

  await app.register(async (scope) => {
    scope.addHook("onRequest", apiAuth({ token: options.token }));

    scope.get("/v1/ingests", async (request, reply) => {
      const parsed = listQuerySchema.safeParse(request.query, { error: issueMessage });
      if (!parsed.success) return badRequest(reply, formatIssues(parsed.error));
      const { status, target, route, since, cursor, limit } = parsed.data;
      const page = await records.list({
        limit,
        ...(status !== undefined ? { status: stateOf(status)! } : {}),
        ...(target !== undefined ? { target } : {}),
        ...(route !== undefined ? { route } : {}),
        ...(since !== undefined ? { since: /^\d+$/.test(since) ? Number(since) : Date.parse(since) } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      return toListResponse(page, now());
    });

    scope.get("/v1/ingests/:id", async (request, reply) => {
      const parsed = idParamsSchema.safeParse(request.params, { error: issueMessage });
      if (!parsed.success) return badRequest(reply, formatIssues(parsed.error));
      const record = await records.get(parsed.data.id);
      if (!record) return reply.code(404).send({ error: `no ingest with id ${parsed.data.id}` });
      return toDetail(record, await records.history(record.id), now());
    });

    scope.post("/v1/ingests/retry", async (request, reply) => {
      const parsed = bulkRetryBodySchema.safeParse(request.body ?? {}, { error: issueMessage });
      if (!parsed.success) return badRequest(reply, formatIssues(parsed.error));
      const { status, since, route, target, limit, dryRun } = parsed.data;
      const body: BulkRetryResponse = await bulkRetry(
        actions,
        {
          status: stateOf(status)!,
          limit,
          dryRun,
          ...(since !== undefined ? { since: parseTimeSpec(since, now())! } : {}),
          ...(route !== undefined ? { route } : {}),
          ...(target !== undefined ? { target } : {}),
        },
        "http",
      );
      return reply.code(dryRun ? 200 : 202).send(body);
    });

    scope.get("/v1/queues", async (_request, reply) => {
      if (!options.queues) return reply.code(404).send({ error: "no queues in this process" });
      const queues: QueueStateResponse[] = await listQueueStates(options.queues);
      return { queues };
    });

    for (const action of ["pause", "resume"] as const) {
      scope.post(`/v1/queues/:step/${action}`, async (request, reply) => {
        const { step: name } = request.params as { step: string };
        const step = stepOf(name);
        const first = options.queues && [options.queues].flat()[0];
        if (!step || !options.queues || !first?.has(step)) {
          const known = [...(first?.keys() ?? [])].join(", ");
          return reply.code(404).send({ error: `no step named ${name}; the steps are ${known}` });
        }
        const state: QueueStateResponse = await setStepPaused(options.queues, step, action === "pause");
        return state;
      });
    }

    scope.post("/v1/ingests/:id/retry", async (request, reply) => {
      const parsed = idParamsSchema.safeParse(request.params, { error: issueMessage });
      if (!parsed.success) return badRequest(reply, formatIssues(parsed.error));
      const outcome = await retryIngest(actions, parsed.data.id, "http");
      if (!outcome.ok) return refused(reply, outcome);
      const body: IngestActionResponse = {
        ingestId: outcome.record.id,
        status: statusName(outcome.record.state),
        message: outcome.message,
        jobId: outcome.jobId,
        retry: outcome.retry,
      };
      return reply.code(202).send(body);
    });

    scope.post("/v1/ingests/:id/cancel", async (request, reply) => {
      const parsed = idParamsSchema.safeParse(request.params, { error: issueMessage });
      if (!parsed.success) return badRequest(reply, formatIssues(parsed.error));
      const outcome = await cancelIngest(actions, parsed.data.id, "http");
      if (!outcome.ok) return refused(reply, outcome);
      const body: IngestActionResponse = {
        ingestId: outcome.record.id,
        status: statusName(outcome.record.state),
        message: outcome.message,
      };
      return body;
    });
  });
}
