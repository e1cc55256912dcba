import { parseEnv } from "../../src/config/load.js";
import type { RoutesFile } from "../../src/config/routes.js";
import { startService, type Service } from "../../src/runtime/service.js";
import { testRedisUrl } from "./redis.js";

/**
 * The service as `run` builds it, on the test Redis under `prefix`, its HTTP server on a free
 * loopback port and no workers taking jobs: for tests of the HTTP surface and of start-up.
 * The caller owns `prefix` (and cleans it up), so a start that fails still leaves it known.
 */
export async function startIdleService(
  prefix: string,
  env: Record<string, string>,
  routes: RoutesFile | null = null,
): Promise<Service> {
  const config = {
    env: parseEnv({
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: "0",
      ...env,
    }),
    routes,
  };
  return startService(config, { runWorkers: false });
}
