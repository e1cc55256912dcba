import { parseArgs, type ParseArgsConfig } from "node:util";
import { EXIT } from "./exit-codes.js";
import { usageError } from "./ops-context.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Every operator command takes these two. */
const COMMON = { help: { type: "boolean", short: "h" }, json: { type: "boolean" } } as const;

export type CommandArgs<T extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof COMMON & T }>
>;

/**
 * Parses an operator command's arguments (positionals allowed, `--help` and `--json` added to
 * `options`). Returns the parsed arguments, or the exit code to stop with, as {@link parseArgsOrExit}.
 */
export function parseCommandArgs<T extends Options>(
  command: string,
  help: string,
  argv: string[],
  options: T,
): CommandArgs<T> | number {
  return parseArgsOrExit<{ args: string[]; allowPositionals: true; options: typeof COMMON & T }>(
    command,
    help,
    { args: argv, allowPositionals: true, options: { ...COMMON, ...options } },
  );
}

/**
 * Parses `ingest-worker <command>`'s arguments with `config` as node's `parseArgs` does. Returns the
 * parsed arguments, or the exit code to stop with: 2 after a usage error naming the bad option with
 * the command's help, 0 after printing the help for `--help`.
 */
export function parseArgsOrExit<T extends ParseArgsConfig>(
  command: string,
  help: string,
  config: T,
): ReturnType<typeof parseArgs<T>> | number {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageError(command, (error as Error).message, help);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help);
    return EXIT.ok;
  }
  return parsed;
}
