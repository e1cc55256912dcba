import { randomBytes } from "node:crypto";

/** A 1×1 PNG: the Image Service simulator checks magic bytes, so posters must be real images. */
const PNG_1x1 = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/** A few KiB that start like an MP4 (an `ftyp` box); upstreams here only fetch the bytes. */
function sampleVideo(): Buffer {
  const header = Buffer.from("0000001866747970 6d703432 00000000 6d703432 69736f6d".replace(/ /g, ""), "hex");
  return Buffer.concat([header, randomBytes(16 * 1024)]);
}

export type DemoTarget = "vimond" | "aem" | "asset-management";
export type DemoScript = "ok" | "transient" | "permanent";

export interface DemoObject {
  key: string;
  body: Buffer;
  contentType: string;
  metadata?: Record<string, string>;
}

export interface DemoPackage {
  index: number;
  target: DemoTarget;
  script: DemoScript;
  entryId: string;
  /** Uploaded first: the package's media and images. */
  members: DemoObject[];
  /** Uploaded last: the object that starts the ingest (the sidecar, or the video itself). */
  trigger: DemoObject;
  expected: "completed" | "failed";
}

/** The demo's routes: one per target, as an operator would write them. */
export function demoRoutes(mediaFeedId: string, bucket: string): unknown[] {
  return [
    { name: "news", bucket, prefix: "news/", trigger: "manifest", target: "vimond", vimond: { mediaFeedId } },
    {
      name: "archive",
      bucket,
      prefix: "archive/",
      trigger: "manifest",
      target: "aem",
      aem: { folder: "/content/dam/archive" },
    },
    {
      name: "raw",
      bucket,
      prefix: "raw/",
      trigger: "media",
      target: "asset-management",
      assetManagement: { parentFolder: "5d1c5a4e-8a8e-4c1b-9a51-3f2f7d9a1c00" },
    },
  ];
}

/**
 * Package i of the demo. Mostly Vimond, a share for AEM and Asset Management; about one in ten is
 * scripted to fail permanently and a few to fail once and recover, so the demo shows remediation.
 */
export function samplePackage(index: number, runId: string): DemoPackage {
  // The tenth package of each ten fails permanently; rotating the target by the decade spreads
  // those failures over all three targets.
  const slot = (index + Math.floor(index / 10)) % 5;
  const target: DemoTarget = slot === 3 ? "aem" : slot === 4 ? "asset-management" : "vimond";
  const script: DemoScript =
    index % 10 === 9 ? "permanent" : index % 10 === 2 && target === "vimond" ? "transient" : "ok";
  const entryId = `demo-${runId}-${String(index).padStart(5, "0")}`;
  const expected = script === "permanent" ? "failed" : "completed";
  const video = { body: sampleVideo(), contentType: "video/mp4" };
  if (target === "asset-management") {
    return {
      index,
      target,
      script,
      entryId,
      members: [],
      trigger: { key: `raw/${entryId}.mp4`, ...video, metadata: { title: `Raw clip ${index}` } },
      expected,
    };
  }
  const folder = `${target === "aem" ? "archive" : "news"}/${entryId}`;
  const manifest = {
    id: entryId,
    title: `Demo episode ${index} <"&'>`,
    summary: "A sample package uploaded by ingest-worker demo.",
    media: { key: "video.mp4" },
    images: [{ key: "poster.png", location: "main" }],
    categories: ["demo"],
    metadata: { run: runId },
  };
  return {
    index,
    target,
    script,
    entryId,
    members: [
      { key: `${folder}/video.mp4`, ...video },
      { key: `${folder}/poster.png`, body: PNG_1x1, contentType: "image/png" },
    ],
    trigger: {
      key: `${folder}/manifest.json`,
      body: Buffer.from(JSON.stringify(manifest)),
      contentType: "application/json",
    },
    expected,
  };
}

/**
 * The simulator scenario that makes each package's script come true. `webhookUrl`: where the
 * simulated AEM delivers its processing_completed events (the worker's cloudevents intake), as a
 * real AEM webhook registration would, so the demo's AEM ingests end on the event, not the poll.
 */
export function demoScenario(packages: DemoPackage[], webhookUrl?: string): Record<string, unknown> {
  const aisOutcomes: Record<string, unknown> = {};
  const aemFail: string[] = [];
  const assetFail: string[] = [];
  for (const p of packages) {
    if (p.script === "ok") continue;
    if (p.target === "vimond")
      aisOutcomes[p.entryId] =
        p.script === "permanent"
          ? { failPermanently: true, taskTypes: ["VIDEO"] }
          : { failFirst: 1, taskTypes: ["VIDEO"] };
    else if (p.target === "aem") aemFail.push(`${p.entryId}/video.mp4`);
    else if (p.script === "permanent") assetFail.push(`${p.entryId}.mp4`);
  }
  return {
    modules: {
      ais: { jobQueuedMs: 500, taskDurationMs: 500, outcomes: aisOutcomes },
      status: { durationsMs: { retrieval: 500, encoding: 2000, distribution: 500, playout: 500 } },
      aem: { jobDurationMs: 1000, failFiles: aemFail, ...(webhookUrl ? { webhookUrl } : {}) },
      assets: { durationMs: 1000, failKeys: assetFail },
    },
  };
}
