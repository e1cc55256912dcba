import { partitionPrefixes } from "../queues/partitions.js";
import { parseCommandArgs } from "./command-args.js";
import { STEP_NAMES } from "../queues/names.js";
import {
  listQueueStates,
  openStepQueues,
  setStepPaused,
  stepOf,
  type QueueState,
} from "../ops/queue-control.js";
import { EXIT } from "./exit-codes.js";
import { usageError, withOpsContext } from "./ops-context.js";

export const QUEUES_HELP = `Usage: ingest-worker queues [--json]
       ingest-worker queues pause|resume [STEP] [--json]

Without an action: each step's queue, paused or running, with its waiting, active, delayed and
failed jobs (as GET /v1/queues answers). pause STEP stops every worker of that step, across all
pods (BullMQ's global pause, as POST /v1/queues/{STEP}/pause does); jobs already running finish,
jobs added meanwhile wait and run after resume. Without STEP, pause and resume act on every step.

Steps: ${STEP_NAMES.join(", ")}

Options:
  --json   one JSON line: {"queues":[{"step","paused","state","counts":{...}}]}

Exit codes: 0 ok, 2 usage, unknown step or configuration, 3 Redis unreachable.
`;

function formatTable(states: QueueState[]): string {
  const width = Math.max(...states.map((s) => s.step.length), "STEP".length);
  const row = (cells: string[]) =>
    `${cells[0]!.padEnd(width)}  ${cells[1]!.padEnd(7)}  ${cells
      .slice(2)
      .map((c) => c.padStart(7))
      .join("  ")}\n`;
  let text = row(["STEP", "STATE", "WAITING", "ACTIVE", "DELAYED", "FAILED"]);
  for (const s of states)
    text += row([
      s.step,
      s.state,
      String(s.counts.waiting),
      String(s.counts.active),
      String(s.counts.delayed),
      String(s.counts.failed),
    ]);
  return text;
}

export async function queuesCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("queues", QUEUES_HELP, argv, {});
  if (typeof parsed === "number") return parsed;
  const json = parsed.values.json === true;
  const [action, name, ...more] = parsed.positionals;
  if (action !== undefined && action !== "pause" && action !== "resume")
    return usageError("queues", `unknown action "${action}": pause or resume`, QUEUES_HELP);
  if (more.length || (action === undefined && name !== undefined))
    return usageError("queues", "expected: queues [pause|resume [STEP]]", QUEUES_HELP);
  const step = name !== undefined ? stepOf(name) : undefined;
  if (name !== undefined && !step)
    return usageError("queues", `no step named ${name}; the steps are ${STEP_NAMES.join(", ")}`, QUEUES_HELP);

  return withOpsContext(async (ctx) => {
    const steps = openStepQueues(
      ctx.redis,
      partitionPrefixes(ctx.config.env.QUEUE_PREFIX, ctx.config.env.PARTITIONS),
    );
    try {
      if (action !== undefined) {
        const paused = action === "pause";
        const targets = step ? [step] : STEP_NAMES;
        for (const target of targets) await setStepPaused(steps.queues, target, paused);
        if (!json)
          process.stdout.write(
            `${paused ? "paused" : "resumed"} ${step ?? "every step"}${paused ? ": jobs added meanwhile wait for resume" : ""}\n`,
          );
      }
      const states = await listQueueStates(steps.queues);
      const shown = step ? states.filter((s) => s.step === step) : states;
      process.stdout.write(json ? `${JSON.stringify({ queues: shown })}\n` : formatTable(shown));
      return EXIT.ok;
    } finally {
      await steps.close();
    }
  });
}
