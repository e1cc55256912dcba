import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

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
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
