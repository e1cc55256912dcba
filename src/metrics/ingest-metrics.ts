import { Counter, Histogram } from "prom-client";
import { registry } from "./registry.js";

export const ingestsFinished = new Counter({
  name: "ingest_ingests_total",
  help: "Ingests that reached a terminal state, by target and outcome.",
  labelNames: ["target", "outcome"] as const,
  registers: [registry],
});

export const ingestsStarted = new Counter({
  name: "ingest_ingests_started_total",
  help: "Ingest records created, by target and route.",
  labelNames: ["target", "route"] as const,
  registers: [registry],
});

export const ingestDuration = new Histogram({
  name: "ingest_end_to_end_duration_seconds",
  help: "From the S3 event to the terminal state, by target and outcome.",
  labelNames: ["target", "outcome"] as const,
  buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
  registers: [registry],
});

export const eventToPush = new Histogram({
  name: "ingest_event_to_push_seconds",
  help: "From the S3 event to the accepted Atom push.",
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const chainActions = new Counter({
  name: "ingest_chain_actions_total",
  help: "Remediation and lifecycle actions: task_retry, asset_retry, job_abort, ingest_cancel, reconcile_hit, reprocess.",
  labelNames: ["action"] as const,
  registers: [registry],
});

export const eventsUnrouted = new Counter({
  name: "ingest_events_unrouted_total",
  help: 'Object events that matched no route, by bucket ("other" for a bucket no route names).',
  labelNames: ["bucket"] as const,
  registers: [registry],
});

export const eventsDropped = new Counter({
  name: "ingest_events_dropped_total",
  help: "Object events dropped: duplicate, stale (older sequencer), or not-gone (a delete of an object S3 still has).",
  labelNames: ["reason"] as const,
  registers: [registry],
});
