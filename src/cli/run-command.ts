import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.js";
import { configureLogger } from "../log/logger.js";
import { waitForStopSignal } from "../runtime/signals.js";
import { startTelemetry } from "../telemetry/start-telemetry.js";
import { reportConfigError } from "./config-errors.js";
import { EXIT } from "./exit-codes.js";

export const RUN_HELP = `Usage: ingest-worker run

Runs the service: the step workers and the HTTP server (health, metrics, intake, ingests API),
configured by environment variables (see README "Configuration"). SIGTERM or SIGINT turns
/readyz to 503 at once, waits SHUTDOWN_DELAY_MS (default 0), stops taking jobs, lets active ones
finish for up to SHUTDOWN_TIMEOUT_MS, closes connections and exits 0.

Exit codes: 0 stopped cleanly, 2 invalid configuration, 1 unexpected error or a stop that could
not close its Redis connections (Redis gone; jobs it held run again once their locks lapse).
`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return EXIT.ok;
  }
  let config;
  try {
    config = await loadConfig(process.env);
  } catch (error) {
    return reportConfigError(error);
  }
  const log = configureLogger({ level: config.env.LOG_LEVEL }).child({ module: "cli" });
  // Tracing first, the service's modules (Fastify, undici, BullMQ) after it: the instrumentations
  // must be in place before the first server, queue or request exists.
  const telemetry = await startTelemetry(config.env);
  if (telemetry) log.info({ endpoint: config.env.OTEL_EXPORTER_OTLP_ENDPOINT }, "exporting traces (OTLP)");
  const { startService } = await import("../runtime/service.js");
  let service;
  try {
    service = await startService(config);
  } catch (error) {
    await telemetry?.shutdown();
    // A PARTITIONS that does not match the keys in Redis is a configuration problem too.
    return reportConfigError(error);
  }
  const { url, adminUrl, workers } = service.runtime;
  log.info({ url, ...(adminUrl ? { adminUrl } : {}), steps: [...workers.keys()] }, "ingest-worker running");

  await waitForStopSignal(log);
  const { forced, abandoned } = await service.stop();
  // The spans of the last jobs are still in the batch processor; a collector away must not hold the exit.
  await Promise.race([
    telemetry?.shutdown().catch(() => undefined),
    new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
  ]);
  if (abandoned) {
    // BullMQ's own connections still retry the lost Redis and would keep the process alive.
    log.warn({ forced }, "stopped without closing Redis cleanly");
    process.exit(EXIT.failure);
  }
  log.info({ forced }, "stopped");
  return EXIT.ok;
}
