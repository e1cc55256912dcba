import { Agent, request } from "undici";
import type { Redis } from "ioredis";
import { encodeS3EventKey } from "../intake/s3rver-bridge.js";
import { objectVersionKey } from "../intake/object-event.js";
import type { S3Adapter } from "../adapters/s3/s3-adapter.js";
import { RecordStore } from "../records/record-store.js";
import { TERMINAL_STATES, type IngestRecord } from "../records/ingest-record.js";

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

/**
 * Posts one S3 notification per package to the worker's intake, as S3 (via SNS or a webhook
 * relay) sends them: one record per message, many messages in parallel over keep-alive.
 */
export async function postEvents(
  url: string,
  token: string,
  packages: BenchPackage[],
  concurrency = 32,
): Promise<void> {
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  let next = 0;
  let sequencer = BigInt(Date.now()) * 1000n;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < packages.length; i = next++) {
          const pkg = packages[i]!;
          sequencer += 1n;
          const body = JSON.stringify({
            Records: [
              {
                eventVersion: "2.1",
                eventSource: "aws:s3",
                awsRegion: "us-east-1",
                eventTime: new Date().toISOString(),
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
          const res = await request(`${url}/v1/events/s3`, {
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

export const isTerminal = (record: IngestRecord) => TERMINAL_STATES.has(record.state);

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
