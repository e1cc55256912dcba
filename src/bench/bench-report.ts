import { ATOM_BATCH_MAX_ENTRIES, STAGES } from "./bench-settings.js";
import type { CeilingResult } from "./ceiling.js";
import type { RunResult } from "./measure-run.js";

interface Goal {
  value: number;
  target: string;
  /** null: not judged in this run (a latency goal at a rate the chain does not sustain). */
  met: boolean | null;
}

/** The in-flight run: what holding `packages` packages on slow upstream jobs costs. */
export interface InFlightFigures {
  packages: number;
  redisBytesPerPackage: number;
  workerRssBytes: number;
  workerPeakRssBytes: number;
  workerHeapUsedBytes: number;
  workerHeapTotalBytes: number;
}

/** The fields of the benchmark's result the table prints. */
export interface ReportInput {
  warmupPackages: number;
  ceiling: CeilingResult & { warmupItems: number };
  rate: number;
  chain: RunResult & { peakWorkerRssBytes: number };
  reference: RunResult;
  scaleOut: { workers2: { run: RunResult & { peakWorkerRssBytes: number } } };
  ratio: number;
  refRatio: number;
  refCpuRatio: number;
  upstreamMinimum: number;
  /** The latency run, when the chain fell behind the main run's rate. */
  latency?: (RunResult & { rate: number }) | undefined;
  inFlight?: InFlightFigures | undefined;
  goals: Record<string, Goal>;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const perSec = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 1 : 0)}/s` : "n/a");
const f2 = (n: number) => n.toFixed(2);

/** Whether a packages/s figure is capacity, or only the offered rate (the run kept up). */
function capacityNote(run: RunResult, rate: number): string {
  if (run.keepsUpWithRate) return "keeps up with the offered rate: the offered rate, not capacity";
  return rate > 0 ? "capacity: below the offered rate, a backlog builds" : "capacity";
}

function cpuRow(run: RunResult): string {
  const c = run.cpuMsPerPackage;
  const each = c.workerProcesses.length > 1 ? ` (${c.workerProcesses.join(" + ")})` : "";
  return `${c.worker}${each} / ${c.simulator} / ${c.redis} / ${c.bench} ms`;
}

const latencies = (run: RunResult, which: "Push" | "Complete") =>
  `${run[`p50${which}Ms`]} / ${run[`p95${which}Ms`]} / ${run[`p99${which}Ms`]} ms`;

/** Prints the benchmark's table, one `say` per line. */
export function printReport(result: ReportInput, say: (line: string) => void): void {
  const { chain, reference, rate, ceiling } = result;
  const two = result.scaleOut.workers2.run;
  const offered = chain.offered;
  const behind = rate > 0 && offered.perSecond < 0.95 * rate;
  const offeredRow =
    rate > 0
      ? `${perSec(rate)} target, ${perSec(offered.perSecond)} achieved (send lag p99 ${offered.lagP99Ms} ms, max ${offered.lagMaxMs} ms)${behind ? "; the sender fell behind the schedule" : ""}`
      : `a burst (--rate 0), ${perSec(offered.perSecond)} achieved`;
  // chain/reference is a capacity ratio only when neither kept up with the offered rate.
  const refNote = chain.keepsUpWithRate
    ? " (the chain kept up: a lower bound)"
    : reference.keepsUpWithRate
      ? " (only the reference kept up: an upper bound)"
      : "";
  const latencyNote =
    rate === 0
      ? " (a burst: mostly queueing behind it)"
      : chain.keepsUpWithRate
        ? ""
        : " (behind the offered rate: mostly queueing)";
  // The minimum's pushes: the fewest that carry these events without any waiting longer than the
  // chain's longest event→push; at a rate that gathers a few events per wait, more than count / 50.
  const pushNote = `; that is ${chain.fewestPushes} pushes (${f2(chain.packages / chain.fewestPushes)} packages each, ≤ ${ATOM_BATCH_MAX_ENTRIES} entries, none waiting over the chain's longest event→push, ${chain.maxPushMs} ms), the chain made ${chain.upstreamRequests["ais.pushV2"] ?? 0}`;
  const perOperation = Object.entries(chain.upstreamRequests)
    .map(([op, n]) => `${op} ${(n / chain.packages).toFixed(2)}`)
    .join(", ");
  const verdict = (g: Goal) => (g.met === null ? "not judged" : g.met ? "met" : "**missed**");
  const goals = Object.entries(result.goals)
    .map(
      ([name, g]) => `${name} ${Number.isFinite(g.value) ? f2(g.value) : "n/a"} (${g.target}): ${verdict(g)}`,
    )
    .join("; ");

  say("");
  say(`| measure | value |`);
  say(`| --- | --- |`);
  say(
    `| ceiling (bare BullMQ, ${STAGES} stages) | ${ceiling.perSecond.toFixed(0)} items/s (${ceiling.items} items after ${ceiling.warmupItems} warm-up) |`,
  );
  say(`| events offered (chain) | ${offeredRow} |`);
  say(`| warm-up | ${result.warmupPackages} packages before each run, not counted |`);
  say(
    `| chain | ${chain.perSecond.toFixed(0)} packages/s (${chain.completed}/${chain.packages} completed); ${capacityNote(chain, rate)} |`,
  );
  say(
    `| same-work reference | ${reference.perSecond.toFixed(0)} packages/s (${reference.completed}/${reference.packages} completed); ${capacityNote(reference, rate)} |`,
  );
  say(
    `| chain / reference | throughput ${f2(result.refRatio)}${refNote}; worker CPU per package ${f2(result.refCpuRatio)} (${chain.cpuMsPerPackage.worker} vs ${reference.cpuMsPerPackage.worker} ms) |`,
  );
  say(
    `| chain / ceiling | ${f2(result.ratio)}${chain.keepsUpWithRate ? " (a lower bound: the chain kept up)" : ""} |`,
  );
  say(
    `| event → push p50 / p95 / p99 | chain ${latencies(chain, "Push")}; reference ${latencies(reference, "Push")}${latencyNote} |`,
  );
  say(
    `| event → completed p50 / p95 / p99 | chain ${latencies(chain, "Complete")}; reference ${latencies(reference, "Complete")}${latencyNote} |`,
  );
  if (result.latency) {
    const l = result.latency;
    say(
      `| latency run: ${l.packages} packages at ${perSec(l.rate)} | event → push ${latencies(l, "Push")}; event → completed ${latencies(l, "Complete")}; ${l.keepsUpWithRate ? "kept up" : "**fell behind this rate too**"} |`,
    );
  }
  say(
    `| upstream requests per package | chain ${f2(chain.upstreamPerPackage)}, reference ${f2(reference.upstreamPerPackage)} (minimum ${f2(result.upstreamMinimum)})${pushNote} |`,
  );
  say(`| … chain by operation, per package | ${perOperation} |`);
  say(
    `| Redis commands per package | chain ${chain.redisCommandsPerPackage.toFixed(1)}, reference ${reference.redisCommandsPerPackage.toFixed(1)}, ceiling ${ceiling.redisCommandsPerItem.toFixed(1)} per item; both include the notification |`,
  );
  say(
    `| CPU per package (worker / simulator / Redis / bench process with S3 and receiver) | chain ${cpuRow(chain)}; reference ${cpuRow(reference)} |`,
  );
  say(
    `| scale-out, 1 → 2 worker processes | ${chain.perSecond.toFixed(0)} → ${two.perSecond.toFixed(0)} packages/s; Redis commands per package ${chain.redisCommandsPerPackage.toFixed(1)} → ${two.redisCommandsPerPackage.toFixed(1)}; worker CPU per package ${chain.cpuMsPerPackage.worker} → ${two.cpuMsPerPackage.worker} ms (${two.cpuMsPerPackage.workerProcesses.join(" + ")}) |`,
  );
  say(`| CPU per package, 2 workers | ${cpuRow(two)} |`);
  say(
    `| peak worker RSS | ${mb(chain.peakWorkerRssBytes)} (1 worker), ${mb(two.peakWorkerRssBytes)} (largest of 2) |`,
  );
  const held = result.inFlight;
  if (held)
    say(
      `| in flight (${held.packages}) | ${held.redisBytesPerPackage} B Redis per package, worker RSS ${mb(held.workerRssBytes)} (peak ${mb(held.workerPeakRssBytes)}, a fresh worker process; V8 heap ${mb(held.workerHeapUsedBytes)} used of ${mb(held.workerHeapTotalBytes)}) |`,
    );
  say(`| goals | ${goals} |`);
}
