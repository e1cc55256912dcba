import { createS3Adapter } from "../adapters/s3/s3-adapter.js";
import { startEmbeddedS3 } from "../runtime/embedded-s3.js";
import { startSimulatorProcess } from "./bench-stack.js";
import { BENCH_BUCKET, putSharedMedia } from "./chain-bench.js";
import { startCompletionReceiver } from "./completion-receiver.js";

/**
 * What every bench run starts first: the simulator process (`speed` as in startSimulatorProcess),
 * the embedded S3 holding the shared media, and the completion receiver. Each stop is pushed on
 * `cleanups` as soon as its part runs, so a start that fails half-way still stops what it started.
 */
export async function startBenchUpstreams(cleanups: Array<() => Promise<void>>, speed = 1) {
  const sim = await startSimulatorProcess(speed);
  cleanups.push(() => sim.child.stop());
  const s3Server = await startEmbeddedS3({ buckets: [BENCH_BUCKET] });
  cleanups.push(() => s3Server.stop());
  const s3 = createS3Adapter({ region: "us-east-1", endpoint: s3Server.endpoint });
  cleanups.push(async () => s3.close());
  const receiver = await startCompletionReceiver();
  cleanups.push(() => receiver.close());
  await putSharedMedia(s3);
  return { sim, s3Server, s3, receiver };
}
