import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedBridge } from "../../src/intake/embedded-bridge.js";
import { defineProcessor, type StepProcessor } from "../../src/queues/step.js";
import { STEP } from "../../src/processors/index.js";
import { HARNESS_BUCKET, type ChainHarness } from "../support/chain-harness.js";
import { waitFor } from "../support/redis.js";
import { putObjectEvent, settledRecord, startSourceWatchHarness } from "../support/source-watch-harness.js";

const BUCKET = HARNESS_BUCKET;
const VIDEO_URL = "https://cdn.example.com/v.mp4";

const ROUTES = [
  {
    name: "cdn",
    bucket: BUCKET,
    prefix: "cdn/",
    target: "vimond",
    // Written in mixed case: hosts compare case-insensitively.
    allowHosts: ["CDN.example.com"],
    vimond: { mediaFeedId: "{feed}" },
  },
  { name: "plain", bucket: BUCKET, prefix: "plain/", target: "vimond", vimond: { mediaFeedId: "{feed}" } },
  {
    name: "assets",
    bucket: BUCKET,
    prefix: "am/",
    target: "asset-management",
    allowHosts: ["cdn.example.com"],
    assetManagement: { parentFolder: "root" },
  },
];

/** Stand-ins for the next steps: they only record what source-watch handed them. */
function stubs(seen: unknown[]): StepProcessor[] {
  return [
    defineProcessor(STEP["atom-push"], async (payload) => {
      seen.push(payload);
      return { outcome: "done" };
    }),
    defineProcessor(STEP["aem-import"], async () => ({ outcome: "done" })),
    defineProcessor(STEP["assets-register"], async () => ({ outcome: "done" })),
  ];
}

const put = (h: ChainHarness, key: string, body: string) => putObjectEvent(h, key, body);

function manifest(fields: Record<string, unknown>): string {
  return JSON.stringify({ id: "ep-1", title: "Episode 1", ...fields });
}

describe("source-watch: sidecar URLs and the route's allowHosts (real Redis, embedded S3)", () => {
  let h: ChainHarness;
  let bridge: EmbeddedBridge;
  const seen: unknown[] = [];

  beforeAll(async () => {
    ({ h, bridge } = await startSourceWatchHarness({
      label: "source-watch-allow-hosts",
      routes: ROUTES,
      next: stubs(seen),
    }));
  });
  afterAll(async () => {
    await bridge?.stop();
    await h?.stop();
  });

  it("hands an allow-listed URL on as it is, next to presigned keys, and queues the package", async () => {
    await put(h, "cdn/ep-1/poster.jpg", "poster");
    const id = await put(
      h,
      "cdn/ep-1/manifest.json",
      manifest({
        media: { url: VIDEO_URL },
        images: [
          { url: "https://cdn.example.com/img/main.jpg", location: "main" },
          { key: "poster.jpg", location: "thumb" },
        ],
      }),
    );
    const record = await settledRecord(h, id, ["queued"]);
    const pkg = record.package!;
    expect(pkg.video).toEqual({ key: VIDEO_URL, url: VIDEO_URL });
    expect(pkg.images[0]).toEqual({
      key: "https://cdn.example.com/img/main.jpg",
      url: "https://cdn.example.com/img/main.jpg",
      location: "main",
    });
    expect(pkg.images[1]).toMatchObject({ key: "cdn/ep-1/poster.jpg", location: "thumb" });
    expect(pkg.images[1]?.url).toMatch(/[?&]X-Amz-Signature=/);
    expect(await (await fetch(pkg.images[1]!.url)).text()).toBe("poster");
    expect(record.steps["source-watch"]?.status).toBe("done");
    await waitFor("the atom-push flush job", () =>
      seen.some((p) => (p as { mediaFeedId: string }).mediaFeedId === h.mediaFeedId),
    );
  });

  it("does not wait for URL objects: only keys are looked up in the bucket", async () => {
    const id = await put(h, "cdn/ep-2/manifest.json", manifest({ id: "ep-2", media: { url: VIDEO_URL } }));
    const record = await settledRecord(h, id, ["queued"]);
    expect(record.package?.video?.url).toBe(VIDEO_URL);
    expect(record.package?.images).toEqual([]);
  });

  it("fails a URL whose host is not allow-listed, naming the field, the host and the route", async () => {
    const id = await put(
      h,
      "cdn/evil/manifest.json",
      manifest({ media: { url: "https://evil.example.net/x" } }),
    );
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toBe(
      'sidecar s3://media-in/cdn/evil/manifest.json: media.url: host "evil.example.net" is not in the allowHosts of route cdn (cdn.example.com)',
    );
    expect(record.package).toBeUndefined();
    expect(record.steps["source-watch"]?.status).toBe("failed");
  });

  it("fails an image URL of another host, naming the image", async () => {
    const id = await put(
      h,
      "cdn/evil-image/manifest.json",
      manifest({
        media: { url: VIDEO_URL },
        images: [{ url: "https://evil.example.net/p.jpg", location: "main" }],
      }),
    );
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toContain(
      'images[0].url: host "evil.example.net" is not in the allowHosts of route cdn',
    );
  });

  it("fails an IP-literal URL (the metadata service) even on a route with allowHosts", async () => {
    const id = await put(
      h,
      "cdn/imds/manifest.json",
      manifest({ media: { url: "https://169.254.169.254/x" } }),
    );
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toContain("media.url: ");
    expect(record.lastError).toContain("names an IP address (169.254.169.254)");
    expect(record.package).toBeUndefined();
  });

  it("fails a URL that a similar-looking host would match only loosely", async () => {
    for (const [name, url] of [
      ["suffix", "https://cdn.example.com.evil.example.net/v.mp4"],
      ["sub", "https://a.cdn.example.com/v.mp4"],
      ["dot", "https://cdn.example.com./v.mp4"],
    ] as const) {
      const id = await put(h, `cdn/loose-${name}/manifest.json`, manifest({ media: { url } }));
      const record = await settledRecord(h, id, ["failed"]);
      expect(record.lastError).toMatch(/media\.url: host ".*" is not in the allowHosts of route cdn/);
    }
  });

  it("fails the same allow-listed URL on a route without allowHosts", async () => {
    const id = await put(h, "plain/ep-1/manifest.json", manifest({ media: { url: VIDEO_URL } }));
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toBe(
      'sidecar s3://media-in/plain/ep-1/manifest.json: media.url: host "cdn.example.com" is not allowed: route plain has no allowHosts, so sidecars may name objects by key only',
    );
  });

  it("fails a media URL on an asset-management route, which registers media by key", async () => {
    const id = await put(h, "am/ep-1/manifest.json", manifest({ media: { url: VIDEO_URL } }));
    const record = await settledRecord(h, id, ["failed"]);
    expect(record.lastError).toContain("media.url: route assets registers media by S3 key");
  });
});
