import { mkdir, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { createS3Adapter } from "../adapters/s3/s3-adapter.js";
import { EXIT } from "../cli/exit-codes.js";
import { configureLogger } from "../log/logger.js";
import { startEmbeddedS3 } from "../runtime/embedded-s3.js";
import { startLocalRedis, type LocalRedis } from "../runtime/local-redis.js";
import { runCeiling } from "./ceiling.js";
import {
  BENCH_BUCKET,
  isTerminal,
  percentile,
  postEvents,
  putSharedMedia,
  putSidecars,
} from "./chain-bench.js";
import { waitForRecords } from "./chain-bench.js";
import { processCpuSeconds, redisCpuSeconds } from "./process-cpu.js";
import { processMemory } from "./process-memory.js";
import { callsBetween, callsByCommand, commandCalls, usedMemory } from "./redis-stats.js";
import { simPost, startSimulatorProcess, startWorkerProcess } from "./bench-stack.js";

export const BENCH_HELP = `Usage: ingest-worker bench [--quick] [--json] [--count N] [--rate R] [--in-flight M]

Measures, in one run on one Redis:
  ceiling    a bare BullMQ chain of 6 no-op stages (the most this Redis and CPU allow)
  chain      the full Vimond chain in a worker process (ingest-worker run) against the simulator at
             zero latency, N packages entering through POST /v1/events/s3, one record per message,
             offered at R events/s (event i due at start + i/R s, latency counted from that time)
  in flight  M packages held on slow upstream jobs: Redis memory and worker RSS per package; sent
             as a burst whatever --rate says, since it measures memory, not latency
and reports the offered rate (target and achieved), packages/s and their ratio, event→push and
event→completed latency percentiles, upstream requests per package against the minimum the
scenario needs, Redis commands per package, and peak worker RSS. Writes bench/results/<date>.json.

Chain packages/s is N over the time from the first event to the last terminal record. It is the
chain's capacity only when the chain falls behind the offered rate (or with --rate 0); when it
keeps up, it is the offered rate and the ratio is a lower bound, and the table says so.

Options:
  --quick          N = 500, M = 1000 (default N = 5000, M = 10000)
  --count N        packages through the chain
  --rate R         events per second offered to the chain (default 500); 0 sends all N at once,
                   as fast as 32 parallel requests allow (a capacity measure, not a latency one)
  --in-flight M    packages held in flight
  --results DIR    where the JSON result file goes (default bench/results)
  --json           print one JSON object last
  -h, --help       this help
`;

const STAGES = 6;
const ATOM_BATCH_MAX_WAIT_MS = 50;

export async function benchCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        count: { type: "string" },
        rate: { type: "string", default: "500" },
        "in-flight": { type: "string" },
        results: { type: "string", default: "bench/results" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    process.stderr.write(`ingest-worker bench: ${(error as Error).message}\n\n${BENCH_HELP}`);
    return EXIT.usage;
  }
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return EXIT.ok;
  }
  const count = Number(values.count ?? (values.quick ? 500 : 5000));
  const inFlight = Number(values["in-flight"] ?? (values.quick ? 1000 : 10000));
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(inFlight) || inFlight < 0) {
    process.stderr.write("ingest-worker bench: --count and --in-flight must be whole numbers\n");
    return EXIT.usage;
  }
  const rate = Number(values.rate);
  if (!Number.isFinite(rate) || rate < 0) {
    process.stderr.write("ingest-worker bench: --rate must be a number of events per second, 0 or more\n");
    return EXIT.usage;
  }
  configureLogger({ level: "warn" });
  const say = (line: string) => {
    if (!values.json) process.stdout.write(`${line}\n`);
  };

  let localRedis: LocalRedis | undefined;
  const redisUrl = process.env.REDIS_URL ?? (localRedis = await startLocalRedis()).url;
  const redis = new Redis(redisUrl);
  const run = Date.now().toString(36);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const concurrency = 16;
    say(`ceiling: ${count} items through ${STAGES} no-op BullMQ stages …`);
    const ceiling = await runCeiling({
      redisUrl,
      prefix: `{bench-ceiling-${run}}`,
      items: count,
      stages: STAGES,
      concurrency,
    });
    say(`  ${ceiling.perSecond.toFixed(0)} items/s`);

    const sim = await startSimulatorProcess();
    cleanups.push(() => sim.child.stop());
    const feed = (await simPost(
      sim.info.ais,
      "/company/1/mediaFeeds",
      { name: "bench", type: "PUSH" },
      sim.info.token,
    )) as { id: number | string };
    await simPost(sim.info.ais, "/_sim/scenario", {
      modules: {
        ais: { jobQueuedMs: 0, taskDurationMs: 0 },
        status: { durationsMs: { retrieval: 0, encoding: 0, distribution: 0, playout: 0 } },
      },
    });
    const s3Server = await startEmbeddedS3({ buckets: [BENCH_BUCKET] });
    cleanups.push(() => s3Server.stop());
    const s3 = createS3Adapter({ region: "us-east-1", endpoint: s3Server.endpoint });
    cleanups.push(async () => s3.close());
    await putSharedMedia(s3);
    say(`uploading ${count + inFlight} sidecars to the embedded S3 …`);
    const packages = await putSidecars(s3, `${run}c`, count);
    const held = inFlight > 0 ? await putSidecars(s3, `${run}f`, inFlight) : [];

    const prefix = `{bench-${run}}`;
    const startWorker = () =>
      startWorkerProcess({
        redisUrl,
        prefix,
        sim: sim.info,
        s3Endpoint: s3Server.endpoint,
        routes: [
          {
            name: "bench",
            bucket: BENCH_BUCKET,
            prefix: "news/",
            target: "vimond",
            vimond: { mediaFeedId: String(feed.id) },
          },
        ],
        env: {
          WORKER_CONCURRENCY: String(concurrency),
          POLL_INITIAL_DELAY_MS: "50",
          ATOM_BATCH_MAX_WAIT_MS: String(ATOM_BATCH_MAX_WAIT_MS),
        },
      });
    let worker = await startWorker();
    const stopWorker = async () => {
      await worker.child.stop();
      await worker.cleanup();
    };
    cleanups.push(() => stopWorker());

    say(`chain: ${count} packages through the worker, ${rate > 0 ? `${rate} events/s` : "a burst"} …`);
    const cpu = async () => ({
      worker: await processCpuSeconds(worker.child.process.pid ?? 0),
      simulator: await processCpuSeconds(sim.child.process.pid ?? 0),
      redis: await redisCpuSeconds(redis),
      bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    const cpuBefore = await cpu();
    const before = await commandCalls(redis);
    const offered = await postEvents(worker.url, worker.intakeToken, packages, 32, rate);
    const watcherReads = { hgetall: 0 };
    const records = await waitForRecords(redis, prefix, packages, isTerminal, 600_000, watcherReads);
    // From the first event to the last terminal record, by the records' own times: the watcher's
    // polling interval does not count.
    const finishedAt = records.map((r) => r.finishedAt ?? Date.now());
    const lastFinishedAt = finishedAt.reduce((a, b) => Math.max(a, b), -Infinity);
    const seconds = (lastFinishedAt - offered.firstSentAt) / 1000;
    const after = await commandCalls(redis);
    const cpuAfter = await cpu();
    // Milliseconds of CPU per package in each process: where the machine's cores went.
    const cpuMsPerPackage = Object.fromEntries(
      (Object.keys(cpuAfter) as Array<keyof typeof cpuAfter>).map((k) => [
        k,
        Math.round(((cpuAfter[k] - cpuBefore[k]) * 1000 * 100) / count) / 100,
      ]),
    ) as Record<keyof typeof cpuAfter, number>;
    const own = new Map([["hgetall", watcherReads.hgetall]]);
    const chainCommands = callsBetween(before, after, own) / count;
    const chainByCommand = Object.fromEntries(
      [...callsByCommand(before, after, own)]
        .sort((a, b) => b[1] - a[1])
        .map(([command, n]) => [command, Math.round((n / count) * 100) / 100]),
    );
    const chainPerSecond = count / seconds;
    // The rate at which records completed, without the first package's latency: when it matches
    // what was offered, the chain kept up, and packages/s is the offered rate, not capacity.
    const completionsPerSecond =
      count > 1
        ? ((count - 1) * 1000) / (lastFinishedAt - finishedAt.reduce((a, b) => Math.min(a, b), Infinity))
        : NaN;
    const offeredRate = Number.isFinite(offered.perSecond) ? offered.perSecond : rate;
    const keepsUp =
      rate > 0 && (chainPerSecond >= 0.95 * offeredRate || completionsPerSecond >= 0.95 * offeredRate);
    const completed = records.filter((r) => r.state === "completed").length;
    const pushMs = records.filter((r) => r.pushedAt).map((r) => r.pushedAt! - r.eventAt);
    const doneMs = records.map((r) => (r.finishedAt ?? 0) - r.eventAt);
    const stats = (await (await fetch(`${sim.info.ais}/_sim/stats`)).json()) as {
      requests: Record<string, Record<string, number>>;
    };
    const byOperation: Record<string, number> = {};
    for (const [operation, byStatus] of Object.entries(stats.requests)) {
      if (operation.endsWith(".oauthToken")) continue;
      byOperation[operation] = Object.values(byStatus).reduce((a, b) => a + b, 0);
    }
    // The benchmark's own feed creation is setup, not the chain's work.
    const chainOperations = Object.entries(byOperation).filter(
      ([op]) => !op.startsWith("ais.createMediaFeed"),
    );
    const upstreamTotal = chainOperations.reduce((a, [, n]) => a + n, 0);
    // Per package: a status lookup, an image pack, one image fetch and the pack's binding (read the
    // asset, set its imagePackId); per push of up to 50 entries: the push, one job read and one task list.
    const pushes = Math.ceil(count / 50);
    const minimum = count * 5 + pushes * 3;
    const workerMemory = await processMemory(worker.child.process.pid ?? 0);

    let inFlightResult:
      | {
          packages: number;
          redisBytesPerPackage: number;
          workerRssBytes: number;
          workerPeakRssBytes: number;
          workerHeapUsedBytes: number;
          workerHeapTotalBytes: number;
        }
      | undefined;
    if (held.length) {
      say(`in flight: ${held.length} packages held on slow upstream jobs …`);
      // A fresh worker process: its memory then is what holding these packages costs, not what
      // the chain run before left in the heap.
      await stopWorker();
      worker = await startWorker();
      await simPost(sim.info.ais, "/_sim/scenario", { modules: { ais: { jobQueuedMs: 1e12 } } });
      const baseline = await usedMemory(redis);
      await postEvents(worker.url, worker.intakeToken, held); // a burst: this measures memory
      await waitForRecords(redis, prefix, held, (r) => r.state === "importing", 600_000);
      const memory = await usedMemory(redis);
      const rss = await processMemory(worker.child.process.pid ?? 0);
      const heap = await workerHeap(worker.url);
      inFlightResult = {
        packages: held.length,
        redisBytesPerPackage: Math.round((memory - baseline) / held.length),
        workerRssBytes: rss?.rssBytes ?? NaN,
        workerPeakRssBytes: rss?.peakRssBytes ?? NaN,
        workerHeapUsedBytes: heap.used,
        workerHeapTotalBytes: heap.total,
      };
    }

    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: (await import("node:os")).cpus().length,
      ceiling: { ...ceiling },
      rate,
      offeredPerSecond: offered.perSecond,
      sendLagP99Ms: offered.lagP99Ms,
      sendLagMaxMs: offered.lagMaxMs,
      chain: {
        packages: count,
        completed,
        seconds,
        perSecond: chainPerSecond,
        completionsPerSecond,
        // True when packages/s is the offered rate rather than the chain's capacity.
        keepsUpWithRate: keepsUp,
        redisCommandsPerPackage: chainCommands,
        redisCommandsByCommand: chainByCommand,
        cpuMsPerPackage,
        peakWorkerRssBytes: workerMemory?.peakRssBytes ?? NaN,
      },
      ratio: chainPerSecond / ceiling.perSecond,
      p50PushMs: percentile(pushMs, 50),
      p95PushMs: percentile(pushMs, 95),
      p99PushMs: percentile(pushMs, 99),
      p50CompleteMs: percentile(doneMs, 50),
      p95CompleteMs: percentile(doneMs, 95),
      p99CompleteMs: percentile(doneMs, 99),
      upstreamRequests: byOperation,
      upstreamPerPackage: upstreamTotal / count,
      upstreamMinimum: minimum / count,
      redisCommandsPerPackage: {
        ceiling: ceiling.redisCommandsPerItem,
        chain: chainCommands,
      },
      inFlight: inFlightResult,
      inFlightBytesPerPackage: inFlightResult?.redisBytesPerPackage,
    };
    await mkdir(values.results, { recursive: true });
    const file = `${values.results}/${result.date.slice(0, 19).replace(/:/g, "-")}.json`;
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);

    const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
    const perSec = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 1 : 0)}/s` : "n/a");
    const behind = rate > 0 && offered.perSecond < 0.95 * rate;
    const offeredRow =
      rate > 0
        ? `${perSec(rate)} target, ${perSec(offered.perSecond)} achieved (send lag p99 ${offered.lagP99Ms} ms, max ${offered.lagMaxMs} ms)${behind ? "; the sender fell behind the schedule" : ""}`
        : `a burst (--rate 0), ${perSec(offered.perSecond)} achieved`;
    const chainNote = keepsUp
      ? "chain keeps up with the offered rate: throughput is the offered rate, not capacity (--rate 0 measures capacity)"
      : rate > 0
        ? "capacity: below the offered rate, so a backlog builds and latencies grow with N"
        : "capacity";
    const latencyNote = rate > 0 ? "" : " (a burst: mostly queueing behind it)";
    say("");
    say(`| measure | value |`);
    say(`| --- | --- |`);
    say(`| ceiling (bare BullMQ, ${STAGES} stages) | ${ceiling.perSecond.toFixed(0)} items/s |`);
    say(`| events offered | ${offeredRow} |`);
    say(
      `| chain | ${chainPerSecond.toFixed(0)} packages/s (${completed}/${count} completed); ${chainNote} |`,
    );
    say(
      `| ratio | ${keepsUp ? `≥ ${result.ratio.toFixed(2)} (a lower bound: the chain kept up)` : result.ratio.toFixed(2)} |`,
    );
    say(
      `| event → push p50 / p95 / p99 | ${result.p50PushMs} / ${result.p95PushMs} / ${result.p99PushMs} ms${latencyNote} |`,
    );
    say(
      `| event → completed p50 / p95 / p99 | ${result.p50CompleteMs} / ${result.p95CompleteMs} / ${result.p99CompleteMs} ms${latencyNote} |`,
    );
    // The minimum assumes full Atom batches of 50; a chain that keeps up with a paced rate only
    // gathers what arrives within the batch wait, so say so rather than let the row read as waste.
    const batchNote =
      keepsUp && rate * (ATOM_BATCH_MAX_WAIT_MS / 1000) < 50
        ? `; at ${perSec(rate)} Atom batches gather ~${Math.max(1, Math.round((rate * ATOM_BATCH_MAX_WAIT_MS) / 1000))} events per ${ATOM_BATCH_MAX_WAIT_MS} ms batch window, not the 50 the minimum assumes`
        : "";
    say(
      `| upstream requests per package | ${result.upstreamPerPackage.toFixed(2)} (minimum ${result.upstreamMinimum.toFixed(2)})${batchNote} |`,
    );
    const perOperation = chainOperations.map(([op, n]) => `${op} ${(n / count).toFixed(2)}`).join(", ");
    say(`| … by operation, per package | ${perOperation} |`);
    say(
      `| Redis commands per package | chain ${result.redisCommandsPerPackage.chain.toFixed(1)}, ceiling ${ceiling.redisCommandsPerItem.toFixed(1)} |`,
    );
    say(
      `| CPU per package (worker / simulator / Redis / bench process with S3) | ${cpuMsPerPackage.worker} / ${cpuMsPerPackage.simulator} / ${cpuMsPerPackage.redis} / ${cpuMsPerPackage.bench} ms |`,
    );
    say(`| peak worker RSS | ${mb(result.chain.peakWorkerRssBytes)} |`);
    if (inFlightResult)
      say(
        `| in flight (${inFlightResult.packages}) | ${inFlightResult.redisBytesPerPackage} B Redis per package, worker RSS ${mb(inFlightResult.workerRssBytes)} (peak ${mb(inFlightResult.workerPeakRssBytes)}, a fresh worker process; V8 heap ${mb(inFlightResult.workerHeapUsedBytes)} used of ${mb(inFlightResult.workerHeapTotalBytes)}) |`,
      );
    say(`\nwritten to ${file}`);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    return completed === count ? EXIT.ok : EXIT.failure;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await redis.quit();
    await localRedis?.stop();
  }
}

/** The worker's V8 heap (used, total) from its own /metrics; NaN when it cannot be read. */
async function workerHeap(url: string): Promise<{ used: number; total: number }> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)`, "m").exec(text)?.[1] ?? NaN);
    return {
      used: gauge("ingest_nodejs_heap_size_used_bytes"),
      total: gauge("ingest_nodejs_heap_size_total_bytes"),
    };
  } catch {
    return { used: NaN, total: NaN };
  }
}
