import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DelayedError, Queue, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { Agent, request } from "undici";
import { objectVersionKey } from "../intake/object-event.js";
import { retrying } from "../queues/job-options.js";
import { createSigner, encodeKeyPath } from "./sigv4.js";
import { ATOM_BATCH_MAX_ENTRIES } from "./bench-settings.js";

/**
 * The benchmark's same-work reference: a deliberately minimal worker doing what the Vimond chain
 * does for one bench package, with nothing else. It is a yardstick, not product code: no payload
 * schemas, no logs, no metrics, no crash recovery beyond BullMQ's retries, no remediation, no
 * reconcile, no routes, and it understands only the bench's sidecars and the simulator's answers.
 *
 * The same effects, through the same kind of machinery, so the chain's cost over it is overhead:
 * - intake: `POST /v1/events/s3` (bearer token), one source job per event (deterministic id);
 * - source: a signed conditional GET of the sidecar and a signed HEAD of each object it names
 *   over keep-alive, presigned media URLs, one record write (with the pending-list push);
 * - push: the chain's per-feed micro-batching (a pending list and one delayed flush job per
 *   ATOM_BATCH_MAX_WAIT_MS window, up to 50 entries), one Atom `v2/schedule` push, one record
 *   write per entry (one pipeline);
 * - poll: the import job and its tasks after the same initial delay, one record write per entry;
 * - two branch jobs per package: the video status lookup, and the image pack with its image
 *   fetch and asset binding (read the asset, set its imagePackId), one record write each (the
 *   second also finishes the record);
 * - notify: one job per finished package posting a CloudEvent to NOTIFY_URL, as the chain does
 *   with NOTIFY_URLS; the benchmark counts completions from those posts on both sides.
 * Jobs carry the chain's retention and retry options and its concurrency (one push at a time, as
 * the chain's single in-flight batch per feed allows).
 */
export interface ReferenceConfig {
  redisUrl: string;
  prefix: string;
  port: number;
  intakeToken: string;
  s3Endpoint: string;
  ais: string;
  status: string;
  images: string;
  token: string;
  companyId: string;
  mediaFeedId: string;
  notifyUrl: string;
  concurrency: number;
  batchWaitMs: number;
  pollInitialDelayMs: number;
}

const BATCH_MAX = ATOM_BATCH_MAX_ENTRIES;
const PRESIGN_SECONDS = 6 * 3600;

/** Takes up to ARGV[1] ids from the pending list; returns them and how many are left. */
const CLAIM = `
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids > 0 then redis.call('LTRIM', KEYS[1], #ids, -1) end
return {ids, redis.call('LLEN', KEYS[1])}
`;
/** One branch's write; the last of the two branches also finishes the record. Returns 1 then. */
const FINISH_BRANCH = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('HINCRBY', KEYS[1], 'branchesDone', 1) == 2 then
  redis.call('HSET', KEYS[1], 'state', 'completed', 'finishedAt', ARGV[3])
  return 1
