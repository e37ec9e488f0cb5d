/**
 * Every Lua script of the hub, by name. Redis runs a script atomically, which
 * is what several guarantees rest on (log order equals live order, an
 * ingress entry is acknowledged only with its event stored, a cap counted
 * without races). RedisConnections defines them all on the command
 * connection; `ScriptedCommands` types the calls.
 */

/**
 * Appends a batch of events, each to its sources' logs, publishing each on
 * its sources' channels, in one script: a user's log order and live order
 * are the same across all instances, and a batch costs one call, not one per
 * event. A log keeps at most `maxlen` events and `maxBytes` bytes of them (a
 * counter beside it, in its slot, tracks the bytes of type and envelope),
 * dropping the oldest; the newest event is always kept. An event is skipped
 * when its dedupe marker is already set (a retried publication; a retry
 * renews the marker's window). An event from an ingress entry is stored only
 * if this consumer still owns the entry, and the entries stored are
 * acknowledged before the script ends, so in the same step. Each event is
 * served on its own (pcall): one that fails leaves the others stored, and its
 * error is its result alone, unless the node refuses writes (a replica, out
 * of memory): then the call fails with that error, having stored nothing.
 *
 * Every argument a batch repeats is given once (the ingress stream, group
 * and consumer), a source is given by its name alone, and the events' own
 * fields travel in one argument, a line each: each argument costs the hub an
 * encoding and pieces of string to collect, and Redis a parse, where a line
 * costs a match. So the script builds a source's key and channel names
 * itself (head, name, '}': see RedisKeys) rather than taking them as KEYS,
 * which is what Redis advises; it still obeys what that advice protects: in
 * a Redis Cluster every name shares the hash tag of KEYS[1], which routes
 * the call, and Redis refuses a call whose names leave its slot. No field
 * holds a line break: names (a source's charset), numbers, entry ids, event
 * types, and the tail, which is JSON.
 *
 * An event to many sources (`sharedMin` or more in this call) is published
 * once, on the shared fan-out channel every instance follows, naming each
 * source and its id there, rather than on each source's channel: a message
 * costs Redis a publish and every instance that follows the channel a
 * decode, where a name costs a line (see RedisTransport). Only while every
 * live instance follows it, by the set of followers the instances' beats
 * keep (see BEAT): one that does not (REDIS_FANOUT_CHANNEL_MIN=0, a version
 * before the channel) would miss those events live. The script reads the
 * instances and the followers only then, on one node: in a cluster there
 * is no fan-out channel, and they would be outside the call's slot.
 *
 * KEYS: the first source's log (the call's slot), then dedupe markers and
 *       the ingress stream.
 * ARGV: events, maxlen, ttlMs, publish command, maxBytes, the heads of a
 *       log's, a byte counter's and a channel's name, ingress (its place
 *       after KEYS[1]; 0 = no ingress entry), group, consumer, the shared
 *       fan-out channel ('' = none), sharedMin, the instances' and the
 *       followers' keys, the sources' names (a line each), then the
 *       events' lines: for each event n (its sources), marker (its place
 *       after KEYS[1]; 0 = none), the marker's ttl (only with a marker),
 *       ingress entry id ('' = none), type, tail, then its n sources'
 *       numbers (1 = the first name); each line ends with a line break.
 * Returns, for each event, the number of sources served (0 for a duplicate,
 * -1 when this consumer no longer owns its entry), or its error's message.
 */
