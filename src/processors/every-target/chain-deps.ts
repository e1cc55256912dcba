import { aemSettingsFromEnv, createAemAdapter } from "../../adapters/aem/aem-adapter.js";
import { createAssetsAdapter } from "../../adapters/assets/assets-adapter.js";
import {
  createVimondAdapters,
  upstreamSettingsFromEnv,
  type UpstreamSettingsOverrides,
} from "../../adapters/index.js";
import { createS3Adapter } from "../../adapters/s3/s3-adapter.js";
import { s3SettingsFromEnv } from "../../adapters/s3/s3-settings.js";
import type { Config } from "../../config/load.js";
import type { StepName } from "../../queues/names.js";
import { RecordStore } from "../../records/record-store.js";
import type { RuntimeConnections } from "../../runtime/worker-runtime.js";
import type { ChainDeps, EnqueueOptions, PayloadOf } from "./deps.js";

export interface ChainDepsOptions {
  /** Applied to every upstream HTTP client (tests shorten retries with it). */
  adapterOverrides?: UpstreamSettingsOverrides;
  now?: () => number;
  random?: () => number;
}

function targets(config: Config): Set<string> {
  return new Set((config.routes?.routes ?? []).map((r) => r.target));
}

/** The upstream adapters and the S3 client: one set per process, shared by every partition. */
export interface ChainAdapters {
  s3: ChainDeps["s3"];
  vimond?: NonNullable<ChainDeps["vimond"]>;
  aem?: NonNullable<ChainDeps["aem"]>;
  assets?: NonNullable<ChainDeps["assets"]>;
  close(): Promise<void>;
}

/**
 * Adapters are created only for targets some route uses, so an installation with only AEM routes
 * needs no Vimond settings.
 */
export function createChainAdapters(config: Config, options: ChainDepsOptions = {}): ChainAdapters {
  const { env } = config;
  const used = targets(config);
  const overrides = options.adapterOverrides ?? {};
  const vimond = used.has("vimond") ? createVimondAdapters(env, overrides) : undefined;
  const aem = used.has("aem") ? createAemAdapter(aemSettingsFromEnv(env, overrides)) : undefined;
  const assets = used.has("asset-management")
    ? createAssetsAdapter(upstreamSettingsFromEnv(env, "ASSETS", overrides))
    : undefined;
  const s3 = createS3Adapter(s3SettingsFromEnv(env));
  return {
    s3,
    ...(vimond ? { vimond } : {}),
    ...(aem ? { aem } : {}),
    ...(assets ? { assets } : {}),
    async close() {
      await vimond?.close();
      await aem?.close();
      await assets?.close();
      s3.close();
    },
  };
}

/**
 * Builds what the processors of one partition share. Without `adapters` it makes its own and
 * closes them with itself; with them (one set for every partition) their owner closes them.
 */
export function createChainDeps(
  config: Config,
  connections: RuntimeConnections,
  options: ChainDepsOptions = {},
  adapters?: ChainAdapters,
): ChainDeps & { close(): Promise<void> } {
  const { env } = config;
  const shared = adapters ?? createChainAdapters(config, options);
  const now = options.now ?? Date.now;
  const records = new RecordStore(connections.redis, connections.prefix, now);

  return {
    env,
    routes: config.routes,
    redis: connections.redis,
    prefix: connections.prefix,
    records,
    s3: shared.s3,
    ...(shared.vimond ? { vimond: shared.vimond } : {}),
    ...(shared.aem ? { aem: shared.aem } : {}),
    ...(shared.assets ? { assets: shared.assets } : {}),
    queues: connections.queues,
    async enqueue<N extends StepName>(step: N, payload: PayloadOf<N>, opts: EnqueueOptions) {
      const queue = connections.queues.get(step);
      if (!queue) throw new Error(`no queue for step ${step}`);
      await queue.add(step, payload, { jobId: opts.jobId, ...(opts.delay ? { delay: opts.delay } : {}) });
    },
    now,
    random: options.random ?? Math.random,
    async close() {
      if (!adapters) await shared.close();
    },
  };
}
