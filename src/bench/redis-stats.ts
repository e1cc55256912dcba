import type { Redis } from "ioredis";

/** Total calls per command from INFO commandstats. */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info("commandstats");
  const calls = new Map<string, number>();
  for (const line of info.split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) calls.set(match[1]!, Number(match[2]));
  }
  return calls;
}

/**
 * Commands run between two snapshots by command, without the INFO calls the benchmark itself
 * makes and without `own` (commands the benchmark's watcher issued, by command).
 */
export function callsByCommand(
  before: Map<string, number>,
  after: Map<string, number>,
  own: Map<string, number> = new Map(),
): Map<string, number> {
  const calls = new Map<string, number>();
  for (const [command, n] of after) {
    if (command === "info") continue;
    const ran = n - (before.get(command) ?? 0) - (own.get(command) ?? 0);
    if (ran > 0) calls.set(command, ran);
  }
  return calls;
}

/** Total of `callsByCommand`. */
export function callsBetween(
  before: Map<string, number>,
  after: Map<string, number>,
  own?: Map<string, number>,
): number {
  let total = 0;
  for (const n of callsByCommand(before, after, own).values()) total += n;
  return total;
}

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  const match = /used_memory:(\d+)/.exec(info);
  return match ? Number(match[1]) : 0;
}
