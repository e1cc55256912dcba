import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/runtime/free-port.js";
import { requireBuild, spawnNode, workerEnv, type Spawned } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

const run = promisify(execFile);

/**
 * What the runtime image holds (`npm ci --omit=dev` and dist/), assembled from this checkout
 * without a registry: the packages `npm ls --omit=dev` lists, hard-linked into a directory outside
 * the checkout, so that Node's module resolution cannot climb into the full node_modules.
 */
async function productionInstall(into: string): Promise<void> {
  const { stdout } = await run("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const root = process.cwd();
  // Top-level packages only: a package's own nested node_modules comes along with it.
  const topLevel = stdout
    .split("\n")
    .map((path) => path.slice(root.length + 1))
    .filter((path) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path));
  for (const path of topLevel) {
    await mkdir(join(into, path, ".."), { recursive: true });
    await run("cp", ["-al", path, join(into, path)]);
  }
  await cp("package.json", join(into, "package.json"));
  await run("cp", ["-al", "dist", join(into, "dist")]);
}

describe("the production install (what the image runs)", () => {
  let dir: string;
  let cli: string;
  const prefix = uniquePrefix("prod-install");
  const running: Spawned[] = [];

  beforeAll(async () => {
    requireBuild();
    dir = await mkdtemp(join(tmpdir(), "ingest-prod-install-"));
    await productionInstall(dir);
    cli = join(dir, "dist/cli/main.js");
  }, 120_000);
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    await cleanupPrefix(prefix);
  });

  it("has the production dependencies and leaves out the development ones, s3rver among them", async () => {
    const installed = (name: string) => existsSync(join(dir, "node_modules", name, "package.json"));
    expect(["bullmq", "fastify", "@aws-sdk/client-s3"].filter(installed)).toHaveLength(3);
    expect(["s3rver", "vitest", "eslint", "testcontainers"].filter(installed)).toEqual([]);
  });

  it("runs the service: ready on Redis, exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const worker = spawnNode([cli, "run"], workerEnv(port, prefix));
    running.push(worker);
    await worker.waitForOutput(/ingest-worker running/);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status, worker.output()).toBe(200);
    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.output()).toBe(0);
  });

  it("runs the simulator (docker-compose's simulator service uses the same image)", async () => {
    // Free ports of its own: `--port P` takes P to P+6, and only P would be known to be free.
    const sim = spawnNode([cli, "simulate", "--json"], {});
    running.push(sim);
    await sim.waitForOutput(/^\{.*"token".*\}$/m);
    sim.child.kill("SIGTERM");
    await sim.exited;
  });

  it("refuses the demo in one line with exit 3: its embedded S3 is a development dependency", async () => {
    const demo = spawnNode([cli, "demo", "--count", "1"], { REDIS_URL: testRedisUrl() });
    expect(await demo.exited, demo.output()).toBe(3);
    expect(demo.output().trim()).toBe(
      "ingest-worker: the embedded S3 needs the s3rver package, a development dependency that the " +
        "runtime image leaves out: run the demo and the benchmark from a checkout after npm install",
    );
  });
});
