import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, fullJitterDelay } from "../../src/adapters/http/backoff.js";
import { postEvents } from "../../src/bench/chain-bench.js";
import { pollDelay } from "../../src/processors/every-target/poll-delay.js";
import { mulberry32 } from "../../src/simulator/core/random.js";
import { parsePrometheusText } from "../support/prometheus-text.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";
import {
  dispersion,
  longestFailureStreak,
  retryGaps,
  startRecordingProxy,
  type RecordingProxy,
} from "./recording-proxy.js";
import {
  QUICK_UPSTREAMS,
  RUN_PACKAGES,
  countEnded,
  requestsOf,
  simStats,
  startReliabilityStack,
  waitForProgress,
  type ReliabilityStack,
} from "./reliability-stack.js";

const N = RUN_PACKAGES;
const UPSTREAMS = ["ais", "status", "images"] as const;

/** 20% of requests fail before they take effect: 14% 5xx, 5% resets, 1% timeouts. */
const FAULTS = { "500": 0.05, "502": 0.05, "503": 0.04, reset: 0.05, timeout: 0.01 };
/** A burst of 429s (Retry-After: 1 s) on every upstream, armed at the start and again mid-run. */
const BURST = { count: 10, retryAfterSeconds: 1 };
const isServerFault = (outcome: string) => outcome === "reset" || /^5\d\d$/.test(outcome);

type Worker = Awaited<ReturnType<ReliabilityStack["startWorker"]>>;

/** Sum of requests of one upstream's operations whose outcome matches. */
function outcomes(
  requests: Record<string, Record<string, number>>,
  upstream: string,
  match: (o: string) => boolean,
): number {
  let n = 0;
  for (const [op, byOutcome] of Object.entries(requests))
    if (op.startsWith(`${upstream}.`)) for (const [o, c] of Object.entries(byOutcome)) if (match(o)) n += c;
  return n;
}

describe("retry delays spread out (the jitter functions themselves)", () => {
  // Seeded, so the check is exact and repeatable; the functions take their random source as input.
  const random = mulberry32(9);

  it("fullJitterDelay spreads 1000 first retries over the whole window", () => {
    const samples = Array.from({ length: 1000 }, () => fullJitterDelay(0, DEFAULT_RETRY_POLICY, random));
    const d = dispersion(samples, DEFAULT_RETRY_POLICY.baseDelayMs / 10);
    // Uniform on [0, 200): coefficient of variation 0.577, each tenth of the window ~10%.
    expect(d.cv).toBeGreaterThan(0.5);
    expect(d.maxBucketShare).toBeLessThan(0.15);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(DEFAULT_RETRY_POLICY.baseDelayMs);
  });

  it("pollDelay keeps half its backoff and spreads the other half", () => {
    const settings = { initialMs: 2000, maxMs: 60_000 };
    const samples = Array.from({ length: 1000 }, () => pollDelay(3, settings, random));
    const d = dispersion(samples, 800);
    // Equal jitter on 16 s: uniform on [8 s, 16 s], ten 800 ms buckets of ~10% each.
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(8000);
    expect(Math.max(...samples)).toBeLessThanOrEqual(16_000);
    expect(d.maxBucketShare).toBeLessThan(0.15);
    expect(d.cv).toBeGreaterThan(0.15);
  });
});

/**
 * Every upstream of the Vimond chain fails 20% of requests (5xx, resets, a few timeouts) and
 * throws bursts of 429s. A recording proxy in front of each upstream timestamps every request, so
 * the test sees how far apart a failed request and its retry are, across the whole run.
 */
