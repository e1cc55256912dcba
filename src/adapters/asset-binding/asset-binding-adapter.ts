import type { UpstreamClient } from "../http/upstream-client.js";
import { UpstreamError } from "../http/upstream-error.js";
import { assetBodySchema } from "./asset-binding-schemas.js";

/** What `ensureBound` found and did. */
export type BindResult =
  /** The asset referenced the pack already; nothing was written. */
  | { status: "already_bound" }
  /** The asset now references the pack; `previous` is the pack it referenced before, if any. */
  | { status: "bound"; previous?: string }
  /**
   * The asset REST API answered 404 at `path`: an unknown asset, or an `ASSET_BIND_PATH` that
   * does not fit the API (the two look alike, so the path is given for the operator).
   */
  | { status: "asset_not_found"; path: string };

/**
 * Binds image packs to assets: "Bind the returned ID to an asset by setting the asset's
 * `imagePackId` via the REST API" (seed 004). The asset REST API itself is outside the seeds, so
 * its path and write method are settings. Failed calls throw `UpstreamError`.
 */
export interface AssetBindingAdapter {
  /**
   * Reads the asset and writes `imagePackId` only when it names another pack (or none), so a
   * retry or a rerun after a crash never writes twice, and an asset moved to another pack is
   * moved back. The write is idempotent and retried on transient failures.
   */
  ensureBound(assetId: string, packId: string): Promise<BindResult>;
}

/** What `createAssetBindingAdapter` needs. */
export interface AssetBindingAdapterOptions {
  client: UpstreamClient;
  /** Path of one asset, with `{assetId}`; e.g. `/api/assets/{assetId}`. */
  pathTemplate: string;
  /**
   * `PATCH` sends only `{ "imagePackId": … }` and leaves every other field to the server; `PUT`
   * sends the asset as just read with `imagePackId` replaced, for APIs that only replace whole.
   */
  method: "PATCH" | "PUT";
}

/** Builds the adapter over a client bound to the asset REST API's base URL. */
export function createAssetBindingAdapter(options: AssetBindingAdapterOptions): AssetBindingAdapter {
  const { client, pathTemplate, method } = options;
  if (!pathTemplate.startsWith("/") || !pathTemplate.includes("{assetId}")) {
    throw new Error(
      `ASSET_BIND_PATH must start with / and contain {assetId}, got ${JSON.stringify(pathTemplate)}`,
    );
  }
  const pathOf = (assetId: string) => pathTemplate.replaceAll("{assetId}", encodeURIComponent(assetId));

  return {
    async ensureBound(assetId, packId) {
      const path = pathOf(assetId);
      const read = await client.request({
        operation: "getAsset",
        method: "GET",
        path,
        expect: [200, 404],
      });
      if (read.status === 404) return { status: "asset_not_found", path };
      const asset = assetBodySchema.safeParse(read.body);
      if (!asset.success || typeof read.body !== "object" || read.body === null) {
        // Writing on top of an asset we cannot read could clobber it; a person must look.
        throw new UpstreamError({
          upstream: client.upstream,
          operation: "getAsset",
          status: "invalid_response",
          retryable: false,
          ambiguous: false,
          attempts: 1,
          bodyExcerpt: read.rawText.slice(0, 300),
          ...(asset.success ? {} : { cause: asset.error }),
        });
      }
      const previous = asset.data.imagePackId ?? undefined;
      if (previous === packId) return { status: "already_bound" };
      const written = await client.request({
        operation: "bindImagePack",
        method,
        path,
        json: method === "PATCH" ? { imagePackId: packId } : { ...read.body, imagePackId: packId },
        expect: [200, 201, 204, 404],
        // Setting one field to one value twice ends as setting it once.
        idempotent: true,
      });
      if (written.status === 404) return { status: "asset_not_found", path };
      return previous === undefined ? { status: "bound" } : { status: "bound", previous };
    },
  };
}
