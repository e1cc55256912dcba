import type { LongEncodeResult, ModeResult, Window } from "./long-encode.js";

const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const rate = (n: number) => f(n, n < 0.1 ? 4 : 2);

function windowText(w: Window | null, inFlight: number): string {
  if (!w) return "none: the intake took longer than the shortest ingest";
  return `${f(w.simulatedMinutes, 1)} simulated min with ${inFlight} in flight: ${w.statusRequests} status requests, ${rate(w.perIngestPerMinute)} per ingest per minute; worker ${f(w.workerCpuCores)} cores${w.sweepsPerMinute ? `; ${f(w.sweepsPerMinute)} sweeps/min of ${f(w.pagesPerSweep, 1)} pages` : ""}`;
}

function row(label: string, r: ModeResult): string {
  const operations = Object.entries(r.upstreamRequests)
    .map(([op, n]) => `${op} ${f(n / r.packages)}`)
    .join(", ");
  return [
    `| ${label}: packages finished | ${r.finished}/${r.packages} (${r.completed} completed), ${f(r.seconds, 0)} s real = ${f(r.simulatedMinutes, 1)} simulated min |`,
    `| ${label}: status requests per in-flight ingest per minute | **${rate(r.statusPerIngestPerMinute)}** (${r.measuredOver}; design at steady state ${rate(r.expectedPerIngestPerMinute)})${r.keptUp ? "" : "; **the worker fell behind its schedule: this is the machine's limit, not the design's**"} |`,
    ...(r.mode === "sweeps"
      ? [
          `| ${label}: at one sweep per STATUS_SWEEP_INTERVAL_MS | ${rate(r.atConfiguredInterval)} per ingest per minute (the ${r.measuredOver}'s pages per sweep, as if a sweep took no time) |`,
        ]
      : []),
    `| ${label}: plateau | ${windowText(r.plateau, r.packages)} |`,
    `| ${label}: whole run | ${windowText(r.wholeRun, r.packages).replace(`with ${r.packages} in flight`, "of in-flight ingests weighted by count")} |`,
    `| ${label}: upstream requests per package | ${f(r.upstreamPerPackage)} (minimum ${f(r.upstreamMinimum)}: ${r.mode === "sweeps" ? "the status pages listing every package once" : "one status read per package"}); status ${f(r.statusPerPackage)} per package |`,
    `| ${label}: by operation, per package | ${operations} |`,
    `| ${label}: rate-limited (429) | ${r.rateLimited} |`,
  ].join("\n");
}

/** Prints the long-encode table, one `say` per line. */
export function printLongEncodeReport(result: LongEncodeResult, say: (line: string) => void): void {
  const { perIngest, sweeps, goal } = result;
  const timers = Object.entries(result.workerTimersMs)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const verdict =
    goal.met === null
      ? "not judged (needs 10,000 in flight, a plateau and a sweeper on schedule)"
      : goal.met
        ? "met"
        : "**missed**";
  const lines = [
    "",
    "| measure | value |",
    "| --- | --- |",
    `| time scale | simulator --speed ${result.speed}; worker timers divided alike: ${timers} (real ms) |`,
    `| ingests | ${result.encodeMinutes} min encoding ±10 % plus retrieval, distribution, playout (simulated); status rate limit ${result.statusRateLimitPerSecond ? `${result.statusRateLimitPerSecond}/s` : "none"} |`,
    row(`per-ingest polling (${perIngest.packages})`, perIngest),
    `| per-ingest polling at ${perIngest.extrapolated.inFlight} in flight | ~${f(perIngest.extrapolated.requestsPerSecond, 0)} status requests per second (${rate(perIngest.statusPerIngestPerMinute)} × ${perIngest.extrapolated.inFlight} / 60)${perIngest.packages < perIngest.extrapolated.inFlight ? `; measured at ${perIngest.packages} in flight, since at ${perIngest.extrapolated.inFlight} this machine could not drive the polls at this speed (the figure is per ingest)` : ""} |`,
    row(`sweeps (${sweeps.packages})`, sweeps),
    `| sweeps / per-ingest | ${rate(result.sweepsVsPerIngest)} |`,
    `| goal | ${rate(goal.value)} measured, ${rate(goal.atConfiguredInterval)} at the configured interval (${goal.target}): ${verdict} |`,
  ];
  for (const line of lines.join("\n").split("\n")) say(line);
}
