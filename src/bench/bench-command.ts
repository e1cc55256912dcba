import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { Redis } from "ioredis";
import { parseArgsOrExit } from "../cli/command-args.js";
import { EXIT } from "../cli/exit-codes.js";
import { configureLogger } from "../log/logger.js";
import { startLocalRedis, type LocalRedis } from "../runtime/local-redis.js";
import { printReport, type InFlightFigures } from "./bench-report.js";
import {
  ATOM_BATCH_MAX_ENTRIES,
  ATOM_BATCH_MAX_WAIT_MS,
  CONCURRENCY,
  POLL_INITIAL_DELAY_MS,
  STAGES,
} from "./bench-settings.js";
import { createPushFeed, simPost, startReferenceProcess, startWorkerProcess } from "./bench-stack.js";
import { startBenchUpstreams } from "./bench-upstreams.js";
import { runCeiling } from "./ceiling.js";
import { BENCH_BUCKET, postEvents, putSidecars, waitForRecords } from "./chain-bench.js";
import { runLongEncode, scaledTimers } from "./long-encode.js";
import { printLongEncodeReport } from "./long-encode-report.js";
import { measureRun, type RunContext } from "./measure-run.js";
import { processMemory } from "./process-memory.js";
import { usedMemory } from "./redis-stats.js";

export const BENCH_HELP = `Usage: ingest-worker bench [--quick] [--json] [--count N] [--rate R] [--in-flight M]
                         [--warmup W] [--ceiling-items C] [--latency-rate L] [--latency-count K]
       ingest-worker bench --long-encode [--quick] [--json] [--in-flight M] [--per-ingest-in-flight P]
                         [--speed F] [--encode-minutes E] [--status-rate-limit R]

Measures, in one run on one Redis:
  ceiling    a bare BullMQ chain of 6 no-op stages (the most this Redis and CPU allow), C items
  chain      the full Vimond chain in a worker process (ingest-worker run) against the simulator at
             zero latency, N packages entering through POST /v1/events/s3, one record per message,
             offered at R events/s (event i due at start + i/R s, latency counted from that time)
  reference  the same N packages through a deliberately minimal worker doing the same effects
             (src/bench/reference-worker.ts: same queues and micro-batching, same S3 and upstream
             requests, one record write per step), in its own process: the yardstick for the
             chain's overhead (chain/reference for throughput and for worker CPU per package)
  scale-out  the chain again with 2 worker processes on the same Redis and prefix
  latency    when the chain fell behind R (a capacity run), K of the packages through it again at
             L events/s, a rate it sustains: the event → push p99 goal is judged there
  in flight  M packages held on slow upstream jobs: Redis memory and worker RSS per package; sent
             as a burst whatever --rate says, since it measures memory, not latency
Every measured run is preceded by a warm-up of W packages (a burst, not counted), and packages
are counted finished from the CloudEvent each posts when it ends (the worker's NOTIFY_URLS, the
reference's notify step) to a receiver in the benchmark process. The simulator is reset before
each run. Reports packages/s, latency percentiles, upstream requests per package against the
minimum (5 per package, and 3 per push for the fewest pushes that carry the events with none
waiting longer than the run's longest event→push: full 50-entry pushes for a burst), Redis
commands per package, CPU per package per process, peak worker RSS and the issue's goals.
Writes bench/results/<date>.json.

Packages/s is N over the time from the first event to the last finished package. It is capacity
only when the run falls behind the offered rate (or with --rate 0); when it keeps up, it is the
offered rate, and the table says so.

With --long-encode it runs only the long-encode scenario (bench/README.md): video ingests that
take minutes (E minutes of encoding ±10 %, plus retrieval, distribution and playout), with the
simulator at --speed F and the worker's POLL_INITIAL_DELAY_MS, POLL_MAX_DELAY_MS,
STATUS_SWEEP_INTERVAL_MS and STATUS_SWEEP_FALLBACK_MS divided by F, so counts per simulated minute
are a deployment's. Twice: per-ingest polling with P in flight, then STATUS_SWEEP=true with M in
flight (fresh prefix, reset simulator). Reports, from the simulator's /_sim/stats, Status API
requests per in-flight ingest per simulated minute while all are in flight, upstream requests per
package, 429s, packages finished, and the goal (≤ 0.05 with sweeps at 10,000). Writes
bench/results/<date>-long-encode.json.
  --in-flight M             default 10,000
  --per-ingest-in-flight P  default min(M, 1000): polling 10,000 at F is more than a 2-core machine
                            drives (the figure is per ingest; the report says what was measured)
  --speed F                 default 5 (--quick: 100); up to ~200, where POLL_INITIAL_DELAY_MS
                            (2000 / F) reaches the worker's minimum of 10 ms
  --encode-minutes E        default 20 (--quick: 5)
  --status-rate-limit R     Status API requests per simulated second before 429 (default 50; 0: none)
  (--quick: M = P = 40)

Options:
  --quick            N = 500, M = 1000, W = 100, C = 1000 (default N = 5000, M = 10000, W = 300,
                     C = 5000)
  --count N          packages through the chain, the reference and the scale-out run
  --rate R           events per second offered (default 500); 0 sends all N at once, as fast as 32
                     parallel requests allow (a capacity measure, not a latency one)
  --in-flight M      packages held in flight
  --warmup W         warm-up packages before each measured run (and W × 5 ceiling items)
  --ceiling-items C  items through the ceiling
  --latency-rate L   events per second of the latency run (default 50; 0: none)
  --latency-count K  packages of the latency run (default min(N, 1500); --quick: min(N, 500))
  --results DIR      where the JSON result file goes (default bench/results)
  --json             print one JSON object last
  -h, --help         this help
`;

