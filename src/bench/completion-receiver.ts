import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One finished package as its notification tells it (times in ms). */
export interface Completion {
  id: string;
  state: string;
  eventAt: number;
  pushedAt?: number;
  finishedAt: number;
}

/** The CloudEvent fields the benchmark reads (src/notify/cloud-event.ts, and the reference's). */
interface IngestEvent {
  data?: {
    id?: string;
    state?: string;
    timings?: { eventAt?: string; pushedAt?: string; finishedAt?: string };
  };
}

export interface CompletionReceiver {
  /** Where the worker's NOTIFY_URLS (and the reference's notify step) post. */
  url: string;
  /** Notifications received, repeats included (a repeat is a redelivery, counted once below). */
  posts(): number;
  /** Resolves once every id has been notified, with their completions in the order of `ids`. */
  waitFor(ids: readonly string[], timeoutMs: number): Promise<Completion[]>;
  /** Forgets what was received: the next run sends the same packages again (its own prefix). */
  clear(): void;
  close(): Promise<void>;
}

/**
 * The benchmark counts finished packages from the CloudEvents the chain posts when an ingest ends
 * (NOTIFY_URLS: a `notify` job and one POST per package, what a deployment with notifications
 * pays anyway), instead of reading every record until it is terminal: that watcher issued ~15
 * HGETALLs per package and spent the S3 server's CPU. The reference posts the same events.
 */
export async function startCompletionReceiver(): Promise<CompletionReceiver> {
  const seen = new Map<string, Completion>();
  let posts = 0;
  let waiter: { ids: ReadonlySet<string>; left: number; done(): void } | undefined;
  const time = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      posts += 1;
      let event: IngestEvent;
      try {
        event = JSON.parse(Buffer.concat(chunks).toString("utf8")) as IngestEvent;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const data = event.data;
      const eventAt = time(data?.timings?.eventAt);
      const finishedAt = time(data?.timings?.finishedAt);
      if (!data?.id || !data.state || eventAt === undefined || finishedAt === undefined) {
        res.writeHead(400).end();
        return;
      }
      if (!seen.has(data.id)) {
        const pushedAt = time(data.timings?.pushedAt);
        seen.set(data.id, {
          id: data.id,
          state: data.state,
          eventAt,
          finishedAt,
          ...(pushedAt !== undefined ? { pushedAt } : {}),
        });
        if (waiter?.ids.has(data.id) && --waiter.left === 0) waiter.done();
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    posts: () => posts,
    async waitFor(ids, timeoutMs) {
      const wanted = new Set(ids);
      const left = [...wanted].filter((id) => !seen.has(id)).length;
      if (left > 0) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await new Promise<void>((resolve, reject) => {
            waiter = { ids: wanted, left, done: resolve };
            timer = setTimeout(() => {
              const got = [...wanted].filter((id) => seen.has(id)).length;
              reject(new Error(`only ${got} of ${wanted.size} packages were notified in time`));
            }, timeoutMs);
          });
        } finally {
          clearTimeout(timer);
          waiter = undefined;
        }
      }
      return ids.map((id) => seen.get(id)!);
    },
    clear: () => seen.clear(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
