/**
 * Lua scripts for the record's state machine. Each runs atomically in Redis, so two workers (or a
 * retried job) can never both move a record out of a state, and a terminal state is final.
 * KEYS[1] is always the record hash; KEYS[2] of UPDATE and FINISH_BRANCH (KEYS[3] of CREATE) is
 * its history list. Every script keeps the history capped at HISTORY_CAP entries.
 *
 * A step's record writes (fields, timing, history lines, a transition) go in one UPDATE call: the
 * benchmark showed the worker CPU-bound on Redis round trips when each was its own command.
 */

/** History entries kept per record (oldest dropped first). */
const HISTORY_CAP = 50;

/**
 * ARGV: history entry, createdAt, id, then field/value pairs. Returns 1 if created, 0 if it
 * existed (an event redelivered: nothing is written).
 */
export const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4, #ARGV))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if redis.call('RPUSH', KEYS[3], ARGV[1]) > ${HISTORY_CAP} then redis.call('LTRIM', KEYS[3], -${HISTORY_CAP}, -1) end
return 1
`;

/**
 * Applies a step's writes to an existing record; a missing record (deleted, or never created) is
 * left alone and "missing" returned.
 *
 * ARGV: terminal states (","), now, target state ("" for no transition), lastError ("" for none),
 * allowed source states ("," joined, "" for any non-terminal), the history entry of the
 * transition, branch count B, B branch names, history count H, H history entries, then field/value
 * pairs (the caller adds updatedAt when there are any).
 *
 * The transition happens only from a non-terminal state (and one of the allowed ones); its
 * history line is written only when it happens. Branches are declared once (later calls are
 * no-ops). Fields and history lines are written either way. Returns "ok" when the record moved,
 * "none" without a transition, else the state that refused the move.
 */
export const UPDATE = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
local terminal = ',' .. ARGV[1] .. ','
local now = ARGV[2]
local result = 'none'
-- Every field and every history line of the update go in one HSET and one RPUSH.
local fields = {}
local history = {}
if ARGV[3] ~= '' then
  if string.find(terminal, ',' .. state .. ',', 1, true)
    or (ARGV[5] ~= '' and not string.find(',' .. ARGV[5] .. ',', ',' .. state .. ',', 1, true)) then
    result = state
  else
    fields = {'state', ARGV[3], 'updatedAt', now}
    if string.find(terminal, ',' .. ARGV[3] .. ',', 1, true) then
      fields[#fields + 1] = 'finishedAt'
      fields[#fields + 1] = now
    end
    if ARGV[4] ~= '' then
      fields[#fields + 1] = 'lastError'
      fields[#fields + 1] = ARGV[4]
    end
    history[1] = ARGV[6]
    result = 'ok'
  end
end
local i = 7
local branches = tonumber(ARGV[i])
if branches > 0 and redis.call('HEXISTS', KEYS[1], 'pending') == 0 then
  fields[#fields + 1] = 'pending'
  fields[#fields + 1] = tostring(branches)
  for b = 1, branches do
    fields[#fields + 1] = 'br:' .. ARGV[i + b]
    fields[#fields + 1] = 'pending'
  end
end
i = i + branches + 1
local lines = tonumber(ARGV[i])
for l = 1, lines do history[#history + 1] = ARGV[i + l] end
i = i + lines + 1
for f = i, #ARGV do fields[#fields + 1] = ARGV[f] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
if #history > 0 then
  -- RPUSH answers the length: trimmed only past the cap, not on every line (a LTRIM each).
  if redis.call('RPUSH', KEYS[2], unpack(history)) > ${HISTORY_CAP} then
    redis.call('LTRIM', KEYS[2], -${HISTORY_CAP}, -1)
  end
end
return result
`;

/**
 * ARGV: terminal states, branch, result ("ok" or "failed: reason"), now, then field/value pairs
 * written with the result (the branch's own timing, upstream ids it learned).
 * Returns {"final", state, record fields, ending fields} when this was the last branch (and writes
 * the history line "ingest <state>" for the branch; the record is the fields before the ending
 * was written, as field/value pairs, then the ending's pairs), {"pending", n} otherwise, {"ignored", state} when the record is
 * terminal or the branch already reported.
 */
export const FINISH_BRANCH = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'ignored', 'missing'} end
local terminal = ',' .. ARGV[1] .. ','
if string.find(terminal, ',' .. state .. ',', 1, true) then return {'ignored', state} end
local field = 'br:' .. ARGV[2]
local current = redis.call('HGET', KEYS[1], field)
if current and current ~= 'pending' then return {'ignored', state} end
redis.call('HSET', KEYS[1], field, ARGV[3], 'updatedAt', ARGV[4], unpack(ARGV, 5, #ARGV))
local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
if pending > 0 then return {'pending', tostring(pending)} end
local final = 'completed'
local ending = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 3) == 'br:' and string.sub(all[i + 1], 1, 6) == 'failed' then
    final = 'failed'
    -- The last failed branch names the error, as when each was written in turn.
    ending[1] = 'lastError'
    ending[2] = string.sub(all[i], 4) .. ' ' .. all[i + 1]
  end
end
ending[#ending + 1] = 'state'
ending[#ending + 1] = final
ending[#ending + 1] = 'finishedAt'
ending[#ending + 1] = ARGV[4]
redis.call('HSET', KEYS[1], unpack(ending))
local entry = cjson.encode({at = tonumber(ARGV[4]), step = ARGV[2], message = 'ingest ' .. final})
if redis.call('RPUSH', KEYS[2], entry) > ${HISTORY_CAP} then redis.call('LTRIM', KEYS[2], -${HISTORY_CAP}, -1) end
-- The record as it now is (the fields read above, then the ending's): the caller's metrics and
-- notifications need it, and reading it again would be another round trip.
return {'final', final, all, ending}
`;

/**
 * Re-opens a failed or cancelled record as \`received\` so source-watch runs it again from the
 * start. Transitions refuse to leave a terminal state (by design: workers must never revive an
 * ingest), so an operator retry needs this one explicit way back. It clears what belonged to the
 * previous run (end time, error, hand-off marker, trace context, branches, step timings, upstream
 * ids, counters) so the new run neither reuses a stale import job nor inherits exhausted retry
 * bounds; identity, creation time, labels and the history stay. ARGV: allowed states (","), now.
 * Returns {"ok", retry count} or {"missing"|"refused", current state}.
 */
export const REOPEN = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', ''} end
if not string.find(',' .. ARGV[1] .. ',', ',' .. state .. ',', 1, true) then return {'refused', state} end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local p3, p4, p5 = string.sub(f, 1, 3), string.sub(f, 1, 4), string.sub(f, 1, 5)
  if f == 'finishedAt' or f == 'lastError' or f == 'handoff' or f == 'pending' or f == 'pushedAt' or f == 'package'
    or f == 'trace'
    or p3 == 'br:' or p3 == 'up:' or p5 == 'step:' or (p4 == 'att:' and f ~= 'att:retry') then
    redis.call('HDEL', KEYS[1], f)
  end
end
local n = redis.call('HINCRBY', KEYS[1], 'att:retry', 1)
redis.call('HSET', KEYS[1], 'state', 'received', 'updatedAt', ARGV[2])
return {'ok', tostring(n)}
`;
