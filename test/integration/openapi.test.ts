import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOARD_PATH } from "../../src/http/board.js";
import type { Service } from "../../src/runtime/service.js";
import { startIdleService } from "../support/idle-service.js";
import { cleanupPrefix, uniquePrefix } from "../support/redis.js";

/**
 * The OpenAPI document of the worker as `startService` composes it (every route group the
 * production server has), read over real HTTP: valid OpenAPI 3.1, one entry for every route in
 * fastify's route table and no entry for a route that does not exist, and real responses that
 * match their documented schemas.
 */
const API_TOKEN = "openapi-api-token";
const INTAKE_TOKEN = "openapi-intake-token";
const SERVER_URL = "https://ingest.example.test";
const METHODS = ["get", "put", "post", "delete", "patch", "options"] as const;

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
interface Document {
  openapi: string;
  servers: Array<{ url: string }>;
  components: Record<string, unknown>;
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
}

/**
 * `METHOD path` for every route fastify serves, read from `printRoutes`' radix tree (each line is a
 * node's segment, indented under its parent, with the methods served there); HEAD twins left out.
 */
function routeTable(printed: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of printed.split("\n")) {
    const match = /^([│ ]*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of match[3]?.split(", ") ?? [])
      if (method !== "HEAD") routes.push(`${method} ${stack.join("")}`);
  }
  return routes;
}

