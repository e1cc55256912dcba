import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { testRedisUrl } from "./redis.js";

export const CLI = resolve(process.cwd(), "dist/cli/main.js");

/** E2E tests run the built CLI, as a user would; `npm test` builds it first. */
export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it).`);
}

/**
 * The environment of `ingest-worker run` for a test: the test Redis under `prefix`, HTTP on
 * 127.0.0.1:`port` (0: any free one), logging at info so `waitForOutput` sees it start; `extra`
 * adds to it or overrides it.
 */
export function workerEnv(
  port: number,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    HTTP_PORT: String(port),
    HTTP_HOST: "127.0.0.1",
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: "info",
    ...extra,
  };
}

/**
 * On Node 20 the AWS SDK warns, once per process and on stderr, that its releases from January 2027
 * will require Node 22. The CLI leaves that notice in (the operator should see it, and it goes away
 * on Node 22 or 24, which the image runs), so tests that read a command's output read around it.
 */
const SDK_NODE_NOTICE =
  /\(node:\d+\) Warning: NodeVersionSupportWarning: [\s\S]*?More information can be found at: \S+\n(?:\(Use `node --trace-warnings[^\n]*\n)?/g;

/** Whether this Node is one the AWS SDK warns about (below 22). */
export const sdkWarnsAboutThisNode = Number(process.versions.node.split(".")[0]) < 22;

export function hasSdkNodeNotice(text: string): boolean {
  return new RegExp(SDK_NODE_NOTICE.source).test(text);
}

export function withoutSdkNodeNotice(text: string): string {
  return text.replace(SDK_NODE_NOTICE, "");
}

export interface Spawned {
  child: ChildProcessWithoutNullStreams;
  /** Combined stdout and stderr, without the AWS SDK's Node version notice. */
  output: () => string;
  /** Combined stdout and stderr as printed. */
  rawOutput: () => string;
  exited: Promise<number | null>;
  /** Resolves when the combined output matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function spawnNode(args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: "pipe" });
  let text = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    for (const l of listeners) l();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return {
    child,
    output: () => withoutSdkNodeNotice(text),
    rawOutput: () => text,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            listeners.delete(check);
            clearTimeout(timer);
            res(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          rej(new Error(`timed out waiting for ${pattern} in output:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then(() =>
          setTimeout(() => {
            if (listeners.has(check)) {
              listeners.delete(check);
              clearTimeout(timer);
              rej(new Error(`process exited before ${pattern} appeared; output:\n${text}`));
            }
          }, 50),
        );
      });
    },
  };
}
