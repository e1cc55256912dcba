import { parseEnv, type Config } from "../config/load.js";
import { parseRoutes } from "../config/routes.js";
import type { Env } from "../config/env.js";
import { startEmbeddedS3, type EmbeddedS3 } from "../runtime/embedded-s3.js";
import { startLocalRedis, type LocalRedis } from "../runtime/local-redis.js";
import { startSimulator, type RunningSimulator } from "../simulator/index.js";
import { startService, type Service } from "../runtime/service.js";
import type { S3Adapter } from "../adapters/s3/s3-adapter.js";
import { objectVersionKey } from "../intake/object-event.js";
import { demoRoutes, type DemoPackage } from "./sample-packages.js";
import { createSqsQueue, forwardToSqs, type SqsForwarder } from "./sqs-forwarder.js";

export const DEMO_BUCKET = "media-in";
const DEMO_COMPANY = "1";

/** Uploads a package's trigger to the demo bucket; returns the id its ingest will have. */
export async function putDemoTrigger(s3: Pick<S3Adapter, "putObject">, pkg: DemoPackage): Promise<string> {
  const put = await s3.putObject(DEMO_BUCKET, pkg.trigger.key, pkg.trigger.body, {
    contentType: pkg.trigger.contentType,
    ...(pkg.trigger.metadata ? { metadata: pkg.trigger.metadata } : {}),
  });
  return objectVersionKey({
    kind: "created",
    bucket: DEMO_BUCKET,
    key: pkg.trigger.key,
    eTag: put.eTag,
    ...(put.versionId ? { versionId: put.versionId } : {}),
  });
}

export interface DemoStack {
  redisUrl: string;
  localRedis?: LocalRedis;
  s3: EmbeddedS3;
  sim: RunningSimulator;
  config: Config;
  /** The variables the service was configured with, as strings (what `demo --keep` prints). */
  rawEnv: Record<string, string>;
  service: Service;
  /** Stops the in-process worker only (idempotent); S3, the simulator and Redis stay up. */
  stopService(): Promise<void>;
  stop(): Promise<void>;
}

export interface DemoStackOptions {
  speed: number;
  /** Extra environment (the benchmark tunes batching and polling). */
  env?: Record<string, string>;
  prefix?: string;
  /** Redis to use; default REDIS_URL, else a private redis-server. */
  redisUrl?: string;
  /**
   * Deliver the embedded S3's notifications through this simulated SQS queue instead of in-process,
   * so a worker in another process (`demo --keep`) receives them the way production does.
   */
  sqsQueue?: string;
}

/** Media feeds are set up by operators in AIS; the demo creates its PUSH feed like one would. */
async function createFeed(sim: RunningSimulator): Promise<string> {
  const res = await fetch(`${sim.urls.ais}/company/${DEMO_COMPANY}/mediaFeeds`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "ingest-worker demo", type: "PUSH" }),
  });
  if (!res.ok)
    throw new Error(`the simulator refused to create a media feed: ${res.status} ${await res.text()}`);
  return String(((await res.json()) as { id: string | number }).id);
}

/**
 * Everything the demo (and the benchmark) runs on, built from embedded defaults: Redis from
 * REDIS_URL or a private redis-server, s3rver in-process, the upstream simulator, and the real
 * service (all steps, intake over HTTP) configured against them through ordinary environment
 * variables.
 */
export async function startDemoStack(options: DemoStackOptions): Promise<DemoStack> {
  let localRedis: LocalRedis | undefined;
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? (localRedis = await startLocalRedis()).url;
  // Without s3rver (the runtime image) the demo stops here: the private redis-server must not outlive it.
  const s3 = await startEmbeddedS3({ buckets: [DEMO_BUCKET] }).catch(async (error: unknown) => {
    await localRedis?.stop();
    throw error;
  });
  const sim = await startSimulator({ port: 0, speed: options.speed });
  const mediaFeedId = await createFeed(sim);
  const queueUrl = options.sqsQueue ? await createSqsQueue(sim.urls.sqs, options.sqsQueue) : undefined;
  const rawEnv: Record<string, string> = {
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: options.prefix ?? `{demo-${process.pid}-${Date.now().toString(36)}}`,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    INTAKE_TOKEN: "demo-intake-token",
    API_TOKEN: "demo-api-token",
    S3_ENDPOINT: s3.endpoint,
    AIS_BASE_URL: sim.urls.ais,
    AIS_TOKEN: sim.token,
    AIS_COMPANY_ID: DEMO_COMPANY,
    STATUS_BASE_URL: sim.urls.status,
    STATUS_TOKEN: sim.token,
    IMAGES_BASE_URL: sim.urls.images,
    IMAGES_TOKEN: sim.token,
    IMAGES_CACHE_URL: sim.urls.imageCache,
    // The simulator serves the asset REST API's binding beside the Image Service.
    ASSET_BIND_BASE_URL: sim.urls.images,
    AEM_BASE_URL: sim.urls.aem,
    AEM_TOKEN: sim.token,
    AEM_API_KEY: "ingest-worker-demo",
    ASSETS_BASE_URL: sim.urls.assets,
    ASSETS_TOKEN: sim.token,
    POLL_INITIAL_DELAY_MS: "250",
    POLL_MAX_DELAY_MS: "2000",
    // Status sweeps (the default) at the demo's pace: a 30 s interval would idle its short encodes.
    STATUS_SWEEP_INTERVAL_MS: "500",
    STATUS_SWEEP_FALLBACK_MS: "2500",
    ATOM_BATCH_MAX_WAIT_MS: "100",
    ...(queueUrl ? { SQS_QUEUE_URL: queueUrl, SQS_ENDPOINT: sim.urls.sqs } : {}),
    ...options.env,
  };
  const env: Env = parseEnv(rawEnv);
  const config: Config = {
    env,
    routes: parseRoutes({ routes: demoRoutes(mediaFeedId, DEMO_BUCKET) }, "demo routes"),
  };
  const service = await startService(config, queueUrl ? {} : { embeddedS3: s3 });
  const forwarder: SqsForwarder | undefined = queueUrl ? forwardToSqs(s3, sim.urls.sqs, queueUrl) : undefined;
  let serviceStopped: Promise<unknown> | undefined;
  const stopService = async () => {
    await (serviceStopped ??= service.stop());
  };
  return {
    redisUrl,
    ...(localRedis ? { localRedis } : {}),
    s3,
    sim,
    config,
    rawEnv,
    service,
    stopService,
    async stop() {
      await stopService();
      await forwarder?.stop();
      await sim.stop();
      await s3.stop();
      await localRedis?.stop();
    },
  };
}
