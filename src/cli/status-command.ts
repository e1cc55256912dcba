import { parseCommandArgs } from "./command-args.js";
import { listQuerySchema, stateOf } from "../http/ingests-schemas.js";
import { formatIssues, issueMessage } from "../intake/format-issues.js";
import { toDetail, toListResponse } from "../ops/ingest-view.js";
import { EXIT } from "./exit-codes.js";
import { usageError, withOpsContext } from "./ops-context.js";
import { formatDetail, formatTable } from "./status-format.js";

export const STATUS_HELP = `Usage: ingest-worker status [ID] [--json] [--status S] [--target T] [--route R] [--limit N] [--cursor C]

Without ID: a table of recent ingests, newest first. With ID: one ingest in full (steps with
timings, upstream ids, error, history). Reads the ingest records in Redis (REDIS_URL, QUEUE_PREFIX).

Options:
  --status S    only ingests in this state (received, queued, pushing, importing, processing,
                completed, failed, cancelled, superseded, waiting-objects; or FAILED etc.)
  --target T    only this target (vimond, aem, asset-management)
  --route R     only this route
  --limit N     how many (1 to 100, default 20)
  --cursor C    the next page, from the cursor a previous --json page printed
  --json        print what GET /v1/ingests (or /v1/ingests/{id}) answers

Exit codes: 0 ok, 2 bad options or configuration, 3 Redis unreachable, 4 unknown ID.
`;

export async function statusCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("status", STATUS_HELP, argv, {
    status: { type: "string" },
    target: { type: "string" },
    route: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 1) return usageError("status", "at most one ingest ID", STATUS_HELP);
  const [id] = positionals;
  // The same schema as GET /v1/ingests, so the CLI and the API accept and reject the same values.
  const query = listQuerySchema.safeParse(
    Object.fromEntries(
      Object.entries({
        status: values.status,
        target: values.target,
        route: values.route,
        limit: values.limit,
        cursor: values.cursor,
      }).filter(([, v]) => v !== undefined),
    ),
    { error: issueMessage },
  );
  if (!query.success) return usageError("status", formatIssues(query.error, "--").join("; "), STATUS_HELP);

  return withOpsContext(async ({ records }) => {
    const now = Date.now();
    if (id !== undefined) {
      const record = await records.get(id);
      if (!record) {
        process.stderr.write(`ingest-worker status: no ingest with id ${id}\n`);
        return EXIT.notFound;
      }
      const detail = toDetail(record, await records.history(id), now);
      process.stdout.write(values.json ? `${JSON.stringify(detail)}\n` : formatDetail(detail));
      return EXIT.ok;
    }
    const { status, target, route, cursor, limit } = query.data;
    const page = await records.list({
      limit,
      ...(status !== undefined ? { status: stateOf(status)! } : {}),
      ...(target !== undefined ? { target } : {}),
      ...(route !== undefined ? { route } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    const response = toListResponse(page, now);
    if (values.json) process.stdout.write(`${JSON.stringify(response)}\n`);
    else {
      process.stdout.write(formatTable(response.items));
      if (response.cursor) process.stdout.write(`more: --cursor ${response.cursor}\n`);
    }
    return EXIT.ok;
  });
}