/** A route pattern (`/v1/queues/:step/:action`) as a regex over documented paths (`{name}` or literal). */
function servedBy(route: string, documented: string): boolean {
  const pattern = route
    .split("/")
    .map((segment) =>
      segment.startsWith(":") ? "(?:\\{[^/}]+\\}|[^/{}]+)" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("/");
  return new RegExp(`^${pattern}$`).test(documented);
}

async function startWorker(extra: Record<string, string> = {}) {
  const prefix = uniquePrefix("openapi");
  const service = await startIdleService(prefix, { API_TOKEN, INTAKE_TOKEN, ...extra });
  return { service, prefix, url: service.runtime.url! };
}

describe("GET /v1/openapi.json", () => {
  let service: Service;
  let prefix: string;
  let base: string;
  let doc: Document;

  beforeAll(async () => {
    ({ service, prefix, url: base } = await startWorker({ OPENAPI_SERVER_URL: SERVER_URL }));
    const res = await fetch(`${base}/v1/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Document;
  });
  afterAll(async () => {
    await service?.stop();
    await cleanupPrefix(prefix);
  });

  function operations(): Array<[string, Operation]> {
    return Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m] !== undefined).map((m): [string, Operation] => [
        `${m.toUpperCase()} ${path}`,
        item[m]!,
      ]),
    );
  }

  it("is a valid OpenAPI 3.1 document, served without credentials, with servers from OPENAPI_SERVER_URL", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    // The validator does refuse a broken document (a response without its required description).
    const broken = structuredClone(doc) as unknown as { paths: Record<string, Record<string, object>> };
    broken.paths["/healthz"]!.get = { operationId: "getLiveness", responses: { "200": {} } };
    expect((await new Validator().validate(broken)).valid).toBe(false);
    expect(doc.servers).toEqual([{ url: SERVER_URL }]);
  });

  it("has an entry for every route fastify serves, and none for a route it does not", () => {
    const routes = routeTable(service.runtime.http!.printRoutes({ commonPrefix: false }));
    expect(routes).toContain("GET /healthz");
    const api = routes.filter((route) => !route.split(" ")[1]!.startsWith(BOARD_PATH));
    // The board's UI, static files and JSON API are not part of the worker's API.
    expect(routes.length - api.length).toBeGreaterThan(0);
    const documented = operations().map(([key]) => key);
    const missing = api.filter((route) => {
      const [method, path] = route.split(" ") as [string, string];
      return !documented.some((key) => key.startsWith(`${method} `) && servedBy(path, key.split(" ")[1]!));
    });
    expect(missing, "routes without an OpenAPI entry").toEqual([]);
    const phantom = documented.filter((key) => {
      const [method, path] = key.split(" ") as [string, string];
      return !api.some((route) => route.startsWith(`${method} `) && servedBy(route.split(" ")[1]!, path));
    });
    expect(phantom, "documented operations no route serves").toEqual([]);
    for (const expected of [
      "GET /healthz",
      "GET /readyz",
      "GET /metrics",
      "POST /v1/events/s3",
      "POST /v1/events/cloudevents",
      "GET /v1/ingests",
      "GET /v1/ingests/{id}",
      "POST /v1/ingests/{id}/retry",
      "POST /v1/ingests/{id}/cancel",
      "GET /v1/openapi.json",
    ])
      expect(documented).toContain(expected);
  });

  it("gives every operation an operationId, summary, security and its error responses", () => {
    const ids = new Set<string>();
    for (const [key, op] of operations()) {
      expect(op.operationId, key).toMatch(/^[a-z][A-Za-z0-9]+$/);
      expect(ids.has(op.operationId!), `${key}: operationId ${op.operationId} twice`).toBe(false);
      ids.add(op.operationId!);
      expect(op.summary, key).toBeTruthy();
      expect(op.tags?.length, key).toBeGreaterThan(0);
      expect(Array.isArray(op.security), `${key}: security`).toBe(true);
      const statuses = Object.keys(op.responses);
      expect(
        statuses.some((s) => s.startsWith("2")),
        `${key}: a success response`,
      ).toBe(true);
      if (op.security!.length > 0) expect(statuses, `${key}: secured`).toContain("401");
      if (op.requestBody !== undefined)
        expect(statuses, `${key}: takes a body`).toEqual(expect.arrayContaining(["400", "413"]));
      if (op.parameters?.some((p) => p.in === "query"))
        expect(statuses, `${key}: has a query`).toContain("400");
    }
    const security = (key: string) => operations().find(([k]) => k === key)![1].security;
    expect(security("GET /healthz")).toEqual([]);
    expect(security("GET /v1/ingests")).toEqual([{ bearer: [] }]);
    expect(security("POST /v1/events/s3")).toEqual([{ intakeToken: [] }, {}]);
  });

  it("documents what the routes really answer", async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
    /** Checks a real response against the schema the document gives for its method, path and status. */
    async function check(method: string, path: string, res: Response): Promise<unknown> {
      const op = doc.paths[path]![method as (typeof METHODS)[number]]!;
      const entry = op.responses[String(res.status)];
      expect(entry, `${method} ${path}: status ${res.status} is documented`).toBeDefined();
      const body: unknown = await res.json();
      const schema = entry!.content?.["application/json"]?.schema;
      expect(schema, `${method} ${path} ${res.status}: a JSON schema`).toBeDefined();
      // $refs point at #/components/schemas/…: validate with the document's components at the root.
      const validate = ajv.compile({ ...schema, components: doc.components });
      expect(validate(body), `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors)}`).toBe(
        true,
      );
      return body;
    }
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    await check("get", "/healthz", await fetch(`${base}/healthz`));
    await check("get", "/readyz", await fetch(`${base}/readyz`));
    await check(
      "get",
      "/v1/ingests",
      await fetch(`${base}/v1/ingests?limit=5`, { headers: bearer(API_TOKEN) }),
    );
    await check("get", "/v1/ingests", await fetch(`${base}/v1/ingests`));
    const invalid = await check(
      "get",
      "/v1/ingests",
      await fetch(`${base}/v1/ingests?limit=0`, { headers: bearer(API_TOKEN) }),
    );
    expect((invalid as { issues: string[] }).issues[0]).toMatch(/^limit: /);
    await check(
      "get",
      "/v1/ingests/{id}",
      await fetch(`${base}/v1/ingests/nope`, { headers: bearer(API_TOKEN) }),
    );
    const notification = {
      Records: [
        {
          eventName: "ObjectCreated:Put",
          eventTime: "2024-05-01T12:00:00.000Z",
          s3: { bucket: { name: "in" }, object: { key: "a/b.mp4", size: 5, eTag: "e1", versionId: "v1" } },
        },
      ],
    };
    const accepted = await check(
      "post",
      "/v1/events/s3",
      await fetch(`${base}/v1/events/s3`, {
        method: "POST",
        headers: { ...bearer(INTAKE_TOKEN), "content-type": "application/json" },
        body: JSON.stringify(notification),
      }),
    );
    expect(accepted).toEqual({ accepted: 1, ignored: 0 });
    await check(
      "post",
      "/v1/events/s3",
      await fetch(`${base}/v1/events/s3`, { method: "POST", body: JSON.stringify(notification) }),
    );
    const received = await check(
      "post",
      "/v1/events/cloudevents",
      await fetch(`${base}/v1/events/cloudevents`, {
        method: "POST",
        headers: { "content-type": "application/cloudevents+json" },
        body: JSON.stringify({
          specversion: "1.0",
          id: "evt-1",
          source: "acct:aem-p1-e2@adobe.com",
          type: "aem.assets.asset.processing_completed",
          data: {},
        }),
      }),
    );
    expect(received).toEqual({ received: true });
  });

  it("names `/` as its server when OPENAPI_SERVER_URL is unset", async () => {
    const other = await startWorker();
    try {
      const res = await fetch(`${other.url}/v1/openapi.json`);
      expect(((await res.json()) as Document).servers.map((s) => s.url)).toEqual(["/"]);
    } finally {
      await other.service.stop();
      await cleanupPrefix(other.prefix);
    }
  });
});

describe("GET /v1/openapi.json with ADMIN_PORT", () => {
  it("documents on each server exactly the routes fastify serves there", async () => {
    const { service, prefix } = await startWorker({ ADMIN_PORT: "0" });
    try {
      const servers = [
        { app: service.runtime.http!, url: service.runtime.url! },
        { app: service.runtime.adminHttp!, url: service.runtime.adminUrl! },
      ];
      const all: string[] = [];
      for (const { app, url } of servers) {
        const doc = (await (await fetch(`${url}/v1/openapi.json`)).json()) as Document;
        const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
          METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
        );
        const api = routeTable(app.printRoutes({ commonPrefix: false })).filter(
          (route) => !route.split(" ")[1]!.startsWith(BOARD_PATH),
        );
        const missing = api.filter((route) => {
          const [method, path] = route.split(" ") as [string, string];
          return !documented.some(
            (key) => key.startsWith(`${method} `) && servedBy(path, key.split(" ")[1]!),
          );
        });
        expect(missing, `${url}: routes without an OpenAPI entry`).toEqual([]);
        const phantom = documented.filter((key) => {
          const [method, path] = key.split(" ") as [string, string];
          return !api.some((route) => route.startsWith(`${method} `) && servedBy(route.split(" ")[1]!, path));
        });
        expect(phantom, `${url}: documented operations no route serves`).toEqual([]);
        all.push(...documented);
      }
      // Split, not lost: between them the two servers document every operation of one server.
      for (const expected of ["GET /metrics", "POST /v1/events/s3", "GET /v1/ingests", "GET /v1/queues"])
        expect(all).toContain(expected);
    } finally {
      await service.stop();
      await cleanupPrefix(prefix);
    }
  });
});
