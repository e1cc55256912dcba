import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { backfillCheckpointKey } from "../../src/ops/backfill.js";
import { sourceWatchPayload } from "../../src/queues/payloads.js";
import type { Target } from "../../src/records/ingest-record.js";
import { RecordStore } from "../../src/records/record-store.js";
import { startEmbeddedS3, type EmbeddedS3 } from "../../src/runtime/embedded-s3.js";
import { freePort } from "../../src/runtime/free-port.js";
import { CLI, hasSdkNodeNotice, requireBuild, sdkWarnsAboutThisNode, spawnNode } from "../support/cli.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

const BUCKET = "media-in";

describe("ingest-worker status, replay, retry, cancel, backfill", () => {
  const prefixes: string[] = [];
  let s3server: EmbeddedS3;
  let s3: S3Adapter;
  let redis: Redis;
  let prefix: string;
  let records: RecordStore;
  let queue: Queue;
  const queues: Queue[] = [];

  let routesDir: string;
  let routesFile: string;

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      S3_ENDPOINT: s3server.endpoint,
      S3_REGION: "us-east-1",
      LOG_LEVEL: "warn",
      ...extra,
    };
  }

  /** Runs the CLI; `omit` leaves variables out entirely (an empty value is not the same as unset). */
  async function cli(args: string[], extra: Record<string, string> = {}, omit: string[] = []) {
    const vars = env(extra);
    for (const name of omit) delete vars[name];
    const run = spawnNode([CLI, ...args], vars);
    const code = await run.exited;
    return { code, output: run.output(), rawOutput: run.rawOutput() };
  }

  /** An expected failure is one line, never a stack trace. */
  function expectOneLine(output: string): void {
    expect(output).not.toMatch(/^\s+at /m);
    expect(output.trim().split("\n")).toHaveLength(1);
  }

  function sourceWatchQueue(queuePrefix: string): Queue {
    const q = new Queue("source-watch", { connection: redis, prefix: queuePrefix });
    queues.push(q);
    return q;
  }

  /** A received ingest of the object `key` at the version (ETag) `eTag` on `route`; returns its id. */
  async function receivedIngest(
    route: string,
    target: Target,
    key: string,
    eTag: string,
    eventAt = Date.now(),
  ): Promise<string> {
    const id = objectVersionKey({ kind: "created", bucket: BUCKET, key, eTag });
    await records.create({ id, route, target, bucket: BUCKET, key, version: eTag, eventAt });
    return id;
  }

  const ingest = (n: number) => receivedIngest("main", "vimond", `done/pkg-${n}.mp4`, `e${n}`);

  beforeAll(async () => {
    requireBuild();
    s3server = await startEmbeddedS3({ buckets: [BUCKET] });
    s3 = createS3Adapter({ region: "us-east-1", endpoint: s3server.endpoint });
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    prefix = uniquePrefix("cli-ops");
    routesDir = await mkdtemp(join(tmpdir(), "cli-ops-routes-"));
    routesFile = join(routesDir, "routes.yaml");
    // A media route (and a manifest route whose upstream settings the operator's shell lacks).
    await writeFile(
      routesFile,
      [
        "routes:",
        "  - { name: items, bucket: media-in, prefix: batch/item-, trigger: media, target: asset-management, assetManagement: { parentFolder: raw } }",
        "  - { name: news, bucket: media-in, prefix: replay/, trigger: media, target: vimond, vimond: { mediaFeedId: '1' } }",
        "",
      ].join("\n"),
    );
    prefixes.push(prefix);
    records = new RecordStore(redis, prefix);
    queue = sourceWatchQueue(prefix);
  });
  afterAll(async () => {
    for (const q of queues) await q.close();
    for (const p of prefixes) await cleanupPrefix(p);
    await redis.quit();
    s3.close();
    await s3server.stop();
    await rm(routesDir, { recursive: true, force: true });
  });

  it("status lists ingests as JSON and as a table, shows one in full, and exits 4 for an unknown id", async () => {
    const ids = [await ingest(1), await ingest(2), await ingest(3)];
    await records.fail(ids[1]!, "boom");

    const list = await cli(["status", "--json"]);
    expect(list.code, list.output).toBe(0);
    type ListBody = { count: number; items: Array<{ ingestId: string }> };
    const body = JSON.parse(list.output.trim().split("\n").at(-1)!) as ListBody;
    expect(body.count).toBe(3);
    expect(body.items.map((i) => i.ingestId).sort()).toEqual([...ids].sort());

    const failed = await cli(["status", "--json", "--status", "failed", "--limit", "5"]);
    expect((JSON.parse(failed.output.trim()) as ListBody).items.map((i) => i.ingestId)).toEqual([ids[1]]);

    const table = await cli(["status"]);
    expect(table.code).toBe(0);
    expect(table.output).toMatch(/^INGEST ID\s+STATUS/m);
    expect(table.output).toContain(`${ids[1]}  FAILED`);

    const one = await cli(["status", ids[1]!, "--json"]);
    expect(JSON.parse(one.output.trim())).toMatchObject({
      ingestId: ids[1],
      status: "FAILED",
      error: "boom",
    });
    const human = await cli(["status", ids[1]!]);
    expect(human.output).toContain("history:");
    expect(human.output).toContain("failed: boom");

    const unknown = await cli(["status", "no-such-ingest"]);
    expect(unknown.code).toBe(4);
    expect(unknown.output).toContain("no ingest with id no-such-ingest");
  });

  it("exits 2 for bad options or configuration and 3 when Redis is unreachable", async () => {
    const badLimit = await cli(["status", "--limit", "0"]);
    expect(badLimit.code).toBe(2);
    expect(badLimit.output).toContain("--limit");

    const badConfig = await cli(["status"], { QUEUE_PREFIX: "", HTTP_PORT: "abc" });
    expect(badConfig.code).toBe(2);
    expect(badConfig.output).toContain("HTTP_PORT must be");

    const port = await freePort();
    const down = await cli(["status"], { REDIS_URL: `redis://:secret@127.0.0.1:${port}` });
    expect(down.code).toBe(3);
    expect(down.output).toMatch(/Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? is unreachable/);
    expect(down.output).not.toContain("secret");

    expect((await cli(["retry"])).code).toBe(2);
    expect((await cli(["replay", "not-a-url"])).code).toBe(2);
  });

  it("replay HEADs the object, queues a source-watch job with source replay and prints the ingest id", async () => {
    const put = await s3.putObject(BUCKET, "replay/show-1/video.mp4", "video bytes");
    const expectedId = objectVersionKey({
      kind: "created",
      bucket: BUCKET,
      key: "replay/show-1/video.mp4",
      eTag: put.eTag,
    });

    const run = await cli(["replay", `s3://${BUCKET}/replay/show-1/video.mp4`], { ROUTES_FILE: routesFile });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`as ingest ${expectedId}`);
    const jobs = await queue.getJobs(["waiting"]);
    const job = jobs.find((j) => j.id?.startsWith(`replay-${expectedId}-`));
    expect(job).toBeDefined();
    const payload = sourceWatchPayload.parse(job?.data);
    expect(payload.event).toMatchObject({
      kind: "created",
      source: "replay",
      key: "replay/show-1/video.mp4",
      eTag: put.eTag,
      size: 11,
    });
    expect(objectVersionKey(payload.event)).toBe(expectedId);

    const missing = await cli(["replay", `s3://${BUCKET}/replay/nothing-here.mp4`], {
      ROUTES_FILE: routesFile,
    });
    expect(missing.code).toBe(4);
    expect(missing.output).toContain("no object at");

    // What the worker would not ingest is not queued: unrouted, not a trigger, or no routes at all.
    await s3.putObject(BUCKET, "replay/show-1/notes.txt", "notes");
    await s3.putObject(BUCKET, "elsewhere/clip.mp4", "clip");
    const before = (await queue.getJobs(["waiting"])).length;
    for (const [url, extra, reason] of [
      [`s3://${BUCKET}/elsewhere/clip.mp4`, { ROUTES_FILE: routesFile }, "no route takes it; not queued"],
      [
        `s3://${BUCKET}/replay/show-1/notes.txt`,
        { ROUTES_FILE: routesFile },
        "it is not a trigger of route news",
      ],
      [
        `s3://${BUCKET}/replay/show-1/video.mp4`,
        {},
        "ROUTES_FILE is not set, so no route takes it; not queued",
      ],
    ] as const) {
      const refused = await cli(["replay", url], extra);
      expect(refused.code, refused.output).toBe(1);
      expect(refused.output).toContain(`ingest-worker replay: ${url}: ${reason}`);
    }
    expect((await queue.getJobs(["waiting"])).length).toBe(before);
  });

  it("retry and cancel share the API's semantics and exit codes", async () => {
    const failed = await ingest(10);
    await records.fail(failed, "AIS said no");
    const retried = await cli(["retry", failed, "--json"]);
    expect(retried.code, retried.output).toBe(0);
    expect(JSON.parse(retried.output.trim())).toMatchObject({
      ingestId: failed,
      state: "received",
      retry: 1,
    });
    const job = await queue.getJob(`retry-${failed}-1`);
    expect(objectVersionKey(sourceWatchPayload.parse(job?.data).event)).toBe(failed);
    expect((await records.history(failed)).at(-1)?.message).toContain("via cli");

    const running = await cli(["retry", failed]);
    expect(running.code).toBe(1);
    expect(running.output).toContain("still running");
    expect((await cli(["retry", "no-such-ingest"])).code).toBe(4);

    const cancelled = await cli(["cancel", failed]);
    expect(cancelled.code, cancelled.output).toBe(0);
    expect((await records.get(failed))?.state).toBe("cancelled");
    const again = await cli(["cancel", failed]);
    expect(again.code).toBe(1);
    expect(again.output).toContain("already ended");
    expect((await cli(["cancel", "no-such-ingest"])).code).toBe(4);
  });

  it("replay and backfill need only Redis, S3 and the routes; S3 trouble is one line and exit 3", async () => {
    const key = "replay/show-2/video.mp4";
    await s3.putObject(BUCKET, key, "more video bytes");
    // The routes name vimond and asset-management targets, yet no AIS_*/ASSETS_* is set: not needed.
    const replayed = await cli(["replay", `s3://${BUCKET}/${key}`], { ROUTES_FILE: routesFile });
    expect(replayed.code, replayed.output).toBe(0);
    expect(replayed.output).toContain("queued s3://media-in/replay/show-2/video.mp4 as ingest");
    // The SDK's notice that it will need Node 22 is not silenced: it shows on Node 20, and only there.
    expect(hasSdkNodeNotice(replayed.rawOutput), replayed.rawOutput).toBe(sdkWarnsAboutThisNode);
    const backfilled = await cli(["backfill", `s3://${BUCKET}/replay/`, "--dry-run"], {
      ROUTES_FILE: routesFile,
    });
    expect(backfilled.code, backfilled.output).toBe(0);

    // No S3_ENDPOINT and no credentials anywhere: the SDK's CredentialsProviderError, explained.
    const noCredentials = {
      ROUTES_FILE: routesFile,
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_PROFILE: "",
      AWS_SHARED_CREDENTIALS_FILE: join(routesDir, "no-credentials"),
      AWS_CONFIG_FILE: join(routesDir, "no-config"),
      AWS_EC2_METADATA_DISABLED: "true",
    };
    for (const command of ["replay", "backfill"]) {
      const run = await cli([command, `s3://${BUCKET}/${key}`], noCredentials, ["S3_ENDPOINT"]);
      expect(run.code, run.output).toBe(3);
      expect(run.output).toContain(`ingest-worker ${command}: s3://${BUCKET}/${key}: no S3 credentials`);
      expect(run.output).toContain("AWS_ACCESS_KEY_ID");
      expectOneLine(run.output);
    }

    // Nothing listens at the endpoint.
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const command of ["replay", "backfill"]) {
      const run = await cli([command, `s3://${BUCKET}/${key}`], {
        S3_ENDPOINT: closed,
        ROUTES_FILE: routesFile,
      });
      expect(run.code, run.output).toBe(3);
      expect(run.output).toContain(`S3 at ${closed} is unreachable`);
      expectOneLine(run.output);
    }

    const noBucket = await cli(["backfill", "s3://no-such-bucket/x/"], { ROUTES_FILE: routesFile });
    expect(noBucket.code, noBucket.output).toBe(4);
    expect(noBucket.output).toContain("no such bucket");
    expectOneLine(noBucket.output);
  });

  it("backfill queues the triggers without an ingest and reports unrouted, not-trigger and already ingested objects apart", async () => {
    const keys: string[] = [];
    const eTags = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const key = `batch/item-${String(i).padStart(2, "0")}.mp4`;
      keys.push(key);
      eTags.set(key, (await s3.putObject(BUCKET, key, `bytes ${i}`)).eTag);
    }
    await s3.putObject(BUCKET, "batch/", "");
    await s3.putObject(BUCKET, "batch/item-notes.txt", "not a video: under the route, not its trigger");
    await s3.putObject(BUCKET, "batch/other/clip.mp4", "no route takes batch/other/");
    const versionKey = (key: string) =>
      objectVersionKey({ kind: "created", bucket: BUCKET, key, eTag: eTags.get(key)! });
    // One object's current version was ingested already.
    const done = keys[3]!;
    await receivedIngest("items", "asset-management", done, eTags.get(done)!);
    const fresh = keys.filter((key) => key !== done);
    const expectedJobIds = fresh.map((key) => `sw-${versionKey(key)}`).sort();
    const swJobIds = async (q: Queue) =>
      (await q.getJobs(["waiting"]))
        .map((j) => j.id!)
        .filter((id) => id.startsWith("sw-"))
        .sort();
    const withRoutes = { ROUTES_FILE: routesFile };

    const dry = await cli(["backfill", `s3://${BUCKET}/batch/`, "--dry-run"], withRoutes);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain(
      "33 listed, 29 to queue (dry run, 0 queued), 1 already ingested, 1 unrouted, 1 not triggers, 1 folder markers skipped",
    );
    expect(await swJobIds(queue)).toEqual([]);

    const json = await cli(["backfill", `s3://${BUCKET}/batch/`, "--dry-run", "--json"], withRoutes);
    expect(json.code, json.output).toBe(0);
    const report = JSON.parse(json.output.trim()) as Record<string, unknown>;
    expect(report).toMatchObject({
      dryRun: true,
      listed: 33,
      skipped: 1,
      counts: { queued: 29, ingested: 1, unrouted: 1, members: 1 },
      unrouted: ["batch/other/clip.mp4"],
      members: ["batch/item-notes.txt"],
      ingested: [{ key: done, ingestId: versionKey(done), state: "received" }],
    });
    expect(report.queued).toEqual(fresh);

    const run = await cli(["backfill", `s3://${BUCKET}/batch/`], withRoutes);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/^page 1: /m);
    expect(run.output).toContain("33 listed, 29 queued, 1 already ingested, 1 unrouted, 1 not triggers");
    expect(run.output).toMatch(
      /^already ingested .*: 1\n {2}batch\/item-03\.mp4 {2}ingest \w+ \(received\)$/m,
    );
    expect(run.output).toMatch(/^unrouted \(no route takes them\): 1\n {2}batch\/other\/clip\.mp4$/m);
    expect(run.output).toContain("  … and 9 more (--json lists them all)");
    expect(await swJobIds(queue)).toEqual(expectedJobIds);
    const sample = sourceWatchPayload.parse((await queue.getJob(expectedJobIds[0]!))?.data);
    expect(sample.event).toMatchObject({ kind: "created", eventName: "ObjectCreated:Put", bucket: BUCKET });
    expect(await redis.exists(backfillCheckpointKey(prefix, BUCKET, "batch/"))).toBe(0);

    // A second run lists everything again but the job ids collapse onto the first run's.
    expect((await cli(["backfill", `s3://${BUCKET}/batch/`], withRoutes)).code).toBe(0);
    expect(await swJobIds(queue)).toEqual(expectedJobIds);

    // Without routes nothing is taken: it says so and queues nothing.
    const unroutedPrefix = uniquePrefix("cli-noroutes");
    prefixes.push(unroutedPrefix);
    const noRoutes = await cli(["backfill", `s3://${BUCKET}/batch/`], { QUEUE_PREFIX: unroutedPrefix });
    expect(noRoutes.code, noRoutes.output).toBe(0);
    expect(noRoutes.output).toContain("ROUTES_FILE is not set");
    expect(noRoutes.output).toContain("33 listed, 0 queued, 0 already ingested, 32 unrouted");
    expect(await swJobIds(sourceWatchQueue(unroutedPrefix))).toEqual([]);

    // An interrupted run left a checkpoint: the next run continues after it.
    const resumePrefix = uniquePrefix("cli-resume");
    prefixes.push(resumePrefix);
    await redis.set(backfillCheckpointKey(resumePrefix, BUCKET, "batch/"), keys[9]!);
    const resumed = await cli(["backfill", `s3://${BUCKET}/batch/`], {
      ...withRoutes,
      QUEUE_PREFIX: resumePrefix,
    });
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toContain(`resumed after checkpoint ${keys[9]}`);
    expect(resumed.output).toContain("22 listed, 20 queued, 0 already ingested, 1 unrouted, 1 not triggers");
    expect(await swJobIds(sourceWatchQueue(resumePrefix))).toEqual(
      keys
        .slice(10)
        .map((key) => `sw-${versionKey(key)}`)
        .sort(),
    );
  });

  it("retry --status failed retries the matching ingests in bulk, with a dry run, a limit and clear refusals", async () => {
    // Its own route, so the failures of the other tests in this file are not selected.
    const bulk = async (n: number, state: "failed" | "completed" | "received", at = Date.now()) => {
      const id = await receivedIngest("bulk", "vimond", `bulk/pkg-${n}.mp4`, `b${n}`, at);
      if (state === "failed") await records.fail(id, `no ${n}`);
      else if (state === "completed") await records.transition(id, "completed");
      return id;
    };
    const failed = [await bulk(1, "failed"), await bulk(2, "failed"), await bulk(3, "failed")];
    await bulk(4, "completed");
    await bulk(5, "received");
    type Report = {
      dryRun: boolean;
      matched: number;
      more: boolean;
      counts: { retried: number; wouldRetry: number; refused: number };
      retried: Array<{ ingestId: string; jobId: string; retry: number }>;
      wouldRetry: string[];
    };

    /** `retry --status failed` on this test's route, with more options. */
    const retryFailedBulk = (...options: string[]) =>
      cli(["retry", "--status", "failed", "--route", "bulk", ...options]);

    const dry = await retryFailedBulk("--since", "1h", "--dry-run", "--json");
    expect(dry.code, dry.output).toBe(0);
    const preview = JSON.parse(dry.output.trim()) as Report;
    expect(preview).toMatchObject({
      dryRun: true,
      matched: 3,
      more: false,
      counts: { wouldRetry: 3, retried: 0 },
    });
    expect([...preview.wouldRetry].sort()).toEqual([...failed].sort());
    for (const id of failed) expect((await records.get(id))?.state).toBe("failed");

    // --since in the future selects nothing.
    const later = await retryFailedBulk("--since", new Date(Date.now() + 3_600_000).toISOString());
    expect(later.code, later.output).toBe(0);
    expect(later.output).toContain("0 matched: 0 retried, 0 refused");

    const two = await retryFailedBulk("--limit", "2");
    expect(two.code, two.output).toBe(0);
    expect(two.output).toContain("2 matched: 2 retried, 0 refused");
    expect(two.output).toMatch(/^retried: 2\n {2}\S+ {2}retry 1\n {2}\S+ {2}retry 1$/m);
    expect(two.output).toContain("more than 2 matched; only the newest 2 were taken: run it again");

    const rest = await cli([
      "retry",
      "--status",
      "FAILED",
      "--route",
      "bulk",
      "--target",
      "vimond",
      "--json",
    ]);
    expect(rest.code, rest.output).toBe(0);
    const restReport = JSON.parse(rest.output.trim()) as Report;
    expect(restReport).toMatchObject({ matched: 1, more: false, counts: { retried: 1, refused: 0 } });
    for (const id of failed) {
      expect((await records.get(id))?.state).toBe("received");
      expect(await queue.getJob(`retry-${id}-1`)).toBeDefined();
      expect((await records.history(id)).at(-1)?.message).toContain("via cli");
    }

    // Bad values are one clear line and exit 2 (the API's 400); an ID with --status is ambiguous.
    for (const [args, message] of [
      [["--status", "completed"], "--status"],
      [["--status", "failed", "--since", "yesterday"], "--since: expected an ISO 8601 time"],
      [["--status", "failed", "--limit", "0"], "--limit"],
      [["--route", "bulk"], "--status is required"],
      [["some-id", "--status", "failed"], "either an ingest ID or --status"],
    ] as const) {
      const run = await cli(["retry", ...args]);
      expect(run.code, `${args.join(" ")}: ${run.output}`).toBe(2);
      expect(run.output.split("\n")[0]).toContain(message);
    }
  });

  it("queues lists each step's state and counts, pauses and resumes one step or all, and keeps jobs added while paused", async () => {
    type Queues = {
      queues: Array<{ step: string; paused: boolean; state: string; counts: Record<string, number> }>;
    };
    const list = await cli(["queues", "--json"]);
    expect(list.code, list.output).toBe(0);
    const before = JSON.parse(list.output.trim()) as Queues;
    expect(before.queues.map((q) => q.step)).toContain("notify");
    expect(before.queues.every((q) => q.state === "running")).toBe(true);

    const paused = await cli(["queues", "pause", "notify"]);
    expect(paused.code, paused.output).toBe(0);
    expect(paused.output).toContain("paused notify: jobs added meanwhile wait for resume");
    expect(paused.output).toMatch(/^notify\s+paused\s+0\s+0\s+0\s+0$/m);
    const notify = new Queue("notify", { connection: redis, prefix });
    queues.push(notify);
    expect(await notify.isPaused()).toBe(true);
    await notify.add("notify", { n: 1 }, { jobId: "added-while-paused" });

    const table = await cli(["queues"]);
    expect(table.output).toMatch(/^STEP\s+STATE\s+WAITING\s+ACTIVE\s+DELAYED\s+FAILED$/m);
    expect(table.output).toMatch(/^notify\s+paused\s+1\s+0\s+0\s+0$/m);
    expect(table.output).toMatch(/^atom-push\s+running\s/m);

    const all = await cli(["queues", "pause"]);
    expect(all.code).toBe(0);
    expect(all.output).toContain("paused every step");
    expect(all.output).not.toMatch(/\srunning\s/);

    const resumed = await cli(["queues", "resume", "--json"]);
    expect(resumed.code, resumed.output).toBe(0);
    const after = JSON.parse(resumed.output.trim()) as Queues;
    expect(after.queues.every((q) => q.state === "running" && !q.paused)).toBe(true);
    expect(after.queues.find((q) => q.step === "notify")?.counts.waiting).toBe(1);
    expect(await notify.getJobState("added-while-paused")).toBe("waiting");

    const unknown = await cli(["queues", "pause", "no-such-step"]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain("no step named no-such-step; the steps are source-watch");
    expect((await cli(["queues", "stop"])).code).toBe(2);
  });

  it("backfill --since/--until takes only objects last modified in the window and shows a live line on a terminal", async () => {
    const put = async (key: string) => {
      await s3.putObject(BUCKET, key, `bytes of ${key}`);
      const listed = await s3.list(BUCKET, key);
      return listed.objects.find((o) => o.key === key)!.lastModified.getTime();
    };
    const early = [await put("window/item-a.mp4"), await put("window/item-b.mp4")];
    const boundary = Math.max(...early) + 1;
    // LastModified has the S3 server's resolution: wait until its clock is past the boundary.
    let late: number[] = [];
    await waitFor("a LastModified after the boundary", async () => {
      late = [await put("window/item-c.mp4"), await put("window/item-d.mp4")];
      return Math.min(...late) >= boundary;
    });
    const windowRoutes = join(routesDir, "window-routes.yaml");
    await writeFile(
      windowRoutes,
      "routes:\n  - { name: win, bucket: media-in, prefix: window/, trigger: media, target: vimond, vimond: { mediaFeedId: '1' } }\n",
    );
    const withRoutes = { ROUTES_FILE: windowRoutes };
    const since = new Date(boundary).toISOString();

    const newer = await cli(
      ["backfill", `s3://${BUCKET}/window/`, "--since", since, "--dry-run", "--json"],
      withRoutes,
    );
    expect(newer.code, newer.output).toBe(0);
    expect(JSON.parse(newer.output.trim())).toMatchObject({
      listed: 4,
      outsideWindow: 2,
      window: { since, until: null },
      queued: ["window/item-c.mp4", "window/item-d.mp4"],
    });
    const older = await cli(
      ["backfill", `s3://${BUCKET}/window/`, "--until", since, "--dry-run"],
      withRoutes,
    );
    expect(older.code, older.output).toBe(0);
    expect(older.output).toContain(
      "4 listed, 2 outside the LastModified window, 2 to queue (dry run, 0 queued)",
    );
    expect(older.output).toMatch(/^would queue: 2\n {2}window\/item-a\.mp4\n {2}window\/item-b\.mp4$/m);

    // A real run queues the window's objects only; a run of another window has its own checkpoint key.
    const run = await cli(["backfill", `s3://${BUCKET}/window/`, "--since", since], withRoutes);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("4 listed, 2 outside the LastModified window, 2 queued");
    const queued = (await queue.getJobs(["waiting"])).map((j) => sourceWatchPayload.parse(j.data).event.key);
    expect(queued).toEqual(expect.arrayContaining(["window/item-c.mp4", "window/item-d.mp4"]));
    expect(queued).not.toContain("window/item-a.mp4");
    expect(backfillCheckpointKey(prefix, BUCKET, "window/", { since: boundary })).not.toBe(
      backfillCheckpointKey(prefix, BUCKET, "window/"),
    );

    for (const [args, message] of [
      [["--since", "last week"], "--since last week: expected an ISO 8601 time"],
      [["--since", "1h", "--until", "2h"], "--until"],
    ] as const) {
      const bad = await cli(["backfill", `s3://${BUCKET}/window/`, ...args], withRoutes);
      expect(bad.code, bad.output).toBe(2);
      expect(bad.output.split("\n")[0]).toContain(message);
    }

    // On a terminal (script(1) gives the CLI a pty) the progress is one line redrawn with \r.
    const vars = { ...env(withRoutes) };
    const command = `${process.execPath} ${CLI} backfill s3://${BUCKET}/window/ --dry-run`;
    const onTty = spawn("script", ["-qec", command, "/dev/null"], { env: { ...process.env, ...vars } });
    let text = "";
    onTty.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    const code = await new Promise<number | null>((res) => onTty.on("exit", res));
    expect(code, text).toBe(0);
    expect(text).toMatch(/\r[|/\\-] 4 listed, 4 to queue \(dry run, 0 queued\)[^\n]*\[K/);
    // The line ends with ESC [K (erase to the end of the line), so a shorter redraw leaves no tail.
    expect(text).toContain("page(s)\u001b[K");
    expect(text).toContain("backfill s3://media-in/window/: 4 listed, 4 to queue");
    // Not a terminal: no carriage returns, one line per page.
    const piped = await cli(["backfill", `s3://${BUCKET}/window/`, "--dry-run"], withRoutes);
    expect(piped.output).not.toContain("\r");
    expect(piped.output).toMatch(/^page 1: 4 listed/m);
  });

  it("prints help for each command", async () => {
    for (const command of ["status", "replay", "retry", "cancel", "backfill", "queues"]) {
      const run = await cli([command, "--help"]);
      expect(run.code, command).toBe(0);
      expect(run.output).toContain(`Usage: ingest-worker ${command}`);
    }
    const main = (await cli(["--help"])).output;
    expect(main).toContain("backfill s3://BUCKET/PREFIX [--since T] [--until T]");
    expect(main).toContain("retry --status failed");
    expect(main).toContain("queues [pause|resume [STEP]]");
  });
});
