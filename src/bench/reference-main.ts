import { startReference, type ReferenceConfig } from "./reference-worker.js";

/**
 * Entry of the same-work reference process (see reference-worker.ts): the benchmark starts it as
 * a child, like the worker, so its CPU is read from /proc the same way. The configuration comes
 * as JSON in BENCH_REFERENCE_CONFIG; one JSON line `{"url": …}` on stdout says it is ready.
 */
const config = JSON.parse(process.env.BENCH_REFERENCE_CONFIG ?? "{}") as ReferenceConfig;
const reference = await startReference(config);
process.stdout.write(`${JSON.stringify({ url: reference.url })}\n`);
process.once("SIGTERM", () => {
  reference.close().then(
    () => process.exit(0),
    (error: Error) => {
      process.stderr.write(`reference: ${error.message}\n`);
      process.exit(1);
    },
  );
});
