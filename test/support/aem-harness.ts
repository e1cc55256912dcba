import { createAemImportProcessor } from "../../src/processors/aem/aem-import.js";
import { createAemPollProcessor } from "../../src/processors/aem/aem-poll.js";
import { stepProcessor } from "../../src/processors/index.js";
import { startChainHarness, type ChainHarness } from "./chain-harness.js";

/** The AEM chain after source-watch (aem-import, aem-poll) on `routes`, as the AEM tests run it. */
export function startAemHarness(
  label: string,
  routes: unknown[],
  env: Record<string, string> = {},
): Promise<ChainHarness> {
  return startChainHarness({
    label,
    routes,
    steps: ["aem-import", "aem-poll"],
    processors: (d) => [
      stepProcessor("aem-import", createAemImportProcessor(d)),
      stepProcessor("aem-poll", createAemPollProcessor(d)),
    ],
    env,
  });
}

/** Source-watch's hand-off to aem-import: the ingest waits on its folder's pending list. */
export async function pendInAemFolder(h: ChainHarness, folder: string, id: string): Promise<void> {
  await h.deps.redis.rpush(`${h.prefix}:aem:${folder}:pending`, id);
}
