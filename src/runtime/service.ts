import type { Config } from "../config/load.js";
import { registerCloudEventRoutes } from "../http/cloudevents-routes.js";
import { registerBoard } from "../http/board.js";
import { registerIngestRoutes } from "../http/ingests-routes.js";
import { registerIntakeRoutes } from "../http/intake-routes.js";
import { createEventSink } from "../intake/accept.js";
import { BucketPoller } from "../intake/bucket-poller.js";
import { bridgeEmbeddedS3 } from "../intake/embedded-bridge.js";
import { SqsConsumer } from "../intake/sqs-consumer.js";
import { assetBindingOffWarning } from "../adapters/asset-binding/asset-binding-settings.js";
import { createSqsAdapter } from "../adapters/sqs/sqs-adapter.js";
import { sqsSettingsFromEnv } from "../adapters/sqs/sqs-settings.js";
import { moduleLogger } from "../log/logger.js";
import { registerNotifications } from "../processors/notify.js";
import { createChainDeps, type ChainDepsOptions } from "../processors/chain-deps.js";
import type { ChainDeps } from "../processors/deps.js";
import { buildProcessors } from "../processors/index.js";
import { createStatusSweeper } from "../processors/status-sweeper.js";
import { STEPS } from "../queues/steps.js";
import { failIngestsOfJob } from "../records/fail-job-ingests.js";
import type { EmbeddedS3 } from "./embedded-s3.js";
import { startRuntime, type Runtime, type StopResult } from "./worker-runtime.js";

const log = moduleLogger("service");

export interface Service {
  runtime: Runtime;
  deps: ChainDeps;
  stop(): Promise<StopResult>;
}

export interface ServiceOptions extends ChainDepsOptions {
  /** The demo's in-process S3: its notifications enter through the same intake path. */
  embeddedS3?: EmbeddedS3;
  /** Run the step workers (default true); false gives an intake/API-only process. */
  runWorkers?: boolean;
}

/** The production composition: every step of the chain, intake sources and the HTTP server. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  const { env } = config;
  if (!config.routes) log.warn("no ROUTES_FILE set: events will be accepted and counted as unrouted");
  const bindingOff = assetBindingOffWarning(env, config.routes);
  if (bindingOff) log.warn(bindingOff);
  let deps!: ChainDeps & { close(): Promise<void> };
  const stoppers: Array<() => Promise<void>> = [];
  const runtime = await startRuntime({
    redisUrl: env.REDIS_URL,
    redisClusterNodes: env.REDIS_CLUSTER_NODES,
    prefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY,
    lockDurationMs: env.JOB_LOCK_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS,
    steps: STEPS,
    runWorkers: options.runWorkers ?? true,
    processors: (connections) => {
      deps = createChainDeps(config, connections, options);
      return buildProcessors(deps);
    },
    http: {
      host: env.HTTP_HOST,
      port: env.HTTP_PORT,
      bodyLimit: env.INTAKE_BODY_LIMIT_BYTES,
      ...(env.OPENAPI_SERVER_URL !== undefined ? { openApiServerUrl: env.OPENAPI_SERVER_URL } : {}),
      plugins: [
        (app, connections) =>
          registerIntakeRoutes(app, {
            ...(env.INTAKE_TOKEN ? { token: env.INTAKE_TOKEN } : {}),
            sink: createEventSink(connections.queues.get("source-watch")!),
          }),
        (app, connections) =>
          registerCloudEventRoutes(app, {
            ...(env.INTAKE_TOKEN ? { token: env.INTAKE_TOKEN } : {}),
            records: deps.records,
            redis: connections.redis,
            prefix: connections.prefix,
            aemPoll: connections.queues.get("aem-poll")!,
            hintRate: { perSecond: env.AEM_EVENT_HINTS_PER_SECOND, burst: env.AEM_EVENT_HINT_BURST },
          }),
      ],
      // Operator-facing, behind API_TOKEN: with ADMIN_PORT they leave the intake port, which can
      // then be exposed (webhooks from S3/SNS/AEM) without the retry/cancel API or the board.
      ...(env.ADMIN_PORT !== undefined
        ? { admin: { host: env.ADMIN_HOST ?? env.HTTP_HOST, port: env.ADMIN_PORT } }
        : {}),
      adminPlugins: [
        (app, connections) =>
          registerIngestRoutes(app, {
            token: env.API_TOKEN,
            records: deps.records,
            redis: connections.redis,
            sourceWatch: connections.queues.get("source-watch")!,
            queues: connections.queues,
          }),
        (app, connections) =>
          registerBoard(app, {
            token: env.API_TOKEN,
            readOnly: env.BOARD_READ_ONLY,
            queues: connections.queues.values(),
          }),
      ],
    },
    onFailedForGood: async (step, data, error) => {
      await failIngestsOfJob(deps.records, step, data, error);
    },
    onClose: [async () => Promise.all(stoppers.map((stop) => stop())).then(() => undefined)],
  });

  registerNotifications(deps.records, deps.enqueue.bind(deps), env.NOTIFY_URLS);
  const sink = createEventSink(runtime.queues.get("source-watch")!);

  const sqs = sqsSettingsFromEnv(env);
  if (sqs) {
    const consumer = new SqsConsumer({ sqs: createSqsAdapter(sqs), sink, env });
    consumer.start();
    stoppers.push(() => consumer.stop());
  }
  if (env.POLL_BUCKETS.length) {
    const poller = new BucketPoller({
      s3: deps.s3,
      redis: runtime.redis,
      prefix: env.QUEUE_PREFIX,
      sink,
      env,
    });
    poller.start();
    stoppers.push(() => poller.stop());
  }
  if (options.embeddedS3) bridgeEmbeddedS3(options.embeddedS3, sink);
  // Every worker replica runs one; the lease lets one sweep at a time (docs/operations.md).
  if (env.STATUS_SWEEP && deps.vimond && (options.runWorkers ?? true)) {
    const sweeper = createStatusSweeper(deps);
    sweeper.start();
    stoppers.push(() => sweeper.stop());
  }

  return {
    runtime,
    deps,
    async stop() {
      // Not ready first, so the Service and any load balancer stop sending intake requests here
      // while this process can still take them; then the drain.
      runtime.drain();
      if (env.SHUTDOWN_DELAY_MS > 0) {
        log.info({ delayMs: env.SHUTDOWN_DELAY_MS }, "not ready; waiting SHUTDOWN_DELAY_MS before the drain");
        await new Promise((resolve) => setTimeout(resolve, env.SHUTDOWN_DELAY_MS));
      }
      const result = await runtime.stop(env.SHUTDOWN_TIMEOUT_MS);
      await deps.close();
      return result;
    },
  };
}
