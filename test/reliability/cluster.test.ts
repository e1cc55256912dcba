import { spawnSync } from "node:child_process";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoStack, type DemoStack } from "../../src/demo/demo-stack.js";
import { demoScenario, samplePackage } from "../../src/demo/sample-packages.js";
import { startLocalRedis, type LocalRedis } from "../../src/runtime/local-redis.js";
import { uploadDemoPackages, waitForEveryIngestToEnd } from "../support/demo-uploads.js";
import { uniquePrefix, waitFor } from "../support/redis.js";

/**
 * The chain against a three-master Redis Cluster started here (`redis-server --cluster-enabled yes`
 * ×3, `redis-cli --cluster create`). Every key the worker writes starts with the queue prefix, whose
 * {hash tag} pins BullMQ's keys, the ingest records and every multi-key Lua script to one slot; a
 * script or MULTI that reached across slots would fail here with CROSSSLOT, which a single Redis
 * never reports.
 */

/** Why the cluster cannot run on this machine, or undefined when it can. */
function clusterUnavailable(): string | undefined {
  for (const tool of ["redis-server", "redis-cli"]) {
    const probe = spawnSync(tool, ["--version"], { encoding: "utf8" });
    if (probe.error !== undefined || probe.status !== 0) return `${tool} is not on PATH`;
  }
  const version = /v=(\d+)/.exec(spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout);
  // `redis-cli --cluster create` arrived in Redis 5.
  if (version === null || Number(version[1]) < 5)
    return "redis-server is older than 5 (no redis-cli --cluster)";
  return undefined;
}

const unavailable = clusterUnavailable();
if (unavailable !== undefined)
  console.warn(
    `[cluster.test] skipped: ${unavailable}; install Redis ≥ 5 (redis-server and redis-cli) to run it`,
  );

async function clusterInfo(port: number): Promise<string> {
  const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.call("CLUSTER", "INFO")) as string;
  } finally {
    client.disconnect();
  }
}

describe.skipIf(unavailable !== undefined)("the chain on a three-master Redis Cluster", () => {
  const nodes: LocalRedis[] = [];
  const prefix = uniquePrefix("cluster");
  let stack: DemoStack | undefined;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++)
      nodes.push(
        await startLocalRedis({
          extraArgs: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
        }),
      );
    const create = spawnSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    // Slots are assigned at once, but each node only reports ok once the gossip has converged.
    await waitFor(
      "cluster_state:ok on every node",
      async () => {
        for (const node of nodes)
          if (!(await clusterInfo(node.port)).includes("cluster_state:ok")) return false;
        return true;
      },
      30_000,
    );
    stack = await startDemoStack({
      speed: 50,
      redisUrl: nodes[0]!.url,
      prefix,
      env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(",") },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    for (const node of nodes) await node.stop();
  });

  it("connects in cluster mode and keeps every key on the prefix's slot", async () => {
    const { redis } = stack!.service.runtime;
    // The worker's connection must really be a Cluster client, or this file tests nothing.
    expect((redis as unknown) instanceof Cluster).toBe(true);
    const slot = Number(await redis.call("CLUSTER", "KEYSLOT", prefix));
    expect(Number(await redis.call("CLUSTER", "KEYSLOT", `${prefix}:ingest:any`))).toBe(slot);
  });

  it("drives 30 packages (all three targets, failures and remediation) to their scripted end", async () => {
    const s = stack!;
    const packages = Array.from({ length: 30 }, (_, i) => samplePackage(i, "cluster"));
    s.sim.setScenario(demoScenario(packages));
    const ids = await uploadDemoPackages(s.service.deps.s3, packages);

    const { records } = s.service.deps;
    await waitForEveryIngestToEnd(records, ids.keys(), 110_000);
    const ends = new Map<string, string>();
    for (const [id, pkg] of ids) {
      const record = (await records.get(id))!;
      ends.set(pkg.trigger.key, record.state);
      if (record.state === "failed") expect(record.lastError).toBeTruthy();
    }
    expect(Object.fromEntries(ends)).toEqual(
      Object.fromEntries(packages.map((p) => [p.trigger.key, p.expected])),
    );
    expect(new Set(packages.map((p) => p.target))).toEqual(new Set(["vimond", "aem", "asset-management"]));

    const ais = s.sim.stats().modules.ais as { pushes: { duplicateVersions: number } };
    expect(ais.pushes.duplicateVersions).toBe(0);

    // Every key of the run sits on the one node that owns the prefix's slot; the others hold none.
    const counts = await Promise.all(
      nodes.map(async (node) => {
        const client = new Redis(node.url, { maxRetriesPerRequest: 1 });
        try {
          return (await client.keys(`${prefix}*`)).length;
        } finally {
          client.disconnect();
        }
      }),
    );
    expect(counts.filter((n) => n > 0)).toHaveLength(1);
  }, 120_000);

  it("spreads keys and commands over all three masters with PARTITIONS=12", async () => {
    // The single-partition stack's idle workers would count on one master: stop them first.
    await stack!.stopService();
    const spreadPrefix = uniquePrefix("spread");
    const spread = await startDemoStack({
      speed: 50,
      redisUrl: nodes[0]!.url,
      prefix: spreadPrefix,
      env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(","), PARTITIONS: "12" },
    });
    const clients = nodes.map((node) => new Redis(node.url, { maxRetriesPerRequest: 1 }));
    try {
      const processed = async () =>
        Promise.all(
          clients.map(async (c) => Number(/total_commands_processed:(\d+)/.exec(await c.info("stats"))![1])),
        );
      const before = await processed();
      const packages = Array.from({ length: 60 }, (_, i) => samplePackage(i, "spread"));
      spread.sim.setScenario(demoScenario(packages));
      const ids = await uploadDemoPackages(spread.service.deps.s3, packages);
      const records = spread.service.partitions.records;
      await waitForEveryIngestToEnd(records, ids.keys(), 150_000);
      const after = await processed();
      for (const [id, pkg] of ids) expect((await records.get(id))!.state, pkg.trigger.key).toBe(pkg.expected);
      const ais = spread.sim.stats().modules.ais as { pushes: { duplicateVersions: number } };
      expect(ais.pushes.duplicateVersions).toBe(0);

      const tag = spreadPrefix.slice(1, -1);
      const keys = await Promise.all(clients.map(async (c) => (await c.keys(`{${tag}-*`)).length));
      const commands = after.map((n, i) => n - before[i]!);
      const ratio = (values: number[]) =>
        Math.max(...values) / (values.reduce((a, b) => a + b, 0) / values.length);
      console.info(
        `[cluster.test] PARTITIONS=12: keys per master ${keys.join("/")} (max/mean ${ratio(keys).toFixed(2)}), ` +
          `commands per master ${commands.join("/")} (max/mean ${ratio(commands).toFixed(2)})`,
      );
      expect(keys.every((n) => n > 0)).toBe(true);
      expect(ratio(keys)).toBeLessThanOrEqual(1.3);
      expect(ratio(commands)).toBeLessThanOrEqual(1.3);
    } finally {
      for (const c of clients) c.disconnect();
      await spread.stop();
    }
  }, 200_000);
});