describe("upstream faults: 20% 5xx/resets/timeouts and 429 bursts on every upstream", () => {
  const run = `faults${Date.now().toString(36)}`;
  const prefix = uniquePrefix("faults");
  let stack: ReliabilityStack;
  let redis: Redis;
  let worker: Worker | undefined;
  const proxies = new Map<string, RecordingProxy>();

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    stack = await startReliabilityStack(run, N);
    for (const name of UPSTREAMS) proxies.set(name, await startRecordingProxy(stack.sim[name]));
  }, 120_000);

  afterAll(async () => {
    await worker?.child.stop().catch(() => {});
    await worker?.cleanup();
    for (const proxy of proxies.values()) await proxy.stop();
    await stack?.stop();
    await redis?.quit();
    await cleanupPrefix(prefix);
  }, 60_000);

  const armFaults = () =>
    stack.scenario({
      faults: Object.fromEntries(
        UPSTREAMS.map((name) => [
          name,
          {
            "*": { errorRates: FAULTS, burst429: BURST },
            // Pushes also lose some answers after taking effect: the retry must reconcile, not re-push.
            ...(name === "ais" ? { pushV2: { errorAfterEffect: { "502": 0.1, reset: 0.05 } } } : {}),
          },
        ]),
      ),
    });

  it(`completes ${N} packages with bounded, spread-out retries and one push per version`, async () => {
    await stack.scenario({ modules: QUICK_UPSTREAMS });
    await armFaults();
    const w = await stack.startWorker(testRedisUrl(), prefix, {
      AIS_BASE_URL: proxies.get("ais")!.url,
      STATUS_BASE_URL: proxies.get("status")!.url,
      IMAGES_BASE_URL: proxies.get("images")!.url,
      // Short timeouts keep the rare `timeout` fault (the simulator holds the request) cheap.
      AIS_TIMEOUT_MS: "1000",
      STATUS_TIMEOUT_MS: "1000",
      // Longer for images: a fetch copies its source from S3, which on a loaded machine can take
      // over a second, and a fetch given up on while it is still storing the image cannot be told
      // from one that never arrived (the step looks at the pack, but the image is not there yet).
      IMAGES_TIMEOUT_MS: "3000",
      WORKER_CONCURRENCY: "16",
    });
    worker = w;
    const output = () => w.child.output().slice(-4000);

    const started = Date.now();
    await postEvents(w.url, w.intakeToken, stack.packages, 8);
    await waitForProgress(
      redis,
      prefix,
      stack.packages,
      "half the packages to end",
      (r) => countEnded(r) >= N / 2,
      90_000,
      output,
    );
    // A second wave of 429s mid-run, while polls and image fetches are in full swing.
    await armFaults();
    const records = await waitForProgress(
      redis,
      prefix,
      stack.packages,
      "every package to end",
      (r) => countEnded(r) === N,
      100_000,
      output,
    );
    const seconds = (Date.now() - started) / 1000;
    const notCompleted = [...records.values()].filter((r) => r.state !== "completed");
    expect(notCompleted.map((r) => [r.id, r.state, r.lastError])).toEqual([]);

    const stats = await simStats(stack.sim);
    // Creation endpoints (a new image pack, an Atom push) share one URL across different calls, so
    // "the next request to the same URL" is not their retry there: they are left out of the timing.
    const seen = [...proxies.values()]
      .flatMap((p) => p.seen)
      .filter((r) => !/^POST .*\/(imagePacks|schedule)$/.test(r.key));
    const serverGaps = dispersion(retryGaps(seen, isServerFault), 10);
    const tooManyGaps = dispersion(
      retryGaps(seen, (o) => o === "429"),
      100,
    );
    // 429 bursts hit whichever calls come next, so they are left out of the per-call streak.
    const streak = longestFailureStreak(seen, (o) => isServerFault(o) || o === "aborted");
    const perUpstream = Object.fromEntries(
      UPSTREAMS.map((name) => {
        const { total } = requestsOf(stats, name);
        const faulted = outcomes(stats.requests, name, (o) => isServerFault(o) || o === "timeout");
        // The 429s are armed counters (a fixed number per burst), not a rate: counted apart.
        const tooMany = outcomes(stats.requests, name, (o) => o === "429");
        const useful = total - faulted - tooMany;
        return [
          name,
          { total, faulted, tooMany, perPackage: total / N, amplification: (total - tooMany) / useful },
        ];
      }),
    );
    const round = (x: number) => Math.round(x * 100) / 100;
    // How often a push whose answer was lost was found upstream instead of pushed again.
    const reconciled = parsePrometheusText(await fetch(`${w.url}/metrics`).then((r) => r.text()))
      .filter((s) => s.name === "ingest_chain_actions_total" && s.labels.action === "reconcile_hit")
      .reduce((sum, s) => sum + s.value, 0);
    console.info(
      `[reliability] upstream-faults: ${N} packages completed in ${seconds.toFixed(1)} s; requests ${JSON.stringify(
        perUpstream,
        (_k, v: unknown) => (typeof v === "number" ? round(v) : v),
      )}; longest failure streak on one call ${streak}; ` +
        `retry gaps after 5xx/reset n=${serverGaps.n} p10/p50/p90 ${serverGaps.p10.toFixed(0)}/${serverGaps.p50.toFixed(0)}/${serverGaps.p90.toFixed(0)} ms cv ${serverGaps.cv.toFixed(2)} max 10ms-bucket ${(serverGaps.maxBucketShare * 100).toFixed(1)}%; ` +
        `after 429 n=${tooManyGaps.n} p10/p50/p90 ${tooManyGaps.p10.toFixed(0)}/${tooManyGaps.p50.toFixed(0)}/${tooManyGaps.p90.toFixed(0)} ms; ` +
        `pushes ${stats.modules.ais.pushes.total} (${stats.modules.ais.pushes.duplicateVersions} duplicate versions, ${reconciled} reconciled), ` +
        `image fetch duplicates ${stats.modules.images.duplicateFetches}`,
    );

    // Which outcomes preceded a repeated fetch of one slot, should there be any (the proxy's view:
    // "aborted" is the worker giving up on a request the simulator was still serving).
    const fetchOutcomes = new Map<string, string[]>();
    for (const r of proxies.get("images")!.seen)
      if (r.key.includes("/fetchImage"))
        fetchOutcomes.set(r.key, [...(fetchOutcomes.get(r.key) ?? []), r.outcome]);
    const repeated = [...fetchOutcomes.values()].filter((o) => o.length > 1).map((o) => o.join(">"));
    if (stats.modules.images.duplicateFetches > 0)
      console.info(
        `[reliability] upstream-faults: repeated fetches by outcomes ${JSON.stringify(repeated.slice(0, 20))}`,
      );

    // Exactly-once effects survive the faults (including pushes whose answer was lost).
    expect(stats.modules.ais.pushes.duplicateVersions).toBe(0);
    expect(stats.modules.images.duplicateFetches).toBe(0);
    // Bounded retries: a 20% failure rate costs about 1/(1-0.2) = 1.25 requests per useful one
    // (plus the bursts); a retry storm or an unbounded loop would blow well past 1.6.
    for (const { amplification } of Object.values(perUpstream)) expect(amplification).toBeLessThan(1.6);
    // No single call failed more than 8 times in a row (0.2^8 ≈ 3e-6 per call by chance).
    expect(streak).toBeLessThanOrEqual(8);
    // Spread: retries after a 5xx/reset do not line up. Lockstep retries (a fixed delay) would put
    // nearly all gaps in one 10 ms bucket with a coefficient of variation near 0.
    expect(serverGaps.n).toBeGreaterThan(50);
    expect(serverGaps.cv).toBeGreaterThan(0.4);
    expect(serverGaps.maxBucketShare).toBeLessThan(0.25);
    // 429 carries Retry-After: 1 s, which the client honours as a floor (by design not jittered below).
    expect(tooManyGaps.p10).toBeGreaterThanOrEqual(900);
  }, 240_000);
});
