import { configureLogger } from "../log/logger.js";
import { TERMINAL_STATES, type IngestState } from "../records/ingest-record.js";
import { parseArgsOrExit } from "../cli/command-args.js";
import { EXIT } from "../cli/exit-codes.js";
import { DEMO_BUCKET, putDemoTrigger, startDemoStack, type DemoStack } from "./demo-stack.js";
import { KEEP_SQS_QUEUE, keepStack } from "./keep-stack.js";
import { ProgressDisplay } from "./progress.js";
import { demoScenario, samplePackage, type DemoPackage } from "./sample-packages.js";

export const DEMO_HELP = `Usage: ingest-worker demo [--count N] [--json] [--speed F] [--keep]

Runs the whole chain on embedded defaults: an in-process S3 (s3rver), the upstream simulator,
Redis from REDIS_URL or a redis-server it starts itself, and the worker with all its steps.
Uploads N sample packages (a manifest, a small video and a poster; a share for the AEM and Asset
Management targets; about one in ten scripted to fail permanently, a few to fail once and
recover), shows progress, and exits 0 when every ingest ends as its script expects.

With --keep the stack stays up afterwards (until Ctrl-C) and the demo prints the exact
\`export ...\` lines that point \`ingest-worker run\` and the operator commands at it; the embedded
S3 then delivers its events through the simulator's SQS queue, as S3 does in production, so a
worker started later still gets every upload.

Options:
  --count N    packages to upload (default 20; 0 with --keep: just start the stack)
  --keep       leave Redis, the embedded S3 and the simulator running; print the env for them
  --speed F    simulated upstream time runs F times faster (default 20)
  --timeout S  give up after S seconds (default 120 + N/10)
  --json       end with one JSON line: {"ingests":N,"completed":C,"failed":F,"seconds":S,
               "upstreamRequests":{...},"aemEvents":{"delivered":D,"failed":X,"attempts":A}}
  -h, --help   this help

Exit codes: 0 every ingest ended as scripted, 1 some did not (or the timeout passed), 2 bad options
(with --keep: once stopped by Ctrl-C or SIGTERM).
`;

function positiveNumber(value: string | undefined, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const parsed = parseArgsOrExit("demo", DEMO_HELP, {
    args: argv,
    options: {
      count: { type: "string", default: "20" },
      speed: { type: "string", default: "20" },
      timeout: { type: "string" },
      json: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  let count: number, speed: number, timeoutS: number;
  try {
    count = values.keep && values.count === "0" ? 0 : Math.floor(positiveNumber(values.count, "count"));
    speed = positiveNumber(values.speed, "speed");
    timeoutS = values.timeout ? positiveNumber(values.timeout, "timeout") : 120 + count / 10;
  } catch (error) {
    process.stderr.write(`ingest-worker demo: ${(error as Error).message}\n`);
    return EXIT.usage;
  }
  configureLogger({ level: process.env.LOG_LEVEL ?? "warn" });
  const say = (line: string) => {
    if (!values.json) process.stdout.write(`${line}\n`);
  };

  const started = Date.now();
  const stack = await startDemoStack({ speed, ...(values.keep ? { sqsQueue: KEEP_SQS_QUEUE } : {}) });
  try {
    say(`redis        ${stack.redisUrl}${stack.localRedis ? " (started for the demo)" : ""}`);
    say(`embedded S3  ${stack.s3.endpoint}  bucket ${DEMO_BUCKET}`);
    say(`simulator    ${stack.sim.urls.ais} (AIS) … speed ×${speed}`);
    say(`worker       ${stack.service.runtime.url} (health, metrics, intake)`);
    const code =
      count > 0 ? await uploadAndWatch(stack, count, started, timeoutS, values.json, say) : EXIT.ok;
    if (values.keep) await keepStack(stack, process.stdout);
    return code;
  } finally {
    await stack.stop();
  }
}

/** Uploads the sample packages, follows them to their end and reports; returns the exit code. */
async function uploadAndWatch(
  stack: DemoStack,
  count: number,
  started: number,
  timeoutS: number,
  json: boolean,
  say: (line: string) => void,
): Promise<number> {
  const runId = Date.now().toString(36);
  const packages = Array.from({ length: count }, (_, i) => samplePackage(i, runId));
  const webhookUrl = stack.service.runtime.url
    ? `${stack.service.runtime.url}/v1/events/cloudevents`
    : undefined;
  stack.sim.setScenario(demoScenario(packages, webhookUrl));
  const byIngest = new Map<string, DemoPackage>();
  const { s3 } = stack.service.deps;
  say(`uploading ${count} packages …`);
  for (const pkg of packages) {
    for (const member of pkg.members)
      await s3.putObject(DEMO_BUCKET, member.key, member.body, { contentType: member.contentType });
    byIngest.set(await putDemoTrigger(s3, pkg), pkg);
  }

  const progress = new ProgressDisplay(process.stdout, !json);
  const deadline = started + timeoutS * 1000;
  const states = new Map<string, IngestState | "pending">();
  for (;;) {
    for (const id of byIngest.keys()) {
      if (TERMINAL_STATES.has(states.get(id) as IngestState)) continue;
      const record = await stack.service.deps.records.get(id);
      states.set(id, record?.state ?? "pending");
    }
    const counts: Record<string, number> = {};
    for (const state of states.values()) counts[state] = (counts[state] ?? 0) + 1;
    progress.update(count, counts, Date.now() - started);
    const ended = [...states.values()].filter((s) => TERMINAL_STATES.has(s as IngestState)).length;
    if (ended === count || Date.now() > deadline) break;
    // The demo watches from outside, like an operator would; the worker itself never sleeps.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  progress.finish();

  let completed = 0;
  let failed = 0;
  const surprises: string[] = [];
  for (const [id, pkg] of byIngest) {
    const state = states.get(id);
    if (state === "completed") completed++;
    if (state === "failed") failed++;
    if (state !== pkg.expected) {
      const record = await stack.service.deps.records.get(id);
      surprises.push(
        `${pkg.trigger.key} (${pkg.target}, scripted ${pkg.script}): expected ${pkg.expected}, got ${state}${record?.lastError ? ` — ${record.lastError}` : ""}`,
      );
    } else if (state === "failed" && !json) {
      const record = await stack.service.deps.records.get(id);
      say(`failed as scripted: ${pkg.trigger.key}: ${record?.lastError ?? "(no reason recorded)"}`);
    }
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const simStats = stack.sim.stats();
  const upstreamRequests: Record<string, number> = {};
  for (const [operation, byStatus] of Object.entries(simStats.requests))
    upstreamRequests[operation] = Object.values(byStatus).reduce((a, b) => a + b, 0);
  // The simulated AEM's webhook deliveries to the worker (delivered = answered 200).
  const aemEvents = (simStats.modules.aem?.events ?? {}) as Record<string, number>;

  say(`\n${count} ingests: ${completed} completed, ${failed} failed, in ${seconds}s`);
  for (const line of surprises) say(`NOT AS SCRIPTED: ${line}`);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ ingests: count, completed, failed, seconds, upstreamRequests, aemEvents })}\n`,
    );
  return surprises.length === 0 ? EXIT.ok : EXIT.failure;
}
