import type { Logger } from "pino";
import type { FaultInjector } from "./faults.js";
import type { Outcome, RawRequest } from "./http-server.js";
import { jsonError } from "./responses.js";
import { Router, splitPath } from "./router.js";
import type { RequestStats } from "./stats.js";
import type { TokenAuthority } from "./auth.js";
import type { HttpMethod, Scenario, SimModule, SimRequest, SimResponse, SimRoute } from "./types.js";

const METHODS = new Set<string>(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]);

/** What one upstream's request pipeline needs from the simulator. */
export interface DispatchDeps {
  upstream: string;
  module: SimModule | undefined;
  baseUrl: () => string;
  scenario: () => Scenario;
  now: () => number;
  auth: TokenAuthority;
  faults: FaultInjector;
  stats: RequestStats;
  log: Logger;
  /** `/_sim/*`: public, never faulted, never counted. */
  control: (req: SimRequest) => Promise<SimResponse>;
}

/**
 * The request pipeline of one upstream: route → auth → faults → handler → after-effect faults →
 * stats. A failed request (fault before, 401, 404) never reaches the module, so it has no effect.
 */
export class UpstreamDispatcher {
  readonly router: Router;

  constructor(private readonly deps: DispatchDeps) {
    const tokenRoute: SimRoute = {
      method: "POST",
      pattern: "/oauth/token",
      operation: "oauthToken",
      public: true,
      handler: (req) => deps.auth.issue(req, deps.scenario().auth, deps.now()),
    };
    this.router = new Router([tokenRoute, ...(deps.module?.routes ?? [])]);
  }

  async dispatch(raw: RawRequest): Promise<Outcome> {
    const { deps } = this;
    let url: URL;
    try {
      url = new URL(raw.url, "http://sim.invalid");
    } catch {
      return respond(jsonError(400, "bad_request", "unparseable request target"));
    }
    const path = `/${splitPath(url.pathname).join("/")}`;
    const req: SimRequest = {
      method: raw.method as HttpMethod,
      path,
      params: {},
      query: url.searchParams,
      headers: raw.headers,
      body: raw.body,
      // Links (Location, QueueUrl) name the host the client used, as a real server's do: bound to
      // 0.0.0.0 in a container the listen address is no URL another container can reach.
      baseUrl: raw.headers.host ? `http://${raw.headers.host}` : deps.baseUrl(),
    };
    if (path === "/_sim" || path.startsWith("/_sim/")) return respond(await deps.control(req));

    const match = METHODS.has(raw.method) ? this.router.match(raw.method, path) : this.methodOnly(path);
    if (match.kind === "notFound") {
      deps.stats.count(`${deps.upstream}.unmatched`, "404");
      return respond(jsonError(404, "not_found", `no route for ${raw.method} ${path} on ${deps.upstream}`));
    }
    if (match.kind === "methodNotAllowed") {
      deps.stats.count(`${deps.upstream}.unmatched`, "405");
      return respond(
        jsonError(405, "method_not_allowed", `${raw.method} is not allowed on ${path}`, {
          allow: match.allowed.join(", "),
        }),
      );
    }
    req.params = match.params;
    const { route } = match;
    let operation: string;
    try {
      operation = typeof route.operation === "function" ? route.operation(req) : route.operation;
    } catch (error) {
      deps.log.warn({ err: error, path }, "operation resolver threw");
      operation = "unknown";
    }
    const key = `${deps.upstream}.${operation}`;

    if (!route.public) {
      const problem = deps.auth.check(raw.headers.authorization, deps.now());
      if (problem !== null) {
        deps.stats.count(key, "401");
        return respond(
          jsonError(401, "unauthorized", problem, {
            "www-authenticate": `Bearer realm="simulator", error="invalid_token"`,
          }),
        );
      }
    }

    const settings = deps.faults.settingsFor(deps.scenario(), deps.upstream, operation);
    const latency = deps.faults.latencyMs(settings);
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    const before = deps.faults.before(deps.upstream, operation, settings);
    if (before.kind !== "none") return this.fault(key, before);

    let response: SimResponse;
    try {
      response = await route.handler(req);
    } catch (error) {
      deps.log.warn({ err: error, upstream: deps.upstream, operation }, "simulator handler threw");
      response = jsonError(500, "internal", `handler for ${operation} failed: ${(error as Error).message}`);
    }
    const after = deps.faults.after(settings);
    if (after.kind !== "none") return this.fault(key, after);
    deps.stats.count(key, String(response.status));
    return respond(response);
  }

  /** Non-standard methods: 405 when the path exists for some method, else 404. */
  private methodOnly(path: string) {
    const probe = this.router.match("GET", path);
    if (probe.kind === "notFound") return probe;
    const allowed = (["GET", "POST", "PUT", "PATCH", "DELETE"] as const).filter(
      (m) => this.router.match(m, path).kind === "found",
    );
    return { kind: "methodNotAllowed" as const, allowed: [...allowed] };
  }

  private fault(
    key: string,
    decision: Exclude<ReturnType<FaultInjector["before"]>, { kind: "none" }>,
  ): Outcome {
    const { stats } = this.deps;
    switch (decision.kind) {
      case "tooMany":
        stats.count(key, "429");
        return respond(
          jsonError(429, "too_many_requests", "rate limit exceeded (simulated)", {
            "retry-after": String(decision.retryAfterSeconds),
          }),
        );
      case "status":
        stats.count(key, String(decision.status));
        return respond(jsonError(decision.status, "upstream_error", `simulated ${decision.status}`));
      case "reset":
        stats.count(key, "reset");
        return { kind: "reset" };
      case "timeout":
        stats.count(key, "timeout");
        return { kind: "hold" };
    }
  }
}

function respond(response: SimResponse): Outcome {
  return { kind: "respond", response };
}
