import { existsSync, readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Queue } from "bullmq";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_BUCKET, startDemoStack, type DemoStack } from "../../src/demo/demo-stack.js";
import { samplePackage } from "../../src/demo/sample-packages.js";
import { normalizeNotification } from "../../src/intake/normalize.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { TERMINAL_STATES, type IngestRecord } from "../../src/records/ingest-record.js";
import { RecordStore } from "../../src/records/record-store.js";
import { parseSidecar } from "../../src/sidecar/parse-sidecar.js";
import type * as BenchStack from "../../src/bench/bench-stack.js";
import { startCanary, type Canary } from "../support/canary.js";
import { parsePrometheusText } from "../support/prometheus-text.js";
import { s3PutNotification } from "../support/s3-notification.js";
import { cleanupPrefix, testRedisUrl, uniquePrefix, waitFor } from "../support/redis.js";

/**
 * Bad input through the running service: a corpus of malformed sidecars and notifications
 * (test/reliability/corpus/, expectations in expectations.json), property-based bodies and sidecars
 * through `POST /v1/events/s3`, and the corpus ×50 against a real `ingest-worker run` process whose
 * memory must stay bounded. Every input must end as a clear error on its ingest record or a 4xx with
 * a message at intake; nothing may reach the loopback canary that XXE and URL tricks aim at.
 */

const CORPUS = new URL("./corpus/", import.meta.url);
const SIDECAR_MAX_BYTES = 4096;
const BODY_LIMIT = 65_536;
/** Small limits so oversize is cheap to produce; a short manifest wait so missing objects fail fast. */
const LIMITS = {
  SIDECAR_MAX_BYTES: String(SIDECAR_MAX_BYTES),
  INTAKE_BODY_LIMIT_BYTES: String(BODY_LIMIT),
  MANIFEST_WAIT_SECONDS: "2",
};
const INTAKE_TOKEN = "demo-intake-token";

interface NotificationExpectation {
  status: number;
  message?: string;
  record?: IngestRecord["state"];
  unrouted?: boolean;
}
const expectations = JSON.parse(readFileSync(new URL("expectations.json", CORPUS), "utf8")) as {
  sidecars: Record<string, string>;
  notifications: Record<string, NotificationExpectation>;
};

/** A corpus file with {{CANARY}} pointed at the canary; byte-exact for the non-UTF-8 files. */
function corpusFile(dir: "sidecars" | "notifications", name: string, canaryHost: string): Buffer {
  const bytes = readFileSync(new URL(`${dir}/${name}`, CORPUS));
  return Buffer.from(bytes.toString("latin1").replaceAll("{{CANARY}}", canaryHost), "latin1");
}

function extOf(name: string): string {
  return name.slice(name.lastIndexOf(".") + 1);
}

/** An S3 notification for objects of the demo bucket, encoded as S3 encodes keys. */
function s3Notification(objects: Array<{ key: string; eTag: string; versionId?: string }>): string {
  return JSON.stringify(
    s3PutNotification(
      DEMO_BUCKET,
      objects.map((o) => ({
        ...o,
        key: encodeURIComponent(o.key).replace(/%2F/g, "/").replace(/%20/g, "+"),
      })),
    ),
  );
}

