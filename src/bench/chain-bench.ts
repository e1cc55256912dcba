import { Agent, request } from "undici";
import type { Redis } from "ioredis";
import { encodeS3EventKey } from "../intake/s3rver-bridge.js";
import { objectVersionKey } from "../intake/object-event.js";
import type { S3Adapter } from "../adapters/s3/s3-adapter.js";
import { RecordStore } from "../records/record-store.js";
import type { IngestRecord } from "../records/ingest-record.js";

export const BENCH_BUCKET = "bench-in";

/** A tiny PNG; every bench package shares one video and one poster through absolute sidecar keys. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

export async function putSharedMedia(s3: S3Adapter): Promise<void> {
  await s3.putObject(BENCH_BUCKET, "shared/video.mp4", Buffer.alloc(4096, 1), { contentType: "video/mp4" });
  await s3.putObject(BENCH_BUCKET, "shared/poster.png", PNG, { contentType: "image/png" });
}

export interface BenchPackage {
  key: string;
  eTag: string;
  ingestId: string;
}

/** Uploads N sidecars (the media is shared) and returns what the S3 events will name. */
export async function putSidecars(
  s3: S3Adapter,
  run: string,
  count: number,
  concurrency = 16,
): Promise<BenchPackage[]> {
  const packages: BenchPackage[] = new Array<BenchPackage>(count);
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < count; i = next++) {
      const id = `${run}-${i}`;
      const key = `news/${run}/${i}/manifest.json`;
      const body = JSON.stringify({
        id,
        title: `Bench package ${i}`,
        media: { key: "/shared/video.mp4" },
        images: [{ key: "/shared/poster.png", location: "main" }],
      });
      const put = await s3.putObject(BENCH_BUCKET, key, body, { contentType: "application/json" });
      packages[i] = {
        key,
        eTag: put.eTag,
        ingestId: objectVersionKey({ kind: "created", bucket: BENCH_BUCKET, key, eTag: put.eTag }),
      };
    }
  });
  await Promise.all(workers);
  return packages;
}

/** What the senders achieved: when the first and last events went out and how late they were. */
export interface OfferedLoad {
  /** Wall-clock ms of the first and the last send. */
  firstSentAt: number;
  lastSentAt: number;
  /** Sends per second between the first and the last send; NaN for fewer than two events. */
  perSecond: number;
  /** How long after its scheduled time each event went out, p99 and max (0 for a burst). */
  lagP99Ms: number;
  lagMaxMs: number;
}

/**
 * Posts one S3 notification per package to the worker's intake, as S3 (via SNS or a webhook
 * relay) sends them: one record per message, up to `concurrency` messages in parallel over
 * keep-alive. With `rate` > 0 event i is due at start + i / rate seconds and carries that time as
 * its eventTime, so a sender held back by a slow intake counts the wait in the latencies instead
 * of hiding it; `rate` 0 sends as fast as the senders can, a burst. Several intake URLs (worker
 * processes) take the events in turn.
 */
export async function postEvents(
  url: string | readonly string[],
  token: string,
  packages: BenchPackage[],
  concurrency = 32,
  rate = 0,
): Promise<OfferedLoad> {
  const urls = typeof url === "string" ? [url] : url;
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  let next = 0;
  let sequencer = BigInt(Date.now()) * 1000n;
  // Due times come from one start instant, never from summed sleeps, so timer slack cannot drift.
  const wallStart = Date.now();
  const monoStart = performance.now();
  const sentAt: number[] = new Array<number>(packages.length);
  const lagMs: number[] = new Array<number>(packages.length);
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < packages.length; i = next++) {
          const pkg = packages[i]!;
          const dueMs = rate > 0 ? (i * 1000) / rate : 0;
          const wait = dueMs - (performance.now() - monoStart);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const nowMs = performance.now() - monoStart;
          sentAt[i] = wallStart + nowMs;
          lagMs[i] = rate > 0 ? Math.max(0, nowMs - dueMs) : 0;
          sequencer += 1n;
          const body = JSON.stringify({
            Records: [
              {
                eventVersion: "2.1",
                eventSource: "aws:s3",
                awsRegion: "us-east-1",
                eventTime: new Date(rate > 0 ? wallStart + dueMs : Date.now()).toISOString(),
                eventName: "ObjectCreated:Put",
                s3: {
                  s3SchemaVersion: "1.0",
                  bucket: { name: BENCH_BUCKET, arn: `arn:aws:s3:::${BENCH_BUCKET}` },
                  object: {
                    key: encodeS3EventKey(pkg.key),
                    size: 200,
                    eTag: pkg.eTag,
                    sequencer: sequencer.toString(16).toUpperCase(),
                  },
                },
              },
            ],
          });
          const res = await request(`${urls[i % urls.length]}/v1/events/s3`, {
            method: "POST",
            dispatcher,
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            body,
          });
          const text = await res.body.text();
          if (res.statusCode !== 202) throw new Error(`intake answered ${res.statusCode}: ${text}`);
        }
      }),
    );
  } finally {
    await dispatcher.close();
  }
  const firstSentAt = sentAt.reduce((a, b) => Math.min(a, b), Infinity);
  const lastSentAt = sentAt.reduce((a, b) => Math.max(a, b), -Infinity);
  return {
    firstSentAt,
    lastSentAt,
    // N events span N - 1 intervals: on schedule at rate R this gives R, not R·N/(N-1).
    perSecond: packages.length > 1 ? ((packages.length - 1) * 1000) / (lastSentAt - firstSentAt) : NaN,
    lagP99Ms: Math.round(percentile(lagMs, 99)),
    lagMaxMs: Math.round(lagMs.reduce((a, b) => Math.max(a, b), 0)),
  };
}

/**
 * Waits until every package's record satisfies `done`; returns the records. `reads` counts the
 * HGETALLs it issues, so the report can leave the watcher's own commands out of the chain's.
 */
export async function waitForRecords(
  redis: Redis,
  prefix: string,
  packages: BenchPackage[],
  done: (record: IngestRecord) => boolean,
  timeoutMs: number,
  reads: { hgetall: number } = { hgetall: 0 },
): Promise<IngestRecord[]> {
  const store = new RecordStore(redis, prefix);
  const finished = new Map<string, IngestRecord>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const pkg of packages) {
      if (finished.has(pkg.ingestId)) continue;
      reads.hgetall += 1;
      const record = await store.get(pkg.ingestId);
      if (record && done(record)) finished.set(pkg.ingestId, record);
    }
    if (finished.size === packages.length) return [...finished.values()];
    if (Date.now() > deadline)
      throw new Error(
        `only ${finished.size} of ${packages.length} packages reached the expected state in time`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
