import { EXIT } from "./exit-codes.js";

/**
 * Failures of the operator's environment that reach the top of a command (a port taken, no
 * redis-server for the demo): one line and an exit code instead of a stack trace, which only
 * a programming error deserves. Undefined for anything else.
 */
export function describeExpectedError(error: unknown): { exitCode: number; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if ((code === "EADDRINUSE" || code === "EACCES") && port !== undefined) {
    const why = code === "EADDRINUSE" ? "already in use" : "not permitted";
    return {
      exitCode: EXIT.usage,
      message: `cannot listen on ${address ?? "0.0.0.0"}:${port}: ${why} (choose another port: HTTP_PORT, ADMIN_PORT, --port)`,
    };
  }
  if (error.name === "RedisServerMissingError") return { exitCode: EXIT.unavailable, message: error.message };
  if (error.name === "EmbeddedS3MissingError") return { exitCode: EXIT.unavailable, message: error.message };
  return undefined;
}
