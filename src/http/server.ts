import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { z } from "zod";
import { moduleLogger } from "../log/logger.js";
import { registerHealthRoutes, type ReadinessProbe } from "./health-routes.js";
import { collectOpenApi, OPEN } from "./openapi.js";

export interface HttpServerOptions {
  readiness: ReadinessProbe;
  bodyLimit: number;
  /** `OPENAPI_SERVER_URL`: the document's `servers` entry; unset: `/` (wherever it was fetched from). */
  openApiServerUrl?: string;
  /** Serve `/metrics` (default true); false where a separate admin server serves it. */
  metrics?: boolean;
  /** Further route groups (intake, ingests API, board) register themselves here. */
  plugins?: Array<(app: FastifyInstance) => void | Promise<void>>;
}

const log = moduleLogger("http");

/** Where the OpenAPI document of every route is served. */
export const OPENAPI_PATH = "/v1/openapi.json";

/**
 * One HTTP server of the worker: health, metrics (unless turned off), and whatever route groups the
 * runtime adds. The runtime builds one, or two when `ADMIN_PORT` splits the operator routes off.
 */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: options.bodyLimit,
    // Our own pino child, so HTTP lines share redaction and format with everything else.
    loggerInstance: log as unknown as FastifyBaseLogger,
    // Request lines would drown the per-package lines at scale; metrics count requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  // Before any route, so the document sees every one (routes of child scopes included).
  const openApi = collectOpenApi(app);
  let document: Record<string, unknown> | undefined;
  app.get(
    OPENAPI_PATH,
    {
      config: {
        openapi: {
          operationId: "getOpenApi",
          summary: "This document: OpenAPI 3.1 of every route, generated from the routes' zod schemas",
          tags: ["meta"],
          security: OPEN,
          responses: { "200": { description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) } },
        },
      },
    },
    // Built on first request: by then every route group has registered (the server is ready).
    async () =>
      (document ??= openApi.document(
        options.openApiServerUrl !== undefined ? { serverUrl: options.openApiServerUrl } : {},
      )),
  );
  registerHealthRoutes(app, options.readiness, { metrics: options.metrics ?? true });
  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
