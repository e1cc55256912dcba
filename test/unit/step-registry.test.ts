import { describe, expect, it } from "vitest";
import { parseEnv } from "../../src/config/load.js";
import { AEM_STEPS } from "../../src/processors/aem/index.js";
import { ASSET_MANAGEMENT_STEPS } from "../../src/processors/asset-management/index.js";
import type { ChainDeps } from "../../src/processors/every-target/deps.js";
import { EVERY_TARGET_STEPS } from "../../src/processors/every-target/index.js";
import { buildProcessors, STEP, STEPS } from "../../src/processors/index.js";
import { VIMOND_STEPS } from "../../src/processors/vimond/index.js";
import { STEP_NAMES } from "../../src/queues/names.js";
import { PAYLOAD_SCHEMAS } from "../../src/queues/payloads.js";
import { SOURCE_WATCH } from "../../src/queues/source-watch-queue.js";
import { buildStepRegistry } from "../../src/queues/step.js";

// Building a processor talks to nothing: it closes over its deps and defines its Lua commands.
function depsWith(env: Record<string, string>): ChainDeps {
  const parsed = parseEnv({ REDIS_URL: "redis://127.0.0.1:1", ...env });
  return { env: parsed, prefix: "t", redis: { defineCommand() {} } } as unknown as ChainDeps;
}

describe("step registry", () => {
  it("has exactly one entry for every step name, across the target folders, and nothing else", () => {
    const tables = [EVERY_TARGET_STEPS, VIMOND_STEPS, AEM_STEPS, ASSET_MANAGEMENT_STEPS];
    expect(tables.flatMap((table) => Object.keys(table)).sort()).toEqual([...STEP_NAMES].sort());
    expect(STEPS.map((step) => step.name)).toEqual([...STEP_NAMES]);
  });

  it("defines each step with its name, the payload contract's schema, and source-watch's queue options", () => {
    for (const name of STEP_NAMES) {
      expect(STEP[name].name).toBe(name);
      expect(STEP[name].schema).toBe(PAYLOAD_SCHEMAS[name]);
      expect(STEP[name]).not.toHaveProperty("create");
    }
    expect(STEP["source-watch"].jobOptions).toBe(SOURCE_WATCH.jobOptions);
  });

  it.each([["true"], ["false"]])(
    "builds processors that pass the start-up check (STATUS_SWEEP=%s)",
    (sweep) => {
      const processors = buildProcessors(depsWith({ STATUS_SWEEP: sweep }));
      expect(processors.map((p) => p.step.name)).toEqual([...STEP_NAMES]);
      for (const p of processors) expect(p.step).toBe(STEP[p.step.name]);
      expect(buildStepRegistry(STEPS, processors).size).toBe(STEPS.length);
    },
  );

  it("refuses to start with a step's processor missing or doubled", () => {
    const processors = buildProcessors(depsWith({}));
    const notify = processors.find((p) => p.step.name === "notify")!;
    const withoutNotify = processors.filter((p) => p !== notify);
    expect(() => buildStepRegistry(STEPS, withoutNotify)).toThrow('step "notify" has no processor');
    expect(() => buildStepRegistry(STEPS, [...processors, notify])).toThrow(
      'step "notify" has two processors',
    );
  });
});
