import { Counter } from "prom-client";
import { registry } from "./registry.js";

/**
 * What became of the AEM CloudEvents that came without the intake token (AEM delivers webhooks
 * with no authentication, seed 003). Such an event is only a hint to read the job from AEM:
 * `promoted` (the job's poll runs now), `pending` (its poll is already due or running),
 * `limited` (over AEM_EVENT_HINTS_PER_SECOND: dropped, polling catches up), `unmatched` (no open
 * AEM ingest for the file it names) and `ignored` (a type other than processing_completed).
 */
export const aemEventHints = new Counter({
  name: "ingest_aem_event_hints_total",
  help: "Unauthenticated AEM CloudEvents taken as hints to poll AEM, by outcome.",
  labelNames: ["outcome"] as const,
  registers: [registry],
});
