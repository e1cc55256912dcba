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
import { retrying } from "../../queues/job-options.js";
import { aemImportPayload, aemPollPayload } from "../../queues/payloads.js";
import type { StepTable } from "../step-table.js";
import { createAemImportProcessor } from "./aem-import.js";
import { createAemPollProcessor } from "./aem-poll.js";

export const AEM_STEPS = {
  "aem-import": {
    schema: aemImportPayload,
    jobOptions: retrying(10, 1000),
    concurrency: 4,
    create: (deps) => createAemImportProcessor(deps),
  },
  "aem-poll": {
    schema: aemPollPayload,
    jobOptions: retrying(10, 2000),
    create: (deps) => createAemPollProcessor(deps),
  },
} satisfies StepTable<"aem-import" | "aem-poll">;
