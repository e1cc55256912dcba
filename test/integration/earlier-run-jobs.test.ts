import { randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StepName } from "../../src/queues/names.js";
import { runOf } from "../../src/records/ingest-record.js";
import type { ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import { processingRecordWithPackage, startAfterJobPollHarness } from "../support/vimond-steps.js";

/**
 * A job made for one run of an ingest must not act on a later run: an operator cancels a running
 * ingest while its status-track / image-fetch / remediate jobs are still queued, then retries it;
 * the retried run enqueues its own jobs, and the old ones, when they come due, must step aside
 * instead of reporting their branch into the new run.
 */
let h: ChainHarness;

beforeAll(async () => {
  h = await startAfterJobPollHarness("earlier-run", ["status-track", "image-fetch", "remediate"]);
});
afterAll(async () => {
  await h?.stop();
});

/** Upstream requests so far, all operations together. */
function upstreamRequests(): number {
  return Object.values(h.sim.stats().requests)
    .flatMap((byStatus) => Object.values(byStatus))
    .reduce((sum, n) => sum + n, 0);
}

/** An ingest that ran once, was cancelled, and was retried: now on run 1, both branches open. */
async function retriedIngest(): Promise<string> {
  const id = `er-${randomUUID()}`;
  const { records } = h.deps;
  await processingRecordWithPackage(h, id, {
    images: [{ key: `${id}/poster.jpg`, url: "https://media.invalid/poster.jpg", location: "main" }],
  });
  expect(await records.transition(id, "cancelled")).toBeTruthy();
  const reopened = await records.reopen(id, ["failed", "cancelled"]);
  expect(reopened).toMatchObject({ ok: true, retry: 1 });
  await records.transition(id, "processing");
  await records.startBranches(id, ["status-track", "image-fetch"]);
  return id;
}

async function finished(step: StepName, job: Job): Promise<{ outcome: string; reason?: string }> {
  return waitFor(`${step} job ${job.id} to finish`, async () => {
    const state = await job.getState();
    if (state === "failed")
      throw new Error(`${step} job failed: ${(await h.queue(step).getJob(job.id!))?.failedReason}`);
    if (state !== "completed") return undefined;
    return (await h.queue(step).getJob(job.id!))?.returnvalue as { outcome: string; reason?: string };
  });
}

describe("jobs of an earlier run of a retried ingest", () => {
  it("step aside: status-track, image-fetch and remediate of run 0 leave run 1 and the upstreams alone", async () => {
    const id = await retriedIngest();
    const before = await h.deps.records.get(id);
    expect(runOf(before!)).toBe(1);
    const requestsBefore = upstreamRequests();

    const jobs: Array<[StepName, Job]> = [
      [
        "status-track",
        await h
          .queue("status-track")
          .add("status-track", { ingestId: id, run: 0, assetId: "a-old", polls: 0 }),
      ],
      [
        "image-fetch",
        await h.queue("image-fetch").add("image-fetch", { ingestId: id, run: 0, assetId: "a-old" }),
      ],
      [
        "remediate",
        await h.queue("remediate").add("remediate", {
          ingestId: id,
          run: 0,
          mediaFeedId: h.mediaFeedId,
          importJobId: "old-job",
          taskId: "old-task",
          taskType: "VIDEO",
          errorCode: "INVALID_MEDIA",
          retryable: false,
        }),
      ],
    ];
    for (const [step, job] of jobs) {
      expect(await finished(step, job)).toMatchObject({
        outcome: "skipped",
        reason: expect.stringMatching(/runs again/),
      });
    }

    const after = await h.deps.records.get(id);
    expect(after?.state).toBe("processing");
    expect(after?.branches).toEqual(before?.branches);
    expect(after?.lastError).toBeUndefined();
    expect(upstreamRequests()).toBe(requestsBefore);
  });

  it("a job of the current run still does its work (the check is not a blanket skip)", async () => {
    const id = await retriedIngest();
    const statusRequests = () =>
      Object.entries(h.sim.stats().requests)
        .filter(([operation]) => operation.startsWith("status."))
        .flatMap(([, byStatus]) => Object.values(byStatus))
        .reduce((sum, n) => sum + n, 0);
    const before = statusRequests();
    // Run 1's status-track asks the Status API for the asset's video ingest (none yet: it waits).
    await h.queue("status-track").add("status-track", { ingestId: id, run: 1, assetId: "a-new", polls: 0 });
    await waitFor("run 1's status-track to ask the Status API", async () =>
      statusRequests() > before ? true : undefined,
    );
    expect((await h.deps.records.get(id))?.state).toBe("processing");
  });
});
