import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../runtime/free-port.js";
import { waitForStopSignal } from "../runtime/signals.js";
import type { DemoStack } from "./demo-stack.js";
import { DEMO_BUCKET } from "./demo-stack.js";

/** The simulated SQS queue `demo --keep` delivers the embedded S3's notifications to. */
export const KEEP_SQS_QUEUE = "ingest-worker-demo-events";

/** `'value'` for a POSIX shell: the queue prefix's braces and the URLs' `&` must survive a paste. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `export NAME='value'` lines, the form the e2e test and a newcomer's shell both read. */
export function exportLines(vars: Record<string, string>): string[] {
  return Object.entries(vars).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
}

/**
 * What `ingest-worker run` and the operator commands need to work on the kept stack: the demo's
 * own configuration (same Redis prefix, so `status` shows the demo's ingests; same simulator and
 * tokens; the SQS queue the embedded S3 notifies), a free HTTP port instead of the demo's random
 * one, the demo's routes as a file, and the placeholder keys s3rver accepts.
 */
export async function keptStackEnv(stack: DemoStack, routesFile: string): Promise<Record<string, string>> {
  const { LOG_LEVEL: _level, HTTP_PORT: _port, ...rest } = stack.rawEnv;
  return {
    ...rest,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(await freePort()),
    ROUTES_FILE: routesFile,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    S3_REGION: stack.config.env.S3_REGION,
  };
}

/**
 * `demo --keep`: stops the demo's in-process worker (so the operator's `ingest-worker run` is the
 * one taking jobs), writes the routes and an env file, prints the exports and how to use them, and
 * waits for SIGINT or SIGTERM. The caller stops the stack afterwards.
 */
export async function keepStack(stack: DemoStack, out: NodeJS.WritableStream): Promise<void> {
  await stack.stopService();
  const dir = await mkdtemp(join(tmpdir(), "ingest-demo-"));
  try {
    const routesFile = join(dir, "routes.json");
    await writeFile(
      routesFile,
      `${JSON.stringify({ routes: stack.config.routes?.routes ?? [] }, null, 2)}\n`,
    );
    const env = await keptStackEnv(stack, routesFile);
    // The simulated AEM's webhook follows the worker the operator will start on this port.
    stack.sim.setScenario({
      modules: { aem: { webhookUrl: `http://127.0.0.1:${env.HTTP_PORT}/v1/events/cloudevents` } },
    });
    const lines = exportLines(env);
    const envFile = join(dir, "env.sh");
    await writeFile(envFile, `${lines.join("\n")}\n`);
    const routes = (stack.config.routes?.routes ?? [])
      .map((r) => `  s3://${r.bucket}/${r.prefix}  (${r.trigger}) → ${r.target}`)
      .join("\n");
    out.write(
      [
        "",
        "The stack keeps running until Ctrl-C: Redis, the embedded S3 (its events go to the simulated SQS",
        "queue below) and the upstream simulator. The demo's own worker has stopped; run yours in another",
        `shell, in this repository, after pasting these lines (or: source ${envFile}):`,
        "",
        "# --- ingest-worker environment ---",
        ...lines,
        "# --- end ---",
        "",
        "  npx ingest-worker run                                # the worker, on the kept stack",
        "  npx ingest-worker status                             # the demo's ingests and yours",
        `  node examples/upload-package.mjs s3://${DEMO_BUCKET}/news/my-show-1/   # one package, from the repository`,
        "",
        `Routes (${routesFile}):`,
        routes,
        "Ctrl-C stops the stack (stop your worker first: it needs this Redis to shut down cleanly).",
        "",
      ].join("\n"),
    );
    await waitForStopSignal();
    out.write("stopping the demo stack …\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
