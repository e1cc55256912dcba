import { parseArgs } from "node:util";
import { loadRoutesFile, RoutesFileError } from "../config/routes.js";
import { waitForStopSignal } from "../runtime/signals.js";
import { startSimulator } from "./index.js";
import { UPSTREAMS } from "./core/upstreams.js";
import { seedFeeds, type SeededFeed } from "./seed-feeds.js";

const USAGE = `Usage: ingest-worker simulate [--port P] [--host H] [--speed F] [--seed N] [--token T]
                                 [--routes FILE [--company C]] [--json]

Runs the upstream simulator (AIS, Status, Images, Image cache, AEM, Asset Management, SQS), each on
its own port, until SIGINT or SIGTERM.

  --port P    base port: ais = P, status = P+1, ..., sqs = P+6 (default: free ports)
  --speed F   divide simulated durations by F (default 1; 1000 makes a 30 s encoding take 30 ms)
  --seed N    seed of the random streams (default 1)
  --token T   static bearer token every upstream accepts (default: random)
  --host H    interface to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  --routes F  a worker routes file: create the PUSH media feeds its vimond routes name, as an
              operator would in AIS (a fresh simulator has none); /_sim/reset removes them
  --company C the companyId of those feeds when a route names none (default 1, as AIS_COMPANY_ID)
  --json      print one JSON line with the base URLs and the token once ready
  -h, --help  show this help
`;

/** `ingest-worker simulate`: returns the process exit code once stopped by a signal. */
export async function runSimulateCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: "string" },
        speed: { type: "string" },
        seed: { type: "string" },
        token: { type: "string" },
        host: { type: "string" },
        routes: { type: "string" },
        company: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = parseNumber("--port", values.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65_528);
  const speed = parseNumber("--speed", values.speed, (n) => n > 0);
  const seed = parseNumber("--seed", values.seed, (n) => Number.isInteger(n));
  for (const problem of [port, speed, seed].filter((p) => typeof p === "string")) {
    process.stderr.write(`${problem}\n`);
    return 2;
  }
  if (values.token !== undefined && values.token.trim() === "") {
    process.stderr.write("--token must not be empty\n");
    return 2;
  }

  let routes;
  try {
    routes = values.routes !== undefined ? await loadRoutesFile(values.routes) : undefined;
  } catch (error) {
    if (!(error instanceof RoutesFileError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }

  const sim = await startSimulator({
    port: port as number | undefined,
    speed: speed as number | undefined,
    seed: seed as number | undefined,
    token: values.token,
    ...(values.host !== undefined ? { host: values.host } : {}),
  });
  let feeds: SeededFeed[] = [];
  try {
    if (routes) feeds = await seedFeeds(sim.urls.ais, sim.token, routes, values.company);
  } catch (error) {
    process.stderr.write(`--routes ${values.routes}: ${(error as Error).message}\n`);
    await sim.stop();
    return 2;
  }
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ ...sim.urls, token: sim.token, ...(routes ? { feeds } : {}) })}\n`,
    );
  } else {
    const lines = UPSTREAMS.map((name) => `  ${name.padEnd(11)} ${sim.urls[name]}`);
    process.stdout.write(
      `Upstream simulator ready (speed ${speed ?? 1}, seed ${seed ?? 1}):\n${lines.join("\n")}\n` +
        `  token       ${sim.token}\n` +
        feeds
          .map(
            (f) =>
              `  media feed  ${f.id} (company ${f.companyId}, route ${f.route})${f.created ? "" : " existed"}\n`,
          )
          .join("") +
        `Control: GET /_sim/stats, POST /_sim/scenario, POST /_sim/reset on any base URL. Ctrl-C stops.\n`,
    );
  }
  await waitForStopSignal();
  await sim.stop();
  return 0;
}

/** A number, `undefined` when absent, or an error message. */
function parseNumber(
  flag: string,
  raw: string | undefined,
  valid: (n: number) => boolean,
): number | string | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return raw.trim() !== "" && Number.isFinite(n) && valid(n) ? n : `${flag}: invalid value "${raw}"`;
}
