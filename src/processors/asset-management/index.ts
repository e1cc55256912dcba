/**
 * The Asset Management chain, in order:
 *
 *   assets-register ─► assets-poll
 *
 * assets-register registers the package's S3 object as an asset under the route's parent folder;
 * assets-poll follows the asset until it is Available or in Error (a transient error is
 * reprocessed a bounded number of times).
 */
import { retrying } from "../../queues/job-options.js";
import { assetsPollPayload, assetsRegisterPayload } from "../../queues/payloads.js";
import type { StepTable } from "../step-table.js";
import { createAssetsPollProcessor } from "./assets-poll.js";
import { createAssetsRegisterProcessor } from "./assets-register.js";

export const ASSET_MANAGEMENT_STEPS = {
  "assets-register": {
    schema: assetsRegisterPayload,
    jobOptions: retrying(8, 2000),
    create: (deps) => createAssetsRegisterProcessor(deps),
  },
  "assets-poll": {
    schema: assetsPollPayload,
    jobOptions: retrying(10, 2000),
    create: (deps) => createAssetsPollProcessor(deps),
  },
} satisfies StepTable<"assets-register" | "assets-poll">;
