import { UnrecoverableError } from "bullmq";
import type { VimondAdapters } from "../../adapters/index.js";
import type { ChainDeps } from "../every-target/deps.js";

/**
 * The Vimond adapters of the chain. They exist only when a route targets Vimond, so a job that
 * reaches a Vimond step without them can never succeed: it fails at once, naming the settings,
 * instead of burning its retries.
 */
export function requireVimond(deps: Pick<ChainDeps, "vimond">): VimondAdapters {
  if (!deps.vimond) throw new UnrecoverableError("vimond target needs AIS_*, STATUS_*, IMAGES_* settings");
  return deps.vimond;
}
