import { envSchema, type Env, type UpstreamKey } from "./env.js";
import { partitionPrefixProblem } from "../queues/partitions.js";
import { expectsOf } from "./env-fields.js";
import { loadRoutesFile, TARGET_UPSTREAMS, type RoutesFile } from "./routes.js";
import type { z } from "zod";

export interface Config {
  env: Env;
  /** Null when no ROUTES_FILE is set: the worker starts and counts every event as unrouted. */
  routes: RoutesFile | null;
}

/** Start-up configuration problems, one human-readable line each. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

const shape = envSchema.shape as Record<string, z.ZodType>;

/** Parses the environment; every bad variable becomes one line naming it and what it expects. */
export function parseEnv(source: NodeJS.ProcessEnv): Env {
  const result = envSchema.safeParse(source);
  if (result.success) {
    const problem = partitionPrefixProblem(result.data.QUEUE_PREFIX, result.data.PARTITIONS);
    if (problem) throw new ConfigError([problem]);
    const { HTTP_PORT, ADMIN_PORT } = result.data;
    // Two listeners on one port: the second would fail with EADDRINUSE after the workers started.
    if (ADMIN_PORT !== undefined && ADMIN_PORT !== 0 && ADMIN_PORT === HTTP_PORT)
      throw new ConfigError([
        `ADMIN_PORT must differ from HTTP_PORT (both ${HTTP_PORT}); unset it to serve everything on HTTP_PORT`,
      ]);
    return result.data;
  }
  const problems = new Map<string, string>();
  for (const issue of result.error.issues) {
    const name = String(issue.path[0] ?? "");
    if (problems.has(name)) continue;
    const field = shape[name];
    const expects = (field && expectsOf(field)) ?? issue.message;
    problems.set(name, `${name} must be ${expects}, got ${JSON.stringify(source[name] ?? "")}`);
  }
  throw new ConfigError([...problems.values()]);
}

/** Checks that every upstream a route targets has a base URL and a way to authenticate. */
export function requireUpstreams(env: Env, routes: RoutesFile | null): void {
  const needed = new Set<UpstreamKey>();
  for (const route of routes?.routes ?? []) for (const key of TARGET_UPSTREAMS[route.target]) needed.add(key);
  const problems: string[] = [];
  for (const key of needed) {
    const routeNames = (routes?.routes ?? [])
      .filter((r) => TARGET_UPSTREAMS[r.target].includes(key))
      .map((r) => r.name)
      .join(", ");
    if (!env[`${key}_BASE_URL`]) problems.push(`${key}_BASE_URL must be set: routes ${routeNames} need it`);
    const hasStatic = Boolean(env[`${key}_TOKEN`] || env[`${key}_TOKEN_FILE`]);
    const hasOauth = Boolean(env[`${key}_OAUTH_TOKEN_URL`]);
    if (!hasStatic && !hasOauth)
      problems.push(
        `${key}_TOKEN, ${key}_TOKEN_FILE or ${key}_OAUTH_TOKEN_URL must be set: routes ${routeNames} need it`,
      );
    if (hasOauth && !(env[`${key}_CLIENT_ID`] && env[`${key}_CLIENT_SECRET`]))
      problems.push(`${key}_CLIENT_ID and ${key}_CLIENT_SECRET must be set with ${key}_OAUTH_TOKEN_URL`);
    // Seed 003 secures every AEM operation with a bearer token and an API key; one alone gets 401.
    if (key === "AEM" && !env.AEM_API_KEY)
      problems.push(
        `AEM_API_KEY must be set (sent as x-api-key; AEM answers 401 without it): routes ${routeNames} need it`,
      );
  }
  if (problems.length) throw new ConfigError(problems);
}

/** Environment plus routes file, validated together; throws ConfigError or RoutesFileError. */
export async function loadConfig(source: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const env = parseEnv(source);
  const routes = env.ROUTES_FILE ? await loadRoutesFile(env.ROUTES_FILE) : null;
  requireUpstreams(env, routes);
  return { env, routes };
}
