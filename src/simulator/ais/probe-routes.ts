import type { SimRoute } from "../core/types.js";

/** `GET /ping` of seed 000: public, answers `pong`. */
export const PING_ROUTE: SimRoute = {
  method: "GET",
  pattern: "/ping",
  operation: "ping",
  public: true,
  handler: () => ({ status: 200, body: "pong" }),
};

/** The public probes of seed 000: `/ping` and `/version`. */
export function probeRoutes(): SimRoute[] {
  return [
    PING_ROUTE,
    {
      method: "GET",
      pattern: "/version",
      operation: "getVersion",
      public: true,
      handler: () => ({
        status: 200,
        body: { name: "ais-all-in-one-service", version: "0.0.0-simulator" },
      }),
    },
  ];
}
