import { z } from "zod";
import type { SimContext, SimRequest, SimResponse, SimRoute } from "../core/types.js";
import { download } from "../module-kit/download.js";
import { seededUuid } from "../module-kit/ids.js";
import { parseJsonBody } from "../module-kit/json-body.js";
import { matchesAny } from "../module-kit/patterns.js";
import { errorResponse } from "../module-kit/responses.js";
import { contentTypeOf, sniffImageFormat } from "./magic.js";
import { firstMultipartFile } from "./multipart.js";
import type { ImagesSettings } from "./settings.js";
import { locationView, packView, type ImagePack, type ImageStore, type PackLocation } from "./store.js";

const PAGE_SIZE = 1000;

const packBody = z.union([z.undefined(), z.record(z.string(), z.unknown())]);
const locationOverrides = z.looseObject({
  cropInfo: z.looseObject({ x: z.number(), y: z.number(), width: z.number(), height: z.number() }).optional(),
  useResizeIncludeAll: z.boolean().optional(),
  resizeGravity: z.string().optional(),
});
const deleteLocationBody = z
  .looseObject({
    imageLocationName: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    location: z.string().min(1).optional(),
  })
  .refine((b) => (b.imageLocationName ?? b.name ?? b.location) !== undefined, {
    message: "imageLocationName is required",
  });

/** Everything the admin handlers need, built once per simulator instance. */
export interface AdminDeps {
  ctx: SimContext;
  store: ImageStore;
  settings: () => ImagesSettings;
}

