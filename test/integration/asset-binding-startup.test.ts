import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assetBindingOffWarning } from "../../src/adapters/asset-binding/asset-binding-settings.js";
import { parseEnv } from "../../src/config/load.js";
import { parseRoutes } from "../../src/config/routes.js";
import { configureLogger } from "../../src/log/logger.js";
import { captureLog } from "../support/captured-log.js";
import { startIdleService } from "../support/idle-service.js";
import { cleanupPrefix, uniquePrefix } from "../support/redis.js";

/**
 * The worker says once, at start-up, that Vimond routes run without the asset binding: their image
 * packs are filled but no asset references them (seed 004), which nothing else would reveal.
 */
const UPSTREAM_ENV = {
  AIS_BASE_URL: "http://127.0.0.1:9",
  AIS_TOKEN: "t",
  STATUS_BASE_URL: "http://127.0.0.1:9",
  STATUS_TOKEN: "t",
  IMAGES_BASE_URL: "http://127.0.0.1:9",
  IMAGES_TOKEN: "t",
  ASSETS_BASE_URL: "http://127.0.0.1:9",
  ASSETS_TOKEN: "t",
};
const vimondRoute = { name: "vimond-main", bucket: "in", target: "vimond", vimond: { mediaFeedId: "1" } };
const otherRoute = {
  name: "managed-only",
  bucket: "in-managed",
  target: "asset-management",
  assetManagement: { parentFolder: "news" },
};

const lines: string[] = [];
const prefixes: string[] = [];

beforeAll(() => {
  captureLog("warn", lines);
});
afterAll(async () => {
  configureLogger({});
  await Promise.all(prefixes.map((prefix) => cleanupPrefix(prefix)));
});

/** Starts and stops the service; returns the warn lines about the binding it logged meanwhile. */
async function bindingWarnings(env: Record<string, string>, routes: unknown[]): Promise<string[]> {
  const prefix = uniquePrefix("asset-binding-startup");
  prefixes.push(prefix);
  const from = lines.length;
  const service = await startIdleService(prefix, { ...UPSTREAM_ENV, ...env }, parseRoutes({ routes }));
  await service.stop();
  return lines.slice(from).filter((line) => line.includes("ASSET_BIND_BASE_URL"));
}

describe("asset binding at start-up", () => {
  it("warns once, naming the Vimond routes, when the binding is off", async () => {
    const warnings = await bindingWarnings({}, [vimondRoute, otherRoute]);
    expect(warnings).toHaveLength(1);
    const line = JSON.parse(warnings[0]!) as { level: string; msg: string };
    expect(line.level).toBe("warn");
    expect(line.msg).toContain("image packs of routes vimond-main are filled but not bound");
    expect(line.msg).not.toContain("managed-only");
  });

  it("says nothing when the binding is on or no route targets Vimond", async () => {
    expect(await bindingWarnings({ ASSET_BIND_BASE_URL: "http://127.0.0.1:9" }, [vimondRoute])).toEqual([]);
    expect(await bindingWarnings({}, [otherRoute])).toEqual([]);
    const env = parseEnv({});
    expect(assetBindingOffWarning(env, null)).toBeUndefined();
  });

  it("refuses an ASSET_BIND_PATH without {assetId} at start-up, naming the variable", () => {
    expect(parseEnv({}).ASSET_BIND_PATH).toBe("/api/assets/{assetId}");
    expect(parseEnv({ ASSET_BIND_PATH: "/v2/asset/{assetId}/meta" }).ASSET_BIND_PATH).toBe(
      "/v2/asset/{assetId}/meta",
    );
    for (const bad of ["/api/assets", "api/assets/{assetId}"]) {
      expect(() => parseEnv({ ASSET_BIND_PATH: bad })).toThrow(
        `ASSET_BIND_PATH must be a path that starts with / and contains {assetId}, got ${JSON.stringify(bad)}`,
      );
    }
    expect(() => parseEnv({ ASSET_BIND_METHOD: "POST" })).toThrow(
      /ASSET_BIND_METHOD must be one of PATCH, PUT/,
    );
  });
});
