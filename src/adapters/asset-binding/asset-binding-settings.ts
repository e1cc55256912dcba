import type { Env } from "../../config/env.js";
import type { RoutesFile } from "../../config/routes.js";
import type { UpstreamHttpSettings } from "../http/upstream-client.js";
import { upstreamSettingsFromEnv, type UpstreamSettingsOverrides } from "../upstream-settings.js";

/**
 * The HTTP settings of the asset REST API, or undefined when `ASSET_BIND_BASE_URL` is unset (the
 * binding is off). It takes its own `ASSET_BIND_*` credentials when any is set; otherwise the
 * Image Service's, as the cache host does: both are hosts of one platform behind one token.
 */
export function assetBindingSettingsFromEnv(
  env: Env,
  images: UpstreamHttpSettings,
  overrides: UpstreamSettingsOverrides = {},
): UpstreamHttpSettings | undefined {
  const baseUrl = env.ASSET_BIND_BASE_URL;
  if (!baseUrl) return undefined;
  if (env.ASSET_BIND_TOKEN || env.ASSET_BIND_TOKEN_FILE || env.ASSET_BIND_OAUTH_TOKEN_URL) {
    return { ...upstreamSettingsFromEnv(env, "ASSET_BIND", overrides), upstream: "assetBind" };
  }
  const timeoutMs = env.ASSET_BIND_TIMEOUT_MS;
  return {
    ...images,
    connectTimeoutMs: Math.min(5_000, timeoutMs),
    headersTimeoutMs: timeoutMs,
    bodyTimeoutMs: timeoutMs,
    ...overrides,
    upstream: "assetBind",
    baseUrl,
  };
}

/**
 * The start-up warning when Vimond routes run without the binding: their image packs are filled
 * but no asset references them, so players show no images. Undefined when there is nothing to say.
 */
export function assetBindingOffWarning(env: Env, routes: RoutesFile | null): string | undefined {
  if (env.ASSET_BIND_BASE_URL) return undefined;
  const vimond = (routes?.routes ?? []).filter((route) => route.target === "vimond").map((r) => r.name);
  if (vimond.length === 0) return undefined;
  return (
    `ASSET_BIND_BASE_URL is not set: image packs of routes ${vimond.join(", ")} are filled but not ` +
    "bound to their assets (the asset's imagePackId stays unset, seed 004); set ASSET_BIND_BASE_URL"
  );
}
