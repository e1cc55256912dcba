import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoStack, type DemoStack } from "../../src/demo/demo-stack.js";
import { demoScenario, samplePackage } from "../../src/demo/sample-packages.js";
import { uploadDemoPackages, waitForEveryIngestToEnd } from "../support/demo-uploads.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix } from "../support/redis.js";

/**
 * The whole service as the demo runs it: S3 events from the embedded S3 through the HTTP-free
 * intake bridge, every step on real Redis, every upstream on the simulator.
 */
describe("the chain, end to end", () => {
  const prefix = uniquePrefix("e2e");
  let stack: DemoStack;

  beforeAll(async () => {
    stack = await startDemoStack({ speed: 50, redisUrl: testRedisUrl(), prefix });
  });
  afterAll(async () => {
    await stack.stop();
    await cleanupPrefix(prefix);
  });

  it("drives every package to its scripted end, with one Atom push per entry version", async () => {
    const packages = Array.from({ length: 20 }, (_, i) => samplePackage(i, "e2e"));
    stack.sim.setScenario(demoScenario(packages));
    const ids = await uploadDemoPackages(stack.service.deps.s3, packages);

    const records = stack.service.deps.records;
    await waitForEveryIngestToEnd(records, ids.keys(), 120_000);
    for (const [id, pkg] of ids) {
      const record = (await records.get(id))!;
      expect({ key: pkg.trigger.key, state: record.state }).toEqual({
        key: pkg.trigger.key,
        state: pkg.expected,
      });
      if (record.state === "failed") expect(record.lastError).toBeTruthy();
      if (pkg.target === "vimond" && pkg.expected === "completed") {
        expect(record.upstream.importJobId).toBeTruthy();
        expect(record.upstream.assetId).toBeTruthy();
        expect(record.upstream.imagePackId).toBeTruthy();
      }
    }
    const ais = stack.sim.stats().modules.ais as {
      pushes: { duplicateVersions: number; byEntryId: Record<string, number> };
    };
    expect(ais.pushes.duplicateVersions).toBe(0);
    const vimond = packages.filter((p) => p.target === "vimond");
    for (const pkg of vimond) expect(ais.pushes.byEntryId[pkg.entryId]).toBe(1);

    // The operators' view of the same run, through the service's own HTTP API.
    const base = stack.service.runtime.url!;
    const auth = { authorization: "Bearer demo-api-token" };
    const failed = await fetch(`${base}/v1/ingests?status=failed&limit=100`, { headers: auth });
    expect(failed.status).toBe(200);
    const body = (await failed.json()) as { items: Array<{ ingestId: string }> };
    const expectedFailed = [...ids].filter(([, p]) => p.expected === "failed").map(([id]) => id);
    expect(body.items.map((i) => i.ingestId).sort()).toEqual(expectedFailed.sort());
    expect((await fetch(`${base}/v1/ingests`)).status).toBe(401);
    expect((await fetch(`${base}/admin/queues`, { headers: auth })).status).toBe(200);
  });
});
