/**
 * The Asset Management chain, in order:
 *
 *   assets-register ─► assets-poll
 *
 * assets-register registers the package's S3 object as an asset under the route's parent folder;
 * assets-poll follows the asset until it is Available or in Error (a transient error is
 * reprocessed a bounded number of times).
 */
import type { StepFactories } from "../step-factory.js";
import { createAssetsPollProcessor } from "./assets-poll.js";
import { createAssetsRegisterProcessor } from "./assets-register.js";

export const ASSET_MANAGEMENT_STEPS = {
  "assets-register": (deps) => createAssetsRegisterProcessor(deps),
  "assets-poll": (deps) => createAssetsPollProcessor(deps),
} satisfies StepFactories<"assets-register" | "assets-poll">;
