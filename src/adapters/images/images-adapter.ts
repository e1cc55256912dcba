import type { UpstreamClient } from "../http/upstream-client.js";
import { isUpstreamError, UpstreamError } from "../http/upstream-error.js";
import { ImageRejectedError, withoutUrlQuery } from "./image-rejected-error.js";
import {
  createdPackSchema,
  errorBodySchema,
  fetchedImageSchema,
  imagePackSchema,
  type ImagePackBody,
} from "./images-schemas.js";

/** One (pack, location) slot. */
export interface ImagePackLocation {
  name: string;
  /** Id of the stored original; absent while the location has no image. */
  imageId?: string;
  raw: unknown;
}

/** An image pack and which of its locations hold an original. */
export interface ImagePack {
  id: string;
  locations: Record<string, ImagePackLocation>;
  raw: unknown;
}

/** What `invalidateCache` did; `not_configured` when no cache URL is set (the service's own
 * aggregator invalidates within about five minutes anyway). */
export type InvalidateCacheResult =
  { status: "invalidated" } | { status: "not_found" } | { status: "not_configured" };

/**
 * The Vimond Image Service (seed 004): image packs, fetching originals from URLs, and cache
 * invalidation through the unified platform API. Failed calls throw `UpstreamError`; a refused
 * image throws `ImageRejectedError`.
 */
export interface ImagesAdapter {
  /** `POST /adminAPI/imagePacks`. Not retried: a lost answer may leave an unused pack behind. */
  createImagePack(metadata?: Record<string, unknown>): Promise<{ id: string }>;
  /** `GET /adminAPI/imagePack/{id}`; undefined when the pack does not exist (404). */
  getImagePack(id: string): Promise<ImagePack | undefined>;
  /**
   * Has the service download `imageUrl` as the original of (pack, location). Retried on transient
   * failures: storing the same source in the same slot twice ends as storing it once.
   * @throws ImageRejectedError on 422 (never retryable)
   */
  fetchImage(packId: string, location: string, imageUrl: string): Promise<{ imageId?: string }>;
  /** `DELETE /{environment}-lof/images/{tenant}/{packId}` on the cache host. */
  invalidateCache(packId: string): Promise<InvalidateCacheResult>;
  /** `GET /api/ping`; throws when the service does not answer 2xx. */
  ping(): Promise<void>;
}

/** What `createImagesAdapter` needs. */
export interface ImagesAdapterOptions {
  /** Bound to the image service host (admin API). */
  client: UpstreamClient;
  /** Bound to the unified platform API host; without it `invalidateCache` does nothing. */
  cacheClient?: UpstreamClient;
  /** `{environment}` of the `{environment}-lof` path segment, e.g. `prod`. */
  cacheEnvironment: string;
  /** `{tenant}` of the invalidation path. */
  cacheTenant: string;
}

const segment = (value: string) => encodeURIComponent(value);

/** Builds the Image Service adapter. */
export function createImagesAdapter(options: ImagesAdapterOptions): ImagesAdapter {
  const { client, cacheClient } = options;

  return {
    async createImagePack(metadata = {}) {
      const response = await client.request({
        operation: "createImagePack",
        method: "POST",
        path: "/adminAPI/imagePacks",
        json: metadata,
        schema: createdPackSchema,
        idempotent: false,
      });
      return { id: response.body.id };
    },

    async getImagePack(id) {
      const response = await client.request({
        operation: "getImagePack",
        method: "GET",
        path: `/adminAPI/imagePack/${segment(id)}`,
        expect: [200, 404],
      });
      if (response.status === 404) return undefined;
      const parsed = imagePackSchema.safeParse(response.body);
      if (!parsed.success) throw invalidResponse("getImagePack", response.rawText, parsed.error);
      return toPack(parsed.data);
    },

    async fetchImage(packId, location, imageUrl) {
      let response;
      try {
        response = await client.request({
          operation: "fetchImagePackLocationImage",
          method: "POST",
          path: `/adminAPI/imagePack/${segment(packId)}/${segment(location)}/fetchImage`,
          query: { imageUrl },
          expect: [200, 201, 204, 422],
          // Not repeated blindly: a second fetch stores the source again. One that may have landed
          // (a timeout or reset after sending, a 5xx) surfaces as ambiguous, and the step checks
          // the pack before it fetches again.
          idempotent: false,
        });
      } catch (error) {
        throw scrubbed(error, imageUrl);
      }
      if (response.status === 422) {
        const body = errorBodySchema.safeParse(response.body);
        const reason = body.success ? body.data.message : response.rawText.trim().slice(0, 300);
        throw new ImageRejectedError(packId, location, withoutUrlQuery(reason || "HTTP 422", imageUrl));
      }
      const parsed = fetchedImageSchema.safeParse(response.body);
      if (!parsed.success) return {};
      const imageId = parsed.data.imageId ?? parsed.data.imageLocations?.[location]?.imageId ?? undefined;
      return imageId === undefined ? {} : { imageId };
    },

    async invalidateCache(packId) {
      if (!cacheClient) return { status: "not_configured" };
      const path = `/${segment(`${options.cacheEnvironment}-lof`)}/images/${segment(options.cacheTenant)}/${segment(packId)}`;
      const response = await cacheClient.request({
        operation: "invalidateImagePackCache",
        method: "DELETE",
        path,
        expect: [200, 202, 204, 404],
      });
      return response.status === 404 ? { status: "not_found" } : { status: "invalidated" };
    },

    async ping() {
      await client.request({ operation: "listPing", method: "GET", path: "/api/ping" });
    },
  };

  function invalidResponse(operation: string, text: string, cause: unknown): UpstreamError {
    return new UpstreamError({
      upstream: client.upstream,
      operation,
      status: "invalid_response",
      retryable: false,
      ambiguous: false,
      attempts: 1,
      bodyExcerpt: text.slice(0, 300),
      cause,
    });
  }
}

/** An upstream error whose body excerpt may echo the presigned URL, with the URL's query removed. */
function scrubbed(error: unknown, imageUrl: string): unknown {
  if (!isUpstreamError(error) || error.bodyExcerpt === undefined) return error;
  return new UpstreamError({ ...error.details(), bodyExcerpt: withoutUrlQuery(error.bodyExcerpt, imageUrl) });
}

function toPack(body: ImagePackBody): ImagePack {
  const locations: Record<string, ImagePackLocation> = {};
  for (const [name, location] of Object.entries(body.imageLocations ?? {})) {
    const entry: ImagePackLocation = { name, raw: location };
    if (location.imageId != null) entry.imageId = location.imageId;
    locations[name] = entry;
  }
  return { id: body.id, locations, raw: body };
}
