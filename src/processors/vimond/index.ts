/**
 * The Vimond chain, in order:
 *
 *   atom-push ─► job-poll ─┬─► status-track   (VIA Status API, to PLAYOUT or failure)
 *                          ├─► image-fetch    (Image Service)
 *                          └─► remediate      (a failed import task: retried or aborted)
 *
 * atom-push micro-batches packages into an Atom feed for the Asset Importer; job-poll follows the
 * import job and places its tasks; status-track and image-fetch run their first time inside the
 * job-poll job that settled the import. The status sweeper (status-sweeper.ts) reads one page of
 * ingests for every status-track job parked on it.
 */
import { retrying } from "../../queues/job-options.js";
import {
  atomPushPayload,
  imageFetchPayload,
  jobPollPayload,
  remediatePayload,
  statusTrackPayload,
} from "../../queues/payloads.js";
import type { StepTable } from "../step-table.js";
import { createAtomPushProcessor } from "./atom-push.js";
import { createImageFetchProcessor } from "./image-fetch.js";
import { createJobPollProcessor } from "./job-poll.js";
import { createRemediateProcessor } from "./remediate.js";
import { createStatusTrackProcessor } from "./status-track.js";

export const VIMOND_STEPS = {
  "atom-push": {
    schema: atomPushPayload,
    jobOptions: retrying(10, 1000),
    concurrency: 4,
    create: (deps) => createAtomPushProcessor(deps),
  },
  "job-poll": {
    schema: jobPollPayload,
    jobOptions: retrying(10, 2000),
    // The branches' first runs happen inside job-poll (two jobs per package fewer). With status
    // sweeps a first status-track run only registers and parks, so it stays a job.
    create: (deps, built) =>
      createJobPollProcessor(deps, {
        inlineBranches: {
          imageFetch: built("image-fetch"),
          ...(deps.env.STATUS_SWEEP ? {} : { statusTrack: built("status-track") }),
        },
      }),
  },
  remediate: {
    schema: remediatePayload,
    jobOptions: retrying(8, 2000),
    create: (deps) => createRemediateProcessor(deps),
  },
  "status-track": {
    schema: statusTrackPayload,
    jobOptions: retrying(10, 2000),
    create: (deps) => createStatusTrackProcessor(deps),
  },
  "image-fetch": {
    schema: imageFetchPayload,
    jobOptions: retrying(8, 2000),
    create: (deps) => createImageFetchProcessor(deps),
  },
} satisfies StepTable<"atom-push" | "job-poll" | "remediate" | "status-track" | "image-fetch">;
