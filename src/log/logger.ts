import { pino, type Logger, type LoggerOptions } from "pino";

/**
 * Paths pino blanks before a line is written. Tokens travel in headers, in config objects and in
 * upstream error contexts; every one of those shapes is listed so no log line can carry a secret.
 */
export const REDACT_PATHS = [
  "authorization",
  "Authorization",
  "*.authorization",
  "*.Authorization",
  "headers.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "*.headers.authorization",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "access_token",
  "*.access_token",
  "clientSecret",
  "*.clientSecret",
  "client_secret",
  "*.client_secret",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "INTAKE_TOKEN",
  "*.INTAKE_TOKEN",
  "API_TOKEN",
  "*.API_TOKEN",
];

export interface RootLoggerOptions {
  level?: string;
  /** Where lines go; tests pass a stream to capture and grep them. */
  destination?: NodeJS.WritableStream;
}

let root: Logger | undefined;
/** Bumped by configureLogger so module loggers made at import time pick up the new root. */
let generation = 0;

function build(options: RootLoggerOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    base: { service: "ingest-worker" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    // `"level":"warn"`, not pino's `40`: log pipelines and people filter on the name.
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** Replaces the process-wide root logger (start-up and tests). */
export function configureLogger(options: RootLoggerOptions): Logger {
  root = build(options);
  generation++;
  return root;
}

export function rootLogger(): Logger {
  root ??= build();
  return root;
}

/**
 * A child logger per module: every line names where it came from. Modules create theirs at import
 * time, before the CLI has read LOG_LEVEL, so the child is bound lazily and rebound whenever the
 * root is reconfigured.
 */
export function moduleLogger(module: string): Logger {
  let bound: Logger | undefined;
  let boundGeneration = -1;
  const current = (): Logger => {
    if (!bound || boundGeneration !== generation) {
      bound = rootLogger().child({ module });
      boundGeneration = generation;
    }
    return bound;
  };
  return new Proxy({} as Logger, {
    get(_target, property) {
      const logger = current();
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(logger) : value;
    },
    set(_target, property, value) {
      return Reflect.set(current(), property, value);
    },
    has(_target, property) {
      return Reflect.has(current(), property);
    },
  });
}

export type { Logger };
