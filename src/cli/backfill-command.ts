import { parseCommandArgs } from "./command-args.js";
import { createS3Adapter } from "../adapters/s3/s3-adapter.js";
import { s3SettingsFromEnv } from "../adapters/s3/s3-settings.js";
import { createEventSink } from "../intake/accept.js";
import { backfill, type BackfillProgress, type BackfillResult } from "../ops/backfill.js";
import { parseS3Url } from "../ops/ingest-actions.js";
import { parseTimeSpec, TIME_SPEC_FORMS } from "../ops/time-spec.js";
import { EXIT } from "./exit-codes.js";
import { usageError, withOpsContext } from "./ops-context.js";
import { describeS3Failure } from "./s3-errors.js";

export const BACKFILL_HELP = `Usage: ingest-worker backfill s3://BUCKET/PREFIX [--since T] [--until T] [--dry-run] [--json]

Lists every object under PREFIX (ListObjectsV2, page by page) and queues an ObjectCreated event
for each object a route takes as its trigger, through the same intake path as live events: an
object already queued or delivered is one job, not two. Reported apart and not queued: objects
no route takes (unrouted), objects under a route that are not its trigger (package members such
as the video a sidecar names) and versions that already have an ingest ('retry' runs one again). After each page the last key is
checkpointed in Redis, so running the same command again after an interruption continues where it
stopped; a finished run clears it. Needs Redis, S3 and ROUTES_FILE; no upstream settings.

Options:
  --since T   only objects last modified at or after T (S3 LastModified)
  --until T   only objects last modified before T. T is an ISO 8601 time (2026-12-03T10:00:00Z),
              epoch ms, or a duration back from now (30m, 2h, 1d). Every key under PREFIX is still
              listed (S3 cannot filter by time); the others are counted as outside the window. A
              windowed run has its own checkpoint.
  --dry-run   classify and count only; queue nothing, leave the checkpoint alone
  --json      no progress lines; one JSON line with the counts and every key of each kind

Prints progress (a live line on a terminal, one line per page otherwise), the counts, and up to
20 keys of each kind. Exit codes: 0 done, 2 usage or configuration, 3 Redis or S3 unreachable
(or S3 credentials missing or refused), 4 no such bucket.
`;

/** Keys of one kind printed in text mode; --json lists them all. */
const LISTED_PER_KIND = 20;

function progressText(p: Readonly<BackfillProgress>, dryRun: boolean, windowed = false): string {
  return [
    `${p.listed} listed`,
    ...(windowed ? [`${p.outsideWindow} outside the LastModified window`] : []),
    dryRun ? `${p.enqueued} to queue (dry run, 0 queued)` : `${p.enqueued} queued`,
    `${p.ingested} already ingested`,
    `${p.unrouted} unrouted`,
    `${p.members} not triggers`,
    `${p.skipped} folder markers skipped`,
    `${p.pages} page(s)`,
  ].join(", ");
}

/** The lists under the counts: what was queued, and why the rest was not. */
export function formatBackfillLists(result: BackfillResult, dryRun: boolean): string {
  const sections: Array<[string, string[]]> = [
    [dryRun ? "would queue" : "queued", result.lists.queued],
    [
      "already ingested (not queued; 'ingest-worker retry ID' runs one again)",
      result.lists.ingested.map((i) => `${i.key}  ingest ${i.ingestId} (${i.state})`),
    ],
    ["unrouted (no route takes them)", result.lists.unrouted],
    ["not triggers (under a route but not its trigger: package members, other files)", result.lists.members],
  ];
  let text = "";
  for (const [title, lines] of sections) {
    if (!lines.length) continue;
    text += `${title}: ${lines.length}\n`;
    for (const line of lines.slice(0, LISTED_PER_KIND)) text += `  ${line}\n`;
    if (lines.length > LISTED_PER_KIND)
      text += `  … and ${lines.length - LISTED_PER_KIND} more (--json lists them all)\n`;
  }
  return text;
}