const TIMEOUT_MS = 600_000;

/** A whole number option: its value, the default when absent, undefined when malformed. */
function wholeNumber(value: string | undefined, fallback: number): number | undefined {
  const n = value === undefined ? fallback : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const parsed = parseArgsOrExit("bench", BENCH_HELP, {
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      count: { type: "string" },
      rate: { type: "string", default: "500" },
      "in-flight": { type: "string" },
      warmup: { type: "string" },
      "ceiling-items": { type: "string" },
      "latency-rate": { type: "string", default: "50" },
      "latency-count": { type: "string" },
      "long-encode": { type: "boolean", default: false },
      "per-ingest-in-flight": { type: "string" },
      speed: { type: "string" },
      "encode-minutes": { type: "string" },
      "status-rate-limit": { type: "string" },
      results: { type: "string", default: "bench/results" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (typeof parsed === "number") return parsed;
  const { values } = parsed;
  const quick = values.quick;
  if (values["long-encode"]) return longEncodeCommand(values);
  const count = wholeNumber(values.count, quick ? 500 : 5000);
  const inFlight = wholeNumber(values["in-flight"], quick ? 1000 : 10000);
  const warmup = wholeNumber(values.warmup, quick ? 100 : 300);
  const ceilingItems = wholeNumber(values["ceiling-items"], quick ? 1000 : 5000);
  if (count === undefined || count < 1 || inFlight === undefined || warmup === undefined) {
    process.stderr.write("ingest-worker bench: --count, --in-flight and --warmup must be whole numbers\n");
    return EXIT.usage;
  }
  if (ceilingItems === undefined || ceilingItems < 1) {
    process.stderr.write("ingest-worker bench: --ceiling-items must be a whole number, 1 or more\n");
    return EXIT.usage;
  }
  const rate = Number(values.rate);
  if (!Number.isFinite(rate) || rate < 0) {
    process.stderr.write("ingest-worker bench: --rate must be a number of events per second, 0 or more\n");
    return EXIT.usage;
  }
  const latencyRate = Number(values["latency-rate"]);
  const latencyCount = wholeNumber(values["latency-count"], Math.min(count, quick ? 500 : 1500));
  if (!Number.isFinite(latencyRate) || latencyRate < 0 || latencyCount === undefined || latencyCount < 1) {
    process.stderr.write(
      "ingest-worker bench: --latency-rate must be a number of events per second, 0 or more, and --latency-count a whole number, 1 or more\n",
    );
    return EXIT.usage;
  }
  const { say, redisUrl, localRedis } = await benchSetup(values.json);

  const redis = new Redis(redisUrl);
  const run = Date.now().toString(36);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    say(`ceiling: ${warmup * 5} warm-up items, then ${ceilingItems} through ${STAGES} no-op BullMQ stages …`);
    const ceilingOptions = { redisUrl, stages: STAGES, concurrency: CONCURRENCY };
    if (warmup > 0)
      await runCeiling({ ...ceilingOptions, prefix: `{bench-ceiling-${run}w}`, items: warmup * 5 });
    const ceiling = await runCeiling({
      ...ceilingOptions,
      prefix: `{bench-ceiling-${run}}`,
      items: ceilingItems,
    });
    say(`  ${ceiling.perSecond.toFixed(0)} items/s`);

    const { sim, s3Server, s3, receiver } = await startBenchUpstreams(cleanups);
    /** A fresh simulator for each run (its lookups scan what it holds), with a feed to push to. */
    const freshSimulator = async (ais: Record<string, number> = { jobQueuedMs: 0, taskDurationMs: 0 }) => {
      await simPost(sim.info.ais, "/_sim/reset", {});
      await simPost(sim.info.ais, "/_sim/scenario", {
        modules: {
          ais,
          status: { durationsMs: { retrieval: 0, encoding: 0, distribution: 0, playout: 0 } },
        },
      });
      return createPushFeed(sim.info, "bench");
    };
    say(`uploading ${warmup + count + inFlight} sidecars to the embedded S3 …`);
    // Each run has its own Redis prefix and a reset simulator, so the same packages serve the
    // chain, the reference and the scale-out run.
    const warm = await putSidecars(s3, `${run}w`, warmup);
    const packages = await putSidecars(s3, `${run}c`, count);
    const held = inFlight > 0 ? await putSidecars(s3, `${run}f`, inFlight) : [];

    const startWorker = (prefix: string, mediaFeedId: string) =>
      startWorkerProcess({
        redisUrl,
        prefix,
        sim: sim.info,
        s3Endpoint: s3Server.endpoint,
        routes: [
          { name: "bench", bucket: BENCH_BUCKET, prefix: "news/", target: "vimond", vimond: { mediaFeedId } },
        ],
        env: {
          WORKER_CONCURRENCY: String(CONCURRENCY),
          POLL_INITIAL_DELAY_MS: String(POLL_INITIAL_DELAY_MS),
          // Zero-latency upstreams settle at the first read: a 30 s sweep would only add its wait.
          STATUS_SWEEP: "false",
          ATOM_BATCH_MAX_WAIT_MS: String(ATOM_BATCH_MAX_WAIT_MS),
          ATOM_BATCH_MAX_ENTRIES: String(ATOM_BATCH_MAX_ENTRIES),
          NOTIFY_URLS: receiver.url,
        },
      });
    type Worker = Awaited<ReturnType<typeof startWorker>>;
    const stopWorkers = async (workers: Worker[]) => {
      for (const worker of workers.splice(0)) {
        await worker.child.stop();
        await worker.cleanup();
      }
    };
    const running: Worker[] = [];
    cleanups.push(() => stopWorkers(running));
    const context: RunContext = {
      redis,
      simulatorPid: sim.child.process.pid ?? 0,
      simulatorUrl: sim.info.ais,
      receiver,
      rate,
      timeoutMs: TIMEOUT_MS,
      maxBatchEntries: ATOM_BATCH_MAX_ENTRIES,
    };
    const pace = rate > 0 ? `${rate} events/s` : "a burst";
    const chainRun = async (workers: number, prefix: string, offered = { rate, packages }) => {
      const mediaFeedId = await freshSimulator();
      for (let i = 0; i < workers; i++) running.push(await startWorker(prefix, mediaFeedId));
      const result = await measureRun(
        {
          intakes: running.map((w) => w.url),
          intakeToken: running[0]!.intakeToken,
          workerPids: running.map((w) => w.child.process.pid ?? 0),
        },
        { ...context, rate: offered.rate },
        warm,
        offered.packages,
      );
      const memory = await Promise.all(running.map((w) => processMemory(w.child.process.pid ?? 0)));
      await stopWorkers(running);
      return { ...result, peakWorkerRssBytes: Math.max(...memory.map((m) => m?.peakRssBytes ?? NaN)) };
    };

    say(`chain: ${warmup} warm-up packages, then ${count} through the worker, ${pace} …`);
    const chain = await chainRun(1, `{bench-${run}}`);
    say(
      `  ${chain.perSecond.toFixed(0)} packages/s, worker ${chain.cpuMsPerPackage.worker} ms CPU per package`,
    );

    say(`reference: the same through the same-work reference …`);
    const reference = await (async () => {
      const mediaFeedId = await freshSimulator();
      const ref = await startReferenceProcess({
        redisUrl,
        prefix: `{bench-ref-${run}}`,
        s3Endpoint: s3Server.endpoint,
        ais: sim.info.ais,
        status: sim.info.status,
        images: sim.info.images,
        token: sim.info.token,
        companyId: "1",
        mediaFeedId,
        notifyUrl: receiver.url,
        concurrency: CONCURRENCY,
        batchWaitMs: ATOM_BATCH_MAX_WAIT_MS,
        pollInitialDelayMs: POLL_INITIAL_DELAY_MS,
      });
      try {
        return await measureRun(
          { intakes: [ref.url], intakeToken: ref.intakeToken, workerPids: [ref.child.process.pid ?? 0] },
          context,
          warm,
          packages,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}\nreference output:\n${ref.child.output()}`, {
          cause: error,
        });
      } finally {
        await ref.child.stop();
      }
    })();
    say(
      `  ${reference.perSecond.toFixed(0)} packages/s, ${reference.cpuMsPerPackage.worker} ms CPU per package`,
    );

    say(`scale-out: the chain with 2 worker processes …`);
    const twoWorkers = await chainRun(2, `{bench-${run}-x2}`);
    say(
      `  ${twoWorkers.perSecond.toFixed(0)} packages/s, workers ${twoWorkers.cpuMsPerPackage.worker} ms CPU per package`,
    );

    // A capacity run queues events behind a backlog, so its latencies say nothing of the chain's;
    // the goal is judged at a rate the chain sustains, in a run of its own.
    let latency: (Awaited<ReturnType<typeof chainRun>> & { rate: number }) | undefined;
    if (!chain.keepsUpWithRate && latencyRate > 0) {
      const some = packages.slice(0, latencyCount);
      say(`latency: ${some.length} packages through the worker at ${latencyRate} events/s …`);
      latency = {
        ...(await chainRun(1, `{bench-${run}-l}`, { rate: latencyRate, packages: some })),
        rate: latencyRate,
      };
      say(
        `  event → push p99 ${latency.p99PushMs} ms${latency.keepsUpWithRate ? "" : " (it fell behind this rate too)"}`,
      );
    }
    const latencyRun = chain.keepsUpWithRate ? chain : latency;

    let inFlightResult: InFlightFigures | undefined;
    if (held.length) {
      say(`in flight: ${held.length} packages held on slow upstream jobs …`);
      // A fresh worker process: its memory then is what holding these packages costs, not what
      // the runs before left in the heap.
      const mediaFeedId = await freshSimulator({ jobQueuedMs: 1e12, taskDurationMs: 0 });
      const prefix = `{bench-${run}-f}`;
      const worker = await startWorker(prefix, mediaFeedId);
      running.push(worker);
      const baseline = await usedMemory(redis);
      await postEvents(worker.url, worker.intakeToken, held); // a burst: this measures memory
      await waitForRecords(redis, prefix, held, (r) => r.state === "importing", TIMEOUT_MS);
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
      await stopWorkers(running);
    }

    // Per package: a status lookup, an image pack, one image fetch and the pack's binding (read the
    // asset, set its imagePackId); per push: the push, one job read and one task list. Pushes: the
    // fewest that could carry the chain's events with none waiting longer than the chain let one
    // wait (fewest-pushes.ts): full pushes for a burst, more for a rate that gathers a few events
    // per wait.
    const upstreamMinimum = (count * 5 + chain.fewestPushes * 3) / count;
    const refRatio = chain.perSecond / reference.perSecond;
    const refCpuRatio = chain.cpuMsPerPackage.worker / reference.cpuMsPerPackage.worker;
    const upstreamRatio = chain.upstreamPerPackage / upstreamMinimum;
    const goal = (value: number, target: string, met: boolean | null) => ({ value, target, met });
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      warmupPackages: warmup,
      ceiling: { ...ceiling, warmupItems: warmup * 5 },
      rate,
      offeredPerSecond: chain.offered.perSecond,
      sendLagP99Ms: chain.offered.lagP99Ms,
      sendLagMaxMs: chain.offered.lagMaxMs,
      chain,
      reference,
      scaleOut: {
        workers1: scaleRow(chain),
        workers2: { ...scaleRow(twoWorkers), run: twoWorkers },
      },
      ratio: chain.perSecond / ceiling.perSecond,
      refRatio,
      refCpuRatio,
      redisPerPackage: chain.redisCommandsPerPackage,
      p50PushMs: chain.p50PushMs,
      p95PushMs: chain.p95PushMs,
      p99PushMs: chain.p99PushMs,
      p50CompleteMs: chain.p50CompleteMs,
      p95CompleteMs: chain.p95CompleteMs,
      p99CompleteMs: chain.p99CompleteMs,
      upstreamRequests: chain.upstreamRequests,
      upstreamPerPackage: chain.upstreamPerPackage,
      upstreamMinimum,
      redisCommandsPerPackage: {
        ceiling: ceiling.redisCommandsPerItem,
        chain: chain.redisCommandsPerPackage,
        reference: reference.redisCommandsPerPackage,
      },
      latency,
      inFlight: inFlightResult,
      inFlightBytesPerPackage: inFlightResult?.redisBytesPerPackage,
      // The goals, judged in this run. A latency goal holds only at a rate the chain sustains.
      goals: {
        workerCpuVsReference: goal(refCpuRatio, "≤ 1.5", refCpuRatio <= 1.5),
        throughputVsReference: goal(refRatio, "≥ 0.7", refRatio >= 0.7),
        redisCommandsPerPackage: goal(
          chain.redisCommandsPerPackage,
          "≤ 150",
          chain.redisCommandsPerPackage <= 150,
        ),
        upstreamVsMinimum: goal(upstreamRatio, "≤ 1.25", upstreamRatio <= 1.25),
        p99PushMs: goal(
          latencyRun?.p99PushMs ?? NaN,
          "≤ 250 ms at a rate the chain sustains",
          latencyRun?.keepsUpWithRate ? latencyRun.p99PushMs <= 250 : null,
        ),
      },
    };
    await mkdir(values.results, { recursive: true });
    const file = `${values.results}/${result.date.slice(0, 19).replace(/:/g, "-")}.json`;
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    printReport(result, say);
    say(`\nwritten to ${file}`);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    const allDone =
      [chain, reference, twoWorkers].every((r) => r.completed === count) &&
      (latency === undefined || latency.completed === latency.packages);
    return allDone ? EXIT.ok : EXIT.failure;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await redis.quit();
    await localRedis?.stop();
  }
}

/** A positive number option: its value, the default when absent, undefined when malformed. */
function positive(value: string | undefined, fallback: number): number | undefined {
  const n = value === undefined ? fallback : Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `bench --long-encode`: the long-encode scenario alone (long-encode.ts). */
async function longEncodeCommand(values: {
  quick: boolean;
  json: boolean;
  results: string;
  "in-flight"?: string | undefined;
  "per-ingest-in-flight"?: string | undefined;
  speed?: string | undefined;
  "encode-minutes"?: string | undefined;
  "status-rate-limit"?: string | undefined;
}): Promise<number> {
  const quick = values.quick;
  const inFlight = wholeNumber(values["in-flight"], quick ? 40 : 10_000);
  const perIngestInFlight = wholeNumber(values["per-ingest-in-flight"], Math.min(inFlight ?? 0, 1000));
  const speed = positive(values.speed, quick ? 100 : 5);
  const encodeMinutes = positive(values["encode-minutes"], quick ? 5 : 20);
  const statusRateLimit = Number(values["status-rate-limit"] ?? 50);
  if (!inFlight || !perIngestInFlight) {
    process.stderr.write(
      "ingest-worker bench: --in-flight and --per-ingest-in-flight must be whole numbers, 1 or more\n",
    );
    return EXIT.usage;
  }
  const timers = speed === undefined ? "must be a positive number" : scaledTimers(speed);
  if (typeof timers === "string") {
    process.stderr.write(`ingest-worker bench: --speed ${values.speed}: ${timers}\n`);
    return EXIT.usage;
  }
  if (encodeMinutes === undefined || !Number.isFinite(statusRateLimit) || statusRateLimit < 0) {
    process.stderr.write(
      "ingest-worker bench: --encode-minutes must be a positive number, --status-rate-limit 0 or more\n",
    );
    return EXIT.usage;
  }
  const { say, redisUrl, localRedis } = await benchSetup(values.json);
  try {
    const longEncode = await runLongEncode({
      redisUrl,
      inFlight,
      perIngestInFlight,
      speed: speed!,
      encodeMinutes,
      statusRateLimit,
      runId: Date.now().toString(36),
      timeoutMs: TIMEOUT_MS + (encodeMinutes * 2 * 60_000) / speed!,
      say,
    });
    const result = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, longEncode };
    await mkdir(values.results, { recursive: true });
    const file = `${values.results}/${result.date.slice(0, 19).replace(/:/g, "-")}-long-encode.json`;
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    printLongEncodeReport(longEncode, say);
    say(`\nwritten to ${file}`);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    const allDone = [longEncode.perIngest, longEncode.sweeps].every((r) => r.completed === r.packages);
    return allDone ? EXIT.ok : EXIT.failure;
  } finally {
    await localRedis?.stop();
  }
}

/** The scale-out figures of one chain run. */
function scaleRow(run: Awaited<ReturnType<typeof measureRun>>) {
  return {
    workers: run.cpuMsPerPackage.workerProcesses.length,
    perSecond: run.perSecond,
    keepsUpWithRate: run.keepsUpWithRate,
    redisCommandsPerPackage: run.redisCommandsPerPackage,
    workerCpuMsPerPackage: run.cpuMsPerPackage.worker,
  };
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

/**
 * What both bench commands set up first: warnings-only logs, progress lines on stdout unless the
 * result is printed as JSON, and Redis (REDIS_URL, else a local redis-server the caller stops).
 */
async function benchSetup(json: boolean | undefined) {
  configureLogger({ level: "warn" });
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  let localRedis: LocalRedis | undefined;
  const redisUrl = process.env.REDIS_URL ?? (localRedis = await startLocalRedis()).url;
  return { say, redisUrl, localRedis };
}
