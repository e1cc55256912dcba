import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { configureLogger } from "../../src/log/logger.js";
import { createSourceWatchProcessor } from "../../src/processors/every-target/source-watch.js";
import { defineProcessor } from "../../src/queues/step.js";
import { STEP, stepProcessor } from "../../src/processors/index.js";
import { failIngestsOfJob } from "../../src/records/fail-job-ingests.js";
import { captureLog } from "../support/captured-log.js";
import { HARNESS_BUCKET, startChainHarness, type ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";

/**
 * Issue 13, point 8: every terminal failure of an ingest writes one warn line naming the ingest,
 * the step and the reason, whichever path failed it; levels are names, not pino's numbers.
 */

const lines: string[] = [];
let h: ChainHarness;

beforeAll(async () => {
  captureLog("info", lines, { split: true });
  h = await startChainHarness({
    label: "failure-log",
    routes: [
      {
        name: "vod",
        bucket: HARNESS_BUCKET,
        prefix: "vod/",
        target: "vimond",
        vimond: { mediaFeedId: "{feed}" },
      },
    ],
    steps: ["source-watch", "atom-push"],
    processors: (d) => [
      stepProcessor("source-watch", createSourceWatchProcessor(d)),
      defineProcessor(STEP["atom-push"], async () => ({ outcome: "done" as const })),
    ],
  });
});
afterAll(async () => {
  await h?.stop();
  configureLogger({});
});

type Line = Record<string, unknown>;

/** The parsed lines that mention the ingest. */
function linesOf(ingestId: string): Line[] {
  return lines.map((l) => JSON.parse(l) as Line).filter((l) => l.ingestId === ingestId);
}

function warnsOf(ingestId: string): Line[] {
  return linesOf(ingestId).filter((l) => l.level === "warn");
}

/** A record as source-watch would have created it, moved on to `state`. */
async function record(state: "importing" | "processing"): Promise<string> {
  const id = `log-${randomUUID().slice(0, 8)}`;
  await h.deps.records.create({
    id,
    route: "vod",
    target: "vimond",
    bucket: HARNESS_BUCKET,
    key: `vod/${id}/manifest.json`,
    version: "v1",
    eventAt: Date.now(),
  });
  await h.deps.records.transition(id, state);
  return id;
}

describe("the warn line of a failed ingest (issue 13, point 8)", () => {
  it("writes exactly one, with ingestId, step and reason, when source-watch refuses a package", async () => {
    const key = "vod/bad/manifest.json";
    const out = await h.deps.s3.putObject(HARNESS_BUCKET, key, "{ not json");
    const id = objectVersionKey({ kind: "created", bucket: HARNESS_BUCKET, key, eTag: out.eTag });
    await h.queue("source-watch").add(
      "source-watch",
      {
        event: {
          kind: "created",
          eventName: "ObjectCreated:Put",
          bucket: HARNESS_BUCKET,
          key,
          eTag: out.eTag,
          eventTime: new Date().toISOString(),
          source: "http",
        },
        polls: 0,
      },
      { jobId: `bad-${id}` },
    );
    const failed = await waitFor("the ingest to fail", async () => {
      const r = await h.deps.records.get(id);
      return r?.state === "failed" && r.steps["source-watch"]?.status === "failed" ? r : undefined;
    });
    await waitFor("its warn line", () => warnsOf(id).length > 0);
    const warns = warnsOf(id);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      level: "warn",
      ingestId: id,
      step: "source-watch",
      reason: failed.lastError,
    });
    expect(String(warns[0]?.reason)).not.toBe("");
    // The raw line spells the level as a name.
    expect(lines.find((l) => l.includes(id) && l.includes('"level":"warn"'))).toBeDefined();
    expect(lines.some((l) => /"level":\d/.test(l))).toBe(false);
  });

  it("names the failed branch when another branch's report ends the ingest", async () => {
    const id = await record("processing");
    await h.deps.records.startBranches(id, ["status-track", "image-fetch"]);
    await h.deps.records.finishBranch(id, "image-fetch", { ok: false, reason: "main: refused (422)" });
    expect(warnsOf(id)).toEqual([]);
    expect(await h.deps.records.finishBranch(id, "status-track", { ok: true })).toBe("failed");
    const warns = warnsOf(id);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ ingestId: id, step: "image-fetch" });
    expect(String(warns[0]?.reason)).toContain("main: refused (422)");
  });

  it("names the step of a job that failed for good (outside any processor)", async () => {
    const id = await record("importing");
    const failed = await failIngestsOfJob(
      h.deps.records,
      "job-poll",
      { ingestIds: [id], mediaFeedId: "1", importJobId: "9" },
      new Error("HTTP 500 after 10 attempts"),
    );
    expect(failed).toEqual([id]);
    const warns = warnsOf(id);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      ingestId: id,
      step: "job-poll",
      reason: "job-poll gave up: HTTP 500 after 10 attempts",
    });
  });

  it("writes nothing more when the ingest is failed again, nor for one that completes", async () => {
    const id = await record("importing");
    expect(await h.deps.records.fail(id, "first", "job-poll")).toBe(true);
    expect(await h.deps.records.fail(id, "second", "job-poll")).toBe(false);
    expect(warnsOf(id)).toHaveLength(1);
    const done = await record("importing");
    await h.deps.records.transition(done, "completed");
    expect(warnsOf(done)).toEqual([]);
  });
});
