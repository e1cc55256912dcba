import type { Queue } from "bullmq";
import type { Config } from "../config/load.js";
import { PartitionSet } from "../ops/partition-set.js";
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
import {
  createNotifyProcessor,
  notifyOutboxKey,
  OUTBOX_SWEEP_INTERVAL_MS,
  registerNotifications,
  sweepNotifyOutbox,
  type InlineNotify,
} from "../processors/every-target/notify.js";
import { backgroundLoop, pause } from "../intake/background-loop.js";
import {
  createChainAdapters,
  createChainDeps,
  type ChainDepsOptions,
} from "../processors/every-target/chain-deps.js";
import type { ChainDeps } from "../processors/every-target/deps.js";
import { buildProcessors, stepProcessor, STEPS } from "../processors/index.js";
import { createStatusSweeper } from "../processors/vimond/status-sweeper.js";
import { failIngestsOfJob } from "../records/fail-job-ingests.js";
import type { EmbeddedS3 } from "./embedded-s3.js";
import { startRuntime, type Partition, type Runtime, type StopResult } from "./worker-runtime.js";

const log = moduleLogger("service");

export interface Service {
  runtime: Runtime;
  /** The first partition's processor dependencies (the only partition's unless PARTITIONS > 1). */
  deps: ChainDeps;
  /** Every partition's, in partition order. */
  partitionDeps: readonly ChainDeps[];
  /** Every partition's records and source-watch queue, for reads and actions that span them. */
  partitions: PartitionSet;
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
  const adapters = createChainAdapters(config, options);
  const partitionDeps: ChainDeps[] = [];
  const depsOf = (prefix: string) => partitionDeps.find((d) => d.prefix === prefix) ?? partitionDeps[0]!;
  let partitions!: PartitionSet;
  const stoppers: Array<() => Promise<void>> = [];
  const runtime = await startRuntimeOrClose(adapters, {
    redisUrl: env.REDIS_URL,
    redisClusterNodes: env.REDIS_CLUSTER_NODES,
    prefix: env.QUEUE_PREFIX,
    partitions: env.PARTITIONS,
    concurrency: env.WORKER_CONCURRENCY,
    lockDurationMs: env.JOB_LOCK_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS,
    steps: STEPS,
    runWorkers: options.runWorkers ?? true,
    processors: (connections) => {
      const deps = createChainDeps(config, connections, options, adapters);
      partitionDeps.push(deps);
      if (partitionDeps.length === connections.partitions.length)
        partitions = new PartitionSet(
          partitionDeps.map((d) => ({ records: d.records, sourceWatch: d.queues.get("source-watch")! })),
        );
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
            sink: createEventSink(sourceWatchQueues(connections.partitions)),
          }),
        (app, connections) =>
          registerCloudEventRoutes(app, {
            ...(env.INTAKE_TOKEN ? { token: env.INTAKE_TOKEN } : {}),
            records: partitionDeps[0]!.records,
            redis: connections.redis,
            prefix: connections.prefix,
            aemPoll: connections.queues.get("aem-poll")!,
            partitions: partitionDeps.map((d) => ({
              records: d.records,
              prefix: d.prefix,
              aemPoll: d.queues.get("aem-poll")!,
            })),
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
            redis: connections.redis,
            partitions,
            queues: connections.partitions.map((p) => p.queues),
          }),
        (app, connections) =>
          registerBoard(app, {
            token: env.API_TOKEN,
            readOnly: env.BOARD_READ_ONLY,
            queues: connections.partitions.flatMap((p) => [...p.queues.values()]),
          }),
      ],
    },
    onFailedForGood: async (step, data, error, prefix) => {
      await failIngestsOfJob(depsOf(prefix).records, step, data, error);
    },
    onClose: [async () => Promise.all(stoppers.map((stop) => stop())).then(() => undefined)],
  });

  const deps = partitionDeps[0]!;
  // Delivered inline, with the partition's outbox as the fallback (see registerNotifications).
  const outboxes: Array<{ inline: InlineNotify; enqueue: ChainDeps["enqueue"] }> = [];
  for (const d of partitionDeps) {
    const inline = d.queues.has("notify")
      ? {
          processor: stepProcessor("notify", createNotifyProcessor(d)),
          redis: d.redis,
          outboxKey: notifyOutboxKey(d.prefix),
        }
      : undefined;
    registerNotifications(d.records, d.enqueue.bind(d), env.NOTIFY_URLS, inline);
    if (inline && env.NOTIFY_URLS.length > 0) outboxes.push({ inline, enqueue: d.enqueue.bind(d) });
  }
  // Every process sweeps: a dead process's entries are handed to jobs by whichever one is left.
  if (outboxes.length > 0) {
    const sweeps = backgroundLoop(
      async (signal) => {
        while (!signal.aborted) {
          await pause(OUTBOX_SWEEP_INTERVAL_MS, signal);
          if (signal.aborted) break;
          for (const { inline, enqueue } of outboxes) {
            const handed = await sweepNotifyOutbox(inline, enqueue).catch((error: unknown) => {
              log.warn({ err: (error as Error).message }, "notify outbox sweep failed; next one retries");
              return 0;
            });
            // Only an inline attempt that never settled (a process died) leaves entries this old.
            if (handed > 0)
              log.warn(
                { notifications: handed },
                "unsettled inline notifications handed to their notify jobs",
              );
          }
        }
      },
      log,
      "notify outbox sweep",
    );
    sweeps.start();
    stoppers.push(() => sweeps.stop());
  }
  const sink = createEventSink(sourceWatchQueues(runtime.partitions));

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
    const sweeper = createStatusSweeper(partitionDeps, { leasePrefix: env.QUEUE_PREFIX });
    sweeper.start();
    stoppers.push(() => sweeper.stop());
  }

  return {
    runtime,
    deps,
    partitionDeps,
    partitions,
    async stop() {
      // Not ready first, so the Service and any load balancer stop sending intake requests here
      // while this process can still take them; then the drain.
      runtime.drain();
      if (env.SHUTDOWN_DELAY_MS > 0) {
        log.info({ delayMs: env.SHUTDOWN_DELAY_MS }, "not ready; waiting SHUTDOWN_DELAY_MS before the drain");
        await new Promise((resolve) => setTimeout(resolve, env.SHUTDOWN_DELAY_MS));
      }
      const result = await runtime.stop(env.SHUTDOWN_TIMEOUT_MS);
      await adapters.close();
      return result;
    },
  };
}

/** Starts the runtime; a start-up refusal (a PARTITIONS mismatch) closes the adapters made for it. */
async function startRuntimeOrClose(
  adapters: { close(): Promise<void> },
  options: Parameters<typeof startRuntime>[0],
): Promise<Runtime> {
  try {
    return await startRuntime(options);
  } catch (error) {
    await adapters.close().catch(() => undefined);
    throw error;
  }
}

/** Each partition's source-watch queue, in partition order: where intake sources hand events. */
function sourceWatchQueues(partitions: readonly Partition[]): Queue[] {
  return partitions.map((partition) => partition.queues.get("source-watch")!);
}
