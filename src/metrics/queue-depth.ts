import type { Queue } from "bullmq";
import { Gauge } from "prom-client";
import { registry } from "./registry.js";

const STATES = [
  "waiting",
  "active",
  "delayed",
  "failed",
  "completed",
  "prioritized",
  "waiting-children",
] as const;

const queues = new Set<Queue>();

/**
 * Queue depth by state, read from Redis when Prometheus scrapes, not on a timer: an idle worker
 * costs Redis nothing, and the numbers are as fresh as the scrape.
 */
export const queueDepth = new Gauge({
  name: "ingest_queue_jobs",
  help: "Jobs in each step's queue, by state (read on scrape).",
  labelNames: ["queue", "state"] as const,
  registers: [registry],
  async collect() {
    const read = await Promise.all(
      [...queues].map(async (queue) => {
        try {
          return { name: queue.name, counts: await queue.getJobCounts(...STATES) };
        } catch {
          // Redis away: leave the queue out of this scrape rather than fail /metrics.
          return undefined;
        }
      }),
    );
    this.reset();
    // Summed over partitions (PARTITIONS): one series per step, whatever the layout.
    for (const { name, counts } of read.filter((r) => r !== undefined))
      for (const state of STATES) this.inc({ queue: name, state }, counts[state] ?? 0);
  },
});

export function trackQueueDepth(queue: Queue): void {
  queues.add(queue);
}

export function untrackQueueDepth(queue: Queue): void {
  queues.delete(queue);
}
