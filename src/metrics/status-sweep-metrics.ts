import { Counter } from "prom-client";
import { registry } from "./registry.js";

/** The requests themselves are counted by the upstream wrapper (`operation="listIngests"`). */
export const statusSweeps = new Counter({
  name: "ingest_status_sweeps_total",
  help: "Status sweeps (STATUS_SWEEP), by outcome: swept, lease_held (another replica sweeps), error.",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const statusSweepPages = new Counter({
  name: "ingest_status_sweep_pages_total",
  help: "GET /ingests pages read by status sweeps.",
  registers: [registry],
});

export const statusSweepSettled = new Counter({
  name: "ingest_status_sweep_settled_total",
  help: "Awaited video ingests a sweep found, by what it saw: ended (handed to its status-track job) or running (phase recorded).",
  labelNames: ["seen"] as const,
  registers: [registry],
});
