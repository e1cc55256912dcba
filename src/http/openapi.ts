import type { FastifyInstance } from "fastify";
import { z } from "zod";

/**
 * The worker's OpenAPI 3.1 document, assembled from the routes as they are registered: every route
 * declares its operation (zod schemas for parameters, body and responses) in `config.openapi`, or
 * its route group hands in a partial document of its own ({@link OpenApiRegistry.addDocument}, as
 * the ingests API does). An `onRoute` hook sees every route, so the document lists what the server
 * really serves, and test/integration/openapi.test.ts fails for a route that has no entry.
 *
 * zod 4's `z.toJSONSchema` rather than @fastify/swagger with fastify-type-provider-zod: the
 * handlers parse with zod themselves (their 400s carry our `field: problem` lines), so fastify's
 * schema compilers would only be there to feed the generator.
 */

/** One response of an operation. */
export interface ResponseDoc {
  description: string;
  /** The body, JSON unless `type` says otherwise. */
  schema?: z.ZodType;
  /** Media type of the body (default `application/json`). */
  type?: string;
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

/** The operation of one route, declared next to the route as `config: { openapi: … }`. */
export interface RouteDoc {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** OpenAPI security requirements: `[]` open, `[{ apiToken: [] }, {}]` optional. */
  security: Array<Record<string, string[]>>;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: { description: string; required?: boolean; content: Record<string, z.ZodType> };
  responses: Record<string, ResponseDoc>;
}

/** A partial OpenAPI document a route group contributes (paths, schemas, security schemes). */
export interface OpenApiPart {
  paths?: Record<string, Record<string, Record<string, unknown>>>;
  components?: {
    schemas?: Record<string, unknown>;
    securitySchemes?: Record<string, unknown>;
  };
  /** Applied to the part's operations that do not name their own. */
  security?: Array<Record<string, string[]>>;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** This route's OpenAPI operation. */
    openapi?: RouteDoc;
  }
  interface FastifyInstance {
    /** Set by `buildHttpServer`; absent on a bare Fastify instance (some tests). */
    openApi?: OpenApiRegistry;
  }
}

/** A route as fastify registered it. */
export interface CollectedRoute {
  method: string;
  /** OpenAPI spelling: `/v1/ingests/{id}`. */
  path: string;
  doc?: RouteDoc;
  /** Registered with `schema: { hide: true }` (Bull Board's UI, its static files): not API. */
  hidden: boolean;
}

/** Security schemes of the whole server; the names are what operations' `security` refers to. */
export const SECURITY_SCHEMES = {
  bearer: { type: "http", scheme: "bearer", description: "`API_TOKEN`: the ingests and queues API." },
  intakeToken: {
    type: "http",
    scheme: "bearer",
    description: "`INTAKE_TOKEN`: webhooks that push events (S3 notifications, CloudEvents).",
  },
} as const;

/** No credentials. */
export const OPEN: RouteDoc["security"] = [];

const METHODS = ["get", "put", "post", "delete", "patch", "options"] as const;

/** `/v1/ingests/:id` as OpenAPI writes it: `/v1/ingests/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** A zod schema as an OpenAPI 3.1 schema object (JSON Schema 2020-12, without `$schema`). */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output" = "output"): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    unrepresentable: "any",
  });
  return rest;
}

