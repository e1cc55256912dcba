import { partitionPrefixes, MAX_PARTITIONS } from "../queues/partitions.js";
import { migratePartitions, planMigration, storedLayout } from "../ops/partition-migration.js";
import { parseCommandArgs } from "./command-args.js";
import { EXIT } from "./exit-codes.js";
import { usageError, withOpsContext } from "./ops-context.js";

export const PARTITIONS_HELP = `Usage: ingest-worker partitions [--json]
       ingest-worker partitions migrate --to N [--dry-run] [--allow-workers] [--json]

Without an action: the partition count the keys in Redis were written with, the one PARTITIONS
asks for, and each partition's ingest records.

migrate --to N moves the keys to N partitions: each package's records, current-ingest pointer,
entry id, newest sequencer and asset image keys go to the partition its bucket and key hash to,
and events accepted but not started (waiting source-watch jobs) follow them. It refuses to run
while any step holds jobs in flight or any worker is connected, so change N like this:
  1. ingest-worker queues pause source-watch   (events are still accepted; they wait)
  2. wait until 'ingest-worker queues' shows nothing active or delayed beyond source-watch waiting
  3. stop every worker and intake process (scale to 0; SQS keeps its messages meanwhile)
  4. ingest-worker partitions migrate --to N
  5. start the workers with PARTITIONS=N, then: ingest-worker queues resume source-watch
A worker whose PARTITIONS does not match the keys refuses to start (exit 2), so a forgotten
step 4 loses nothing. Interrupted, migrate is run again and carries on.

Options:
  --to N            the new partition count (1 to ${MAX_PARTITIONS})
  --dry-run         say what would move, move nothing
  --allow-workers   skip the connected-workers check (workers of another installation share Redis)
  --json            one JSON line

Exit codes: 0 ok, 1 refused (jobs in flight, workers connected), 2 usage or configuration,
3 Redis unreachable.
`;

export async function partitionsCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("partitions", PARTITIONS_HELP, argv, {
    to: { type: "string" },
    "dry-run": { type: "boolean" },
    "allow-workers": { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  const json = values.json === true;
  const [action, ...more] = positionals;
  if (more.length > 0 || (action !== undefined && action !== "migrate"))
    return usageError(
      "partitions",
      `unknown action "${positionals.join(" ")}": expected migrate`,
      PARTITIONS_HELP,
    );
  const to = values.to === undefined ? undefined : Number(values.to);
  if (action === "migrate" && (to === undefined || !Number.isInteger(to) || to < 1 || to > MAX_PARTITIONS))
    return usageError(
      "partitions",
      `migrate needs --to N, a whole number from 1 to ${MAX_PARTITIONS}`,
      PARTITIONS_HELP,
    );
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };

  return withOpsContext(
    async (ctx) => {
      const base = ctx.config.env.QUEUE_PREFIX;
      if (action === undefined) {
        const stored = await storedLayout(ctx.redis, base);
        const layout = stored ?? 1;
        const counts = await Promise.all(
          partitionPrefixes(base, layout).map(async (prefix) => ({
            prefix,
            ingests: await ctx.redis.zcard(`${prefix}:ingests`),
          })),
        );
        if (json)
          process.stdout.write(
            `${JSON.stringify({ stored: stored ?? null, configured: ctx.config.env.PARTITIONS, partitions: counts })}\n`,
          );
        else {
          say(
            `keys written with PARTITIONS=${stored ?? "1 (no marker yet)"}; PARTITIONS is ${ctx.config.env.PARTITIONS}`,
          );
          for (const { prefix, ingests } of counts) say(`  ${prefix}  ${ingests} ingest records`);
          if (layout !== ctx.config.env.PARTITIONS)
            say(
              `workers with PARTITIONS=${ctx.config.env.PARTITIONS} refuse to start until: partitions migrate --to ${ctx.config.env.PARTITIONS}`,
            );
        }
        return EXIT.ok;
      }
      const options = { allowWorkers: values["allow-workers"] === true };
      const plan = await planMigration(ctx.redis, base, to!, options);
      if (plan.blockers.length > 0 || values["dry-run"]) {
        if (json)
          process.stdout.write(`${JSON.stringify({ ...plan, dryRun: values["dry-run"] === true })}\n`);
        else {
          say(
            `from ${plan.from} to ${plan.to} partitions: ${plan.moving} of ${plan.records} ingest records move, ${plan.waitingEvents} waiting events follow their packages`,
          );
          for (const blocker of plan.blockers) say(`  refused: ${blocker}`);
        }
        return plan.blockers.length > 0 ? EXIT.failure : EXIT.ok;
      }
      const result = await migratePartitions(ctx.redis, base, to!, {
        ...options,
        onProgress: (done, total) => {
          if (!json && process.stderr.isTTY && (done % 500 === 0 || done === total))
            process.stderr.write(`\r  ${done}/${total} records`);
        },
      });
      if (!json && process.stderr.isTTY) process.stderr.write("\n");
      if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        say(
          `migrated from ${result.from} to ${result.to} partitions: ${result.movedRecords} records (${result.movedKeys} keys) and ${result.movedEvents} waiting events moved; start the workers with PARTITIONS=${result.to}`,
        );
      return EXIT.ok;
    },
    { checkLayout: false },
  );
}
