import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AemAdapter } from "../../adapters/aem/aem-adapter.js";
import type { AssetsAdapter } from "../../adapters/assets/assets-adapter.js";
import type { VimondAdapters } from "../../adapters/index.js";
import type { S3Adapter } from "../../adapters/s3/s3-adapter.js";
import type { Env } from "../../config/env.js";
import type { RoutesFile } from "../../config/routes.js";
import type { StepName } from "../../queues/names.js";
import type { RecordStore } from "../../records/record-store.js";
import type { PayloadSchema } from "../../queues/payloads.js";
import type { z } from "zod";

/** What a job added to step `N` carries (before its schema's defaults are applied). */
export type PayloadOf<N extends StepName> = z.input<PayloadSchema<N>>;

/** Options for a job a processor adds to the next step. */
export interface EnqueueOptions {
  /** Deterministic, without ':' (see `jobId()`): the same effect enqueued twice is one job. */
  jobId: string;
  delay?: number;
}

/**
 * Everything a processor may use. Adapters for a target exist only when a route targets it (their
 * settings are required only then); a processor that finds its adapter missing fails the job as
 * unrecoverable with a message naming the settings.
 */
export interface ChainDeps {
  env: Env;
  routes: RoutesFile | null;
  redis: Redis;
  prefix: string;
  records: RecordStore;
  s3: S3Adapter;
  vimond?: VimondAdapters;
  aem?: AemAdapter;
  assets?: AssetsAdapter;
  queues: ReadonlyMap<StepName, Queue>;
  enqueue<N extends StepName>(step: N, payload: PayloadOf<N>, options: EnqueueOptions): Promise<void>;
  now(): number;
  random(): number;
}
