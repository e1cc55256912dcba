import type { StepProcessor } from "../queues/step.js";
import { createAemImportProcessor } from "./aem/aem-import.js";
import { createAemPollProcessor } from "./aem/aem-poll.js";
import { createAssetsPollProcessor } from "./asset-management/assets-poll.js";
import { createAssetsRegisterProcessor } from "./asset-management/assets-register.js";
import { createAtomPushProcessor } from "./vimond/atom-push.js";
import type { ChainDeps } from "./every-target/deps.js";
import { createImageFetchProcessor } from "./vimond/image-fetch.js";
import { createJobPollProcessor } from "./vimond/job-poll.js";
import { createNotifyProcessor } from "./every-target/notify.js";
import { createRemediateProcessor } from "./vimond/remediate.js";
import { createSourceWatchProcessor } from "./every-target/source-watch.js";
import { createStatusTrackProcessor } from "./vimond/status-track.js";

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
