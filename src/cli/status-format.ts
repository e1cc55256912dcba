import type { IngestDetail, IngestListItem } from "../http/ingests-schemas.js";

/** Widest the table's error column gets; the full text is in `status ID`. */
export const ERROR_COLUMN_WIDTH = 60;

/**
 * A duration for a person: steps take milliseconds to minutes, so below a second it says "340ms",
 * below ten seconds "2.4s", then whole seconds, minutes and hours. (Rounding everything to whole
 * seconds showed "0s" for every step of a healthy ingest.)
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 9950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * One line of at most `max` characters, cut at a word boundary with an ellipsis: an error cut
 * mid-word reads as a different error. A single word longer than the column is cut hard (still
 * with the ellipsis) rather than dropped.
 */
export function truncateAtWord(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  if (line.length <= max) return line;
  const room = line.slice(0, max - 1);
  const lastSpace = room.lastIndexOf(" ");
  const cut = lastSpace >= max / 2 ? room.slice(0, lastSpace) : room;
  return `${cut.replace(/[\s,;:.-]+$/, "")}…`;
}

/** Plain columns sized to their content; the ID stays whole since `retry`/`cancel` need it. */
export function formatTable(items: IngestListItem[]): string {
  if (items.length === 0) return "no ingests\n";
  const rows = [
    ["INGEST ID", "STATUS", "TARGET", "ROUTE", "STARTED", "ELAPSED", "OBJECT", "ERROR"],
    ...items.map((i) => [
      i.ingestId,
      i.status,
      i.target,
      i.route,
      i.startTime.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      formatDuration(i.elapsedTime),
      `s3://${i.source.bucket}/${i.source.key}`,
      truncateAtWord(i.error ?? "", ERROR_COLUMN_WIDTH),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, c) => cell.padEnd(widths[c] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/** One ingest for a terminal: the facts, the steps (with their own durations), then the history. */
export function formatDetail(d: IngestDetail): string {
  const upstream = Object.entries(d.upstream).map(([k, v]) => `${k}=${v}`);
  const lines = [
    `ingest    ${d.ingestId}`,
    `status    ${d.status} (${d.progress}%)`,
    `object    s3://${d.source.bucket}/${d.source.key} (${d.source.version})`,
    `route     ${d.route} → ${d.target}`,
    `started   ${d.startTime}`,
    `ended     ${d.endTime ?? "-"} (${formatDuration(d.elapsedTime)})`,
    ...(d.error ? [`error     ${d.error}`] : []),
    ...(upstream.length ? [`upstream  ${upstream.join(" ")}`] : []),
    ...(Object.keys(d.attempts).length
      ? [
          `attempts  ${Object.entries(d.attempts)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`,
        ]
      : []),
    "",
    "steps:",
    ...(d.tasks.length
      ? d.tasks.map(
          (t) =>
            `  ${t.name.padEnd(16)} ${t.status.padEnd(15)} ${formatDuration(t.elapsedTime).padStart(7)}${t.detail ? `  ${t.detail}` : ""}`,
        )
      : ["  (none yet)"]),
    "",
    "history:",
    ...d.history.map((h) => `  ${h.time}  ${h.step.padEnd(14)} ${h.message}`),
  ];
  return `${lines.join("\n")}\n`;
}
