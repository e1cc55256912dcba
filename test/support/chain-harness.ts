import type { Queue } from "bullmq";
import { parseEnv } from "../../src/config/load.js";
import type { Env } from "../../src/config/env.js";
import { parseRoutes } from "../../src/config/routes.js";
import type { Config } from "../../src/config/load.js";
import type { StepName } from "../../src/queues/names.js";
import type { StepProcessor } from "../../src/queues/step.js";
import { STEP } from "../../src/processors/index.js";
import { createChainDeps } from "../../src/processors/every-target/chain-deps.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import type { NewIngest } from "../../src/records/record-store.js";
import { startEmbeddedS3, type EmbeddedS3 } from "../../src/runtime/embedded-s3.js";
import { startRuntime, type Runtime } from "../../src/runtime/worker-runtime.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { createPushFeed, FAST_RETRY } from "./adapter-harness.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "./redis.js";

export const HARNESS_BUCKET = "media-in";
export const HARNESS_COMPANY = "1";

/** The route most chain tests run: every object of the bucket to Vimond, on the harness's PUSH feed. */
export const VIMOND_MAIN_ROUTE = {
  name: "vimond-main",
  bucket: HARNESS_BUCKET,
  target: "vimond",
  vimond: { mediaFeedId: "{feed}" },
};

/** An AEM route of the whole harness bucket into `folder` (the route most AEM tests seed). */
export function damRoute(folder: string) {
  return { name: "dam", bucket: HARNESS_BUCKET, target: "aem", aem: { folder } };
}

/** The media-triggered Asset Management route of the bucket's `raw/` prefix. */
export function rawAssetsRoute(parentFolder: string) {
  return {
    name: "am",
    bucket: HARNESS_BUCKET,
    prefix: "raw/",
    target: "asset-management",
    trigger: "media",
    assetManagement: { parentFolder },
  };
}

export interface ChainHarnessOptions {
  label: string;
  /** Routes as in a routes file; `{feed}` in a vimond mediaFeedId is replaced by a created PUSH feed. */
  routes: unknown[];
  /** The steps to run (default: all). The runtime requires exactly one processor for each. */
  steps?: StepName[];
  /** Builds the processors under test from the shared deps. */
  processors: (deps: ChainDeps) => StepProcessor[];
  env?: Record<string, string>;
  /** Environment that names the simulator's URLs (e.g. `ASSET_BIND_BASE_URL`), applied after `env`. */
  simEnv?: (sim: RunningSimulator) => Record<string, string>;
  speed?: number;
  runWorkers?: boolean;
}

export interface ChainHarness {
  sim: RunningSimulator;
  s3: EmbeddedS3;
  env: Env;
  config: Config;
  deps: ChainDeps;
  runtime: Runtime;
  prefix: string;
  mediaFeedId: string;
  queue(step: StepName): Queue;
  /** Sets the simulator scenario (faults and module settings). */
  scenario(body: unknown): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Real Redis (own prefix), the simulator, embedded S3 and a runtime running the given processors:
 * the environment every chain test needs, built the way the service builds it.
 */
export async function startChainHarness(options: ChainHarnessOptions): Promise<ChainHarness> {
  const sim = await startSimulator({ port: 0, speed: options.speed ?? 1000, seed: 7 });
  const s3 = await startEmbeddedS3({ buckets: [HARNESS_BUCKET] });
  const prefix = uniquePrefix(options.label);
  const mediaFeedId = await createPushFeed(sim, HARNESS_COMPANY);
  const env = parseEnv({
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    S3_ENDPOINT: s3.endpoint,
    AIS_BASE_URL: sim.urls.ais,
    AIS_TOKEN: sim.token,
    AIS_COMPANY_ID: HARNESS_COMPANY,
    STATUS_BASE_URL: sim.urls.status,
    STATUS_TOKEN: sim.token,
    IMAGES_BASE_URL: sim.urls.images,
    IMAGES_TOKEN: sim.token,
    IMAGES_CACHE_URL: sim.urls.imageCache,
    AEM_BASE_URL: sim.urls.aem,
    AEM_TOKEN: sim.token,
    AEM_API_KEY: "ingest-worker-tests",
    ASSETS_BASE_URL: sim.urls.assets,
    ASSETS_TOKEN: sim.token,
    POLL_INITIAL_DELAY_MS: "20",
    POLL_MAX_DELAY_MS: "200",
    ATOM_BATCH_MAX_WAIT_MS: "20",
    // This harness runs processors, not the service, so no sweeper: status-track polls per ingest
    // (the tests of sweeps, test/integration/status-sweep.test.ts, set STATUS_SWEEP themselves).
    STATUS_SWEEP: "false",
    ...options.env,
    ...options.simEnv?.(sim),
  });
  const routes = parseRoutes(
    JSON.parse(
      JSON.stringify({ routes: options.routes }).replaceAll('"{feed}"', JSON.stringify(mediaFeedId)),
    ),
  );
  const config: Config = { env, routes };
  let deps!: ChainDeps & { close(): Promise<void> };
  const steps = (options.steps ?? (Object.keys(STEP) as StepName[])).map((name) => STEP[name]);
  const runtime = await startRuntime({
    redisUrl: env.REDIS_URL,
    prefix,
    concurrency: 4,
    steps,
    runWorkers: options.runWorkers ?? true,
    processors: (connections) => {
      deps = createChainDeps(config, connections, { adapterOverrides: FAST_RETRY });
      return options.processors(deps);
    },
  });
  return {
    sim,
    s3,
    env,
    config,
    deps,
    runtime,
    prefix,
    mediaFeedId,
    queue: (step) => {
      const queue = runtime.queues.get(step);
      if (!queue) throw new Error(`step ${step} is not in this harness`);
      return queue;
    },
    async scenario(body) {
      const res = await fetch(`${sim.urls.ais}/_sim/scenario`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`scenario rejected: ${res.status} ${await res.text()}`);
    },
    async stop() {
      await runtime.stop(5000);
      await deps.close();
      await s3.stop();
      await sim.stop();
      await cleanupPrefix(prefix);
    },
  };
}

/**
 * `records.create`, falling back to writing the hash as `create` does while its Lua script fails
 * ("arguments must be strings or integers": its field loop starts at the terminal-states argument).
 */
export async function createRecord(h: ChainHarness, input: NewIngest): Promise<void> {
  try {
    await h.deps.records.create(input);
  } catch (error) {
    if (!String(error).includes("must be strings or integers")) throw error;
    const now = String(Date.now());
    const { eventAt, labels: _labels, ...fields } = input;
    await h.deps.redis.hset(h.deps.records.key(input.id), {
      state: "received",
      ...fields,
      eventAt: String(eventAt),
      createdAt: now,
      updatedAt: now,
    });
    await h.deps.redis.zadd(`${h.prefix}:ingests`, now, input.id);
  }
}

/** The record job-poll leaves for a vimond-main package `${id}/package.json`: state processing. */
export async function createProcessingRecord(h: ChainHarness, id: string): Promise<void> {
  await createRecord(h, {
    id,
    route: "vimond-main",
    target: "vimond",
    bucket: HARNESS_BUCKET,
    key: `${id}/package.json`,
    version: "v1",
    eventAt: Date.now(),
    state: "processing",
  });
}
