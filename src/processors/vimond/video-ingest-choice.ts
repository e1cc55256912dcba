import type { VideoIngest } from "../../adapters/index.js";

/**
 * Which of an asset's video ingests the record follows, and how its progress reads: shared by
 * status-track (its own reads) and the status sweep (pages of every ingest), so both decide alike.
 */

/**
 * The newest ingest that started at or after `notBefore` (the list is newest first). Ingests
 * without a start time cannot be placed, so they count only when there is no bound.
 */
export function newestSince(
  ingests: readonly VideoIngest[],
  notBefore: number | undefined,
): VideoIngest | undefined {
  if (notBefore === undefined) return ingests[0];
  return ingests.find((ingest) => {
    const at = ingest.startTime === undefined ? Number.NaN : Date.parse(ingest.startTime);
    return at >= notBefore;
  });
}

/** A running ingest's phase for the record, e.g. `ENCODING 40%`. */
export function phaseOf(ingest: VideoIngest): string {
  return `${ingest.stage ?? ingest.rawStatus}${ingest.progress === undefined ? "" : ` ${ingest.progress}%`}`;
}
