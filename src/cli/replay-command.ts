import { parseCommandArgs } from "./command-args.js";
import { createS3Adapter } from "../adapters/s3/s3-adapter.js";
import { s3SettingsFromEnv } from "../adapters/s3/s3-settings.js";
import { parseS3Url, replayObject } from "../ops/ingest-actions.js";
import { matchRoute, triggerSuffixes } from "../routing/match-route.js";
import { EXIT } from "./exit-codes.js";
import { usageError, withOpsContext } from "./ops-context.js";
import { describeS3Failure } from "./s3-errors.js";

export const REPLAY_HELP = `Usage: ingest-worker replay s3://BUCKET/KEY [--json]

Feeds one object to the worker as if S3 had just announced it (event source "replay"): reads its
current version with HEAD and queues a source-watch job, then prints the ingest id. Use it for an
event that was lost, or after fixing a route. A version that already has an ingest is not queued
again; the command prints that ingest instead (see 'retry' to run a failed one again).

An object no route takes as its trigger (unrouted, or a video a sidecar names) is not queued.
Needs only Redis, S3 (S3_ENDPOINT or AWS, and credentials), the queue prefix and ROUTES_FILE: no
upstream settings. Exit codes: 0 queued (or already ingested), 1 no route takes it as a trigger,
2 usage or configuration, 3 Redis or S3 unreachable (or S3 credentials missing or refused), 4 no
such object or bucket.
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("replay", REPLAY_HELP, argv, {});
  if (typeof parsed === "number") return parsed;
  const [url, ...more] = parsed.positionals;
  const target = url !== undefined && !more.length ? parseS3Url(url) : undefined;
  if (!target?.key) return usageError("replay", "expected one s3://BUCKET/KEY", REPLAY_HELP);
  const json = parsed.values.json === true;

  return withOpsContext(async (ctx) => {
    // The worker would only count such an object as unrouted (or skip it as a package member), so
    // "queued" would be a promise nothing keeps: say why instead.
    const match = matchRoute(ctx.config.routes, target);
    if (match?.role !== "trigger") {
      const why = !ctx.config.routes
        ? "ROUTES_FILE is not set, so no route takes it"
        : match
          ? `it is not a trigger of route ${match.route.name} (${triggerSuffixes(match.route).join(" ")}); replay the package's trigger`
          : "no route takes it";
      process.stderr.write(`ingest-worker replay: ${url}: ${why}; not queued\n`);
      return EXIT.failure;
    }
    const s3 = createS3Adapter(s3SettingsFromEnv(ctx.config.env));
    try {
      let outcome;
      try {
        outcome = await replayObject({ ...ctx, s3 }, target.bucket, target.key);
      } catch (error) {
        const failure = describeS3Failure(error, ctx.config.env.S3_ENDPOINT);
        if (!failure) throw error;
        process.stderr.write(`ingest-worker replay: ${url}: ${failure.message}\n`);
        return failure.exitCode;
      }
      switch (outcome.kind) {
        case "missing":
          process.stderr.write(`ingest-worker replay: no object at ${url}\n`);
          return EXIT.notFound;
        case "exists":
          process.stdout.write(
            json
              ? `${JSON.stringify({ ingestId: outcome.ingestId, queued: false, state: outcome.record.state })}\n`
              : `${url} is already ingest ${outcome.ingestId} (${outcome.record.state}); not queued again\n`,
          );
          return EXIT.ok;
        case "queued":
          process.stdout.write(
            json
              ? `${JSON.stringify({ ingestId: outcome.ingestId, queued: true, jobId: outcome.jobId })}\n`
              : `queued ${url} as ingest ${outcome.ingestId} (job ${outcome.jobId})\n`,
          );
          return EXIT.ok;
      }
    } finally {
      s3.close();
    }
  });
}
