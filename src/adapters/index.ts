import type { Env } from "../config/env.js";
import { createAisAdapter, type AisAdapter } from "./ais/ais-adapter.js";
import {
  createUpstreamClient,
  type UpstreamClient,
  type UpstreamHttpSettings,
} from "./http/upstream-client.js";
import { createImagesAdapter, type ImagesAdapter } from "./images/images-adapter.js";
import {
  createAssetBindingAdapter,
  type AssetBindingAdapter,
} from "./asset-binding/asset-binding-adapter.js";
import { assetBindingSettingsFromEnv } from "./asset-binding/asset-binding-settings.js";
import { vimondTenants } from "./vimond-tenant.js";
import { createStatusAdapter, type StatusAdapter } from "./status/status-adapter.js";
import { closeAuth, upstreamSettingsFromEnv, type UpstreamSettingsOverrides } from "./upstream-settings.js";

export type {
  AisAdapter,
  AisAdapterOptions,
  FeedScope,
  ImportJob,
  ImportTask,
  ListJobsOptions,
  ListTasksOptions,
  RetryAssetResult,
} from "./ais/ais-adapter.js";
export type { JobState, TaskState } from "./ais/ais-states.js";
export type {
  CancelIngestResult,
  FindIngestsQuery,
  IngestsPage,
  ListIngestsPageQuery,
  StatusAdapter,
  StatusAdapterOptions,
  VideoIngest,
  VideoIngestDetails,
  VideoIngestTask,
} from "./status/status-adapter.js";
export type { IngestStage, IngestStatus } from "./status/status-states.js";
export type {
  ImagePack,
  ImagePackLocation,
  ImagesAdapter,
  ImagesAdapterOptions,
  InvalidateCacheResult,
} from "./images/images-adapter.js";
export { ImageRejectedError, isImageRejectedError } from "./images/image-rejected-error.js";
export type {
  AssetBindingAdapter,
  AssetBindingAdapterOptions,
  BindResult,
} from "./asset-binding/asset-binding-adapter.js";
export { createAssetBindingAdapter } from "./asset-binding/asset-binding-adapter.js";
export { assetBindingOffWarning } from "./asset-binding/asset-binding-settings.js";
export { vimondTenants } from "./vimond-tenant.js";
export { createAisAdapter } from "./ais/ais-adapter.js";
export { isSettled, mapJobState, mapTaskState } from "./ais/ais-states.js";
export { createStatusAdapter, videoIngestFromRaw } from "./status/status-adapter.js";
export { isFinalIngestStatus, mapIngestStatus } from "./status/status-states.js";
export { createImagesAdapter } from "./images/images-adapter.js";
export { UpstreamConfigError, upstreamSettingsFromEnv } from "./upstream-settings.js";
export type { UpstreamSettingsOverrides } from "./upstream-settings.js";

/** The adapters of the Vimond target, sharing nothing but their lifetime. */
export interface VimondAdapters {
  ais: AisAdapter;
  status: StatusAdapter;
  images: ImagesAdapter;
  /** Sets an asset's `imagePackId`; absent when `ASSET_BIND_BASE_URL` is unset (binding off). */
  assetBinding?: AssetBindingAdapter;
  /** Waits for in-flight requests, then closes every pool (token endpoints included). */
  close(): Promise<void>;
}

/**
 * Builds the AIS, Status and Image Service adapters from the environment (`AIS_*`, `STATUS_*`,
 * `IMAGES_*`). `overrides` apply to every upstream (tests shorten retries with them).
 *
 * @throws UpstreamConfigError when a base URL or credentials are missing
 */
export function createVimondAdapters(env: Env, overrides: UpstreamSettingsOverrides = {}): VimondAdapters {
  const clients: UpstreamClient[] = [];
  const settings: UpstreamHttpSettings[] = [];
  try {
    for (const key of ["AIS", "STATUS", "IMAGES"] as const) {
      settings.push(upstreamSettingsFromEnv(env, key, overrides));
    }
  } catch (error) {
    // An OAuth provider built before the failing upstream holds an (idle) pool; release it.
    void Promise.all(settings.map((s) => closeAuth(s.auth))).catch(() => {});
    throw error;
  }
  const [aisSettings, statusSettings, imagesSettings] = settings as [
    UpstreamHttpSettings,
    UpstreamHttpSettings,
    UpstreamHttpSettings,
  ];
  const client = (s: UpstreamHttpSettings) => {
    const created = createUpstreamClient(s);
    clients.push(created);
    return created;
  };

  const ais = createAisAdapter({
    client: client(aisSettings),
    ...(env.AIS_COMPANY_ID ? { companyId: env.AIS_COMPANY_ID } : {}),
  });
  const tenants = vimondTenants(env);
  const status = createStatusAdapter({ client: client(statusSettings), tenant: tenants.status });
  const imagesClient = client(imagesSettings);
  // The cache host is part of the same platform and takes the same credentials as the admin API.
  const cacheClient = env.IMAGES_CACHE_URL
    ? client({ ...imagesSettings, upstream: "imageCache", baseUrl: env.IMAGES_CACHE_URL })
    : undefined;
  const images = createImagesAdapter({
    client: imagesClient,
    ...(cacheClient ? { cacheClient } : {}),
    cacheEnvironment: env.IMAGES_CACHE_ENVIRONMENT,
    cacheTenant: tenants.imageCache,
  });
  let assetBinding: AssetBindingAdapter | undefined;
  const bindSettings = assetBindingSettingsFromEnv(env, imagesSettings, overrides);
  if (bindSettings) {
    // Its own credentials are closed with the rest; borrowed Image Service ones are closed once.
    if (bindSettings.auth !== imagesSettings.auth) settings.push(bindSettings);
    assetBinding = createAssetBindingAdapter({
      client: client(bindSettings),
      pathTemplate: env.ASSET_BIND_PATH,
      method: env.ASSET_BIND_METHOD,
    });
  }

  let closed: Promise<void> | undefined;
  return {
    ais,
    status,
    images,
    ...(assetBinding ? { assetBinding } : {}),
    close: () =>
      (closed ??= (async () => {
        await Promise.all(clients.map((c) => c.close()));
        await Promise.all(settings.map((s) => closeAuth(s.auth)));
      })()),
  };
}