export async function backfillCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("backfill", BACKFILL_HELP, argv, {
    "dry-run": { type: "boolean" },
    since: { type: "string" },
    until: { type: "string" },
  });
  if (typeof parsed === "number") return parsed;
  const [url, ...more] = parsed.positionals;
  const target = url !== undefined && !more.length ? parseS3Url(url) : undefined;
  if (!target) return usageError("backfill", "expected one s3://BUCKET/PREFIX", BACKFILL_HELP);
  const now = Date.now();
  const window: { since?: number; until?: number } = {};
  for (const bound of ["since", "until"] as const) {
    const text = parsed.values[bound];
    if (text === undefined) continue;
    const at = parseTimeSpec(text, now);
    if (at === undefined)
      return usageError("backfill", `--${bound} ${text}: ${TIME_SPEC_FORMS}`, BACKFILL_HELP);
    window[bound] = at;
  }
  if (window.since !== undefined && window.until !== undefined && window.until <= window.since)
    return usageError(
      "backfill",
      `--until (${new Date(window.until).toISOString()}) must be after --since (${new Date(window.since).toISOString()})`,
      BACKFILL_HELP,
    );
  const windowed = window.since !== undefined || window.until !== undefined;
  const dryRun = parsed.values["dry-run"] === true;
  const json = parsed.values.json === true;
  const tty = process.stdout.isTTY === true && !json;
  const spinner = ["|", "/", "-", "\\"];

  return withOpsContext(async (ctx) => {
    if (!ctx.config.routes)
      process.stderr.write(
        "ingest-worker backfill: ROUTES_FILE is not set, so no route takes any object: nothing will be queued\n",
      );
    const s3 = createS3Adapter(s3SettingsFromEnv(ctx.config.env));
    try {
      let result: BackfillResult;
      try {
        result = await backfill({
          s3,
          sink: createEventSink(ctx.sourceWatch),
          redis: ctx.redis,
          routes: ctx.config.routes,
          records: ctx.records,
          prefix: ctx.config.env.QUEUE_PREFIX,
          bucket: target.bucket,
          keyPrefix: target.key,
          ...(window.since !== undefined ? { modifiedSince: window.since } : {}),
          ...(window.until !== undefined ? { modifiedUntil: window.until } : {}),
          dryRun,
          onPage: (p) => {
            if (json) return;
            // S3 cannot say how many keys a prefix holds, so the terminal line counts up instead of filling a bar.
            if (tty)
              process.stdout.write(
                `\r${spinner[p.pages % spinner.length]} ${progressText(p, dryRun, windowed)}\x1b[K`,
              );
            else
              process.stdout.write(
                `page ${p.pages}: ${progressText(p, dryRun, windowed)}, last key ${p.lastKey ?? "-"}\n`,
              );
          },
        });
      } catch (error) {
        const failure = describeS3Failure(error, ctx.config.env.S3_ENDPOINT);
        if (!failure) throw error;
        process.stderr.write(`${tty ? "\n" : ""}ingest-worker backfill: ${url}: ${failure.message}\n`);
        return failure.exitCode;
      }
      if (json) {
        const { lists } = result;
        const report = {
          url,
          dryRun,
          listed: result.listed,
          pages: result.pages,
          skipped: result.skipped,
          ...(windowed
            ? {
                window: {
                  since: window.since !== undefined ? new Date(window.since).toISOString() : null,
                  until: window.until !== undefined ? new Date(window.until).toISOString() : null,
                },
                outsideWindow: result.outsideWindow,
              }
            : {}),
          ...(result.resumedAfter !== undefined ? { resumedAfter: result.resumedAfter } : {}),
          counts: {
            queued: lists.queued.length,
            ingested: lists.ingested.length,
            unrouted: lists.unrouted.length,
            members: lists.members.length,
          },
          ...lists,
        };
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return EXIT.ok;
      }
      if (tty) process.stdout.write("\n");
      if (result.resumedAfter !== undefined)
        process.stdout.write(`resumed after checkpoint ${result.resumedAfter}\n`);
      process.stdout.write(`backfill ${url}: ${progressText(result, dryRun, windowed)}\n`);
      process.stdout.write(formatBackfillLists(result, dryRun));
      return EXIT.ok;
    } finally {
      s3.close();
    }
  });
}