/** `post /v1/ingests/{id}/retry` → `postV1IngestsByIdRetry`, for parts that name no operationId. */
function derivedOperationId(method: string, path: string): string {
  const words = path
    .split("/")
    .filter(Boolean)
    .map((segment) => segment.replace(/^\{(.+)\}$/, "by-$1"))
    .flatMap((segment) => segment.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return method + words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("");
}

function parameters(doc: RouteDoc): Array<Record<string, unknown>> {
  const from = (where: "path" | "query", schema: z.ZodObject | undefined) =>
    Object.entries(schema?.shape ?? {}).map(([name, field]) => {
      const zodField = field as z.ZodType;
      return {
        name,
        in: where,
        required: where === "path" || !zodField.safeParse(undefined).success,
        ...(zodField.description !== undefined ? { description: zodField.description } : {}),
        schema: jsonSchemaOf(zodField, "input"),
      };
    });
  return [...from("path", doc.params), ...from("query", doc.query)];
}

function operation(doc: RouteDoc): Record<string, unknown> {
  const params = parameters(doc);
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    ...(doc.description !== undefined ? { description: doc.description } : {}),
    tags: doc.tags,
    security: doc.security,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(doc.body
      ? {
          requestBody: {
            description: doc.body.description,
            required: doc.body.required ?? true,
            content: Object.fromEntries(
              Object.entries(doc.body.content).map(([type, schema]) => [
                type,
                { schema: jsonSchemaOf(schema, "input") },
              ]),
            ),
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(doc.responses).map(([status, response]) => [
        status,
        {
          description: response.description,
          ...(response.headers ? { headers: response.headers } : {}),
          ...(response.schema
            ? {
                content: {
                  [response.type ?? "application/json"]: { schema: jsonSchemaOf(response.schema) },
                },
              }
            : {}),
        },
      ]),
    ),
  };
}

/** Options of {@link OpenApiRegistry.document}. */
export interface OpenApiDocumentOptions {
  /** `servers[].url`: `OPENAPI_SERVER_URL`, or `/` (the host that served the document). */
  serverUrl?: string;
}

/** What the document is made of: the routes fastify registered and the parts route groups added. */
export class OpenApiRegistry {
  readonly routes: CollectedRoute[] = [];
  private readonly parts: Array<{ part: OpenApiPart; tags: string[] }> = [];

  /** A route group's own partial document; `tags` go to its operations that name none. */
  addDocument(part: OpenApiPart, options: { tags?: string[] } = {}): void {
    this.parts.push({ part, tags: options.tags ?? [] });
  }

  /** The OpenAPI 3.1 document of every registered route that is not hidden. */
  document(options: OpenApiDocumentOptions = {}): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    const schemas: Record<string, unknown> = {};
    const securitySchemes: Record<string, unknown> = {};
    for (const { part, tags } of this.parts) {
      Object.assign(schemas, part.components?.schemas);
      Object.assign(securitySchemes, part.components?.securitySchemes);
      for (const [path, item] of Object.entries(part.paths ?? {})) {
        for (const method of METHODS) {
          const op = item[method];
          if (op === undefined) continue;
          (paths[path] ??= {})[method] = {
            operationId: derivedOperationId(method, path),
            security: part.security ?? [],
            tags,
            ...op,
          };
        }
      }
    }
    // Declared on the route wins over a part's entry for the same operation.
    for (const route of this.routes) {
      if (route.doc === undefined) continue;
      (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route.doc);
    }
    // The server's bodyLimit applies to every route that takes a body, before its handler runs.
    for (const item of Object.values(paths))
      for (const op of Object.values(item) as Array<{ requestBody?: unknown; responses?: object }>)
        if (op.requestBody !== undefined && op.responses && !("413" in op.responses))
          op.responses = { ...op.responses, "413": { description: "Body above INTAKE_BODY_LIMIT_BYTES" } };
    Object.assign(securitySchemes, SECURITY_SCHEMES);
    return {
      openapi: "3.1.0",
      info: {
        title: "ingest-worker",
        version: "1",
        description:
          "The worker's HTTP API: health and metrics, the intake webhooks (S3 notifications, CloudEvents), " +
          "and the ingests API (shaped like the VIA Orchestrate Status API list).",
      },
      servers: [
        options.serverUrl !== undefined
          ? { url: options.serverUrl }
          : {
              url: "/",
              description: "The host that served this document (set OPENAPI_SERVER_URL to name one)",
            },
      ],
      tags: [
        { name: "health", description: "Liveness, readiness and Prometheus metrics" },
        { name: "intake", description: "Webhooks that push events into the chain" },
        { name: "ingests", description: "Where every package stands, and actions on them" },
        { name: "meta", description: "This document" },
      ],
      components: { securitySchemes, schemas },
      paths,
    };
  }
}

/**
 * Starts collecting routes for the document; call it on the root instance before any route is
 * registered (an `onRoute` hook only sees the routes added after it, in every child scope).
 */
export function collectOpenApi(app: FastifyInstance): OpenApiRegistry {
  const registry = new OpenApiRegistry();
  app.decorate("openApi", registry);
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const method of methods) {
      // fastify adds a HEAD twin to every GET; the GET's entry documents both.
      if (method === "HEAD") continue;
      registry.routes.push({
        method,
        path: openApiPath(route.url),
        ...(route.config?.openapi ? { doc: route.config.openapi } : {}),
        hidden,
      });
    }
  });
  return registry;
}
