import { z } from "zod";

/**
 * Field builders for environment variables. Each one carries the phrase that completes
 * "<NAME> must be …", so a bad value reads as `HTTP_PORT must be a port number, got "abc"`.
 * Environment values are strings; empty strings count as unset, so `FOO=` falls back to the default.
 */

function describe<T extends z.ZodType>(schema: T, expects: string): T {
  return schema.meta({ expects });
}

/** What a field expects, for error lines and the configuration reference. */
export function expectsOf(schema: z.ZodType): string | undefined {
  const meta = schema.meta() as { expects?: string } | undefined;
  return meta?.expects;
}

const unsetIfEmpty = (value: unknown) =>
  typeof value === "string" && value.trim() === "" ? undefined : value;

export function port(defaultValue: number) {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^\d+$/)
        .transform(Number)
        .pipe(z.number().int().min(0).max(65535))
        .default(defaultValue),
    ),
    "a port number",
  );
}

/** A port that may be left unset (a listener that only exists when configured). */
export function optionalPort() {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(0).max(65535)).optional(),
    ),
    "a port number",
  );
}

export function integer(defaultValue: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^-?\d+$/)
        .transform(Number)
        .pipe(z.number().int().min(min).max(max))
        .default(defaultValue),
    ),
    max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`,
  );
}

export function boolean(defaultValue: boolean) {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .enum(["true", "false", "1", "0", "yes", "no"])
        .transform((v) => v === "true" || v === "1" || v === "yes")
        .default(defaultValue),
    ),
    "true or false",
  );
}

export function text(defaultValue: string) {
  return describe(z.preprocess(unsetIfEmpty, z.string().default(defaultValue)), "a string");
}

export function optionalText() {
  return describe(z.preprocess(unsetIfEmpty, z.string().optional()), "a string");
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, defaultValue: T[number]) {
  return describe(
    z.preprocess(unsetIfEmpty, z.enum(values).default(defaultValue as never)),
    `one of ${values.join(", ")}`,
  );
}

function isUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

export function httpUrl() {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .refine((v) => isUrl(v, ["http:", "https:"]))
        .transform((v) => v.replace(/\/+$/, ""))
        .optional(),
    ),
    "an http(s) URL",
  );
}

export function redisUrl(defaultValue: string) {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .refine((v) => isUrl(v, ["redis:", "rediss:"]))
        .default(defaultValue),
    ),
    "a redis:// or rediss:// URL",
  );
}

/** A comma-separated list; blanks dropped. */
export function list(itemCheck?: (item: string) => boolean, itemDescription = "a comma-separated list") {
  return describe(
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .transform((v) =>
          v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
        )
        .refine((items) => !itemCheck || items.every(itemCheck))
        .default([]),
    ),
    itemDescription,
  );
}

export const httpUrlList = () =>
  list((item) => isUrl(item, ["http:", "https:"]), "a comma-separated list of http(s) URLs");

/** Attaches the sentence the configuration reference prints for a variable. */
export function doc<T extends z.ZodType>(schema: T, description: string): T {
  const meta = (schema.meta() ?? {}) as Record<string, unknown>;
  return schema.meta({ ...meta, description });
}

export function descriptionOf(schema: z.ZodType): string | undefined {
  return (schema.meta() as { description?: string } | undefined)?.description;
}
