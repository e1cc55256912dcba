#!/usr/bin/env node
import { EXIT } from "./exit-codes.js";
import { describeExpectedError } from "./expected-errors.js";

const HELP = `Usage: ingest-worker <command> [options]

Event-driven ingest worker: S3 object events in, media on the Vimond platform out.

Commands:
  run                         the service: step workers + HTTP server (config from the environment)
  demo [--count N] [--json] [--keep]  the whole chain on embedded S3, the upstream simulator and
                              Redis; --keep leaves them running and prints the env for 'run'
  simulate [--port P] [--routes FILE] [--json]  the upstream simulator on its own
  bench [--quick] [--json] [--long-encode]  the benchmark: the chain against a same-work
                              reference and the bare-BullMQ ceiling, latency, upstream economy;
                              --long-encode: status requests per in-flight ingest, polls vs sweeps
  config <check|reference>    validate the configuration, or print the variable reference
  status [ID] [--json]        recent ingests (filters: --status --target --route --limit), or one in full
  replay s3://BUCKET/KEY      queue one object as if S3 had just announced it; prints the ingest id
  retry ID                    run a failed or cancelled ingest again from source-watch
  retry --status failed [--since T] [--route R] [--target X] [--limit N] [--dry-run] [--json]
                              retry every matching ingest (bulk; a dry run lists what it would do)
  cancel ID                   cancel a running ingest
  backfill s3://BUCKET/PREFIX [--since T] [--until T] [--dry-run] [--json]  queue what a route
                              takes under a prefix (LastModified window; resumable)
  queues [pause|resume [STEP]] [--json]  each step's queue (paused/running, counts); pause or
                              resume one step or all, across every worker
  partitions [migrate --to N] [--dry-run] [--json]  the PARTITIONS layout in Redis; change it
                              (drained chain, workers stopped: see its --help)
  help [command]              help for a command

Run 'ingest-worker <command> --help' for a command's options.
Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 dependency unavailable, 4 not found.
`;

type Command = (argv: string[]) => Promise<number>;

/** Commands load lazily so `--help` and `run` don't pay for the demo's or simulator's modules. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run-command.js")).runCommand,
  demo: async () => (await import("../demo/demo-command.js")).demoCommand,
  simulate: async () => (await import("../simulator/cli.js")).runSimulateCommand,
  bench: async () => (await import("../bench/bench-command.js")).benchCommand,
  config: async () => (await import("./config-command.js")).configCommand,
  status: async () => (await import("./status-command.js")).statusCommand,
  replay: async () => (await import("./replay-command.js")).replayCommand,
  retry: async () => (await import("./retry-command.js")).retryCommand,
  cancel: async () => (await import("./cancel-command.js")).cancelCommand,
  backfill: async () => (await import("./backfill-command.js")).backfillCommand,
  queues: async () => (await import("./queues-command.js")).queuesCommand,
  partitions: async () => (await import("./partitions-command.js")).partitionsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || (name === "help" && rest.length === 0)) {
    process.stdout.write(HELP);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === "--version" || name === "-v") {
    const { createRequire } = await import("node:module");
    const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return EXIT.ok;
  }
  const target = name === "help" ? rest[0] : name;
  const load = target ? COMMANDS[target] : undefined;
  if (!load) {
    process.stderr.write(`ingest-worker: unknown command "${target}"\n\n${HELP}`);
    return EXIT.usage;
  }
  const command = await load();
  return command(name === "help" ? ["--help"] : rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const expected = describeExpectedError(error);
    process.stderr.write(
      `ingest-worker: ${expected?.message ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
    );
    // Exit now: a command that threw may have started workers or sockets (run's workers are up
    // before its HTTP port fails to bind), and they must not keep a half-started service alive.
    process.exit(expected?.exitCode ?? EXIT.failure);
  },
);
