#!/usr/bin/env node
// Uploads one sample package to S3, the way a producer would: the video and the poster first, the
// manifest (sidecar) last, since the manifest is what starts the ingest. Reads S3_ENDPOINT,
// S3_REGION and the AWS_* credentials from the environment (`ingest-worker demo --keep` prints
// them). Usage: node examples/upload-package.mjs s3://media-in/news/my-show-1/
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const match = /^s3:\/\/([^/]+)\/(.+?)\/?$/.exec(process.argv[2] ?? "");
if (!match) {
  console.error("usage: node examples/upload-package.mjs s3://BUCKET/FOLDER/");
  process.exit(2);
}
const [, bucket, folder] = match;
const entryId = folder
  .split("/")
  .pop()
  .replace(/[^A-Za-z0-9_-]/g, "-");

const endpoint = process.env.S3_ENDPOINT;
const s3 = new S3Client({
  region: process.env.S3_REGION ?? "us-east-1",
  ...(endpoint
    ? {
        endpoint,
        forcePathStyle: true,
        // s3rver and older MinIO store a streamed upload's trailing checksum as part of the body.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      }
    : {}),
});

// A 1x1 PNG: the Image Service checks magic bytes. The video only has to start like an MP4.
const poster = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);
const video = Buffer.concat([
  Buffer.from("00000018667479706d703432000000006d70343269736f6d", "hex"),
  randomBytes(16 * 1024),
]);
const manifest = {
  id: entryId,
  title: `Sample package ${entryId}`,
  summary: "Uploaded by examples/upload-package.mjs.",
  media: { key: "video.mp4" },
  images: [{ key: "poster.png", location: "main" }],
  categories: ["sample"],
  // A new manifest version on every run, so uploading the same folder again is a new ingest.
  metadata: { uploadedAt: new Date().toISOString() },
};

const objects = [
  { key: `${folder}/video.mp4`, body: video, type: "video/mp4" },
  { key: `${folder}/poster.png`, body: poster, type: "image/png" },
  {
    key: `${folder}/manifest.json`,
    body: Buffer.from(JSON.stringify(manifest, null, 2)),
    type: "application/json",
  },
];
try {
  for (const object of objects) {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: object.key, Body: object.body, ContentType: object.type }),
    );
    console.log(`uploaded s3://${bucket}/${object.key}`);
  }
} catch (error) {
  console.error(`upload failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(3);
}
console.log(`package ${entryId} is in; follow it with: ingest-worker status`);