export const APPEND = `
local maxlen, ttl, publish, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local refreshBelow = ttl - math.floor(ttl / 100)
local logHead, bytesHead, channelHead = ARGV[6], ARGV[7], ARGV[8]
local ingress = tonumber(ARGV[9]) > 0 and KEYS[1 + tonumber(ARGV[9])] or nil
local group, consumer = ARGV[10], ARGV[11]
local shared, sharedMin = ARGV[12], tonumber(ARGV[13])
local instances, followers = ARGV[14], ARGV[15]
local names, tagged = {}, {}
for name in string.gmatch(ARGV[16], '([^\\n]*)\\n') do
  names[#names + 1] = name
  tagged[#names] = name .. '}'
end
local refusals = { READONLY = true, OOM = true, MISCONF = true, NOREPLICAS = true }
local stored = {}
-- Stores the event in one source's log and publishes it: on the source's
-- channel, or, given the shared message's lines, as two lines of it.
local function appendTo(source, kind, tail, size, lines)
  local log, bytes = logHead .. tagged[source], bytesHead .. tagged[source]
  local id = redis.call('XADD', log, '*', 't', kind, 'b', tail)
  local total = redis.call('INCRBY', bytes, size)
  local count = redis.call('XLEN', log)
  -- Both keys expire ttl after the source's last event, give or take a
  -- hundredth of it: their expiry is set anew when one of them is new, or
  -- when the log's has run down by that much. Setting it is a write of
  -- each key; a busy source pays a read instead, most of the time.
  if count == 1 or total == size or redis.call('PTTL', log) < refreshBelow then
    redis.call('PEXPIRE', log, ttl)
    redis.call('PEXPIRE', bytes, ttl)
  end
  while count > 1 and (count > maxlen or total > maxBytes) do
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
    local dropped = 0
    for f = 2, #oldest[2], 2 do dropped = dropped + #oldest[2][f] end
    total = redis.call('DECRBY', bytes, dropped)
    -- XDEL, not XTRIM: only a deletion moves max-deleted-entry-id, which the
    -- read script needs to tell the last dropped id from an older one.
    redis.call('XDEL', log, oldest[1])
    count = count - 1
  end
  if lines then
    lines[#lines + 1] = names[source]
    lines[#lines + 1] = id
  else
    redis.call(publish, channelHead .. tagged[source], id .. '\\n' .. kind .. '\\n' .. tail)
  end
end
local function appendEach(own, kind, tail, size, lines)
  for _, source in ipairs(own) do appendTo(source, kind, tail, size, lines) end
end
local everyoneFollows
local function allFollow()
  if everyoneFollows == nil then
    everyoneFollows = true
    for _, id in ipairs(redis.call('ZRANGE', instances, 0, -1)) do
      if redis.call('SISMEMBER', followers, id) == 0 then
        everyoneFollows = false
        break
      end
    end
  end
  return everyoneFollows
end
local function appendOne(marker, markerTtl, entry, kind, tail, own)
  if entry ~= '' then
    if stored[entry] then return -1 end
    if #redis.call('XPENDING', ingress, group, entry, entry, 1, consumer) == 0 then return -1 end
  end
  if marker and not redis.call('SET', marker, '1', 'NX', 'PX', markerTtl) then
    -- A write all the same: a WAIT that follows on this connection then
    -- covers the first attempt too, which another connection may have made.
    redis.call('PEXPIRE', marker, markerTtl)
    return 0
  end
  if shared == '' or #own < sharedMin or not allFollow() then
    appendEach(own, kind, tail, #kind + #tail, nil)
  else
    -- The shared message: type, tail, then each source's name and id.
    local lines = { kind, tail }
    local ok, err = pcall(appendEach, own, kind, tail, #kind + #tail, lines)
    -- Published even when a source failed: those before it have the event stored.
    if #lines > 2 then redis.call(publish, shared, table.concat(lines, '\\n')) end
    if not ok then error(err, 0) end
  end
  if entry ~= '' then stored[entry] = true end
  return #own
end
local results, acks = {}, {}
local field = string.gmatch(ARGV[17], '([^\\n]*)\\n')
for i = 1, tonumber(ARGV[1]) do
  local n, place = tonumber(field()), tonumber(field())
  local marker, markerTtl
  if place > 0 then marker, markerTtl = KEYS[1 + place], field() end
  local entry, kind, tail = field(), field(), field()
  local own = {}
  for j = 1, n do own[j] = tonumber(field()) end
  local ok, served = pcall(appendOne, marker, markerTtl, entry, kind, tail, own)
  if ok then
    results[i] = served
    if served > 0 and entry ~= '' then acks[#acks + 1] = entry end
  else
    local message = type(served) == 'table' and served.err or tostring(served)
    -- The node's refusal, not the event's: the call's error, as Redis would
    -- give it, so that the client acts on it (READONLY: a demoted master,
    -- reconnect). Redis refuses only a script's first write, so nothing of
    -- this call is stored.
    if refusals[string.match(message, '^%u+')] then return redis.error_reply(message) end
    results[i] = message
  end
end
if #acks > 0 then redis.call('XACK', ingress, group, unpack(acks)) end
return results
`;

/**
 * A user's log position and, if asked, its events from an id on (that id's
 * own entry included, if the log holds it), read at one instant:
 * { newest id, newest trimmed id, entries }.
 * KEYS: the log. ARGV: the id to read from ('' = none).
 */
export const READ = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted
for i = 1, #info, 2 do
  local name = info[i]
  if name == 'last-generated-id' then last = info[i + 1]
  elseif name == 'max-deleted-entry-id' then deleted = info[i + 1]
  end
end
if ARGV[1] == '' then return { last, deleted, {} } end
return { last, deleted, redis.call('XRANGE', KEYS[1], ARGV[1], '+') }
`;

/**
 * After a failover: if the log no longer holds `seen`, an id streams here
 * sent, the master that acknowledged it died before its replica had it, and
 * any event up to it may be lost, some never sent anywhere. Raises the
 * log's trimmed mark to `fence` (the id just after `seen`), so that every
 * reader at or before `seen` gets a reset, clients offline meanwhile
 * included, and its next ids to at least `fence`, so ids keep increasing
 * past those sent. Returns 1 when it fenced.
 * KEYS: the log. ARGV: seen, fence.
 */
export const FENCE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) > 0 then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function later(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, deleted
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1]
  elseif info[i] == 'max-deleted-entry-id' then deleted = info[i + 1]
  end
end
-- Trimmed past it already: every reader before it gets a reset anyway.
if not later(ARGV[1], deleted) then return 0 end
local top = ARGV[2]
if later(last, top) then top = last end
redis.call('XSETID', KEYS[1], top, 'MAXDELETEDID', ARGV[2])
return 1
`;

