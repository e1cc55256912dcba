import { Counter } from "prom-client";
import { registry } from "./registry.js";

/**
 * AIS import tasks job-poll could not place to an ingest of their job, by reason: `unreadable`
 * (no id or state), `no_entry` (no field names the Atom entry), `unmatched` (the entry id, or its
 * version, is no ingest's while an ingest of the job has no task). Each task counts once per job.
 * Anything above zero means the tenant's task fields differ from docs/upstreams.md.
 */
export const aisUnplacedTasks = new Counter({
  name: "ingest_ais_unplaced_tasks_total",
  help: "AIS import tasks that could not be placed to an ingest of their import job, by reason (unreadable, no_entry, unmatched).",
  labelNames: ["reason"] as const,
  registers: [registry],
});
