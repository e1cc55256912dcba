import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { createVimondAdapters, type VimondAdapters } from "../../src/adapters/index.js";
import type { UpstreamSettingsOverrides } from "../../src/adapters/upstream-settings.js";
import { UpstreamError } from "../../src/adapters/http/upstream-error.js";
import { parseEnv } from "../../src/config/load.js";
import type { Env } from "../../src/config/env.js";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";

/** Simulated durations run this many times faster than real ones in the adapter contract tests. */
export const SIM_SPEED = 1000;

/** The environment a worker would have when pointed at the simulator with its static token. */
export function simEnv(sim: RunningSimulator, extra: Record<string, string> = {}): Env {
  return parseEnv({
    AIS_BASE_URL: sim.urls.ais,
    AIS_TOKEN: sim.token,
    STATUS_BASE_URL: sim.urls.status,
    STATUS_TOKEN: sim.token,
    IMAGES_BASE_URL: sim.urls.images,
    IMAGES_TOKEN: sim.token,
    IMAGES_CACHE_URL: sim.urls.imageCache,
    ...extra,
  });
}

/** AIS jobs that queue 50 ms and tasks that take 200 ms (simulated): a push settles within a test. */
export const QUICK_AIS_SCENARIO = { modules: { ais: { jobQueuedMs: 50, taskDurationMs: 200 } } };

/** Short backoff so fault tests spend milliseconds, not seconds, between attempts. */
export const FAST_RETRY: UpstreamSettingsOverrides = {
  retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
};

/** Adapters over the simulator; every set made here is closed by `closeAll`. */
export class AdapterPool {
  private readonly open: VimondAdapters[] = [];

  make(env: Env, overrides: UpstreamSettingsOverrides = FAST_RETRY): VimondAdapters {
    const adapters = createVimondAdapters(env, overrides);
    this.open.push(adapters);
    return adapters;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((adapters) => adapters.close()));
  }
}

/**
 * The hooks of an adapter contract-test file: one simulator (`seed`), started before its tests and
 * reset before each; the adapters made from `pool` are closed after each test, the simulator after
 * the last. holdMs bounds how long a `timeout` fault keeps a socket; the clients give up well before.
 */
export function useContractSimulator(seed: number): { sim: () => RunningSimulator; pool: AdapterPool } {
  const pool = new AdapterPool();
  let running: RunningSimulator | undefined;
  beforeAll(async () => {
    running = await startSimulator({ port: 0, speed: SIM_SPEED, seed, holdMs: 5_000 });
  });
  afterAll(async () => {
    await pool.closeAll();
    await running?.stop();
  });
  beforeEach(() => {
    running?.reset();
  });
  afterEach(async () => {
    await pool.closeAll();
  });
  return {
    pool,
    sim: () => {
      if (!running) throw new Error("the contract simulator runs only inside this file's tests");
      return running;
    },
  };
}

/** Media feeds are set up by operators, not by the worker, so tests create one directly. */
export async function createPushFeed(sim: RunningSimulator, companyId: string): Promise<string> {
  const res = await fetch(`${sim.urls.ais}/company/${encodeURIComponent(companyId)}/mediaFeeds`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "adapter-test", type: "PUSH" }),
  });
  if (res.status !== 200)
    throw new Error(`creating a media feed answered ${res.status}: ${await res.text()}`);
  return String(((await res.json()) as { id: number }).id);
}

export { waitFor } from "./wait-for-value.js";

/** Runs `run` and returns the UpstreamError it rejects with; fails when it resolves or throws anything else. */
export async function upstreamFailure(run: () => Promise<unknown>): Promise<UpstreamError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error("expected an UpstreamError, but the call succeeded");
}

/** Requests the simulator counted for `upstream.operation`, by status. */
export function simCounts(
  sim: RunningSimulator,
  upstream: string,
  operation: string,
): Record<string, number> {
  return sim.stats().requests[`${upstream}.${operation}`] ?? {};
}

/**
 * A seed document from `../shared/seeds` (beside the clone, as in CI); undefined when the folder is
 * missing, so the seed checks can be skipped with a message instead of failing.
 */
export function readSeed(file: string): string | undefined {
  const location = path.resolve(process.cwd(), "../shared/seeds", file);
  return existsSync(location) ? readFileSync(location, "utf8") : undefined;
}

/**
 * The top-level JSON documents embedded in a seed's prose: every `{` that starts a line and the
 * balanced text up to its matching `}` (strings are honoured, so braces inside them do not count).
 */
export function jsonBlocks(text: string): unknown[] {
  const blocks: unknown[] = [];
  let index = 0;
  while (index < text.length) {
    const start = text.indexOf("{", index);
    if (start < 0) break;
    if (start > 0 && text[start - 1] !== "\n") {
      index = start + 1;
      continue;
    }
    const end = matchingBrace(text, start);
    if (end < 0) break;
    try {
      blocks.push(JSON.parse(text.slice(start, end + 1)));
    } catch {
      // Prose with braces, not a JSON example.
    }
    index = end + 1;
  }
  return blocks;
}

function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth += 1;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}