async function postEvents(
  baseUrl: string,
  body: string | Buffer,
  token = INTAKE_TOKEN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/v1/events/s3`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

/** What a 4xx said (`error`) or what a 202 reported about bad records (`problems`). */
function messageOf(json: Record<string, unknown>): string {
  const problems = Array.isArray(json.problems) ? (json.problems as string[]).join("\n") : "";
  return `${typeof json.error === "string" ? json.error : ""}${typeof json.message === "string" ? json.message : ""}${problems}`;
}

/** Bodies built in code: too large, too deep, too many records. */
function generatedNotifications(): Array<{ name: string; body: string; status: number; message: string }> {
  const garbage = JSON.stringify({ Records: Array.from({ length: 3000 }, (_, i) => ({ n: i })) });
  return [
    {
      name: "oversized",
      body: `{"Records":[],"pad":"${"x".repeat(BODY_LIMIT)}"}`,
      status: 413,
      message: "too large",
    },
    {
      name: "deeply-nested-array",
      body: `${"[".repeat(30_000)}${"]".repeat(30_000)}`,
      status: 400,
      message: "expected a JSON object, got an array",
    },
    {
      name: "deeply-nested-record",
      body: `{"Records":[${'{"a":'.repeat(5000)}1${"}".repeat(5000)}]}`,
      status: 202,
      message: "Records[0].eventName: missing",
    },
    { name: "3000-garbage-records", body: garbage, status: 202, message: "Records[9].eventName: missing" },
  ];
}

/** Loads the launchers from dist: they spawn dist/cli/main.js next to themselves. */
async function benchStack(): Promise<typeof BenchStack> {
  const built = resolve(process.cwd(), "dist/bench/bench-stack.js");
  if (!existsSync(built))
    throw new Error(`${built} is missing: run "npm run build" first (npm test does it).`);
  return (await import(pathToFileURL(built).href)) as typeof BenchStack;
}

describe("bad input through the running service", () => {
  const prefix = uniquePrefix("bad-input");
  let stack: DemoStack;
  let canary: Canary;
  let baseUrl: string;
  /** Every uploaded sidecar: its key, eTag and the text lastError must contain. */
  const sidecars: Array<{ name: string; key: string; eTag: string; error: string }> = [];
  const sample = samplePackage(0, "bad-input");
  const video = sample.members.find((m) => m.key.endsWith(".mp4"))!;
  const poster = sample.members.find((m) => m.key.endsWith(".png"))!;

  async function put(key: string, body: Buffer | string, contentType = "application/octet-stream") {
    return stack.service.deps.s3.putObject(DEMO_BUCKET, key, body, { contentType });
  }

  /** A package folder with a real video and poster, then the sidecar last (the trigger). */
  async function uploadPackage(folder: string, manifestName: string, body: Buffer | string) {
    await put(`${folder}/video.mp4`, video.body, "video/mp4");
    await put(`${folder}/poster.png`, poster.body, "image/png");
    const key = `${folder}/${manifestName}`;
    const { eTag } = await put(key, body);
    return { key, eTag, id: objectVersionKey({ kind: "created", bucket: DEMO_BUCKET, key, eTag }) };
  }

  async function waitTerminal(ids: string[], timeoutMs = 90_000): Promise<Map<string, IngestRecord>> {
    const { records } = stack.service.deps;
    return waitFor(
      `${ids.length} ingests to end`,
      async () => {
        const out = new Map<string, IngestRecord>();
        for (const id of ids) {
          const record = await records.get(id);
          if (!record || !TERMINAL_STATES.has(record.state)) return undefined;
          out.set(id, record);
        }
        return out;
      },
      timeoutMs,
    );
  }

  beforeAll(async () => {
    canary = await startCanary("canary");
    stack = await startDemoStack({ speed: 50, redisUrl: testRedisUrl(), prefix, env: LIMITS });
    baseUrl = stack.service.runtime.url!;
  });
  afterAll(async () => {
    await stack?.stop();
    await canary?.close();
    await cleanupPrefix(prefix);
  });

  it("fails each malformed sidecar with lastError naming the problem, and reaches no URL it names", async () => {
    const uploaded: Array<{ id: string; name: string; key: string; error: string }> = [];
    for (const name of readdirSync(new URL("sidecars/", CORPUS)).sort()) {
      const error = expectations.sidecars[name];
      if (error === undefined) throw new Error(`corpus/sidecars/${name} has no entry in expectations.json`);
      const stem = name.slice(0, name.lastIndexOf("."));
      const up = await uploadPackage(
        `news/bad-${stem}`,
        `manifest.${extOf(name)}`,
        corpusFile("sidecars", name, canary.host),
      );
      uploaded.push({ id: up.id, name, key: up.key, error });
      sidecars.push({ name, key: up.key, eTag: up.eTag, error });
    }
    // Over SIDECAR_MAX_BYTES: refused by the bounded read before anything is parsed.
    const big = JSON.stringify({
      id: "big",
      title: "T",
      media: { key: "video.mp4" },
      summary: "s".repeat(SIDECAR_MAX_BYTES),
    });
    const up = await uploadPackage("news/bad-oversized", "manifest.json", big);
    uploaded.push({
      id: up.id,
      name: "oversized",
      key: up.key,
      error: `above the ${SIDECAR_MAX_BYTES}-byte cap`,
    });
    sidecars.push({
      name: "oversized",
      key: up.key,
      eTag: up.eTag,
      error: `above the ${SIDECAR_MAX_BYTES}-byte cap`,
    });

    const ends = await waitTerminal(uploaded.map((u) => u.id));
    const mismatches: string[] = [];
    for (const u of uploaded) {
      const record = ends.get(u.id)!;
      const ok =
        record.state === "failed" &&
        record.lastError !== undefined &&
        record.lastError.includes(`s3://${DEMO_BUCKET}/${u.key}`) &&
        record.lastError.includes(u.error);
      if (!ok)
        mismatches.push(
          `${u.name}: ${record.state} ${JSON.stringify(record.lastError)} (wanted ${JSON.stringify(u.error)})`,
        );
      // Refused before the hand-off: no upstream ever heard of it.
      expect(record.upstream.importJobId).toBeUndefined();
    }
    expect(mismatches).toEqual([]);
    expect(canary.requests).toEqual([]);
    // `__proto__` keys in JSON and XML sidecars did not leak onto Object.prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const ais = stack.sim.stats().modules.ais as { pushes: { byEntryId: Record<string, number> } };
    expect(Object.keys(ais.pushes.byEntryId)).toEqual([]);
  });

  it("completes packages whose keys hold every special character (keys are taken literally)", async () => {
    // Every printable ASCII punctuation S3 allows in a key, spaces, '+', '%', and non-ASCII.
    const folder = `news/special !"#$&'()*+,;=@[]^\`{|}~ é 日本 %41 %2e%2e`;
    const image = `img ?#+% é 日本.png`;
    await put(`${folder}/${image}`, poster.body, "image/png");
    const sidecar = {
      id: "special-chars",
      title: `Special <"&'> é 日本`,
      media: { key: "video.mp4" },
      images: [{ key: image, location: "main" }],
    };
    const up = await uploadPackage(folder, "manifest.json", JSON.stringify(sidecar));
    // Also delivered over HTTP, S3-encoded: the same id (one ingest), whatever the transport.
    const res = await postEvents(baseUrl, s3Notification([{ key: up.key, eTag: up.eTag }]));
    expect(res).toMatchObject({ status: 202, json: { accepted: 1 } });
    const record = (await waitTerminal([up.id])).get(up.id)!;
    expect({ state: record.state, error: record.lastError }).toEqual({
      state: "completed",
      error: undefined,
    });
    expect(record.package?.images[0]?.key).toBe(`${folder}/${image}`);
  });

  it("answers each malformed notification with a 4xx and its message, or names each bad record", async () => {
    const created: Array<{ name: string; id: string; state: IngestRecord["state"] }> = [];
    for (const [name, want] of Object.entries(expectations.notifications)) {
      const body = corpusFile("notifications", name, canary.host);
      const res = await postEvents(baseUrl, body);
      expect({ name, status: res.status }).toEqual({ name, status: want.status });
      if (want.message !== undefined) expect(messageOf(res.json), name).toContain(want.message);
      if (want.status === 202 && want.message === undefined) expect(res.json.accepted, name).toBe(1);
      if (want.record !== undefined)
        for (const event of normalizeNotification(body.toString("utf8"), "http").events)
          created.push({ name, id: objectVersionKey(event), state: want.record });
    }
    for (const gen of generatedNotifications()) {
      const res = await postEvents(baseUrl, gen.body);
      expect({ name: gen.name, status: res.status }).toEqual({ name: gen.name, status: gen.status });
      expect(messageOf(res.json).toLowerCase(), gen.name).toContain(gen.message.toLowerCase());
      if (gen.name === "3000-garbage-records")
        // Capped: garbage in must not mean megabytes out.
        expect(res.json).toMatchObject({ accepted: 0, ignored: 3000, problems: expect.any(Array) });
      if (gen.name === "3000-garbage-records") expect(res.json.problems).toHaveLength(10);
    }
    // Accepted events for objects that do not exist (path tricks are literal keys, never resolved
    // against a file system or another bucket) end superseded, with the reason in the history.
    const ends = await waitTerminal(created.map((c) => c.id));
    for (const c of created) {
      expect({ name: c.name, state: ends.get(c.id)?.state }).toEqual({ name: c.name, state: c.state });
      const history = await stack.service.deps.records.history(c.id);
      expect(history.map((h) => h.message).join("\n"), c.name).toMatch(/deleted before it could be read/);
    }
    // An event for a bucket no route covers is counted, not turned into an ingest, and under
    // bucket="other": a sender must not be able to add label values.
    const metrics = parsePrometheusText(await (await fetch(`${baseUrl}/metrics`)).text());
    const unrouted = metrics.filter((s) => s.name === "ingest_events_unrouted_total");
    expect(unrouted.find((s) => s.labels.bucket === "other")?.value).toBeGreaterThanOrEqual(1);
    expect(unrouted.map((s) => s.labels.bucket)).not.toContain("not-a-routed-bucket");
    expect(canary.requests).toEqual([]);
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });

  it("property: arbitrary bodies to POST /v1/events/s3 never get a 5xx", async () => {
    const key = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.constantFrom("news/a/manifest.json", "%", "+", "../x"),
    );
    const nearRecord = fc.record(
      {
        eventName: fc.oneof(
          fc.constantFrom("ObjectCreated:Put", "ObjectRemoved:Delete", "s3:ObjectCreated:Copy"),
          fc.anything(),
        ),
        eventTime: fc.oneof(fc.constant("2024-06-01T12:00:00Z"), fc.anything()),
        s3: fc.oneof(
          fc.record({
            bucket: fc.record({ name: fc.oneof(fc.constant(DEMO_BUCKET), fc.anything()) }),
            object: fc.record(
              {
                key: fc.oneof(key, fc.anything()),
                eTag: fc.anything(),
                size: fc.anything(),
                versionId: fc.anything(),
                sequencer: fc.anything(),
              },
              { requiredKeys: [] },
            ),
          }),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.array(nearRecord, { maxLength: 5 }).map((Records) => JSON.stringify({ Records })),
      fc
        .tuple(
          fc.oneof(fc.constant("Notification"), fc.string()),
          fc.oneof(
            fc.string(),
            fc.array(nearRecord).map((Records) => JSON.stringify({ Records })),
          ),
        )
        .map(([Type, Message]) =>
          JSON.stringify({ Type, MessageId: "m", TopicArn: "arn:aws:sns:us-east-1:1:t", Message }),
        ),
      fc
        .record({
          "detail-type": fc.constantFrom("Object Created", "Object Deleted", "x"),
          source: fc.constantFrom("aws.s3", "x"),
          time: fc.anything(),
          detail: fc.anything(),
        })
        .map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const res = await postEvents(baseUrl, text);
        expect(res.status, text.slice(0, 300)).toBeLessThan(500);
        if (res.status >= 400) expect(messageOf(res.json)).not.toBe("");
      }),
      { numRuns: 300, seed: 20_240_601 },
    );
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });

  it("property: arbitrary sidecars delivered through POST /v1/events/s3 end as the parser predicts", async () => {
    const value = fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 2 }));
    const keyRef = fc.oneof(
      fc.constantFrom("video.mp4", "poster.png", "/news/x.mp4", "../video.mp4", "http://169.254.169.254/"),
      fc.string(),
    );
    const json = fc
      .record(
        {
          title: value,
          summary: value,
          media: fc.oneof(fc.record({ key: keyRef }), value),
          images: fc.oneof(
            fc.array(
              fc.record({ key: keyRef, location: fc.oneof(fc.constantFrom("main", "thumb"), fc.string()) }),
              { maxLength: 3 },
            ),
            value,
          ),
          categories: value,
          publish: value,
          metadata: fc.oneof(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), value),
          extra: value,
        },
        { requiredKeys: ["title", "media"] },
      )
      .map((fields) => ({ ext: "json", text: (id: string) => JSON.stringify({ id, ...fields }) }));
    const xmlText = fc
      .string()
      .map((s) =>
        s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!),
      );
    const xml = fc
      .tuple(
        xmlText,
        fc.oneof(fc.constantFrom("video.mp4", "../x.mp4"), xmlText),
        fc.constantFrom(
          "",
          "<!DOCTYPE x>",
          "<![CDATA[x]]>",
          "<extra/>",
          "&unknown;",
          "<images><image/></images>",
        ),
      )
      .map(([title, key, junk]) => ({
        ext: "xml",
        text: (id: string) =>
          `<sidecar><id>${id}</id><title>${title}</title><media key="${key}"/>${junk}</sidecar>`,
      }));
    const raw = fc.string({ unit: "binary", maxLength: 200 }).map((s) => ({ ext: "json", text: () => s }));
    const cases = fc.sample(fc.oneof(json, xml, raw), { numRuns: 40, seed: 42 });

    const uploads: Array<{ id: string; bytes: Buffer; key: string }> = [];
    for (const [i, c] of cases.entries()) {
      const bytes = Buffer.from(c.text(`fuzz-${i}`));
      const up = await uploadPackage(`news/fuzz-${i}`, `manifest.${c.ext}`, bytes);
      const res = await postEvents(baseUrl, s3Notification([{ key: up.key, eTag: up.eTag }]));
      expect(res).toMatchObject({ status: 202, json: { accepted: 1 } });
      uploads.push({ id: up.id, bytes, key: up.key });
    }
    const ends = await waitTerminal(uploads.map((u) => u.id));
    const wrong: string[] = [];
    for (const u of uploads) {
      const record = ends.get(u.id)!;
      const parsed = parseSidecar(u.bytes, { fileName: u.key, maxBytes: SIDECAR_MAX_BYTES });
      const fine = parsed.ok
        ? record.state === "completed" || (record.state === "failed" && (record.lastError ?? "") !== "")
        : // Redis stores UTF-8: a lone surrogate quoted in a JSON error comes back as U+FFFD.
          record.state === "failed" &&
          (record.lastError ?? "").includes(Buffer.from(parsed.errors[0]!, "utf8").toString("utf8"));
      if (!fine) wrong.push(`${u.key}: ${record.state} ${JSON.stringify(record.lastError)}`);
    }
    expect(wrong).toEqual([]);
    expect(canary.requests).toEqual([]);
  });

  describe("a worker process (ingest-worker run) fed the corpus 50 times", () => {
    const childPrefix = uniquePrefix("bad-input-child");
    let worker: Awaited<ReturnType<Awaited<ReturnType<typeof benchStack>>["startWorkerProcess"]>> | undefined;
    afterAll(async () => {
      await worker?.child.stop();
      await worker?.cleanup();
      await cleanupPrefix(childPrefix);
    });

    it("answers every repetition the same way, never crashes, and keeps its memory bounded", async () => {
      expect(sidecars.length).toBeGreaterThan(30); // uploaded by the first test
      const { startWorkerProcess } = await benchStack();
      const { urls } = stack.sim;
      worker = await startWorkerProcess({
        redisUrl: testRedisUrl(),
        prefix: childPrefix,
        sim: { ...urls, token: stack.sim.token },
        s3Endpoint: stack.s3.endpoint,
        routes: stack.config.routes!.routes.filter((r) => r.target === "vimond"),
        env: { ...LIMITS, WORKER_CONCURRENCY: "8" },
      });
      const w = worker;
      const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
      const queue = new Queue("source-watch", { connection: redis, prefix: childPrefix });
      const records = new RecordStore(redis, childPrefix);
      const notifications = Object.entries(expectations.notifications).map(([name, want]) => ({
        name,
        body: corpusFile("notifications", name, canary.host),
        status: want.status,
      }));
      const generated = generatedNotifications();
      const memory = async () => {
        const samples = parsePrometheusText(await (await fetch(`${w.url}/metrics`)).text());
        const value = (name: string) => samples.find((x) => x.name === name)!.value;
        return {
          rss: value("ingest_process_resident_memory_bytes"),
          heap: value("ingest_nodejs_heap_size_used_bytes"),
        };
      };
      const drained = async () => {
        const counts = await queue.getJobCounts("waiting", "active", "delayed", "prioritized");
        return Object.values(counts).every((n) => n === 0);
      };

      const rounds: Array<{ rss: number; heap: number }> = [];
      const draining: Array<{ rss: number; heap: number }> = [];
      const lastIds: string[] = [];
      try {
        for (let rep = 0; rep < 50; rep++) {
          for (const n of [...notifications, ...generated]) {
            const res = await postEvents(w.url, n.body, w.intakeToken);
            if (res.status !== n.status)
              throw new Error(`rep ${rep} ${n.name}: ${res.status} ${JSON.stringify(res.json)}`);
          }
          // A new version of every bad sidecar each round, so each round parses and fails them all again.
          const versions = sidecars.map((s) => ({ key: s.key, eTag: s.eTag, versionId: `rep-${rep}` }));
          const res = await postEvents(w.url, s3Notification(versions), w.intakeToken);
          expect(res).toMatchObject({ status: 202, json: { accepted: sidecars.length } });
          if (rep === 49)
            for (const v of versions)
              lastIds.push(objectVersionKey({ kind: "created", bucket: DEMO_BUCKET, ...v }));
          rounds.push(await memory());
        }
        // Sampled while the backlog drains too: on a loaded machine the worker falls behind the
        // rounds, and the readings during them hold its backlog's transient garbage, not a leak.
        await waitFor(
          "all rounds to drain",
          async () => {
            draining.push(await memory());
            return drained();
          },
          90_000,
        );
      } finally {
        await queue.close();
      }
      rounds.push(await memory());
      try {
        // The last round ended like the first: each bad sidecar failed with its message.
        for (const [i, id] of lastIds.entries()) {
          const record = await records.get(id);
          expect({ id, state: record?.state }).toEqual({ id, state: "failed" });
          expect(record?.lastError).toContain(sidecars[i]!.error);
        }
      } finally {
        redis.disconnect();
      }
      expect(w.child.process.exitCode).toBeNull();
      expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
      // The worker keeps nothing per ingest in memory (records and jobs live in Redis); what load adds
      // is transient (≤8 jobs × a 4 KiB sidecar, ≤64 KiB bodies). The heap is a GC sawtooth, so single
      // readings swing by ~100 MiB; the lowest heap of a window of rounds approximates what is live.
      // Rounds 5–24 against rounds 30–49 and the idle time after them: ~700 failed ingests and ~450 bad requests apart, so a leak
      // of ~20 KiB per input would lift that floor past 24 MiB. Peak RSS stays under the warm RSS
      // plus 256 MiB: twice the heap swing seen on an idle laptop, bounded however long the run.
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      const floor = (from: number, to: number) => Math.min(...rounds.slice(from, to).map((r) => r.heap));
      const early = floor(5, 25);
      // On a loaded machine the late rounds can all fall inside one GC cycle, so the floor may still
      // hold their garbage when the queue empties; an idle V8 collects it within seconds (its memory
      // reducer), a leak it cannot. So the idle worker is sampled until the floor settles or 45 s.
      const settled = async () => {
        draining.push(await memory());
        return Math.min(floor(30, 50), ...draining.map((r) => r.heap)) < early + 24 * 2 ** 20;
      };
      await waitFor("the heap floor to settle", settled, 45_000).catch(() => undefined);
      const late = Math.min(floor(30, 50), ...draining.map((r) => r.heap));
      const warm = rounds[4]!.rss;
      const peak = Math.max(...rounds.map((r) => r.rss));
      console.info(
        `[bad-input] worker heap floor ${mib(early)} → ${mib(late)} MiB; RSS after 5 rounds ${mib(warm)}, peak ${mib(peak)}, end ${mib(rounds.at(-1)!.rss)} MiB`,
      );
      expect(late - early).toBeLessThan(24 * 2 ** 20);
      expect(peak - warm).toBeLessThan(256 * 2 ** 20);
      expect(canary.requests).toEqual([]);
    }, 120_000);
  });
});
