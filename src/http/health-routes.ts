import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { registry } from "../metrics/registry.js";
import { OPEN } from "./openapi.js";
import { problemSchema } from "./openapi-responses.js";

/** What readiness depends on; the runtime supplies it. */
export interface ReadinessProbe {
  /** Each check returns undefined when fine, or a short reason. */
  checks(): Promise<Record<string, string | undefined>>;
}

export const livenessSchema = z.object({ status: z.literal("ok") });

export const readinessSchema = z.object({
  status: z.enum(["ready", "not ready"]),
  /** Per check: `ok`, or why it fails. */
  checks: z.record(z.string(), z.string()),
});

/**
 * `/healthz` (the process serves HTTP), `/readyz` (Redis answers, workers run, no stop signal yet),
 * and `/metrics` unless `metrics: false` (a separate admin server serves it, see `ADMIN_PORT`).
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  readiness: ReadinessProbe,
  options: { metrics?: boolean } = {},
): void {
  app.get(
    "/healthz",
    {
      config: {
        openapi: {
          operationId: "getLiveness",
          summary: "Liveness: the process serves HTTP",
          tags: ["health"],
          security: OPEN,
          responses: { "200": { description: "Alive", schema: livenessSchema } },
        },
      },
    },
    async (): Promise<z.infer<typeof livenessSchema>> => ({ status: "ok" }),
  );

  app.get(
    "/readyz",
    {
      config: {
        openapi: {
          operationId: "getReadiness",
          summary: "Readiness: Redis answers, the step workers run, and no stop signal has come",
          tags: ["health"],
          security: OPEN,
          responses: {
            "200": { description: "Ready", schema: readinessSchema },
            "503": {
              description: "Not ready, `checks` says why; or shutting down (fastify's error body)",
              schema: z.union([readinessSchema, problemSchema]),
            },
          },
        },
      },
    },
    async (_request, reply) => {
      const results = await readiness.checks();
      const failing = Object.entries(results).filter(([, problem]) => problem !== undefined);
      const body: z.infer<typeof readinessSchema> = {
        status: failing.length ? "not ready" : "ready",
        checks: Object.fromEntries(Object.entries(results).map(([name, problem]) => [name, problem ?? "ok"])),
      };
      return reply.code(failing.length ? 503 : 200).send(body);
    },
  );

  if (options.metrics === false) return;
  app.get(
    "/metrics",
    {
      config: {
        openapi: {
          operationId: "getMetrics",
          summary: "Prometheus metrics (text exposition format), every name prefixed ingest_",
          tags: ["health"],
          security: OPEN,
          responses: {
            "200": { description: "The metrics", type: "text/plain", schema: z.string() },
          },
        },
      },
    },
    async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
}
