/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every line must be a HELP or
 * TYPE comment, a blank line, or a sample `name{label="value",...} number [timestamp]`.
 * Returns the samples; throws with the line number on the first malformed line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\["\\\\n])*)"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: -?\\d+)?$`);
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  text.split("\n").forEach((line, index) => {
    if (line === "") return;
    if (line.startsWith("# HELP ")) {
      if (!new RegExp(`^# HELP ${NAME} `).test(line)) throw new Error(`line ${index + 1}: bad HELP: ${line}`);
      return;
    }
    if (line.startsWith("# TYPE ")) {
      const [, , , type] = line.split(" ");
      if (!type || !TYPES.has(type)) throw new Error(`line ${index + 1}: bad TYPE: ${line}`);
      return;
    }
    if (line.startsWith("#")) return;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`line ${index + 1}: not a sample: ${line}`);
    const value = match[match.length - 1]!;
    // Prometheus parses values with Go's ParseFloat, which takes NaN in any case; prom-client
    // writes "Nan" for a gauge with no samples yet (the event-loop lag right after a scrape).
    const nan = value.toLowerCase() === "nan";
    const number = value === "+Inf" ? Infinity : value === "-Inf" ? -Infinity : nan ? NaN : Number(value);
    if (Number.isNaN(number) && !nan) throw new Error(`line ${index + 1}: bad value: ${line}`);
    const labels: Record<string, string> = {};
    const labelText = match[2] ?? "";
    for (const m of labelText.matchAll(new RegExp(LABEL, "g"))) labels[m[1]!] = m[2]!;
    samples.push({ name: match[1]!, labels, value: number });
  });
  return samples;
}
