import { z } from "zod";
import type { ResponseDoc } from "./openapi.js";

/**
 * The error body every route answers with: `error` for people, and for a 400 of a parsed request
 * one `field: problem` line per invalid field. Fastify's own errors (413 above the body limit, 415)
 * carry `error` too, next to `statusCode`, `code` and `message`.
 */
export const problemSchema = z.looseObject({
  error: z.string(),
  issues: z.array(z.string()).optional(),
});

/** A response with the {@link problemSchema} body. */
export function problem(description: string): ResponseDoc {
  return { description, schema: problemSchema };
}

/** 413: fastify refuses a body above `INTAKE_BODY_LIMIT_BYTES` before any handler runs. */
export const TOO_LARGE = {
  "413": problem("Body above INTAKE_BODY_LIMIT_BYTES"),
} as const;

/** 503 while the server is shutting down (fastify's `return503OnClosing`). */
export const CLOSING = { "503": problem("Shutting down, or (intake) the events could not be stored: retry") };
