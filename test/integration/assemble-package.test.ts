import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../../src/adapters/s3/client.js";
import { createS3Adapter, type S3Adapter } from "../../src/adapters/s3/s3-adapter.js";
import { parseEnv } from "../../src/config/load.js";
import { parseRoutes, type Route } from "../../src/config/routes.js";
import type { ObjectEvent } from "../../src/intake/object-event.js";
import { upstreamRequests } from "../../src/metrics/upstream-metrics.js";
import { assembleManifest } from "../../src/processors/every-target/assemble-package.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { startTestS3, type TestS3 } from "../support/s3.js";

const BUCKET = "assemble-package";
let s3server: TestS3;
let s3: S3Adapter;
let deps: ChainDeps;
let route: Route;

async function s3Requests(operation: string): Promise<number> {
  const metric = await upstreamRequests.get();
  return metric.values
    .filter((v) => v.labels.upstream === "s3" && v.labels.operation === operation)
    .reduce((sum, v) => sum + v.value, 0);
}

function createdEvent(key: string, eTag: string): ObjectEvent {
  return {
    kind: "created",
    eventName: "ObjectCreated:Put",
    bucket: BUCKET,
    key,
    eTag,
    eventTime: new Date().toISOString(),
    source: "replay",
  };
}

const sidecar = (id: string) => JSON.stringify({ id, title: `Title ${id}`, media: { key: "video.mp4" } });

beforeAll(async () => {
  s3server = await startTestS3([BUCKET]);
  s3 = createS3Adapter({ region: "us-east-1", endpoint: s3server.endpoint });
  const env = parseEnv({ S3_ENDPOINT: s3server.endpoint, SIDECAR_MAX_BYTES: "1024" });
  route = parseRoutes({
    routes: [{ name: "vod", bucket: BUCKET, prefix: "vod/", target: "vimond", vimond: { mediaFeedId: "1" } }],
  }).routes[0]!;
  // assembleManifest reads S3 and the env only; the rest of the chain's deps play no part here.
  deps = { s3, env } as unknown as ChainDeps;
});

afterAll(async () => {
  s3.close();
  await s3server?.stop();
});

describe("assembleManifest's sidecar read", () => {
  it("reads the sidecar the event named with one GetObject and no HeadObject of it", async () => {
    await s3.putObject(BUCKET, "vod/one/video.mp4", "video");
    const put = await s3.putObject(BUCKET, "vod/one/manifest.json", sidecar("one"));
    const [gets, heads] = [await s3Requests("GetObject"), await s3Requests("HeadObject")];
    const assembly = await assembleManifest(deps, route, createdEvent("vod/one/manifest.json", put.eTag));
    expect(assembly).toMatchObject({ kind: "package", pkg: { entryId: "one", title: "Title one" } });
    expect(await s3Requests("GetObject")).toBe(gets + 1);
    // The one HEAD is of the video the sidecar names.
    expect(await s3Requests("HeadObject")).toBe(heads + 1);
  });

  it("replaces a sidecar overwritten after its event", async () => {
    const first = await s3.putObject(BUCKET, "vod/two/manifest.json", sidecar("two"));
    await s3.putObject(BUCKET, "vod/two/manifest.json", sidecar("two-again"));
    await expect(
      assembleManifest(deps, route, createdEvent("vod/two/manifest.json", first.eTag)),
    ).resolves.toEqual({
      kind: "replaced",
      reason: `sidecar s3://${BUCKET}/vod/two/manifest.json was overwritten before it could be read`,
    });
  });

  it("replaces a sidecar deleted after its event", async () => {
    const put = await s3.putObject(BUCKET, "vod/three/manifest.json", sidecar("three"));
    const client = createS3Client({ region: "us-east-1", endpoint: s3server.endpoint });
    try {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "vod/three/manifest.json" }));
    } finally {
      client.destroy();
    }
    await expect(
      assembleManifest(deps, route, createdEvent("vod/three/manifest.json", put.eTag)),
    ).resolves.toEqual({
      kind: "replaced",
      reason: `sidecar s3://${BUCKET}/vod/three/manifest.json was deleted before it could be read`,
    });
  });

  it("fails a sidecar above SIDECAR_MAX_BYTES as invalid, naming size and cap", async () => {
    const put = await s3.putObject(BUCKET, "vod/four/manifest.json", " ".repeat(2000));
    const assembly = await assembleManifest(deps, route, createdEvent("vod/four/manifest.json", put.eTag));
    expect(assembly.kind).toBe("invalid");
    expect(assembly.kind === "invalid" && assembly.reason).toContain("2000 bytes, above the 1024-byte cap");
  });
});
