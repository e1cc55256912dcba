import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { ObjectEvent } from "../../intake/object-event.js";
import { luaScript } from "../../queues/lua-script.js";

/**
 * Keeps the highest sequencer seen per (bucket, key) and says whether an event is older. S3
 * sequencers are hex strings of varying length that only compare after left-padding to one
 * width; the compare-and-set runs in Lua so two workers racing on the same key cannot both win.
 * KEYS[1]: the key's slot; ARGV: the incoming sequencer (upper-case hex), TTL in ms, and "1" to
 * only compare (nothing is kept). Returns 1 when the incoming one is the newest (or equal: a
 * redelivery), 0 when it is stale.
 */
const KEEP_NEWEST = `
local current = redis.call('GET', KEYS[1])
local incoming = ARGV[1]
if current then
  local width = math.max(#current, #incoming)
  local a = string.rep('0', width - #current) .. current
  local b = string.rep('0', width - #incoming) .. incoming
  if b < a then return 0 end
end
if ARGV[3] == '1' then return 1 end
redis.call('SET', KEYS[1], incoming, 'PX', ARGV[2])
return 1
`;

/** Long enough for any redelivery or reordering S3, SNS and SQS produce; bounded so keys expire. */
const SEQUENCER_TTL_MS = 7 * 24 * 3600 * 1000;

export function sequencerKey(prefix: string, event: Pick<ObjectEvent, "bucket" | "key">): string {
  const id = createHash("sha256")
    .update(JSON.stringify([event.bucket, event.key]))
    .digest("hex")
    .slice(0, 40);
  return `${prefix}:seq:${id}`;
}

/**
 * True when a newer event for the same key was already seen. Events without a sequencer never
 * are. Otherwise the event's sequencer becomes the key's newest, unless `peek`: a delete is only
 * compared until S3 confirms the object is gone, so a forged or replayed delete carrying a high
 * sequencer cannot make the key's real later events look stale.
 */
export async function isStaleEvent(
  redis: Redis,
  prefix: string,
  event: ObjectEvent,
  options: { peek?: boolean } = {},
): Promise<boolean> {
  if (event.sequencer === undefined) return false;
  const keepNewest = luaScript(redis, "ingestKeepNewestSequencer", 1, KEEP_NEWEST);
  const kept = await keepNewest(
    sequencerKey(prefix, event),
    event.sequencer.toUpperCase(),
    SEQUENCER_TTL_MS,
    options.peek ? "1" : "0",
  );
  return kept === 0;
}
