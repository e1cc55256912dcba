import type { Env } from "../../config/env.js";
import type { UpstreamHttpSettings } from "../http/upstream-client.js";
import {
  UpstreamConfigError,
  upstreamSettingsFromEnv,
  type UpstreamSettingsOverrides,
} from "../upstream-settings.js";

/** The AEM adapter's HTTP settings: an upstream's usual ones plus the API key seed 003 asks for. */
export interface AemAdapterSettings extends UpstreamHttpSettings {
  /**
   * Sent as `x-api-key` with every request. Seed 003 secures every operation with "Bearer and
   * ApiKeyAuth"; Adobe's gateways take the key (the integration's client id) in that header.
   */
  apiKey: string;
}

/**
 * `AEM_*` settings from the environment: base URL, bearer credentials and `AEM_API_KEY`.
 * @throws UpstreamConfigError when one of them is missing
 */
export function aemSettingsFromEnv(env: Env, overrides: UpstreamSettingsOverrides = {}): AemAdapterSettings {
  const apiKey = env.AEM_API_KEY;
  if (!apiKey) {
    throw new UpstreamConfigError(
      "AEM_API_KEY must be set to call aem (sent as x-api-key; AEM answers 401 without it)",
    );
  }
  return { ...upstreamSettingsFromEnv(env, "AEM", overrides), apiKey };
}
