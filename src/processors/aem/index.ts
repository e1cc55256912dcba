/**
 * The AEM Assets chain, in order:
 *
 *   aem-import ─► aem-poll
 *
 * aem-import batches the packages handed to one DAM folder into an import-from-URL job
 * (aem-batch.ts claims the batch, aem-files.ts keeps each file's state); aem-poll follows that job
 * until every file is imported or failed. AEM's CloudEvents (http/cloudevents-routes.ts) mark files
 * and hurry the poll.
 */
import type { StepFactories } from "../step-factory.js";
import { createAemImportProcessor } from "./aem-import.js";
import { createAemPollProcessor } from "./aem-poll.js";

export const AEM_STEPS = {
  "aem-import": (deps) => createAemImportProcessor(deps),
  "aem-poll": (deps) => createAemPollProcessor(deps),
} satisfies StepFactories<"aem-import" | "aem-poll">;
