import { createServer } from "node:http";
import { closeServer, listenOnLoopback } from "./loopback-server.js";

export interface Canary {
  /** `127.0.0.1:PORT`, to plant in URLs that must never be followed. */
  host: string;
  /** `METHOD url` of every request that reached it. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server that records every request and answers `body`: SSRF, XXE and URL tricks
 * aim here, and a test passes only while `requests` stays empty.
 */
export async function startCanary(body: string): Promise<Canary> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end(body);
  });
  const url = await listenOnLoopback(server);
  return { host: new URL(url).host, requests, close: () => closeServer(server) };
}
