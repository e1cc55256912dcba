import { Queue, UnrecoverableError, Worker } from "bullmq";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { moduleLogger } from "../log/logger.js";
import { trackQueueDepth, untrackQueueDepth } from "../metrics/queue-depth.js";
import type { ReadinessProbe } from "../http/health-routes.js";
import { buildHttpServer } from "../http/server.js";
import { checkEvictionPolicy, closeRedis, createRedis, waitReady } from "../queues/connection.js";
import type { StepName } from "../queues/names.js";
import { ConfigError } from "../config/load.js";
import { checkLayout } from "../ops/partition-migration.js";
import { partitionPrefixes } from "../queues/partitions.js";
import { toBullProcessor } from "../queues/run-step.js";
import { buildStepRegistry, type StepDefinition, type StepProcessor } from "../queues/step.js";
import { queueTelemetry } from "../telemetry/tracing.js";

const log = moduleLogger("runtime");

export interface RuntimeOptions {
  redisUrl: string;
  /** `REDIS_CLUSTER_NODES`: connect to a Redis Cluster through these nodes (REDIS_URL lends credentials). */
  redisClusterNodes?: readonly string[];
  /** QUEUE_PREFIX: the base prefix, and the only partition's prefix unless `partitions` > 1. */
  prefix: string;
  /** `PARTITIONS`: key spaces, each with a queue and a worker per step (default 1). */
  partitions?: number;
  concurrency: number;
  /** Lock of an active job (BullMQ `lockDuration`) unless its step sets one; BullMQ's default otherwise. */
  lockDurationMs?: number;
  /** How often stalled jobs (lock lapsed: their worker died) are put back (BullMQ `stalledInterval`). */
  stalledIntervalMs?: number;
  /** Steps that must each have exactly one processor. */
  steps: readonly StepDefinition[];
  /**
   * Built by the caller once the Redis connections exist (processors need queues and records),
   * once per partition, with that partition's queues and prefix.
   */
  processors: (connections: RuntimeConnections) => readonly StepProcessor[];
  http?: {
    host: string;
    port: number;
    bodyLimit: number;
    /** `OPENAPI_SERVER_URL` (the OpenAPI document's `servers`). */
    openApiServerUrl?: string;
    /** Route groups (intake, ingests API, board); they get the queues and Redis. */
    plugins?: Array<(app: FastifyInstance, connections: RuntimeConnections) => void | Promise<void>>;
    /** Operator route groups (ingests API, board): on the admin server when there is one, else here. */
    adminPlugins?: Array<(app: FastifyInstance, connections: RuntimeConnections) => void | Promise<void>>;
    /**
     * `ADMIN_HOST`/`ADMIN_PORT`: a second server for `/metrics` and `adminPlugins`, so the main
     * port can be exposed alone (intake webhooks from outside) without the operator routes.
     */
    admin?: { host: string; port: number };
  };
  /** Start workers (false: only queues and HTTP, e.g. an intake-only process or the CLI). */
  runWorkers?: boolean;
  /** Called once when a job fails for good (attempts used up, or unrecoverable), with its partition's prefix. */
  onFailedForGood?: (step: StepName, data: unknown, error: Error, prefix: string) => Promise<void>;
  /** Extra things to close on shutdown, after the workers (intake sources, adapters). */
  onClose?: Array<() => Promise<void>>;
}

/** One partition's key space: its prefix and its queue per step. */
export interface Partition {
  index: number;
  prefix: string;
  queues: ReadonlyMap<StepName, Queue>;
}

/**
 * The connections of one partition (what its processors are built with), plus every partition
 * for what spans them (intake routing, the ingests API, the status sweeper, Bull Board).
 */
export interface RuntimeConnections {
  /** Fail-fast connection for producers, records and reads. */
  redis: Redis;
  /** This partition's queues (the first partition's on the runtime itself). */
  queues: ReadonlyMap<StepName, Queue>;
  /** This partition's prefix (the first partition's on the runtime itself). */
  prefix: string;
  /** QUEUE_PREFIX: where keys that are not about one package live (leases, the layout marker). */
  basePrefix: string;
  partitions: readonly Partition[];
}

