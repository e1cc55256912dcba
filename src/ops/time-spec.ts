/**
 * The times operators type for `--since` / `--until` (CLI) and `since` (bulk retry API): an ISO
 * 8601 time, epoch milliseconds (what `GET /v1/ingests?since=` takes), or a duration back from now
 * (`30m`, `2h`, `1d`), because "the failures of the last two hours" is the usual question.
 */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** What a bad time is told: the accepted forms, with examples. */
export const TIME_SPEC_FORMS =
  "expected an ISO 8601 time (2026-12-03T10:00:00Z), epoch milliseconds, or a duration back from now (30s, 30m, 2h, 1d, 1w)";

/** Epoch milliseconds for `text`, or undefined when it is none of the accepted forms. */
export function parseTimeSpec(text: string, now: number): number | undefined {
  const value = text.trim();
  const duration = /^(\d{1,9})([smhdw])$/.exec(value);
  if (duration) return now - Number(duration[1]) * UNIT_MS[duration[2]!]!;
  if (/^\d{1,15}$/.test(value)) return Number(value);
  // Date.parse alone would take "Tuesday" or "1/2/3"; only ISO 8601 dates and date-times pass.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value))
    return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
