import { UnrecoverableError } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { defineProcessor, type StepDefinition } from "../../src/queues/step.js";
import { failIngestsOfJob, ingestIdsOfJob } from "../../src/records/fail-job-ingests.js";
import { RecordStore } from "../../src/records/record-store.js";
import { startRuntime, type Runtime } from "../../src/runtime/worker-runtime.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

const schema = z.object({ ingestId: z.string(), mode: z.enum(["throw", "unrecoverable"]) });
const step: StepDefinition<typeof schema> = {
  name: "image-fetch",
  schema,
  jobOptions: { attempts: 2, backoff: { type: "fixed", delay: 10 } },
};

describe("a job that fails for good fails its ingest", () => {
  const prefix = uniquePrefix("ffg");
  let redis: Redis;
  let records: RecordStore;
  let runtime: Runtime;
  let attempts = 0;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    records = new RecordStore(redis, prefix);
    runtime = await startRuntime({
      redisUrl: testRedisUrl(),
      prefix,
      concurrency: 2,
      steps: [step],
      processors: () => [
        defineProcessor(step, async (payload) => {
          attempts++;
          if (payload.mode === "unrecoverable") throw new UnrecoverableError("pack is gone");
          throw new Error("upstream keeps answering 401");
        }),
      ],
      onFailedForGood: async (name, data, error) => {
        await failIngestsOfJob(records, name, data, error);
      },
    });
  });
  afterAll(async () => {
    await runtime.stop(5000);
    await redis.quit();
    await cleanupPrefix(prefix);
  });

  const base = { route: "news", target: "vimond" as const, bucket: "b", version: "v", eventAt: 1 };

  it("after the last attempt, ending the step's branch with the error", async () => {
    await records.create({ ...base, id: "i1", key: "k1", state: "processing" });
    await records.startBranches("i1", ["image-fetch"]);
    await runtime.queues.get("image-fetch")!.add("x", { ingestId: "i1", mode: "throw" });
    const record = await waitFor("the ingest to fail", async () => {
      const r = await records.get("i1");
      return r?.state === "failed" ? r : undefined;
    });
    expect(record.lastError).toContain("image-fetch gave up: upstream keeps answering 401");
    expect(attempts).toBe(2);
  });

  it("at once for an unrecoverable error", async () => {
    await records.create({ ...base, id: "i2", key: "k2", state: "processing" });
    await records.startBranches("i2", ["image-fetch"]);
    await runtime.queues.get("image-fetch")!.add("x", { ingestId: "i2", mode: "unrecoverable" });
    const record = await waitFor("the ingest to fail", async () => {
      const r = await records.get("i2");
      return r?.state === "failed" ? r : undefined;
    });
    expect(record.lastError).toContain("image-fetch gave up: pack is gone");
  });

  it("names the ingests of every payload shape, and leaves terminal ones alone", async () => {
    const event = {
      kind: "created",
      eventName: "ObjectCreated:Put",
      bucket: "b",
      key: "a/manifest.json",
      eTag: "e",
      eventTime: new Date().toISOString(),
      source: "s3",
    } as const;
    expect(ingestIdsOfJob("source-watch", { event, polls: 0 })).toEqual([objectVersionKey(event)]);
    expect(ingestIdsOfJob("job-poll", { ingestIds: ["a", "b"], importJobId: "1" })).toEqual(["a", "b"]);
    expect(ingestIdsOfJob("atom-push", { mediaFeedId: "1" })).toEqual([]);
    await records.create({ ...base, id: "done", key: "k3", state: "completed" });
    expect(
      await failIngestsOfJob(records, "notify", { ingestId: "done" }, new Error("receiver down")),
    ).toEqual([]);
    expect((await records.get("done"))?.state).toBe("completed");
  });

  it("leaves an ingest retried since the job was made to the new run's own jobs", async () => {
    // Run 0 was cancelled while its image-fetch job still retried; the operator then retried it.
    await records.create({ ...base, id: "i4", key: "k4", state: "processing" });
    await records.startBranches("i4", ["image-fetch"]);
    await records.transition("i4", "cancelled");
    expect(await records.reopen("i4", ["cancelled"])).toEqual({ ok: true, retry: 1 });
    await records.transition("i4", "processing");
    await records.startBranches("i4", ["image-fetch"]);
    const error = new Error("upstream keeps answering 401");
    expect(await failIngestsOfJob(records, "image-fetch", { ingestId: "i4", run: 0 }, error)).toEqual([]);
    expect((await records.get("i4"))?.state).toBe("processing");
    // The new run's own job failing for good does fail it.
    expect(await failIngestsOfJob(records, "image-fetch", { ingestId: "i4", run: 1 }, error)).toEqual(["i4"]);
    expect((await records.get("i4"))?.state).toBe("failed");
  });
});
