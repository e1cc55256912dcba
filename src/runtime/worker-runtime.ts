import { Queue, UnrecoverableError, Worker } from "bullmq";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { moduleLogger } from "../log/logger.js";
import { trackQueueDepth, untrackQueueDepth } from "../metrics/queue-depth.js";
import type { ReadinessProbe } from "../http/health-routes.js";
import { buildHttpServer } from "../http/server.js";
import { checkEvictionPolicy, closeRedis, createRedis, waitReady } from "../queues/connection.js";
import type { StepName } from "../queues/names.js";
import { toBullProcessor } from "../queues/run-step.js";
import { buildStepRegistry, type StepDefinition, type StepProcessor } from "../queues/step.js";

const log = moduleLogger("runtime");

export interface RuntimeOptions {
  redisUrl: string;
  /** `REDIS_CLUSTER_NODES`: connect to a Redis Cluster through these nodes (REDIS_URL lends credentials). */
  redisClusterNodes?: readonly string[];
  prefix: string;
  concurrency: number;
  /** Lock of an active job (BullMQ `lockDuration`) unless its step sets one; BullMQ's default otherwise. */
  lockDurationMs?: number;
  /** How often stalled jobs (lock lapsed: their worker died) are put back (BullMQ `stalledInterval`). */
  stalledIntervalMs?: number;
  /** Steps that must each have exactly one processor. */
  steps: readonly StepDefinition[];
  /** Built by the caller once the Redis connections exist (processors need queues and records). */
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
  /** Called once when a job fails for good (attempts used up, or unrecoverable). */
  onFailedForGood?: (step: StepName, data: unknown, error: Error) => Promise<void>;
  /** Extra things to close on shutdown, after the workers (intake sources, adapters). */
  onClose?: Array<() => Promise<void>>;
}

export interface RuntimeConnections {
  /** Fail-fast connection for producers, records and reads. */
  redis: Redis;
  queues: ReadonlyMap<StepName, Queue>;
  prefix: string;
}

export interface Runtime extends RuntimeConnections {
  workers: ReadonlyMap<StepName, Worker>;
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
  const queues = new Map<StepName, Queue>();
  for (const step of options.steps) {
    const queue = new Queue(step.name, {
      connection: redis,
      prefix: options.prefix,
      defaultJobOptions: step.jobOptions,
    });
    // Errors surface on the shared connection's listener; this keeps them from being unhandled.
    queue.on("error", () => {});
    queues.set(step.name, queue);
    trackQueueDepth(queue);
  }
  const connections: RuntimeConnections = { redis, queues, prefix: options.prefix };
  const registry = buildStepRegistry(options.steps, options.processors(connections));

  if (!(await waitReady(redis, 10_000)))
    log.warn({ redisUrl: options.redisUrl }, "Redis does not answer yet; workers will connect when it does");
  const evictionWarning = await checkEvictionPolicy(redis);
  if (evictionWarning) log.warn(evictionWarning);

  const workers = new Map<StepName, Worker>();
  if (options.runWorkers !== false) {
    for (const [name, processor] of registry) {
      const lockDuration = processor.step.lockDuration ?? options.lockDurationMs;
      const worker = new Worker(name, toBullProcessor(processor), {
        connection: workerConnection,
        prefix: options.prefix,
        concurrency: processor.step.concurrency ?? options.concurrency,
        ...(lockDuration ? { lockDuration } : {}),
        ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
        // A job whose worker dies twice (a rolling deploy during a crash loop) should still get its
        // retries; BullMQ's default of 1 fails it on the second stall.
        maxStalledCount: 3,
      });
      worker.on("error", (error) => log.error({ step: name, err: error.message }, "worker error"));
      worker.on("failed", (job, error) => {
        // BullMQ emits "failed" for every failed attempt; only the last (or an unrecoverable one)
        // ends the job.
        const final = error.name === "UnrecoverableError" || error instanceof UnrecoverableError;
        if (!job || !(final || job.attemptsMade >= (job.opts.attempts ?? 1))) return;
        log.warn({ step: name, jobId: job.id, err: error.message }, "job failed for good");
        options
          .onFailedForGood?.(name, job.data, error)
          .catch((hookError: Error) =>
            log.error({ step: name, jobId: job.id, err: hookError.message }, "could not record a failed job"),
          );
      });
      workers.set(name, worker);
    }
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
          : [...workers.values()].every((w) => w.isRunning())
            ? undefined
            : `not running: ${[...workers]
                .filter(([, w]) => !w.isRunning())
                .map(([n]) => n)
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
      const graceful = Promise.all([...workers.values()].map((w) => w.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), timeoutMs).unref()),
      ]);
      if (timedOut) {
        forced = true;
        log.warn({ timeoutMs }, "active jobs did not finish in time; closing anyway (they will be retried)");
      }
      const closing = (async () => {
        if (timedOut) await Promise.all([...workers.values()].map((w) => w.close(true)));
        await Promise.all([http?.close(), adminHttp?.close()]);
        for (const close of options.onClose ?? []) await close();
        for (const queue of queues.values()) {
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
