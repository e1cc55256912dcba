import type { StepProcessor } from "../queues/step.js";
import { createAemImportProcessor } from "./aem-import.js";
import { createAemPollProcessor } from "./aem-poll.js";
import { createAssetsPollProcessor } from "./assets-poll.js";
import { createAssetsRegisterProcessor } from "./assets-register.js";
import { createAtomPushProcessor } from "./atom-push.js";
import type { ChainDeps } from "./deps.js";
import { createImageFetchProcessor } from "./image-fetch.js";
import { createJobPollProcessor } from "./job-poll.js";
import { createNotifyProcessor } from "./notify.js";
import { createRemediateProcessor } from "./remediate.js";
import { createSourceWatchProcessor } from "./source-watch.js";
import { createStatusTrackProcessor } from "./status-track.js";

/**
 * One processor per step. The runtime checks this list against `STEPS` and refuses to start on a
 * missing or duplicate processor.
 */
export function buildProcessors(deps: ChainDeps): StepProcessor[] {
  const statusTrack = createStatusTrackProcessor(deps);
  const imageFetch = createImageFetchProcessor(deps);
  return [
    createSourceWatchProcessor(deps),
    createAtomPushProcessor(deps),
    // The branches' first runs happen inside job-poll (two jobs per package fewer). With status
    // sweeps a first status-track run only registers and parks, so it stays a job.
    createJobPollProcessor(deps, {
      inlineBranches: { imageFetch, ...(deps.env.STATUS_SWEEP ? {} : { statusTrack }) },
    }),
    createRemediateProcessor(deps),
    statusTrack,
    imageFetch,
    createAemImportProcessor(deps),
    createAemPollProcessor(deps),
    createAssetsRegisterProcessor(deps),
    createAssetsPollProcessor(deps),
    createNotifyProcessor(deps),
  ];
}