end
return 0
`;

type RefRedis = Redis & {
  refClaim(pending: string, max: string): Promise<[string[], number]>;
  refFinishBranch(record: string, field: string, value: string, now: string): Promise<number>;
};

interface Sidecar {
  id: string;
  title: string;
  media: { key: string };
  images: Array<{ key: string; location: string }>;
}
interface SourceEvent {
  id: string;
  bucket: string;
  key: string;
  eTag: string;
  eventAt: number;
}
interface Entry {
  id: string;
  entryId: string;
}

const xml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export async function startReference(
  config: ReferenceConfig,
): Promise<{ url: string; close(): Promise<void> }> {
  // Records on a connection of their own: BullMQ defines dozens of scripts on its connections, and
  // an ioredis pipeline copies every script defined on its connection.
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null }) as RefRedis;
  redis.defineCommand("refClaim", { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand("refFinishBranch", { numberOfKeys: 1, lua: FINISH_BRANCH });
  const queueConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const http = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  const s3 = new URL(config.s3Endpoint);
  const signer = createSigner({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
  const auth = { authorization: `Bearer ${config.token}`, accept: "application/json" };
  const recordKey = (id: string) => `${config.prefix}:rec:${id}`;
  const pendingKey = `${config.prefix}:feed:${config.mediaFeedId}:pending`;

  // The chain's step options (its step tables, src/processors/<target>/index.ts), so both pay the
  // same retention bookkeeping.
  const queue = (name: string, attempts: number, delay: number) =>
    new Queue(name, {
      connection: queueConnection,
      prefix: config.prefix,
      defaultJobOptions: retrying(attempts, delay),
    });
  const queues = {
    source: queue("source", 8, 1000),
    push: queue("push", 10, 1000),
    poll: queue("poll", 10, 2000),
    track: queue("track", 10, 2000),
    image: queue("image", 8, 2000),
    notify: queue("notify", 12, 2000),
  };

  async function call(method: "GET" | "POST" | "PATCH", url: string, body?: string, type?: string) {
    const res = await request(url, {
      method,
      dispatcher: http,
      headers: { ...auth, ...(type ? { "content-type": type } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${url} answered ${res.statusCode}: ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  async function s3Request(method: "GET" | "HEAD", bucket: string, key: string, ifMatch?: string) {
    const path = `/${bucket}/${encodeKeyPath(key)}`;
    const { host: _host, ...headers } = signer.headers(
      method,
      s3.host,
      path,
      ifMatch ? { "if-match": ifMatch } : {},
    );
    // reset: false keeps the socket after a HEAD, as the worker's lean S3 path does.
    const res = await request(`${s3.origin}${path}`, { method, dispatcher: http, headers, reset: false });
    const body = method === "GET" ? await res.body.text() : (await res.body.dump(), "");
    if (res.statusCode !== 200) throw new Error(`S3 ${method} ${path} answered ${res.statusCode}`);
    return { body, headers: res.headers };
  }

  /** Delays a job that has to wait (the chain's way: no sleep inside a processor). */
  async function later(job: Job, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  }

  async function source(job: Job<SourceEvent>) {
    const { id, bucket, key, eTag, eventAt } = job.data;
    const sidecar = JSON.parse((await s3Request("GET", bucket, key, `"${eTag}"`)).body) as Sidecar;
    const video = sidecar.media.key.replace(/^\//, "");
    const images = sidecar.images.map((i) => ({ key: i.key.replace(/^\//, ""), location: i.location }));
    const heads = await Promise.all(
      [video, ...images.map((i) => i.key)].map((k) => s3Request("HEAD", bucket, k)),
    );
    const url = (k: string) =>
      signer.presignGet(s3.origin, `/${bucket}/${encodeKeyPath(k)}`, PRESIGN_SECONDS);
    const entry = {
      id: sidecar.id,
      title: sidecar.title,
      updated: new Date().toISOString(),
      video: {
        url: url(video),
        type: String(heads[0]!.headers["content-type"]),
        size: String(heads[0]!.headers["content-length"]),
      },
      images: images.map((i) => ({ url: url(i.key), location: i.location })),
    };
    // One write: the record with its package, and the entry queued for its feed's next push.
    await redis
      .multi()
      .hset(recordKey(id), {
        id,
        state: "queued",
        eventAt: String(eventAt),
        entryId: sidecar.id,
        package: JSON.stringify(entry),
      })
      .rpush(pendingKey, id)
      .exec();
    const slot = Math.floor(Date.now() / config.batchWaitMs);
    await queues.push.add("push", {}, { jobId: `push-${slot}`, delay: config.batchWaitMs });
  }

  async function push(job: Job) {
    const [ids, left] = await redis.refClaim(pendingKey, String(BATCH_MAX));
    if (left > 0) await queues.push.add("push", {}, { jobId: `push-after-${job.id}` });
    if (ids.length === 0) return;
    const read = await ids.reduce((p, id) => p.hget(recordKey(id), "package"), redis.pipeline()).exec();
    const entries = (read ?? []).map(
      ([, value]) =>
        JSON.parse(String(value)) as {
          id: string;
          title: string;
          updated: string;
          video: { url: string; type: string; size: string };
          images: Array<{ url: string; location: string }>;
        },
    );
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" xmlns:vimond="http://www.vimond.com/vimondFeedExtension/1.0">
  <id>urn:ingest-worker:feed:${config.mediaFeedId}</id>
  <title>reference push</title>
  <updated>${new Date().toISOString()}</updated>
${entries
  .map(
    (e) => `  <entry>
    <id>${xml(e.id)}</id>
    <title>${xml(e.title)}</title>
    <updated>${e.updated}</updated>
    <media:group>
      <media:content medium="video" url="${xml(e.video.url)}" type="${xml(e.video.type)}" fileSize="${e.video.size}"/>
    </media:group>
