import type { Redis } from "ioredis";

type ScriptCaller = (...keysThenArgs: Array<string | number>) => Promise<unknown>;

/**
 * A Lua script as a command of `redis`, defined once per connection. ioredis then sends EVALSHA
 * (loading the script on the first NOSCRIPT) instead of EVAL with the whole script text on every
 * call, and the script works inside pipelines. Pass the keys first, then the arguments.
 */
export function luaScript(redis: Redis, name: string, numberOfKeys: number, lua: string): ScriptCaller {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, ScriptCaller>)[name]!;
  return (...keysThenArgs) => command.apply(redis, keysThenArgs);
}
