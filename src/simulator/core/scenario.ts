import { z } from "zod";
import type { Scenario } from "./types.js";

const rate = z.number().min(0).max(1);

/** Failure probabilities; their sum is a probability too, so it must not exceed 1. */
export const faultRatesSchema = z
  .object({
    "500": rate.optional(),
    "502": rate.optional(),
    "503": rate.optional(),
    reset: rate.optional(),
    timeout: rate.optional(),
  })
  .strict()
  .refine((rates) => Object.values(rates).reduce((sum, r) => sum + (r ?? 0), 0) <= 1 + 1e-9, {
    message: "the rates must sum to at most 1",
  });

const latencySchema = z.union([
  z.number().min(0).max(600_000),
  z
    .object({ min: z.number().min(0).max(600_000), max: z.number().min(0).max(600_000) })
    .strict()
    .refine((range) => range.min <= range.max, { message: "latencyMs.min must not exceed latencyMs.max" }),
]);

/** One operation's faults (mirrors `FaultSettings`). */
export const faultSettingsSchema = z
  .object({
    latencyMs: latencySchema.optional(),
    errorRates: faultRatesSchema.optional(),
    burst429: z
      .object({ count: z.number().int().min(0), retryAfterSeconds: z.number().int().min(0).max(86_400) })
      .strict()
      .optional(),
    errorAfterEffect: faultRatesSchema.optional(),
  })
  .strict();

export const authSettingsSchema = z
  .object({
    tokenTtlMs: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400_000)
      .optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
  })
  .strict();

/**
 * A partial scenario as posted to `/_sim/scenario`. `null` removes: an operation's faults, a whole
 * upstream's faults, a module's settings key, or the auth settings.
 */
export const scenarioPatchSchema = z
  .object({
    faults: z.record(z.string(), z.record(z.string(), faultSettingsSchema.nullable()).nullable()).optional(),
    modules: z.record(z.string(), z.record(z.string(), z.unknown()).nullable()).optional(),
    auth: authSettingsSchema.nullable().optional(),
  })
  .strict();

export type ScenarioPatch = z.infer<typeof scenarioPatchSchema>;

export function emptyScenario(): Scenario {
  return { faults: {}, modules: {} };
}

/**
 * Applies a patch to a copy of the scenario. Faults are replaced per operation (the posted settings
 * for `ais.pushV2` are the settings now in force), module settings are merged key by key (so one key
 * can be changed without restating the rest), auth settings are merged.
 */
export function mergeScenario(current: Scenario, patch: ScenarioPatch): Scenario {
  const next: Scenario = structuredClone(current);
  patchByName(next.faults, patch.faults);
  patchByName(next.modules, patch.modules);
  if (patch.auth === null) delete next.auth;
  else if (patch.auth) next.auth = { ...next.auth, ...patch.auth };
  return next;
}

/**
 * Applies one level of a patch in place: per name (an upstream's faults, a module's settings) a
 * null removes the name, otherwise each entry is replaced by a copy of the posted one, or removed
 * when it is null; the name's other entries stay.
 */
function patchByName<T>(
  into: Record<string, Record<string, T>>,
  patch: Record<string, Record<string, T | null> | null> | undefined,
): void {
  for (const [name, entries] of Object.entries(patch ?? {})) {
    if (entries === null) {
      delete into[name];
      continue;
    }
    const target = (into[name] ??= {});
    for (const [key, value] of Object.entries(entries)) {
      if (value === null) delete target[key];
      else target[key] = structuredClone(value);
    }
  }
}