export interface Runtime extends RuntimeConnections {
  /** The first partition's workers by step (every worker of every partition is in `allWorkers`). */
  workers: ReadonlyMap<StepName, Worker>;
  allWorkers: readonly Worker[];
  http?: FastifyInstance;
  /** The HTTP server's address, e.g. http://127.0.0.1:8080. */
  url?: string;
  /** The admin server (`ADMIN_PORT`), when there is one. */
  adminHttp?: FastifyInstance;
  adminUrl?: string;
  /**
   * Turns readiness false (`/readyz` 503, check `shutdown`) while everything keeps running, so a
   * load balancer stops routing here before the intake closes. `stop` does it too.
   */
  drain(): void;
  /**
   * Stops taking jobs, waits for active ones up to `timeoutMs`, then closes everything. `forced`:
   * active jobs were cut off (they run again elsewhere once their locks lapse). `abandoned`: the
   * closing itself did not finish within {@link CLOSE_BOUND_MS} (Redis unreachable), so the
   * connections were dropped and the caller should exit rather than wait on what they left.
   */
  stop(timeoutMs: number): Promise<StopResult>;
}

export interface StopResult {
  forced: boolean;
  abandoned?: boolean;
}

/**
 * How long closing may take once the active jobs are done or cut off. Closing talks to Redis
 * (workers, queues, QUIT); with Redis gone ioredis would retry those calls for ever, and a pod
 * would hang until its SIGKILL instead of exiting within its grace period.
 */
export const CLOSE_BOUND_MS = 5_000;

