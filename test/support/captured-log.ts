import { Writable } from "node:stream";
import { configureLogger } from "../../src/log/logger.js";

/**
 * Points the process-wide logger at `lines` from now on, at `level` and above, so a test can grep
 * what the worker logged; `configureLogger({})` puts it back. Each entry lands as written (one
 * chunk per entry, newline included) or, with `split`, as its non-empty lines.
 */
export function captureLog(level: string, lines: string[], options: { split?: boolean } = {}): void {
  configureLogger({
    level,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        const text = chunk.toString("utf8");
        if (options.split) lines.push(...text.split("\n").filter(Boolean));
        else lines.push(text);
        done();
      },
    }),
  });
}