/** Admin API routes of seed 004: image packs, pack locations, originals (fetch and upload). */
export function adminRoutes(deps: AdminDeps): SimRoute[] {
  const { ctx, store } = deps;
  const nowIso = () => new Date(ctx.now()).toISOString();
  const findPack = (id: string | undefined): ImagePack | undefined =>
    id === undefined ? undefined : store.packs.get(id);
  const packNotFound = (id: string | undefined) =>
    errorResponse(404, "not_found", `image pack ${id ?? ""} not found`);

  /** A handler for a route under one pack: `handle` runs only when the path's `:id` names a pack. */
  const withPack =
    (handle: (pack: ImagePack, req: SimRequest) => SimResponse) =>
    (req: SimRequest): SimResponse => {
      const pack = findPack(req.params.id);
      return pack ? handle(pack, req) : packNotFound(req.params.id);
    };

  const ensureLocation = (pack: ImagePack, name: string): PackLocation => {
    let location = pack.imageLocations.get(name);
    if (!location) {
      location = { overrides: {}, regions: {}, updated: nowIso() };
      pack.imageLocations.set(name, location);
    }
    return location;
  };

  /**
   * The two location PUTs (whole location, one region): same checks and answer, `apply` puts the
   * overrides where the route says.
   */
  const updateLocation = (
    apply: (location: PackLocation, overrides: Record<string, unknown>, req: SimRequest) => void,
  ) =>
    withPack((pack, req) => {
      const body = parseJsonBody(req, locationOverrides.optional());
      if (!body.ok) return errorResponse(400, "bad_request", body.message);
      const name = req.params.imageLocationName ?? "";
      const location = ensureLocation(pack, name);
      apply(location, { ...(body.value ?? {}) }, req);
      location.updated = nowIso();
      return { status: 200, body: locationView(name, location) };
    });

  /** Stores an accepted original in the (pack, location) slot and answers like the service. */
  const storeOriginal = (pack: ImagePack, name: string, bytes: Buffer, sourceUrl?: string): SimResponse => {
    const format = sniffImageFormat(bytes);
    if (!format) {
      return errorResponse(422, "unprocessable_image", "the data is not a JPEG, PNG, GIF or WebP image");
    }
    const imageId = seededUuid(ctx);
    const contentType = contentTypeOf(format);
    const keep = bytes.length <= deps.settings().storeBytesUpTo;
    store.images.set(imageId, { contentType, size: bytes.length, ...(keep ? { bytes } : {}) });
    const location = ensureLocation(pack, name);
    const previous = location.imageId;
    if (previous !== undefined) store.images.delete(previous);
    location.imageId = imageId;
    location.contentType = contentType;
    location.size = bytes.length;
    if (sourceUrl === undefined) delete location.sourceUrl;
    else location.sourceUrl = sourceUrl;
    location.updated = nowIso();
    pack.updated = location.updated;
    return { status: 200, body: locationView(name, location) };
  };

  const fetchImage = async (req: SimRequest): Promise<SimResponse> => {
    const pack = findPack(req.params.id);
    const name = req.params.imageLocationName ?? "";
    const key = `${req.params.id ?? ""}/${name}`;
    store.fetchCounts.set(key, (store.fetchCounts.get(key) ?? 0) + 1);
    store.counters.fetches += 1;
    const fail = (message: string): SimResponse => {
      store.counters.fetchesFailed += 1;
      return errorResponse(422, "unprocessable_image", message);
    };
    if (!pack) {
      store.counters.fetchesFailed += 1;
      return packNotFound(req.params.id);
    }
    const imageUrl = req.query.get("imageUrl");
    if (!imageUrl) return fail("query parameter imageUrl is required");
    const settings = deps.settings();
    if (matchesAny(settings.failFetch, imageUrl))
      return fail(`could not download ${imageUrl} (scripted failure)`);
    const result = await download(imageUrl, {
      timeoutMs: settings.fetchTimeoutMs,
      maxBytes: settings.maxImageBytes,
    });
    if (!result.ok) return fail(`could not download ${imageUrl}: ${result.reason}`);
    const stored = storeOriginal(pack, name, result.bytes, imageUrl);
    if (stored.status !== 200) store.counters.fetchesFailed += 1;
    return stored;
  };

  const upload = withPack((pack, req) => {
    const contentType = req.headers["content-type"] ?? "";
    const bytes = /^multipart\/form-data/i.test(contentType)
      ? firstMultipartFile(contentType, req.body)
      : req.body;
    store.counters.uploads += 1;
    if (!bytes || bytes.length === 0) {
      store.counters.uploadsFailed += 1;
      return errorResponse(422, "unprocessable_image", "no image data in the request");
    }
    const stored = storeOriginal(pack, req.params.imageLocationName ?? "", bytes);
    if (stored.status !== 200) store.counters.uploadsFailed += 1;
    return stored;
  });

  return [
    {
      method: "POST",
      pattern: "/adminAPI/imagePacks",
      operation: "createImagePack",
      handler: (req) => {
        const body = parseJsonBody(req, packBody);
        if (!body.ok) return errorResponse(400, "bad_request", body.message);
        const id = seededUuid(ctx);
        const now = nowIso();
        const metadata = { ...(body.value ?? {}) };
        delete metadata.id;
        delete metadata.imageLocations;
        const pack: ImagePack = { id, metadata, imageLocations: new Map(), created: now, updated: now };
        store.packs.set(id, pack);
        store.packOrder.push(id);
        return { status: 200, body: packView(pack) };
      },
    },
    {
      method: "GET",
      pattern: "/adminAPI/imagePacks",
      operation: "listImagePacks",
      handler: (req) => {
        const offsetText = req.query.get("offset") ?? "0";
        const offset = Number(offsetText);
        if (!Number.isInteger(offset) || offset < 0) {
          return errorResponse(400, "bad_request", "offset must be a non-negative integer");
        }
        return { status: 200, body: store.packOrder.slice(offset, offset + PAGE_SIZE) };
      },
    },
    {
      method: "GET",
      pattern: "/adminAPI/imagePack/:id",
      operation: "getImagePack",
      handler: withPack((pack) => ({ status: 200, body: packView(pack) })),
    },
    {
      method: "PUT",
      pattern: "/adminAPI/imagePack/:id",
      operation: "updateImagePack",
      handler: withPack((pack, req) => {
        const body = parseJsonBody(req, z.record(z.string(), z.unknown()));
        if (!body.ok) return errorResponse(400, "bad_request", body.message);
        // The full representation replaces the metadata; originals are not part of it.
        const metadata = { ...body.value };
        delete metadata.id;
        delete metadata.imageLocations;
        pack.metadata = metadata;
        pack.updated = nowIso();
        return { status: 200, body: packView(pack) };
      }),
    },
    {
      method: "GET",
      pattern: "/adminAPI/imagePack/:id/:imageLocationName",
      operation: "getImagePackLocation",
      handler: withPack((pack, req) => {
        const name = req.params.imageLocationName ?? "";
        const location = pack.imageLocations.get(name);
        if (!location) return errorResponse(404, "not_found", `pack ${pack.id} has no location ${name}`);
        return { status: 200, body: locationView(name, location) };
      }),
    },
    {
      method: "PUT",
      pattern: "/adminAPI/imagePack/:id/:imageLocationName",
      operation: "updateImagePackLocation",
      handler: updateLocation((location, overrides) => {
        location.overrides = overrides;
      }),
    },
    {
      method: "PUT",
      pattern: "/adminAPI/imagePack/:id/:imageLocationName/:region",
      operation: "updateImagePackLocationForRegion",
      handler: updateLocation((location, overrides, req) => {
        location.regions[req.params.region ?? ""] = overrides;
      }),
    },
    {
      method: "POST",
      pattern: "/adminAPI/imagePack/:id/deleteImageLocation",
      operation: "deleteImagePackLocation",
      handler: withPack((pack, req) => {
        const body = parseJsonBody(req, deleteLocationBody);
        if (!body.ok) return errorResponse(400, "bad_request", body.message);
        const name = body.value.imageLocationName ?? body.value.name ?? body.value.location ?? "";
        const imageId = pack.imageLocations.get(name)?.imageId;
        if (imageId !== undefined) store.images.delete(imageId);
        pack.imageLocations.delete(name);
        pack.updated = nowIso();
        return { status: 200, body: packView(pack) };
      }),
    },
    {
      method: "POST",
      pattern: "/adminAPI/imagePack/:id/:imageLocationName/fetchImage",
      operation: "fetchImagePackLocationImage",
      handler: fetchImage,
    },
    {
      method: "POST",
      pattern: "/adminAPI/imagePack/:id/:imageLocationName/upload",
      operation: "uploadImagePackLocationImage",
      handler: upload,
    },
    {
      method: "GET",
      pattern: "/adminAPI/image/:imageId",
      operation: "getImageData",
      handler: (req) => {
        const image = store.images.get(req.params.imageId ?? "");
        if (!image) return errorResponse(404, "not_found", `image ${req.params.imageId ?? ""} not found`);
        return {
          status: 200,
          headers: { "content-type": image.contentType },
          body: image.bytes ?? PLACEHOLDER_PNG,
        };
      },
    },
  ];
}

/** 1×1 transparent PNG, served for originals too large to have been kept in memory. */
export const PLACEHOLDER_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);
