import { randomUUID } from "node:crypto";
import { PartitionSet } from "../../src/ops/partition-set.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventSink } from "../../src/intake/accept.js";
import { bridgeEmbeddedS3, type EmbeddedBridge } from "../../src/intake/embedded-bridge.js";
import { objectVersionKey } from "../../src/intake/object-event.js";
import { retryIngest } from "../../src/ops/ingest-actions.js";
import { buildProcessors } from "../../src/processors/index.js";
import type { IngestRecord } from "../../src/records/ingest-record.js";
import {
  HARNESS_BUCKET,
  HARNESS_COMPANY,
  startChainHarness,
  type ChainHarness,
} from "../support/chain-harness.js";
import { PNG } from "../support/image-origin.js";
import { waitFor } from "../support/redis.js";

/**
 * Issue 13, point 6: an operator retry of an ingest that failed at any step runs to its end. Each
 * case makes one step fail through the simulator (or S3) the way the real upstream fails, retries
 * the ingest the way `ingest-worker retry` does, clears the fault and waits for `completed`. Before
 * per-run job ids, BullMQ's retained jobs of the first run (`track-<id>`, `img-<id>`, `reg-<id>`)
 * swallowed the retry's and the ingest hung in a non-terminal state.
 */

const BUCKET = HARNESS_BUCKET;
const FOLDER = "/content/dam/retry";

const ROUTES = [
  { name: "vod", bucket: BUCKET, prefix: "vod/", target: "vimond", vimond: { mediaFeedId: "{feed}" } },
  { name: "dam", bucket: BUCKET, prefix: "aem/", target: "aem", aem: { folder: FOLDER } },
  {
    name: "am",
    bucket: BUCKET,
    prefix: "am/",
    trigger: "media",
    target: "asset-management",
    // The simulator (like the API's `parentId`) wants a folder asset id, a GUID.
    assetManagement: { parentFolder: "3fa85f64-5717-4562-b3fc-2c963f66afa6" },
  },
];

let h: ChainHarness;
let bridge: EmbeddedBridge;

beforeAll(async () => {
  h = await startChainHarness({
    label: "retry-steps",
    routes: ROUTES,
    processors: buildProcessors,
    env: { MANIFEST_WAIT_SECONDS: "1", TASK_RETRY_MAX: "1" },
  });
  bridge = bridgeEmbeddedS3(h.s3, createEventSink(h.queue("source-watch")));
});
afterAll(async () => {
  await bridge?.stop();
  await h?.stop();
});

/** Puts an object; returns the ingest id its creation event gets. */
async function put(key: string, body: string | Uint8Array, contentType?: string): Promise<string> {
  const out = await h.deps.s3.putObject(BUCKET, key, body, contentType ? { contentType } : {});
  return objectVersionKey({ kind: "created", bucket: BUCKET, key, eTag: out.eTag });
}

/** A sidecar package under `<prefix><name>/`: video and poster first, unless `withoutVideo`. */
async function putPackage(prefix: string, name: string, options: { withoutVideo?: boolean } = {}) {
  const dir = `${prefix}${name}`;
  if (!options.withoutVideo) await put(`${dir}/video.mp4`, "video bytes", "video/mp4");
  await put(`${dir}/poster.png`, PNG, "image/png");
  const manifest = JSON.stringify({
    id: name,
    title: `Title of ${name}`,
    media: { key: "video.mp4" },
    images: [{ key: "poster.png", location: "main" }],
  });
  return put(`${dir}/manifest.json`, manifest, "application/json");
}

async function ended(id: string, timeoutMs = 45_000): Promise<IngestRecord> {
  return waitFor(
    `ingest ${id} to end`,
    async () => {
      const record = await h.deps.records.get(id);
      return record && ["completed", "failed", "cancelled", "superseded"].includes(record.state)
        ? record
        : undefined;
    },
    timeoutMs,
  );
}

async function retry(id: string): Promise<void> {
  const outcome = await retryIngest(
    {
      partitions: new PartitionSet([{ records: h.deps.records, sourceWatch: h.queue("source-watch") }]),
      redis: h.deps.redis,
    },
    id,
    "cli",
  );
  expect(outcome.ok, outcome.message).toBe(true);
}

/** Fails the ingest with `fail`, retries it after `clear`, and expects the retry to complete. */
async function failRetryComplete(
  id: string,
  expected: RegExp,
  clear: () => Promise<void>,
): Promise<IngestRecord> {
  const failed = await ended(id);
  expect(failed.state, failed.lastError).toBe("failed");
  expect(failed.lastError).toMatch(expected);
  await clear();
  await retry(id);
  const done = await ended(id);
  expect(done.state, `${done.lastError ?? ""}\n${JSON.stringify(await h.deps.records.history(id))}`).toBe(
    "completed",
  );
  expect(done.attempts.retry).toBe(1);
  return done;
}

