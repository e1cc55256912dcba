import { parseCommandArgs } from "./command-args.js";
import type { ActionOutcome, IngestActionDeps } from "../ops/ingest-actions.js";
import { reportOutcome } from "./action-output.js";
import { usageError, withOpsContext } from "./ops-context.js";

/**
 * The shape shared by `retry ID` and `cancel ID`: one ingest id, `--json`, `--help`, then the
 * same action the HTTP API runs, reported with the API's message and an exit code.
 */
export async function ingestActionCommand(
  command: string,
  help: string,
  argv: string[],
  action: (deps: IngestActionDeps, id: string) => Promise<ActionOutcome<object>>,
): Promise<number> {
  const parsed = parseCommandArgs(command, help, argv, {});
  if (typeof parsed === "number") return parsed;
  const [id, ...more] = parsed.positionals;
  if (id === undefined || more.length) return usageError(command, "expected exactly one ingest ID", help);
  return withOpsContext(async (ctx) =>
    reportOutcome(command, await action(ctx, id), parsed.values.json === true),
  );
}
