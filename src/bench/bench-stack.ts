import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../runtime/free-port.js";
import type { ReferenceConfig } from "./reference-worker.js";

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const REFERENCE = fileURLToPath(new URL("./reference-main.js", import.meta.url));

export interface Child {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Runs `ingest-worker <args>` as a child process: the benchmark measures a real worker process. */
export function spawnCli(args: string[], env: Record<string, string>): Child {
  return spawnScript(CLI, args, env);
}

/** Runs a node script as a child process, its output kept for error messages. */
function spawnScript(script: string, args: string[], env: Record<string, string>): Child {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=prof") profiles the children: node refuses
  // --cpu-prof in NODE_OPTIONS.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString("utf8")).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return {
    process: child,
    output: () => text,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Waits for a line of output matching `pattern` (or the child's exit). */
export async function waitForLine(child: Child, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = child
      .output()
      .split("\n")
      .find((l) => pattern.test(l));
    if (line) return line;
    if (child.process.exitCode !== null) throw new Error(`process exited early:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface SimInfo {
  ais: string;
  status: string;
  images: string;
  imageCache: string;
  aem: string;
  assets: string;
  sqs: string;
  token: string;
}

/** The simulator as a child process; `speed` divides its simulated durations (the long-encode run). */
export async function startSimulatorProcess(speed = 1): Promise<{ child: Child; info: SimInfo }> {
  const child = spawnCli(["simulate", "--json", "--speed", String(speed)], {});
  const line = await waitForLine(child, /^\{"ais":/);
  return { child, info: JSON.parse(line) as SimInfo };
}

export async function simPost(base: string, path: string, body: unknown, token?: string): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Creates a PUSH media feed named `name` (company 1) at the simulator and returns its id. */
export async function createPushFeed(sim: SimInfo, name: string): Promise<string> {
  const feed = (await simPost(sim.ais, "/company/1/mediaFeeds", { name, type: "PUSH" }, sim.token)) as {
    id: number | string;
  };
  return String(feed.id);
}

/** A worker process (`ingest-worker run`) configured against the simulator and the embedded S3. */
export async function startWorkerProcess(options: {
  redisUrl: string;
  prefix: string;
  sim: SimInfo;
  s3Endpoint: string;
  routes: unknown[];
  env?: Record<string, string>;
}): Promise<{ child: Child; url: string; intakeToken: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "ingest-bench-"));
  const routesFile = join(dir, "routes.json");
  await writeFile(routesFile, JSON.stringify({ routes: options.routes }));
  const port = await freePort();
  const intakeToken = "bench-intake-token";
  const child = spawnCli(["run"], {
    LOG_LEVEL: "warn",
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(port),
    ROUTES_FILE: routesFile,
    INTAKE_TOKEN: intakeToken,
    S3_ENDPOINT: options.s3Endpoint,
    AIS_BASE_URL: options.sim.ais,
    AIS_TOKEN: options.sim.token,
    AIS_COMPANY_ID: "1",
    STATUS_BASE_URL: options.sim.status,
    STATUS_TOKEN: options.sim.token,
    IMAGES_BASE_URL: options.sim.images,
    IMAGES_TOKEN: options.sim.token,
    IMAGES_CACHE_URL: options.sim.imageCache,
    ASSET_BIND_BASE_URL: options.sim.images,
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.process.exitCode !== null || Date.now() > deadline)
      throw new Error(`the worker did not become ready:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, intakeToken, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The same-work reference (reference-worker.ts) as a child process, measured like the worker. */
export async function startReferenceProcess(
  config: Omit<ReferenceConfig, "port" | "intakeToken">,
): Promise<{ child: Child; url: string; intakeToken: string }> {
  const intakeToken = "bench-intake-token";
  const child = spawnScript(REFERENCE, [], {
    BENCH_REFERENCE_CONFIG: JSON.stringify({ ...config, port: await freePort(), intakeToken }),
  });
  const line = await waitForLine(child, /^\{"url":/);
  return { child, url: (JSON.parse(line) as { url: string }).url, intakeToken };
}