/**
 * Wires the service together: Redis connections, one queue and one worker per step, the HTTP
 * server. The step registry is checked before anything connects, so a missing or duplicate
 * processor fails start-up immediately.
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const target = { url: options.redisUrl, clusterNodes: options.redisClusterNodes ?? [] };
  const redis = createRedis(target, "producer");
  const workerConnection = createRedis(target, "worker");
  const bullTelemetry = queueTelemetry();
  const telemetry = bullTelemetry ? { telemetry: bullTelemetry } : {};
  const partitions: Partition[] = partitionPrefixes(options.prefix, options.partitions ?? 1).map(
    (prefix, index) => {
      const queues = new Map<StepName, Queue>();
      for (const step of options.steps) {
        const queue = new Queue(step.name, {
          connection: redis,
          prefix,
          defaultJobOptions: step.jobOptions,
          // Only with tracing on: otherwise BullMQ skips its span wrappers and jobs carry no trace metadata.
          ...telemetry,
        });
        // Errors surface on the shared connection's listener; this keeps them from being unhandled.
        queue.on("error", () => {});
        queues.set(step.name, queue);
        trackQueueDepth(queue);
      }
      return { index, prefix, queues };
    },
  );
  const connectionsOf = (partition: Partition): RuntimeConnections => ({
    redis,
    queues: partition.queues,
    prefix: partition.prefix,
    basePrefix: options.prefix,
    partitions,
  });
  const connections = connectionsOf(partitions[0]!);
  // Every partition's registry is checked before anything connects.
  const registries = partitions.map((partition) => ({
    partition,
    registry: buildStepRegistry(options.steps, options.processors(connectionsOf(partition))),
  }));

  if (!(await waitReady(redis, 10_000)))
    log.warn(
      { redisUrl: options.redisUrl },
      "Redis does not answer yet; workers will connect when it does (the PARTITIONS layout is not checked)",
    );
  else {
    const mismatch = await checkLayout(redis, options.prefix, partitions.length);
    if (mismatch) {
      for (const queue of partitions.flatMap((p) => [...p.queues.values()])) untrackQueueDepth(queue);
      await Promise.all(partitions.flatMap((p) => [...p.queues.values()]).map((queue) => queue.close()));
      redis.disconnect();
      workerConnection.disconnect();
      throw new ConfigError([mismatch]);
    }
  }
  const evictionWarning = await checkEvictionPolicy(redis);
  if (evictionWarning) log.warn(evictionWarning);

  const workers = new Map<StepName, Worker>();
  const allWorkers: Array<{ name: string; worker: Worker }> = [];
  if (options.runWorkers !== false) {
    for (const { partition, registry } of registries) {
      for (const [name, processor] of registry) {
        const worker = startWorker(name, processor, partition.prefix);
        if (partition.index === 0) workers.set(name, worker);
        allWorkers.push({ name: partitions.length > 1 ? `${name}@${partition.index}` : name, worker });
      }
    }
  }

  function startWorker(name: StepName, processor: StepProcessor, prefix: string): Worker {
    const lockDuration = processor.step.lockDuration ?? options.lockDurationMs;
    const worker = new Worker(name, toBullProcessor(processor), {
      connection: workerConnection,
      prefix,
      concurrency: processor.step.concurrency ?? options.concurrency,
      ...(lockDuration ? { lockDuration } : {}),
      ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
      // A job whose worker dies twice (a rolling deploy during a crash loop) should still get its
      // retries; BullMQ's default of 1 fails it on the second stall.
      maxStalledCount: 3,
      ...telemetry,
    });
    worker.on("error", (error) => log.error({ step: name, err: error.message }, "worker error"));
    worker.on("failed", (job, error) => {
      // BullMQ emits "failed" for every failed attempt; only the last (or an unrecoverable one)
      // ends the job.
      const final = error.name === "UnrecoverableError" || error instanceof UnrecoverableError;
      if (!job || !(final || job.attemptsMade >= (job.opts.attempts ?? 1))) return;
      log.warn({ step: name, jobId: job.id, err: error.message }, "job failed for good");
      options
        .onFailedForGood?.(name, job.data, error, prefix)
        .catch((hookError: Error) =>
          log.error({ step: name, jobId: job.id, err: hookError.message }, "could not record a failed job"),
        );
    });
    return worker;
  }

  let draining = false;
  const readiness: ReadinessProbe = {
    checks: async () => ({
      shutdown: draining ? "stop signal received: draining active jobs" : undefined,
      redis: await redis
        .ping()
        .then(() => undefined)
        .catch((error: Error) => `Redis does not answer: ${error.message}`),
      workers:
        options.runWorkers === false
          ? undefined
          : allWorkers.every(({ worker }) => worker.isRunning())
            ? undefined
            : `not running: ${allWorkers
                .filter(({ worker }) => !worker.isRunning())
                .map(({ name }) => name)
                .join(", ")}`,
    }),
  };

  let http: FastifyInstance | undefined;
  let url: string | undefined;
  let adminHttp: FastifyInstance | undefined;
  let adminUrl: string | undefined;
  if (options.http) {
    const withConnections = (plugins: NonNullable<typeof options.http.plugins> = []) =>
      plugins.map((plugin) => (app: FastifyInstance) => plugin(app, connections));
    const { admin, adminPlugins = [] } = options.http;
    http = await buildHttpServer({
      bodyLimit: options.http.bodyLimit,
      ...(options.http.openApiServerUrl !== undefined
        ? { openApiServerUrl: options.http.openApiServerUrl }
        : {}),
      readiness,
      metrics: admin === undefined,
      plugins: withConnections([...(options.http.plugins ?? []), ...(admin ? [] : adminPlugins)]),
    });
    url = await http.listen({ host: options.http.host, port: options.http.port });
    if (admin) {
      // Its own fastify instance (not a second listen of the first), so each port serves only its
      // own routes and its own OpenAPI document.
      adminHttp = await buildHttpServer({
        bodyLimit: options.http.bodyLimit,
        readiness,
        plugins: withConnections(adminPlugins),
      });
      adminUrl = await adminHttp.listen({ host: admin.host, port: admin.port });
    }
  }

  let stopping: Promise<{ forced: boolean }> | undefined;
  const stop = (timeoutMs: number) =>
    (stopping ??= (async () => {
      draining = true;
      let forced = false;
      // Stop fetching new jobs everywhere first, then wait for the active ones together.
      const graceful = Promise.all(allWorkers.map(({ worker }) => worker.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
      ]);
      if (timedOut) {
        forced = true;
        log.warn({ timeoutMs }, "active jobs did not finish in time; closing anyway (they will be retried)");
      }
      const closing = (async () => {
        if (timedOut) await Promise.all(allWorkers.map(({ worker }) => worker.close(true)));
        await Promise.all([http?.close(), adminHttp?.close()]);
        for (const close of options.onClose ?? []) await close();
        for (const queue of partitions.flatMap((partition) => [...partition.queues.values()])) {
          untrackQueueDepth(queue);
          await queue.close();
        }
        await Promise.all([closeRedis(redis), closeRedis(workerConnection)]);
      })();
      const late = await Promise.race([
        closing.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), CLOSE_BOUND_MS).unref()),
      ]);
      if (!late) return { forced };
      log.warn(
        { boundMs: CLOSE_BOUND_MS, redis: redis.status },
        "connections did not close in time (is Redis reachable?); dropping them",
      );
      void closing.catch(() => undefined);
      redis.disconnect();
      workerConnection.disconnect();
      return { forced: true, abandoned: true };
    })());

  return {
    ...connections,
    workers,
    allWorkers: allWorkers.map(({ worker }) => worker),
    ...(http ? { http } : {}),
    ...(url ? { url } : {}),
    ...(adminHttp ? { adminHttp } : {}),
    ...(adminUrl ? { adminUrl } : {}),
    drain: () => {
      draining = true;
    },
    stop,
  };
}
