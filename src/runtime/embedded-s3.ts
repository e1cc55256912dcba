import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventEmitter } from "node:events";
import type S3rverServer from "s3rver";
import { createS3rverReshaper, type S3Notification } from "../intake/s3rver-bridge.js";
import { freePort } from "./free-port.js";

export interface EmbeddedS3 {
  endpoint: string;
  port: number;
  /** Receives every notification, already reshaped into the real S3 format. */
  onNotification(listener: (notification: S3Notification) => void): void;
  stop(): Promise<void>;
}

/**
 * The demo's and the benchmark's embedded S3 needs s3rver, a development dependency: the runtime
 * image installs production dependencies only, so `ingest-worker demo` there ends with this line.
 */
export class EmbeddedS3MissingError extends Error {
  constructor() {
    super(
      "the embedded S3 needs the s3rver package, a development dependency that the runtime image " +
        "leaves out: run the demo and the benchmark from a checkout after npm install",
    );
    this.name = "EmbeddedS3MissingError";
  }
}

/** Loaded on first use: without s3rver the demo ends with that one line, not a module-resolution stack. */
async function loadS3rver(): Promise<typeof S3rverServer> {
  try {
    return (await import("s3rver")).default;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const missing = code === "ERR_MODULE_NOT_FOUND" && String(error).includes("'s3rver'");
    throw missing ? new EmbeddedS3MissingError() : error;
  }
}

/**
 * s3rver in-process on a free loopback port, with its files in a temp dir: the real S3 protocol for
 * the demo and the tests, without a MinIO binary or a Docker engine.
 */
export async function startEmbeddedS3(
  options: { buckets?: string[]; port?: number } = {},
): Promise<EmbeddedS3> {
  const dir = await mkdtemp(join(tmpdir(), "ingest-s3-"));
  const port = options.port ?? (await freePort());
  const S3rver = await loadS3rver();
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    silent: true,
    directory: dir,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  await server.run();
  const reshape = createS3rverReshaper();
  const listeners: Array<(notification: S3Notification) => void> = [];
  (server as unknown as EventEmitter).on("event", (event: Parameters<typeof reshape>[0]) => {
    const notification = reshape(event);
    for (const listener of listeners) listener(notification);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    onNotification(listener) {
      listeners.push(listener);
    },
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
