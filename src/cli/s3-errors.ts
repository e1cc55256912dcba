import { EXIT } from "./exit-codes.js";

/** Socket-level failures: nothing answered at the S3 endpoint. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** An expected S3 failure of an operator command, as one line and the exit code it maps to. */
export interface S3Failure {
  exitCode: number;
  message: string;
}

function codeOf(error: object): string {
  const own = (error as { code?: unknown }).code;
  if (typeof own === "string") return own;
  // Node reports a refused dual-stack connect as an AggregateError whose members carry the code.
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested)) {
    for (const inner of nested as unknown[])
      if (inner && typeof inner === "object" && typeof (inner as { code?: unknown }).code === "string")
        return (inner as { code: string }).code;
  }
  return "";
}

/**
 * Classifies what the AWS SDK threw for an operator command: missing credentials, an unreachable
 * endpoint or S3 refusing the request are the operator's environment, not a bug, so they get one
 * line naming what to set (exit 3, a missing bucket exit 4) instead of a stack trace. Anything else
 * (Redis, a programming error) returns undefined and is rethrown by the caller.
 */
export function describeS3Failure(error: unknown, endpoint: string | undefined): S3Failure | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  const message = error instanceof Error ? error.message : JSON.stringify(error);
  const where = endpoint ? `S3 at ${endpoint}` : "AWS S3 (S3_ENDPOINT is not set)";
  if (name === "CredentialsProviderError")
    return {
      exitCode: EXIT.unavailable,
      message: `no S3 credentials for ${where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)${endpoint ? "" : ", or S3_ENDPOINT for a local S3"}`,
    };
  const code = codeOf(error);
  if (NETWORK_CODES.has(code) || name === "TimeoutError")
    return { exitCode: EXIT.unavailable, message: `${where} is unreachable: ${message}` };
  if ("$metadata" in error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (name === "NoSuchBucket") return { exitCode: EXIT.notFound, message: `${where}: no such bucket` };
    if (status === 401 || status === 403)
      return {
        exitCode: EXIT.unavailable,
        message: `${where} refused the credentials (${String(name)}${status ? ` ${status}` : ""}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      };
    return {
      exitCode: EXIT.unavailable,
      message: `${where} answered ${String(name)}${status ? ` (${status})` : ""}: ${message}`,
    };
  }
  return undefined;
}
