import { z } from "zod";
import type { SimContext, SimRequest, SimResponse, SimRoute } from "../core/types.js";
import { parseJsonBody } from "../module-kit/json-body.js";
import { matchesPattern } from "../module-kit/patterns.js";
import { errorResponse } from "../module-kit/responses.js";
import type { ImagesSettings } from "./settings.js";
import { assetView, type ImageStore, type SimAsset } from "./store.js";

/** Path of one asset; the worker's `ASSET_BIND_PATH` default. */
export const ASSET_PATH = "/api/assets/:assetId";

const packIdSchema = z
  .union([z.string().min(1), z.number().int()])
  .transform(String)
  .nullable();
/** PATCH sets fields (the binding sends only `imagePackId`); PUT replaces the asset and must name it. */
const patchBody = z.looseObject({ imagePackId: packIdSchema.optional() });
const putBody = z.looseObject({ imagePackId: packIdSchema });

/**
 * The asset REST API's binding surface (seed 004: "Bind the returned ID to an asset by setting the
 * asset's `imagePackId` via the REST API"). That API is outside the seeds and lives on another
 * host in production; the simulator serves it beside the Image Service because it must check the
 * pack against the Image Service's store. Strict where a client could be wrong: an unknown pack is
 * 422, a scripted missing asset is 404, and redundant writes are counted in the stats.
 */
export function assetRoutes(ctx: SimContext, store: ImageStore, settings: () => ImagesSettings): SimRoute[] {
  const nowIso = () => new Date(ctx.now()).toISOString();

  /** The asset, created on first use unless the scenario says it does not exist. */
  const find = (req: SimRequest): SimAsset | SimResponse => {
    const id = req.params.assetId ?? "";
    if (settings().missingAssets.some((pattern) => matchesPattern(pattern, id))) {
      return errorResponse(404, "not_found", `asset ${id} not found`);
    }
    let asset = store.assets.get(id);
    if (!asset) {
      asset = { id, imagePackId: null, fields: {}, updated: nowIso() };
      store.assets.set(id, asset);
    }
    return asset;
  };

  const write = (req: SimRequest, replace: boolean): SimResponse => {
    const found = find(req);
    if ("status" in found) return found;
    const body = parseJsonBody(req, replace ? putBody : patchBody);
    if (!body.ok) {
      store.bindings.refused += 1;
      return errorResponse(400, "bad_request", body.message);
    }
    const { imagePackId, ...rest } = body.value;
    if (imagePackId !== undefined && imagePackId !== null && !store.packs.has(imagePackId)) {
      store.bindings.refused += 1;
      return errorResponse(422, "unknown_image_pack", `image pack ${imagePackId} does not exist`);
    }
    store.bindings.writes += 1;
    if (imagePackId != null && imagePackId === found.imagePackId) store.bindings.redundant += 1;
    delete rest.id;
    delete rest.updated;
    found.fields = replace ? rest : { ...found.fields, ...rest };
    if (imagePackId !== undefined) found.imagePackId = imagePackId;
    found.updated = nowIso();
    return { status: 200, body: assetView(found) };
  };

  return [
    {
      method: "GET",
      pattern: ASSET_PATH,
      operation: "getAsset",
      handler: (req) => {
        const found = find(req);
        if ("status" in found) return found;
        store.bindings.reads += 1;
        return { status: 200, body: assetView(found) };
      },
    },
    { method: "PATCH", pattern: ASSET_PATH, operation: "bindImagePack", handler: (req) => write(req, false) },
    { method: "PUT", pattern: ASSET_PATH, operation: "bindImagePack", handler: (req) => write(req, true) },
  ];
}
