import type { SimContext, SimModule, SimModuleFactory } from "./core/types.js";
import { settingsReader } from "./module-kit/settings.js";
import { adminRoutes } from "./images/admin-routes.js";
import { assetRoutes } from "./images/asset-routes.js";
import { cacheRoutes } from "./images/cache-routes.js";
import { locationConfigRoutes } from "./images/location-config-routes.js";
import { publicRoutes } from "./images/public-routes.js";
import { imagesSettingsSchema } from "./images/settings.js";
import { clearImageStore, imageStoreFor } from "./images/store.js";

/**
 * The Vimond Image Service (seed 004): admin and client API on the `images` base URL, plus the
 * asset REST API's binding of packs to assets (`/api/assets/{assetId}`). Shares its store with
 * `createImageCacheSim` through `imageStoreFor(ctx)`.
 */
export const createImagesSim: SimModuleFactory = (ctx: SimContext): SimModule => {
  const store = imageStoreFor(ctx);
  const readSettings = settingsReader(ctx, "images", imagesSettingsSchema);
  const settings = () => readSettings().value;
  return {
    name: "images",
    settingsSchema: imagesSettingsSchema,
    routes: [
      ...publicRoutes(store, settings),
      ...adminRoutes({ ctx, store, settings }),
      ...locationConfigRoutes(store),
      ...assetRoutes(ctx, store, settings),
    ],
    stats: () => {
      let withOriginal = 0;
      for (const pack of store.packs.values()) {
        for (const location of pack.imageLocations.values())
          if (location.imageId !== undefined) withOriginal += 1;
      }
      let duplicateFetches = 0;
      for (const count of store.fetchCounts.values()) if (count > 1) duplicateFetches += count - 1;
      let assetsBound = 0;
      for (const asset of store.assets.values()) if (asset.imagePackId !== null) assetsBound += 1;
      const settingsError = readSettings().error;
      return {
        packs: store.packs.size,
        locationsWithOriginal: withOriginal,
        ...store.counters,
        duplicateFetches,
        fetchesByPackLocation: Object.fromEntries(store.fetchCounts),
        assets: store.assets.size,
        assetsBound,
        bindings: { ...store.bindings },
        ...(settingsError !== undefined ? { settingsError } : {}),
      };
    },
    reset: () => clearImageStore(store),
  };
};

/** The unified platform API's image cache invalidation (seed 004) on the `imageCache` base URL. */
export const createImageCacheSim: SimModuleFactory = (ctx: SimContext): SimModule => {
  const store = imageStoreFor(ctx);
  return {
    name: "imageCache",
    routes: cacheRoutes(store),
    stats: () => {
      let total = 0;
      for (const count of store.invalidations.values()) total += count;
      return { invalidations: total, invalidationsByPack: Object.fromEntries(store.invalidations) };
    },
    // Packs belong to the images module; this host only forgets its own invalidation history.
    reset: () => store.invalidations.clear(),
  };
};