${e.images.map((i) => `    <media:content medium="image" url="${xml(i.url)}">\n      <media:category>${xml(i.location)}</media:category>\n    </media:content>`).join("\n")}
  </entry>`,
  )
  .join("\n")}
</feed>`;
    const pushed = await call(
      "POST",
      `${config.ais}/ais/feed/${config.mediaFeedId}/v2/schedule`,
      body,
      "application/atom+xml; charset=utf-8",
    );
    const importJobId = String(pushed.id);
    const now = String(Date.now());
    await ids
      .reduce(
        (p, id) => p.hset(recordKey(id), { state: "importing", importJobId, pushedAt: now }),
        redis.pipeline(),
      )
      .exec();
    const members: Entry[] = ids.map((id, i) => ({ id, entryId: entries[i]!.id }));
    await queues.poll.add(
      "poll",
      { importJobId, members },
      { jobId: `poll-${importJobId}`, delay: config.pollInitialDelayMs },
    );
  }

  type Poll = { importJobId: string; members: Entry[]; polls?: number };
  async function poll(job: Job<Poll>, token?: string) {
    const { importJobId, members } = job.data;
    const base = `${config.ais}/company/${config.companyId}/mediaFeeds/${config.mediaFeedId}/jobs/${importJobId}`;
    const state = String((await call("GET", base)).state).toUpperCase();
    if (state !== "DONE" && state !== "FAILED") {
      const polls = job.data.polls ?? 0;
      await job.updateData({ ...job.data, polls: polls + 1 });
      return later(job, token, Math.min(config.pollInitialDelayMs * 2 ** polls, 30_000));
    }
    const tasks = (await call("GET", `${base}/tasks?start=0&size=500`)).items as Array<{
      entryId: string;
      assetId: number | string | null;
    }>;
    const assetOf = new Map(
      tasks.filter((t) => t.assetId !== null).map((t) => [t.entryId, String(t.assetId)]),
    );
    const placed = members.flatMap((m) => {
      const assetId = assetOf.get(m.entryId);
      return assetId === undefined ? [] : [{ ...m, assetId }];
    });
    if (placed.length < members.length)
      throw new Error(`import job ${importJobId}: entries without an asset`);
    await placed
      .reduce(
        (p, m) => p.hset(recordKey(m.id), { state: "processing", assetId: m.assetId }),
        redis.pipeline(),
      )
      .exec();
    await queues.track.addBulk(
      placed.map((m) => ({ name: "track", data: m, opts: { jobId: `track-${m.id}` } })),
    );
    await queues.image.addBulk(
      placed.map((m) => ({ name: "image", data: m, opts: { jobId: `img-${m.id}` } })),
    );
  }

  /** The branch's record write; enqueues the notification when it was the last branch. */
  async function finishBranch(id: string, field: string, value: string) {
    if ((await redis.refFinishBranch(recordKey(id), field, value, String(Date.now()))) === 1)
      await queues.notify.add("notify", { id }, { jobId: `notify-${id}` });
  }

  type Branch = Entry & { assetId: string };
  async function track(job: Job<Branch>, token?: string) {
    const { id, assetId } = job.data;
    const found = await request(`${config.status}/ingests?assetId=${encodeURIComponent(assetId)}&limit=25`, {
      dispatcher: http,
      headers: { ...auth, "x-vimond-tenant": "vimond" },
    });
    const items = ((await found.body.json()) as { items: Array<{ assetId: string; status: string }> }).items;
    const status = items.find((i) => i.assetId === assetId)?.status;
    if (status !== "COMPLETED") return later(job, token, config.pollInitialDelayMs);
    await finishBranch(id, "videoStatus", status);
  }

  async function image(job: Job<Branch>) {
    const { id, assetId } = job.data;
    const raw = await redis.hget(recordKey(id), "package");
    const entry = JSON.parse(String(raw)) as { images: Array<{ url: string; location: string }> };
    const pack = String(
      (
        await call(
          "POST",
          `${config.images}/adminAPI/imagePacks`,
          JSON.stringify({ assetId }),
          "application/json",
        )
      ).id,
    );
    for (const i of entry.images)
      await call(
        "POST",
        `${config.images}/adminAPI/imagePack/${pack}/${encodeURIComponent(i.location)}/fetchImage?imageUrl=${encodeURIComponent(i.url)}`,
      );
    const asset = `${config.images}/api/assets/${encodeURIComponent(assetId)}`;
    const current = await call("GET", asset);
    if (current.imagePackId !== pack)
      await call("PATCH", asset, JSON.stringify({ imagePackId: pack }), "application/json");
    await finishBranch(id, "imagePackId", pack);
  }

  async function notify(job: Job<{ id: string }>) {
    const r = await redis.hgetall(recordKey(job.data.id));
    const iso = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : undefined);
    const body = JSON.stringify({
      specversion: "1.0",
      id: `${r.id}-${r.state}`,
      source: "ingest-worker-reference",
      type: `ingest.${r.state}`,
      time: iso(r.finishedAt),
      datacontenttype: "application/json",
      data: {
        id: r.id,
        state: r.state,
        timings: { eventAt: iso(r.eventAt), pushedAt: iso(r.pushedAt), finishedAt: iso(r.finishedAt) },
      },
    });
    const res = await request(config.notifyUrl, {
      method: "POST",
      dispatcher: http,
      headers: { "content-type": "application/cloudevents+json" },
      body,
    });
    await res.body.dump();
    if (res.statusCode >= 300) throw new Error(`notification answered ${res.statusCode}`);
  }

  const processors: Array<[keyof typeof queues, (job: Job, token?: string) => Promise<unknown>, number]> = [
    ["source", source, config.concurrency],
    // One push at a time: the chain keeps at most one batch in flight per media feed (the bench
    // has one), and concurrent flushes would split the pending entries into smaller pushes.
    ["push", push, 1],
    ["poll", poll, config.concurrency],
    ["track", track, config.concurrency],
    ["image", image, config.concurrency],
    ["notify", notify, config.concurrency],
  ];
  const workers = processors.map(
    ([name, processor, concurrency]) =>
      new Worker(name, processor, {
        connection: workerConnection,
        prefix: config.prefix,
        concurrency,
        maxStalledCount: 3,
      }),
  );
  for (const worker of workers)
    worker.on("error", (error) => process.stderr.write(`reference worker: ${error.message}\n`));
  for (const worker of workers)
    worker.on("failed", (job, error) =>
      process.stderr.write(`reference ${worker.name} job ${job?.id}: ${error.message}\n`),
    );

  const server = intake(config, (events) =>
    queues.source.addBulk(events.map((e) => ({ name: "source", data: e, opts: { jobId: `src-${e.id}` } }))),
  );
  await new Promise<void>((resolve) => server.listen(config.port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(Object.values(queues).map((q) => q.close()));
      await http.close();
      redis.disconnect();
      queueConnection.disconnect();
      workerConnection.disconnect();
    },
  };
}

/** The intake: S3 notification bodies (`Records[]`) in, one source job per record, 202 out. */
function intake(config: ReferenceConfig, enqueue: (events: SourceEvent[]) => Promise<unknown>): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url !== "/v1/events/s3" || req.headers.authorization !== `Bearer ${config.intakeToken}`) {
        res.writeHead(401).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        Records: Array<{
          eventTime: string;
          s3: { bucket: { name: string }; object: { key: string; eTag: string } };
        }>;
      };
      const events = body.Records.map((r) => {
        const bucket = r.s3.bucket.name;
        const key = decodeURIComponent(r.s3.object.key.replace(/\+/g, " "));
        const eTag = r.s3.object.eTag;
        // The chain's ingest id, so the benchmark counts both sides' notifications the same way.
        const id = objectVersionKey({ kind: "created", bucket, key, eTag });
        return { id, bucket, key, eTag, eventAt: Date.parse(r.eventTime) };
      });
      enqueue(events).then(
        () => res.writeHead(202, { "content-type": "application/json" }).end(`{"accepted":${events.length}}`),
        (error: Error) => res.writeHead(503).end(error.message),
      );
    });
  });
}
