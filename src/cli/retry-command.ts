import { parseCommandArgs } from "./command-args.js";
import { bulkRetryBodySchema, stateOf } from "../http/ingests-schemas.js";
import { formatIssues, issueMessage } from "../intake/format-issues.js";
import { bulkRetry, type BulkRetryResult } from "../ops/bulk-retry.js";
import { retryIngest } from "../ops/ingest-actions.js";
import { parseTimeSpec } from "../ops/time-spec.js";
import { EXIT } from "./exit-codes.js";
import { ingestActionCommand } from "./ingest-action-command.js";
import { usageError, withOpsContext } from "./ops-context.js";

export const RETRY_HELP = `Usage: ingest-worker retry ID [--json]
       ingest-worker retry --status failed [--since T] [--route R] [--target X] [--limit N] [--dry-run] [--json]

Runs a failed or cancelled ingest again from source-watch, as POST /v1/ingests/{ID}/retry does:
the same record is re-opened (state received, a new history line) and a source-watch job for the
same object version is queued. A running, completed or superseded ingest is not retried.

With --status instead of an ID, every matching ingest is retried that way (POST /v1/ingests/retry):
selected newest first with the filters of 'status' / GET /v1/ingests, at most --limit of them.

Options:
  --status S    failed or cancelled (FAILED, CANCELLED also accepted)
  --since T     only ingests received since T: ISO 8601 (2026-12-03T10:00:00Z), epoch ms, or a
                duration back from now (30m, 2h, 1d)
  --route R     only this route
  --target X    only this target (vimond, aem, asset-management)
  --limit N     at most N (1 to 10000, default 1000); when more matched it says so: run it again
                for the next ones (a retried ingest no longer matches)
  --dry-run     list what would be retried and what would be refused; change nothing
  --json        one JSON line: counts, retried (id, job, retry number), wouldRetry, refused (id, message)

Exit codes: 0 queued (bulk: nothing refused), 1 refused (running, completed or superseded; bulk:
any ingest refused), 2 usage or configuration, 3 Redis unreachable, 4 unknown ID.
`;

/** Any of these makes it a bulk retry. */
const BULK_OPTIONS = ["status", "since", "route", "target", "limit", "dry-run"] as const;

/** Ids printed per list in text mode; --json lists them all. */
const LISTED = 20;

function formatBulk(result: BulkRetryResult): string {
  let text = result.dryRun
    ? `${result.matched} matched: ${result.counts.wouldRetry} would be retried, ${result.counts.refused} would be refused (dry run, nothing changed)\n`
    : `${result.matched} matched: ${result.counts.retried} retried, ${result.counts.refused} refused\n`;
  const lines: Array<[string, string[]]> = [
    ["retried", result.retried.map((r) => `${r.ingestId}  retry ${r.retry}`)],
    ["would retry", result.wouldRetry],
    ["refused", result.refused.map((r) => `${r.ingestId}: ${r.message}`)],
  ];
  for (const [title, items] of lines) {
    if (!items.length) continue;
    text += `${title}: ${items.length}\n`;
    for (const line of items.slice(0, LISTED)) text += `  ${line}\n`;
    if (items.length > LISTED) text += `  … and ${items.length - LISTED} more (--json lists them all)\n`;
  }
  if (result.more)
    text += `more than ${result.limit} matched; only the newest ${result.limit} were taken: run it again for the next ones, or raise --limit\n`;
  return text;
}

async function bulkRetryCommand(values: Record<string, string | boolean | undefined>): Promise<number> {
  // The same schema as POST /v1/ingests/retry, so the CLI and the API accept and reject the same values.
  const parsed = bulkRetryBodySchema.safeParse(
    Object.fromEntries(
      Object.entries({
        status: values.status,
        since: values.since,
        route: values.route,
        target: values.target,
        limit: values.limit,
        dryRun: values["dry-run"] === true,
      }).filter(([, v]) => v !== undefined),
    ),
    { error: issueMessage },
  );
  if (!parsed.success)
    return usageError(
      "retry",
      formatIssues(parsed.error)
        .map((line) => `--${line.replace(/^dryRun/, "dry-run")}`)
        .join("; "),
      RETRY_HELP,
    );
  const { status, since, route, target, limit, dryRun } = parsed.data;
  return withOpsContext(async (ctx) => {
    const result = await bulkRetry(
      ctx,
      {
        status: stateOf(status)!,
        limit,
        dryRun,
        ...(since !== undefined ? { since: parseTimeSpec(since, Date.now())! } : {}),
        ...(route !== undefined ? { route } : {}),
        ...(target !== undefined ? { target } : {}),
      },
      "cli",
    );
    process.stdout.write(values.json === true ? `${JSON.stringify(result)}\n` : formatBulk(result));
    return result.refused.length ? EXIT.failure : EXIT.ok;
  });
}

export async function retryCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("retry", RETRY_HELP, argv, {
    status: { type: "string" },
    since: { type: "string" },
    route: { type: "string" },
    target: { type: "string" },
    limit: { type: "string" },
    "dry-run": { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const bulk = BULK_OPTIONS.some((name) => values[name] !== undefined);
  // `retry ID` stays the single retry it always was, with its own exit codes.
  if (!bulk)
    return ingestActionCommand("retry", RETRY_HELP, argv, (deps, id) => retryIngest(deps, id, "cli"));
  if (positionals.length)
    return usageError("retry", "give either an ingest ID or --status with its filters, not both", RETRY_HELP);
  if (values.status === undefined)
    return usageError("retry", "--status is required for a bulk retry (failed or cancelled)", RETRY_HELP);
  return bulkRetryCommand(values);
}
