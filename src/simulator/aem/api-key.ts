import type { SimRoute } from "../core/types.js";
import { problem } from "../module-kit/responses.js";
import type { AemSettings } from "./settings.js";

/**
 * Seed 003 secures every operation with "Bearer and ApiKeyAuth". The core checks the bearer token;
 * this wraps each AEM route so a request without the API key (`x-api-key`, as Adobe's gateways
 * take it) is refused with 401 before the handler runs, so it has no effect.
 */
export function requireApiKey(routes: SimRoute[], settings: () => AemSettings): SimRoute[] {
  return routes.map((route) => ({
    ...route,
    handler: (req) => {
      const given = req.headers["x-api-key"];
      const expected = settings().apiKey;
      if (given === undefined || given.trim() === "")
        return problem(
          401,
          "Unauthorized",
          "missing x-api-key header: AEM requires an API key with the bearer token",
        );
      if (expected !== undefined && given !== expected)
        return problem(401, "Unauthorized", "invalid x-api-key");
      return route.handler(req);
    },
  }));
}
