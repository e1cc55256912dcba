import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, requireBuild, spawnNode, type Spawned } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, waitFor } from "../support/redis.js";

const UPLOAD = resolve(process.cwd(), "examples/upload-package.mjs");

/** The `export NAME='value'` lines between the demo's markers, unquoted as a POSIX shell would. */
function parseExports(output: string): Record<string, string> {
  const block = /# --- ingest-worker environment ---\n([\s\S]*?)\n# --- end ---/.exec(output)?.[1];
  if (!block) throw new Error(`no environment block in:\n${output}`);
  const vars: Record<string, string> = {};
  for (const line of block.split("\n")) {
    const match = /^export ([A-Z][A-Z0-9_]*)='((?:[^']|'\\'')*)'$/.exec(line);
    if (!match) throw new Error(`not an export line: ${line}`);
    vars[match[1]!] = match[2]!.replace(/'\\''/g, "'");
  }
  return vars;
}

async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const run = spawnNode([CLI, ...args], env);
  const code = await run.exited;
  return { code, out: run.output() };
}

describe("ingest-worker demo --keep", () => {
  const started: Spawned[] = [];
  let prefix: string | undefined;
  beforeAll(() => requireBuild());
  afterAll(async () => {
    // Only on failure are these still running.
    for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    if (prefix) await cleanupPrefix(prefix);
  });

  it("keeps the stack up and prints the env on which a separate `run` takes an upload to completion", async () => {
    const demo = spawnNode([CLI, "demo", "--keep", "--count", "0", "--speed", "50"], {
      REDIS_URL: testRedisUrl(),
    });
    started.push(demo);
    await demo.waitForOutput(/^Ctrl-C stops the stack/m, 60_000);
    const vars = parseExports(demo.output());
    prefix = vars.QUEUE_PREFIX;
    for (const name of [
      "REDIS_URL",
      "QUEUE_PREFIX",
      "S3_ENDPOINT",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "SQS_QUEUE_URL",
      "AIS_BASE_URL",
      "AIS_TOKEN",
      "STATUS_BASE_URL",
      "IMAGES_BASE_URL",
      "AEM_BASE_URL",
      "ASSETS_BASE_URL",
      "ROUTES_FILE",
      "INTAKE_TOKEN",
      "API_TOKEN",
      "HTTP_PORT",
    ])
      expect(vars[name], name).toBeTruthy();
    expect(vars.REDIS_URL).toBe(testRedisUrl());
    expect(existsSync(vars.ROUTES_FILE!)).toBe(true);
    // The printed env is a valid configuration as `run` checks it.
    expect((await runCli(["config", "check"], vars)).code).toBe(0);

    const worker = spawnNode([CLI, "run"], { ...vars, LOG_LEVEL: "info" });
    started.push(worker);
    await worker.waitForOutput(/ingest-worker running/, 60_000);
    expect((await fetch(`http://127.0.0.1:${vars.HTTP_PORT}/readyz`)).status).toBe(200);

    const upload = spawnNode([UPLOAD, "s3://media-in/news/keep-e2e-1/"], vars);
    started.push(upload);
    expect(await upload.exited, upload.output()).toBe(0);
    expect(upload.output()).toContain("uploaded s3://media-in/news/keep-e2e-1/manifest.json");

    // The event travels embedded S3 → simulated SQS → the separate worker's SQS consumer → the chain.
    type Item = { ingestId: string; status: string; source: { key: string } };
    const item = await waitFor(
      "the uploaded package to complete",
      async () => {
        const status = await runCli(["status", "--json"], vars);
        if (status.code !== 0) throw new Error(status.out);
        const items = (JSON.parse(status.out.trim()) as { items: Item[] }).items;
        return items.find(
          (i) => i.source.key === "news/keep-e2e-1/manifest.json" && i.status === "COMPLETED",
        );
      },
      90_000,
    );
    const detail = await runCli(["status", item.ingestId], vars);
    expect(detail.out).toMatch(/^ {2}atom-push\s+TASK_COMPLETED/m);

    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.output()).toBe(0);
    demo.child.kill("SIGINT");
    expect(await demo.exited, demo.output()).toBe(0);
    expect(demo.output()).toContain("stopping the demo stack");
    // Stopped for real: the embedded S3 no longer answers and the routes file is gone.
    await expect(fetch(vars.S3_ENDPOINT!)).rejects.toThrow();
    expect(existsSync(vars.ROUTES_FILE!)).toBe(false);
  });
});
