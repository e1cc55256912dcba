import { chainActions } from "../../src/metrics/ingest-metrics.js";

/** How often the chain took `action` so far in this process (the `chainActions` counter). */
export async function chainActionCount(action: string): Promise<number> {
  const metric = await chainActions.get();
  return metric.values.find((v) => v.labels.action === action)?.value ?? 0;
}
