import { createServer } from "node:http";
import { closeServer, listenOnLoopback } from "./loopback-server.js";

/** A 1×1 PNG: the smallest real image the Image Service accepts. */
export const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);

/** What the origin answers for one path: 200 with this body and content type. */
export interface OriginFile {
  contentType: string;
  body: string | Buffer;
}

export const PNG_FILE: OriginFile = { contentType: "image/png", body: PNG };
export const TEXT_FILE: OriginFile = { contentType: "text/plain", body: "not an image at all" };

export interface ImageOrigin {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

/**
 * The source the Image Service downloads from, standing in for S3, on a free loopback port.
 * `fileAt` names what a path (the query, a presigned URL's credential, left off) holds; 404 where
 * it gives nothing.
 */
export async function startImageOrigin(
  fileAt: (path: string) => OriginFile | undefined,
): Promise<ImageOrigin> {
  const server = createServer((req, res) => {
    const file = fileAt((req.url ?? "").split("?")[0] ?? "");
    if (file) {
      res.writeHead(200, { "content-type": file.contentType });
      res.end(file.body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    async close() {
      server.closeAllConnections();
      await closeServer(server);
    },
  };
}
