import type { Attributes } from "@opentelemetry/api";
import { withAwsSpan } from "../telemetry/tracing.js";
import { withUpstreamMetrics } from "./upstream-metrics.js";

/** What the AWS SDK puts on its outputs and service errors. */
interface WithMetadata {
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an SDK output or error, when the SDK got that far. */
function httpStatusOf(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const status = (value as WithMetadata).$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

/**
 * The status label of a failed SDK call: the HTTP status when a response arrived, else the error
 * name (`TimeoutError`, `AbortError`, ...), so transport failures stay visible per kind.
 */
export function awsErrorStatus(error: unknown): string | number {
  const status = httpStatusOf(error);
  if (status !== undefined) return status;
  if (error instanceof Error) return error.name;
  return "error";
}

/**
 * Runs one AWS SDK call inside {@link withUpstreamMetrics}: `upstream` is `s3` or `sqs`, the
 * operation is the command name without `Command`, the status the response's HTTP status. With
 * tracing on, a call made inside a trace (a step's job) is a CLIENT span too, with `attributes`
 * (bucket, key); calls outside one (the SQS long poll) are not traced.
 */
export function withAwsMetrics<T>(
  upstream: string,
  command: string,
  run: () => Promise<T>,
  attributes?: Attributes,
): Promise<T> {
  return withAwsSpan(
    upstream.toUpperCase(),
    command,
    attributes,
    () =>
      withUpstreamMetrics(upstream, command, run, (output) => httpStatusOf(output) ?? 200, awsErrorStatus),
    httpStatusOf,
  );
}
