import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { parseEnv, type Config } from "../config/load.js";
import { loadRoutesFile } from "../config/routes.js";
import { closeRedis, createRedis, redisTargetFromEnv } from "../queues/connection.js";
import { partitionPrefixes } from "../queues/partitions.js";
import { SOURCE_WATCH } from "../queues/source-watch-queue.js";
import { storedLayout } from "../ops/partition-migration.js";
import { PartitionSet } from "../ops/partition-set.js";
import type { PartitionedRecords } from "../records/partitioned-records.js";
import { RecordStore } from "../records/record-store.js";
import { reportConfigError } from "./config-errors.js";
import { EXIT } from "./exit-codes.js";

/** What the operator commands (status, replay, retry, cancel, backfill) share. */
export interface OpsContext {
  config: Config;
  redis: Redis;
  /** Every partition's records, read as one. */
  records: PartitionedRecords;
  /**
   * Every partition's records and source-watch queue, built with the service's prefixes and job
   * options, so jobs land where the workers look.
   */
  partitions: PartitionSet;
  /** Source-watch queues by partition: where an event sink hands events (see `createEventSink`). */
  sourceWatch: readonly Queue[];
  close(): Promise<void>;
}

/** A Redis URL fit for a message: the password is masked. */
export function displayRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable REDIS_URL)";
  }
}

/**
 * Loads the configuration and connects to Redis, or returns the exit code after saying why:
 * 2 for configuration errors, 3 when Redis does not answer. A command must fail fast rather than
 * wait for Redis the way a worker does, so the connection neither queues commands nor reconnects.
 */
export async function openOpsContext(options: OpsContextOptions = {}): Promise<OpsContext | number> {
  let config: Config;
  try {
    // Not loadConfig: these commands read Redis and S3 and enqueue, they never call an upstream, so
    // an operator's shell needs no AIS/AEM/... settings (the routes file still classifies objects).
    const env = parseEnv(process.env);
    config = { env, routes: env.ROUTES_FILE ? await loadRoutesFile(env.ROUTES_FILE) : null };
  } catch (error) {
    return reportConfigError(error);
  }
  const url = config.env.REDIS_URL;
  const redis = createRedis(redisTargetFromEnv(config.env), "producer", {
    lazyConnect: true,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    process.stderr.write(
      `ingest-worker: Redis at ${displayRedisUrl(url)} is unreachable: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return EXIT.unavailable;
  }
  // Reading or queueing with another layout than the workers' would miss records or strand jobs.
  const stored =
    options.checkLayout === false ? undefined : await storedLayout(redis, config.env.QUEUE_PREFIX);
  if (stored !== undefined && stored !== config.env.PARTITIONS) {
    redis.disconnect();
    process.stderr.write(
      `ingest-worker: PARTITIONS=${config.env.PARTITIONS}, but the keys in Redis were written with PARTITIONS=${stored}; set PARTITIONS=${stored} (see 'ingest-worker partitions')
`,
    );
    return EXIT.usage;
  }
  const partitions = new PartitionSet(
    partitionPrefixes(config.env.QUEUE_PREFIX, config.env.PARTITIONS).map((prefix) => {
      const sourceWatch = new Queue(SOURCE_WATCH.name, {
        connection: redis,
        prefix,
        defaultJobOptions: SOURCE_WATCH.jobOptions,
      });
      // Errors reach the caller through the failing command; this keeps them from being unhandled events.
      sourceWatch.on("error", () => {});
      return { records: new RecordStore(redis, prefix), sourceWatch };
    }),
  );
  return {
    config,
    redis,
    records: partitions.records,
    partitions,
    sourceWatch: partitions.partitions.map((p) => p.sourceWatch),
    async close() {
      await Promise.all(partitions.partitions.map((p) => p.sourceWatch.close()));
      await closeRedis(redis);
    },
  };
}

export interface OpsContextOptions {
  /** Refuse (exit 2) when PARTITIONS differs from the layout in Redis (default true). */
  checkLayout?: boolean;
}

/** Runs `body` with an open context and always closes it; configuration/Redis failures become exit codes. */
export async function withOpsContext(
  body: (ctx: OpsContext) => Promise<number>,
  options: OpsContextOptions = {},
): Promise<number> {
  const ctx = await openOpsContext(options);
  if (typeof ctx === "number") return ctx;
  try {
    return await body(ctx);
  } finally {
    await ctx.close();
  }
}

/** Reports a bad command line (unknown option, missing argument) with the command's help; exit 2. */
export function usageError(command: string, message: string, help: string): number {
  process.stderr.write(`ingest-worker ${command}: ${message}\n\n${help}`);
  return EXIT.usage;
}