async function setFeedEnabled(enabled: boolean): Promise<void> {
  const res = await fetch(`${h.sim.urls.ais}/company/${HARNESS_COMPANY}/mediaFeeds/${h.mediaFeedId}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${h.sim.token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "adapter-test", type: "PUSH", enabled }),
  });
  expect(res.status, await res.text()).toBe(200);
}

describe("retry of an ingest that failed at each step (issue 13, point 6)", () => {
  it("completes a vimond package first time (the baseline every case below returns to)", async () => {
    const id = await putPackage("vod/", `base-${randomUUID().slice(0, 6)}`);
    const record = await ended(id);
    expect(record.state, record.lastError).toBe("completed");
    expect(record.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
  });

  it("source-watch: a manifest whose video never came, retried once the video is there", async () => {
    const name = `sw-${randomUUID().slice(0, 6)}`;
    const id = await putPackage("vod/", name, { withoutVideo: true });
    await failRetryComplete(id, /objects not found after 1s: "vod\/.*\/video\.mp4"/, async () => {
      await put(`vod/${name}/video.mp4`, "video bytes", "video/mp4");
    });
  });

  it("atom-push: AIS refused the push (feed disabled), retried once the feed is enabled", async () => {
    await setFeedEnabled(false);
    try {
      const id = await putPackage("vod/", `push-${randomUUID().slice(0, 6)}`);
      await failRetryComplete(id, /^AIS rejected the Atom push: .*403/, () => setFeedEnabled(true));
    } finally {
      await setFeedEnabled(true);
    }
  });

  it("job-poll/remediate: a VIDEO task that failed permanently, retried once AIS imports it", async () => {
    const name = `task-${randomUUID().slice(0, 6)}`;
    await h.scenario({
      modules: { ais: { outcomes: { [name]: { failPermanently: true, taskTypes: ["VIDEO"] } } } },
    });
    try {
      const id = await putPackage("vod/", name);
      await failRetryComplete(id, /^VIDEO task failed permanently/, () =>
        h.scenario({ modules: { ais: { outcomes: null } } }),
      );
    } finally {
      await h.scenario({ modules: { ais: { outcomes: null } } });
    }
  });

  it("status-track: the video ingest FAILED, retried once encoding works", async () => {
    await h.scenario({ modules: { status: { fractions: { failed: 1 } } } });
    try {
      const id = await putPackage("vod/", `track-${randomUUID().slice(0, 6)}`);
      const done = await failRetryComplete(id, /status-track failed/, () =>
        h.scenario({ modules: { status: { fractions: null } } }),
      );
      expect(done.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
    } finally {
      await h.scenario({ modules: { status: { fractions: null } } });
    }
  });

  it("image-fetch: the Image Service refused the poster, retried once it fetches again", async () => {
    const name = `img-${randomUUID().slice(0, 6)}`;
    await h.scenario({ modules: { images: { failFetch: [`${name}/poster.png`] } } });
    try {
      const id = await putPackage("vod/", name);
      const done = await failRetryComplete(id, /image-fetch failed/, () =>
        h.scenario({ modules: { images: { failFetch: null } } }),
      );
      expect(done.branches).toEqual({ "status-track": "ok", "image-fetch": "ok" });
    } finally {
      await h.scenario({ modules: { images: { failFetch: null } } });
    }
  });

  it("aem: AEM failed the poster's import, retried once it imports", async () => {
    const name = `aem-${randomUUID().slice(0, 6)}`;
    await h.scenario({ modules: { aem: { failFiles: [`${name}-poster.png`] } } });
    try {
      const id = await putPackage("aem/", name);
      await failRetryComplete(id, /poster\.png/, () => h.scenario({ modules: { aem: { failFiles: null } } }));
    } finally {
      await h.scenario({ modules: { aem: { failFiles: null } } });
    }
  });

  it("asset-management: the asset ended in Error past the reprocess budget, retried once it processes", async () => {
    const name = `broken-${randomUUID().slice(0, 6)}`;
    await h.scenario({ modules: { assets: { failKeys: [name] } } });
    try {
      const id = await put(`am/${name}.mp4`, "video bytes", "video/mp4");
      await failRetryComplete(id, /failed \(simulated\)/, () =>
        h.scenario({ modules: { assets: { failKeys: null } } }),
      );
    } finally {
      await h.scenario({ modules: { assets: { failKeys: null } } });
    }
  });
});