/**
 * Sets this instance's count of the user's streams (the new one included),
 * and admits the stream if the total stays within the cap; refused, this
 * instance's count goes back. Each count `<instance>` has the time of its
 * last write in `<instance>@`: the count of an instance that is neither in
 * the caller's view of live instances nor written recently (a crash) is
 * dropped. The time is Redis's, so instances' clocks do not matter.
 * KEYS: the user's counts (a hash). ARGV: this instance, its count with the
 * new stream, the cap, ttl, liveness window, live instances…
 */
export const ACQUIRE = `
local me, mine, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local fresh = now - tonumber(ARGV[5])
local live = {}
for i = 6, #ARGV do live[ARGV[i]] = true end
local flat = redis.call('HGETALL', KEYS[1])
local counts = {}
for i = 1, #flat, 2 do counts[flat[i]] = flat[i + 1] end
local others = 0
for instance, count in pairs(counts) do
  if instance ~= me and string.sub(instance, -1) ~= '@' then
    if live[instance] or tonumber(counts[instance .. '@'] or '0') >= fresh then
      others = others + tonumber(count)
    else
      redis.call('HDEL', KEYS[1], instance, instance .. '@')
    end
  end
end
local admitted = others + mine <= cap
if not admitted then mine = mine - 1 end
if mine > 0 then redis.call('HSET', KEYS[1], me, mine, me .. '@', now) else redis.call('HDEL', KEYS[1], me, me .. '@') end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if admitted then return 1 end
return 0
`;

/** KEYS: the user's counts. ARGV: this instance, its count. */
export const RELEASE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '@', now)
else
  redis.call('HDEL', KEYS[1], ARGV[1], ARGV[1] .. '@')
end
`;

/** The first hit starts the window; one round trip a request. */
export const HIT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { hits, ttl }
`;

/**
 * Records this instance's beat and returns every instance's last beat, all
 * on Redis's clock, so instances' clocks do not matter. On one node it also
 * keeps this instance in the followers of the fan-out channel, or out (see
 * APPEND), and drops a follower no longer among the instances now and then:
 * one left by an instance that crashed, harmless but for its bytes.
 * KEYS: the instances (a sorted set), on one node the followers (a set).
 * ARGV: this instance, how long a silent one is kept, whether it follows ('1').
 * The followers are left alone in a cluster: they are in another slot.
 * Returns: Redis's time now, then instance, time, instance, time…
 */
export const BEAT = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if KEYS[2] then
  if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
  local other = redis.call('SRANDMEMBER', KEYS[2])
  if other and not redis.call('ZSCORE', KEYS[1], other) then redis.call('SREM', KEYS[2], other) end
end
local beats = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
table.insert(beats, 1, tostring(now))
return beats
`;

/**
 * Removes a consumer from the group only if it holds nothing: XGROUP
 * DELCONSUMER would drop its pending entries with it.
 * KEYS: the ingress. ARGV: the group, the consumer.
 */
export const FORGET_CONSUMER = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
`;

/** The command each script is called by: `heraldAppend(numKeys, …keys, …args)`. */
export const SCRIPTS = {
  heraldAppend: APPEND,
  heraldRead: READ,
  heraldFence: FENCE,
  heraldAcquireSlot: ACQUIRE,
  heraldReleaseSlot: RELEASE,
  heraldRateHit: HIT,
  heraldBeat: BEAT,
  heraldForgetConsumer: FORGET_CONSUMER,
} as const;

type Entry = [id: string, fields: string[]];
/** What the read script returns: null when the user has no log. */
export type LogRead = [last: string, deleted: string, entries: Entry[]] | null;

/** The scripts as methods of the command connection. */
export interface ScriptedCommands {
  heraldAppend(numKeys: number, ...args: (string | number)[]): Promise<(number | string)[]>;
  heraldRead(numKeys: number, ...args: string[]): Promise<LogRead>;
  heraldFence(numKeys: 1, log: string, seen: string, fence: string): Promise<number>;
  heraldAcquireSlot(numKeys: number, ...args: (string | number)[]): Promise<number>;
  heraldReleaseSlot(numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  heraldRateHit(numKeys: 1, key: string, windowMs: number): Promise<[number, number]>;
  heraldBeat(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
  heraldForgetConsumer(numKeys: 1, key: string, group: string, consumer: string): Promise<number>;
}
