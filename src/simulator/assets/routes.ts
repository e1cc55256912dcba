import { z } from "zod";
import type { SimContext, SimRequest, SimResponse, SimRoute } from "../core/types.js";
import { seededUuid } from "../module-kit/ids.js";
import { parseJsonBody } from "../module-kit/json-body.js";
import { matchesAny } from "../module-kit/patterns.js";
import { problem } from "../module-kit/responses.js";
import { assetStatus, assetView, jobHistory, type Asset, type ProcessingAttempt } from "./lifecycle.js";
import type { AssetsSettings } from "./settings.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const registerBody = z.looseObject({
  bucketName: z.string().min(1),
  objectKey: z.string().min(1),
  parentId: z.string().regex(GUID, "parentId must be a GUID").optional(),
  displayName: z.string().optional(),
});

const batchBody = z.looseObject({
  targetIds: z.array(z.string().regex(GUID, "targetIds must be GUIDs")).min(1, "targetIds must not be empty"),
  actionArguments: z.record(z.string(), z.unknown()).optional(),
});

/** The Asset Management module's state. */
export interface AssetsState {
  assets: Map<string, Asset>;
  /** `bucket/key` → id of the newest asset registered for it. */
  byLocation: Map<string, string>;
  counters: { registrations: number; duplicateRegistrations: number; reprocesses: number };
}

/** What the routes share with the module. */
export interface AssetsDeps {
  ctx: SimContext;
  state: AssetsState;
  settings: () => AssetsSettings;
}

/** Register, get (by id or location), job history and the Reprocess batch action of seed 001. */
export function assetsRoutes(deps: AssetsDeps): SimRoute[] {
  const { ctx, state } = deps;

  const startAttempt = (asset: Asset, jobType: ProcessingAttempt["jobType"]): void => {
    const settings = deps.settings();
    const now = ctx.now();
    const matching =
      settings.failKeys.length === 0
        ? settings.failFirst !== undefined
        : matchesAny(settings.failKeys, asset.objectKey);
    const attemptNumber = asset.attempts.length + 1;
    const fails = matching && (settings.failFirst === undefined || attemptNumber <= settings.failFirst);
    const registering =
      jobType === "Register" ? ctx.scaled(settings.durationMs * settings.registeringShare) : 0;
    asset.attempts.push({
      id: seededUuid(ctx),
      jobType,
      startedAt: now,
      registeringUntil: now + registering,
      doneAt: now + ctx.scaled(settings.durationMs),
      fails,
    });
  };

  const findAsset = (id: string | undefined): { asset: Asset } | { response: SimResponse } => {
    if (id === undefined || !GUID.test(id))
      return { response: problem(400, "Bad Request", `asset id ${id ?? ""} is not a GUID`) };
    const asset = state.assets.get(id.toLowerCase());
    return asset ? { asset } : { response: problem(404, "Not Found", `asset ${id} not found`) };
  };

  /** A read of the asset the path's `param` names: its `view` now, or findAsset's 400/404. */
  const assetRead =
    (param: string, view: (asset: Asset, now: number) => unknown) =>
    (req: SimRequest): SimResponse => {
      const found = findAsset(req.params[param]);
      return "response" in found ? found.response : { status: 200, body: view(found.asset, ctx.now()) };
    };

  const register = (req: SimRequest): SimResponse => {
    const body = parseJsonBody(req, registerBody);
    if (!body.ok) return problem(400, "Bad Request", body.message);
    const settings = deps.settings();
    const { bucketName, objectKey, parentId, displayName } = body.value;
    if (matchesAny(settings.forbiddenBuckets, bucketName)) {
      return problem(403, "Forbidden", `file write permission on bucket ${bucketName} is required`);
    }
    if (matchesAny(settings.missingKeys, objectKey)) {
      return problem(404, "Not Found", `object ${objectKey} not found in bucket ${bucketName}`);
    }
    const location = `${bucketName}/${objectKey}`;
    state.counters.registrations += 1;
    // A real server registers the same object twice when asked twice; counting it shows a worker
    // that failed to reconcile before retrying.
    if (state.byLocation.has(location)) state.counters.duplicateRegistrations += 1;
    const asset: Asset = {
      id: seededUuid(ctx),
      bucketName,
      objectKey,
      createdAt: ctx.now(),
      attempts: [],
      ...(parentId !== undefined ? { parentId } : {}),
      ...(displayName !== undefined ? { displayName } : {}),
    };
    startAttempt(asset, "Register");
    state.assets.set(asset.id, asset);
    state.byLocation.set(location, asset.id);
    return { status: 200, body: assetView(asset, ctx.now()) };
  };

  const batch = (req: SimRequest): SimResponse => {
    const actionName = req.params.actionName ?? "";
    if (actionName.toLowerCase() !== "reprocess") {
      return problem(
        400,
        "Bad Request",
        `batch action ${actionName} is not supported by the simulator (only Reprocess)`,
      );
    }
    const body = parseJsonBody(req, batchBody);
    if (!body.ok) return problem(400, "Bad Request", body.message);
    const now = ctx.now();
    const results = body.value.targetIds.map((id) => {
      const asset = state.assets.get(id.toLowerCase());
      if (!asset) return { id, success: false, message: "Asset not found" };
      const status = assetStatus(asset, now);
      if (status !== "Available" && status !== "Error") {
        return { id, success: false, message: `Asset is busy (${status})` };
      }
      state.counters.reprocesses += 1;
      startAttempt(asset, "Reprocess");
      return { id, success: true, status: assetView(asset, now).status };
    });
    const successCount = results.filter((r) => r.success).length;
    return {
      status: 200,
      body: { actionName: "Reprocess", successCount, failureCount: results.length - successCount, results },
    };
  };

  return [
    { method: "POST", pattern: "/admin/asset/register", operation: "registerAsset", handler: register },
    {
      method: "POST",
      pattern: "/admin/asset/:actionName",
      operation: "batchAction",
      handler: batch,
    },
    {
      method: "GET",
      pattern: "/admin/asset",
      operation: "getAssetByLocation",
      handler: (req) => {
        const bucketName = req.query.get("bucketName");
        const objectKey = req.query.get("objectKey");
        if (!bucketName || !objectKey)
          return problem(400, "Bad Request", "bucketName and objectKey are required");
        const id = state.byLocation.get(`${bucketName}/${objectKey}`);
        const asset = id === undefined ? undefined : state.assets.get(id);
        if (!asset) return problem(404, "Not Found", `no asset for s3://${bucketName}/${objectKey}`);
        return { status: 200, body: assetView(asset, ctx.now()) };
      },
    },
    {
      method: "GET",
      pattern: "/admin/asset/:id",
      operation: "getAsset",
      handler: assetRead("id", assetView),
    },
    {
      method: "GET",
      pattern: "/admin/asset/:assetId/job-history",
      operation: "getAssetJobHistory",
      handler: assetRead("assetId", jobHistory),
    },
  ];
}
