import type { SimContext } from "../core/types.js";

/** One (pack, location) slot: the stored original and the per-location overrides. */
export interface PackLocation {
  imageId?: string;
  contentType?: string;
  size?: number;
  /** Where `fetchImage` got the original from; absent for uploads. */
  sourceUrl?: string;
  /** `cropInfo`, `useResizeIncludeAll`, `resizeGravity`… as last PUT; `{}` clears them. */
  overrides: Record<string, unknown>;
  regions: Record<string, Record<string, unknown>>;
  updated: string;
}

/** An image pack: free-form metadata plus its locations. */
export interface ImagePack {
  id: string;
  metadata: Record<string, unknown>;
  imageLocations: Map<string, PackLocation>;
  created: string;
  updated: string;
}

/**
 * An asset of the asset REST API as far as the binding needs it: its `imagePackId` (seed 004) and
 * whatever other fields a client PUT.
 */
export interface SimAsset {
  id: string;
  imagePackId: string | null;
  fields: Record<string, unknown>;
  updated: string;
}

/** A stored original; bytes are kept only up to a size limit to bound memory in benchmarks. */
export interface StoredImage {
  contentType: string;
  size: number;
  bytes?: Buffer;
}

/**
 * State shared by the `images` (admin + client API) and `imageCache` (unified platform API) modules:
 * they are two hosts of one service, so a pack created on one must be invalidated on the other.
 */
export interface ImageStore {
  packs: Map<string, ImagePack>;
  /** Pack ids in creation order, for `listImagePacks` paging. */
  packOrder: string[];
  images: Map<string, StoredImage>;
  locationConfigs: Map<string, Record<string, unknown>>;
  /** `pack/location` → number of fetchImage requests, so duplicate fetches show in the stats. */
  fetchCounts: Map<string, number>;
  counters: { fetches: number; fetchesFailed: number; uploads: number; uploadsFailed: number };
  invalidations: Map<string, number>;
  /** Assets by id, created on first use (the AIS module creates assets; this host cannot see them). */
  assets: Map<string, SimAsset>;
  /**
   * Binding writes (PATCH/PUT of an asset); `redundant` counts writes that set the pack the asset
   * referenced already, which an idempotent client never needs to send.
   */
  bindings: { reads: number; writes: number; redundant: number; refused: number };
}

function emptyStore(): ImageStore {
  return {
    packs: new Map(),
    packOrder: [],
    images: new Map(),
    locationConfigs: new Map(),
    fetchCounts: new Map(),
    counters: { fetches: 0, fetchesFailed: 0, uploads: 0, uploadsFailed: 0 },
    invalidations: new Map(),
    assets: new Map(),
    bindings: { reads: 0, writes: 0, redundant: 0, refused: 0 },
  };
}

const stores = new WeakMap<object, ImageStore>();

/**
 * The store for one simulator instance, created on first use by whichever module asks first. The
 * core gives each module its own context but one event bus per instance, so the bus is the key
 * that both modules share; a hand-built context without a bus gets a store of its own.
 */
export function imageStoreFor(ctx: SimContext): ImageStore {
  const key: object = ctx.events ?? ctx;
  let store = stores.get(key);
  if (!store) {
    store = emptyStore();
    stores.set(key, store);
  }
  return store;
}

/** Clears every pack, original and counter (both modules' reset lands here). */
export function clearImageStore(store: ImageStore): void {
  Object.assign(store, emptyStore());
}

/** The pack as the admin API shows it. */
export function packView(pack: ImagePack): Record<string, unknown> {
  const imageLocations: Record<string, unknown> = {};
  for (const [name, location] of pack.imageLocations) imageLocations[name] = locationView(name, location);
  return { ...pack.metadata, id: pack.id, imageLocations, created: pack.created, updated: pack.updated };
}

export function locationView(name: string, location: PackLocation): Record<string, unknown> {
  return {
    ...location.overrides,
    name,
    ...(location.imageId !== undefined ? { imageId: location.imageId } : {}),
    ...(location.contentType !== undefined ? { contentType: location.contentType } : {}),
    ...(location.size !== undefined ? { size: location.size } : {}),
    ...(location.sourceUrl !== undefined ? { sourceUrl: location.sourceUrl } : {}),
    ...(Object.keys(location.regions).length > 0 ? { regions: location.regions } : {}),
    updated: location.updated,
  };
}

/** The asset as the asset REST API shows it. */
export function assetView(asset: SimAsset): Record<string, unknown> {
  return { ...asset.fields, id: asset.id, imagePackId: asset.imagePackId, updated: asset.updated };
}
