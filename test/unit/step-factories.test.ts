import { describe, expect, it } from "vitest";
import { parseEnv } from "../../src/config/load.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { buildProcessors, STEP_FACTORIES } from "../../src/processors/index.js";
import { STEP_NAMES } from "../../src/queues/names.js";
import { buildStepRegistry } from "../../src/queues/step.js";
import { STEP, STEPS } from "../../src/queues/steps.js";

// Building a processor talks to nothing: it closes over its deps and defines its Lua commands.
function depsWith(env: Record<string, string>): ChainDeps {
  const parsed = parseEnv({ REDIS_URL: "redis://127.0.0.1:1", ...env });
  return { env: parsed, prefix: "t", redis: { defineCommand() {} } } as unknown as ChainDeps;
}

describe("step registry", () => {
  it("has one factory for every step name, and nothing else", () => {
    expect(Object.keys(STEP_FACTORIES).sort()).toEqual([...STEP_NAMES].sort());
  });

  it.each([["true"], ["false"]])(
    "builds processors that pass the start-up check (STATUS_SWEEP=%s)",
    (sweep) => {
      const processors = buildProcessors(depsWith({ STATUS_SWEEP: sweep }));
      expect(processors.map((p) => p.step.name)).toEqual(Object.keys(STEP));
      for (const p of processors) expect(p.step).toBe(STEP[p.step.name]);
      expect(buildStepRegistry(STEPS, processors).size).toBe(STEPS.length);
    },
  );
});
