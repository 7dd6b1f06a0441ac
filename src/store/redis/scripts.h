// The Lua scripts of the Redis session store (include/tessera/store/redis.h has the key layout).
// Every script gets the key prefix as ARGV[1]; ids, hashes, user ids and handles appear in key
// names only in hex. A session travels as an array {id, handle, user, csrf, kind, created, seen,
// exp, tu, ua, ip, handle in hex, user in hex, mfa ("1" or "0"; "" from a session stored before
// the field existed)}, a refresh record as {hash, sid, iss, rot, succ,
// seal, fam, gen}; numbers as decimal strings, so nothing passes through Lua's doubles on its way
// out (and what goes in stays below 2^53: times in milliseconds, generations below 2^48).
//
// Redis does not undo a script's writes when a later command of it fails. So every script reads
// and checks all it needs before its first write, and a session's revocation is written before
// anything of the session is deleted: whatever fails, a revocation is never lost.
#pragma once

namespace tessera::store::redis::scripts {

// Shared by every script: reading a session and a record, and ending a session the one way every
// removal shares (its refresh family goes, its handle is revoked while its access tokens live).
inline constexpr const char* kPrelude = R"lua(
local P = ARGV[1]
local SF = {'handle', 'user', 'csrf', 'kind', 'created', 'seen', 'exp', 'tu', 'ua', 'ip', 'hk', 'uk',
            'mfa'}
local function session(id)
  local v = redis.call('HMGET', P .. 's:' .. id, unpack(SF))
  if not v[1] then return nil end
  local s = {id}
  for i = 1, #SF do s[i + 1] = v[i] or '' end
  return s
end
local RF = {'sid', 'iss', 'rot', 'succ', 'seal', 'fam', 'gen'}
local function record(h)
  local v = redis.call('HMGET', P .. 'r:' .. h, unpack(RF))
  if not v[1] then return nil end
  local r = {h}
  for i = 1, #RF do r[i + 1] = v[i] or '' end
  return r
end
local function forget(id)
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 'exp', id)
  redis.call('ZREM', P .. 'seen', id)
end
-- Keeps the later until of a key already listed (ZADD GT, emulated for Redis before 6.2).
local function revoke(key, till)
  local old = redis.call('ZSCORE', P .. 'rev', key)
  if not old or tonumber(old) < tonumber(till) then redis.call('ZADD', P .. 'rev', till, key) end
end
-- The change feed (tessera/session/change_feed.h): entry number n is stream id 0-n, so a reader's
-- cursor is a number and a hole shows. kind: 1 session ended, 2 revocation, 3 account, 4 keyset.
local function feed_direct(kind, id, handle, user, till)
  local seq = redis.call('INCR', P .. 'feed:seq')
  redis.call('XADD', P .. 'feed', 'MAXLEN', '~', '100000', '0-' .. seq,
             'k', kind, 'i', id, 'h', handle, 'u', user, 't', till)
end
-- In a cluster (the caller names the group's prefix as KEYS[1], so the script runs where the
-- group's slot is), a script may touch only its group's slot: the entry goes to the group's
-- outbox, numbered the same way, and the relay (kRelay) moves it to the one feed.
-- Each outbox entry also carries the server's time (n), so that no two entries are alike: the
-- relay recognises the entry it moved last by number and content, and an outbox that went back
-- and numbered a new entry again must not pass for the old one.
local function feed(kind, id, handle, user, till)
  if #KEYS == 0 then return feed_direct(kind, id, handle, user, till) end
  local seq = redis.call('INCR', P .. 'outbox:seq')
  local now = redis.call('TIME')
  redis.call('XADD', P .. 'outbox', 'MAXLEN', '~', '100000', '0-' .. seq,
             'k', kind, 'i', id, 'h', handle, 'u', user, 't', till, 'n', now[1] .. '.' .. now[2])
end
local function end_session(id)
  local s = session(id)
  if not s then
    forget(id)
    return nil
  end
  local tu = tonumber(s[9])
  if not tu then error({err = 'tessera: session ' .. id .. ' has no valid tokens_until'}) end
  if tu > 0 then revoke(s[2], s[9]) end
  feed('1', id, s[2], s[3], s[9])
  redis.call('DEL', P .. 's:' .. id)
  if redis.call('GET', P .. 'h:' .. s[12]) == id then redis.call('DEL', P .. 'h:' .. s[12]) end
  redis.call('ZREM', P .. 'u:' .. s[13], id)
  forget(id)
  local rs = P .. 'rs:' .. id
  for _, h in ipairs(redis.call('SMEMBERS', rs)) do
    local fam = redis.call('HGET', P .. 'r:' .. h, 'fam')
    if fam and fam ~= '' and redis.call('GET', P .. 'f:' .. fam) == id then
      redis.call('DEL', P .. 'f:' .. fam)
    end
    redis.call('DEL', P .. 'r:' .. h)
    redis.call('ZREM', P .. 'rot', h)
  end
  redis.call('DEL', rs)
  return s
end
local function live_in_family(id, fam, gen)
  for _, h in ipairs(redis.call('SMEMBERS', P .. 'rs:' .. id)) do
    local r = record(h)
    if r and r[4] == '0' and r[7] == fam and tonumber(r[8]) > gen then return true end
  end
  return false
end
)lua";

// ARGV: P, id, handle, user, csrf, kind, created, seen, exp, tu, ua, ip, max_per_user,
// on_limit ("evict" | "reject"), now, ttl_ms, first refresh hash (or ""), its family (or ""),
// handle in hex, user in hex, mfa ("1" | "0").
// Returns {"ok", {evicted sessions}}, {"exists", what} or {"limit"}.
inline constexpr const char* kCreate = R"lua(
local id, handle, user = ARGV[2], ARGV[3], ARGV[4]
local maxn, now, ttl = tonumber(ARGV[13]), tonumber(ARGV[15]), ARGV[16]
local frh, ffam, hk, uk = ARGV[17], ARGV[18], ARGV[19], ARGV[20]
if redis.call('EXISTS', P .. 's:' .. id) == 1 then return {'exists', 'session'} end
if redis.call('EXISTS', P .. 'h:' .. hk) == 1 then return {'exists', 'handle'} end
if frh ~= '' and redis.call('EXISTS', P .. 'r:' .. frh) == 1 then return {'exists', 'refresh token'} end
if frh ~= '' and ffam ~= '' and redis.call('EXISTS', P .. 'f:' .. ffam) == 1 then
  return {'exists', 'refresh family'}
end
local evicted = {}
if maxn > 0 then
  local alive = {}
  for _, m in ipairs(redis.call('ZRANGE', P .. 'u:' .. uk, 0, -1)) do
    local e = redis.call('HGET', P .. 's:' .. m, 'exp')
    if not e then
      redis.call('ZREM', P .. 'u:' .. uk, m)
    elseif tonumber(e) > now then
      alive[#alive + 1] = m
    end
  end
  if #alive >= maxn then
    if ARGV[14] == 'reject' then return {'limit'} end
    for i = 1, #alive - maxn + 1 do
      local s = end_session(alive[i])
      if s then evicted[#evicted + 1] = s end
    end
  end
end
local sk = P .. 's:' .. id
redis.call('HSET', sk, 'handle', handle, 'user', user, 'csrf', ARGV[5], 'kind', ARGV[6],
           'created', ARGV[7], 'seen', ARGV[8], 'exp', ARGV[9], 'tu', ARGV[10], 'ua', ARGV[11],
           'ip', ARGV[12], 'hk', hk, 'uk', uk, 'mfa', ARGV[21])
redis.call('PEXPIRE', sk, ttl)
redis.call('SET', P .. 'h:' .. hk, id, 'PX', ttl)
-- Oldest first, and sessions of one second in the order they were stored: the score is the
-- creation second * 2^20 plus a counter (below 2^53, exact in Lua's doubles and Redis's scores).
local order = string.format('%.0f', tonumber(ARGV[7]) * 1048576 +
                                    redis.call('INCR', P .. 'order') % 1048576)
redis.call('ZADD', P .. 'u:' .. uk, order, id)
redis.call('ZADD', P .. 'all', order, id)
redis.call('ZADD', P .. 'exp', ARGV[9], id)
redis.call('ZADD', P .. 'seen', ARGV[8], id)
if frh ~= '' then
  local rk = P .. 'r:' .. frh
  redis.call('HSET', rk, 'sid', id, 'iss', ARGV[7], 'rot', '0', 'succ', '', 'seal', '',
             'fam', ffam, 'gen', '0')
  redis.call('PEXPIRE', rk, ttl)
  redis.call('SADD', P .. 'rs:' .. id, frh)
  redis.call('PEXPIRE', P .. 'rs:' .. id, ttl)
  if ffam ~= '' then redis.call('SET', P .. 'f:' .. ffam, id, 'PX', ttl) end
end
return {'ok', evicted}
)lua";

// ARGV: P, user in hex. The user's sessions, oldest first; drops index entries of expired keys.
inline constexpr const char* kListByUser = R"lua(
local out = {}
for _, m in ipairs(redis.call('ZRANGE', P .. 'u:' .. ARGV[2], 0, -1)) do
  local s = session(m)
  if s then out[#out + 1] = s else redis.call('ZREM', P .. 'u:' .. ARGV[2], m) end
end
return out
)lua";

// ARGV: P, limit. Every session, oldest first, at most limit; index entries of sessions whose
// keys expired go (at most 1,000 of them per call, so a call stays short).
inline constexpr const char* kListAll = R"lua(
local limit = tonumber(ARGV[2])
local out, start, stale, gone = {}, 0, 0, {}
while #out < limit and stale < 1000 do
  local ids = redis.call('ZRANGE', P .. 'all', start, start + 255)
  if #ids == 0 then break end
  start = start + #ids
  for _, m in ipairs(ids) do
    if #out >= limit then break end
    local s = session(m)
    if s then
      out[#out + 1] = s
    else
      stale = stale + 1
      gone[#gone + 1] = m
    end
  end
end
for _, m in ipairs(gone) do forget(m) end
return out
)lua";

// ARGV: P, id. The ended session, or nil.
inline constexpr const char* kRemove = R"lua(
return end_session(ARGV[2])
)lua";

// ARGV: P, handle in hex.
inline constexpr const char* kRemoveByHandle = R"lua(
local id = redis.call('GET', P .. 'h:' .. ARGV[2])
if not id then return nil end
return end_session(id)
)lua";

// ARGV: P, user in hex, id to keep (or "").
inline constexpr const char* kRemoveByUser = R"lua(
local out = {}
for _, m in ipairs(redis.call('ZRANGE', P .. 'u:' .. ARGV[2], 0, -1)) do
  if m ~= ARGV[3] then
    local s = end_session(m)
    if s then out[#out + 1] = s end
    redis.call('ZREM', P .. 'u:' .. ARGV[2], m)
  end
end
return out
)lua";

// ARGV: P, then (id, last_seen) pairs: last_seen moves forward only; no session is created.
inline constexpr const char* kTouchMany = R"lua(
for i = 2, #ARGV, 2 do
  local k = P .. 's:' .. ARGV[i]
  local seen = redis.call('HGET', k, 'seen')
  if seen and tonumber(seen) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', k, 'seen', ARGV[i + 1])
    redis.call('ZADD', P .. 'seen', ARGV[i + 1], ARGV[i])
  end
end
return 1
)lua";

// ARGV: P, id, last_seen. Sets it (either way); nothing when the session is gone.
inline constexpr const char* kTouch = R"lua(
local k = P .. 's:' .. ARGV[2]
if redis.call('EXISTS', k) == 1 then
  redis.call('HSET', k, 'seen', ARGV[3])
  redis.call('ZADD', P .. 'seen', ARGV[3], ARGV[2])
end
return 1
)lua";

// ARGV: P, now, idle_cutoff, revocation cutoff, rotation cutoff (ms), batch. Ends up to `batch`
// sessions past their deadline or idle; drops old revocations and old rotated records.
// Returns {ended, more}: more = 1 when the batch was full (call again).
inline constexpr const char* kRemoveExpired = R"lua(
local now, idle, batch = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6])
local n, seen = 0, 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, batch)) do
  seen = seen + 1
  if end_session(m) then n = n + 1 end
end
if idle > 0 then
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'seen', '-inf', '(' .. ARGV[3], 'LIMIT', 0, batch)) do
    seen = seen + 1
    if end_session(m) then n = n + 1 end
  end
end
redis.call('ZREMRANGEBYSCORE', P .. 'rev', '-inf', ARGV[4])
for _, h in ipairs(redis.call('ZRANGEBYSCORE', P .. 'rot', '-inf', '(' .. ARGV[5], 'LIMIT', 0, batch)) do
  seen = seen + 1
  redis.call('ZREM', P .. 'rot', h)
  local r = record(h)
  if r then
    if r[7] == '' then
      redis.call('HSET', P .. 'r:' .. h, 'seal', '')
    else
      redis.call('DEL', P .. 'r:' .. h)
      redis.call('SREM', P .. 'rs:' .. r[2], h)
    end
  end
end
return {n, seen >= batch and 1 or 0}
)lua";

// ARGV: P, now. Sessions alive at now.
inline constexpr const char* kCountAlive = R"lua(
return redis.call('ZCOUNT', P .. 'exp', '(' .. ARGV[2], '+inf')
)lua";

// ARGV: P, presented, successor, sealed successor, family, generation, now_ms, now (s), grace_ms,
// idle_cutoff, access_exp. Returns {outcome, record, session} with outcome "rotated", "grace",
// "reuse" or "unknown" (then nothing else), or {"exists"}.
inline constexpr const char* kRotateRefresh = R"lua(
local ph, sh, seal, fam, gen = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local now_ms, now, grace, idle = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local aexp = ARGV[11]
local function alive(s) return s and tonumber(s[8]) > now and tonumber(s[7]) >= idle end
local function raise_tokens_until(s)
  if tonumber(aexp) > tonumber(s[9]) then
    redis.call('HSET', P .. 's:' .. s[1], 'tu', aexp)
    s[9] = aexp
  end
end
local p = record(ph)
if not p then
  -- A pruned ancestor of a live family is theft; any other unknown hash changes nothing.
  if fam == '' then return {'unknown'} end
  local id = redis.call('GET', P .. 'f:' .. fam)
  if not id then return {'unknown'} end
  local s = session(id)
  if not alive(s) or not live_in_family(id, fam, gen) then return {'unknown'} end
  end_session(id)
  return {'reuse', {ph, id, '0', '0', '', '', fam, ARGV[6]}, s}
end
local s = session(p[2])
if not alive(s) then return {'unknown'} end
local id = s[1]
if p[4] == '0' then
  if redis.call('EXISTS', P .. 'r:' .. sh) == 1 then return {'exists'} end
  local had = p[7] ~= ''
  local f = had and p[7] or fam
  local g = (had and tonumber(p[8]) or gen) + 1
  if not had and f ~= '' and redis.call('EXISTS', P .. 'f:' .. f) == 1 then return {'exists'} end
  local ttl = redis.call('PTTL', P .. 's:' .. id)
  redis.call('HSET', P .. 'r:' .. ph, 'rot', ARGV[7], 'succ', sh, 'seal', seal)
  p[4], p[5], p[6] = ARGV[7], sh, seal
  redis.call('ZADD', P .. 'rot', ARGV[7], ph)
  local rk = P .. 'r:' .. sh
  redis.call('HSET', rk, 'sid', id, 'iss', ARGV[8], 'rot', '0', 'succ', '', 'seal', '', 'fam', f,
             'gen', string.format('%d', g))
  if ttl > 0 then redis.call('PEXPIRE', rk, ttl) end
  if not had and f ~= '' then
    redis.call('SET', P .. 'f:' .. f, id)
    if ttl > 0 then redis.call('PEXPIRE', P .. 'f:' .. f, ttl) end
  end
  -- The presented token's ancestors can no longer be replayed for a successor: records of a
  -- family go (the family still recognises them as theft); a token without a family keeps its
  -- record but loses its seal.
  local pg = tonumber(p[8])
  local rs = P .. 'rs:' .. id
  for _, h in ipairs(redis.call('SMEMBERS', rs)) do
    local r = record(h)
    if not r then
      redis.call('SREM', rs, h)
    elseif r[7] ~= '' and tonumber(r[8]) < pg then
      redis.call('DEL', P .. 'r:' .. h)
      redis.call('SREM', rs, h)
      redis.call('ZREM', P .. 'rot', h)
    elseif r[5] == ph then
      redis.call('HSET', P .. 'r:' .. h, 'seal', '')
    end
  end
  redis.call('SADD', rs, sh)
  if tonumber(s[7]) < now then
    redis.call('HSET', P .. 's:' .. id, 'seen', ARGV[8])
    redis.call('ZADD', P .. 'seen', ARGV[8], id)
    s[7] = ARGV[8]
  end
  raise_tokens_until(s)
  return {'rotated', p, s}
end
local succ = nil
if p[5] ~= '' then succ = record(p[5]) end
if grace > 0 and now_ms - tonumber(p[4]) < grace and succ and succ[4] == '0' then
  raise_tokens_until(s)
  return {'grace', p, s}
end
end_session(id)
return {'reuse', p, s}
)lua";

// ARGV: P, refresh hash. The ended session, or nil.
inline constexpr const char* kRemoveByRefresh = R"lua(
local r = record(ARGV[2])
if not r then return nil end
return end_session(r[2])
)lua";

// ARGV: P, family, generation. The ended session, or nil.
inline constexpr const char* kRemoveByRefreshAncestor = R"lua(
local id = redis.call('GET', P .. 'f:' .. ARGV[2])
if not id or not live_in_family(id, ARGV[2], tonumber(ARGV[3])) then return nil end
return end_session(id)
)lua";

// ARGV: P, refresh hash. {record, session} or nil.
inline constexpr const char* kFindRefresh = R"lua(
local r = record(ARGV[2])
if not r then return nil end
local s = session(r[2])
if not s then return nil end
return {r, s}
)lua";

// ARGV: P, id, exp. 1, or 0 when the session is gone.
inline constexpr const char* kExtendTokensUntil = R"lua(
local k = P .. 's:' .. ARGV[2]
local tu = redis.call('HGET', k, 'tu')
if not tu then return 0 end
if tonumber(ARGV[3]) > tonumber(tu) then redis.call('HSET', k, 'tu', ARGV[3]) end
return 1
)lua";

// ARGV: P, revocation key, until. Keeps the later until.
inline constexpr const char* kAddRevocation = R"lua(
revoke(ARGV[2], ARGV[3])
feed('2', '', ARGV[2], '', ARGV[3])
return 1
)lua";

// ARGV: P, kind, user. A change the store does not see itself (SessionStore::PublishChange).
inline constexpr const char* kPublish = R"lua(
feed(ARGV[2], '', '', ARGV[3], '0')
return 1
)lua";

// The signing keyset (RedisKeysetStorage). ARGV: P, expected version ("" : none stored yet), the
// sealed document. Stores it only when the version is still the expected one, and announces it on
// the feed (kind 4). Returns the new version, or nil when another writer came first.
inline constexpr const char* kKeysetReplace = R"lua(
local K = P .. 'keyset'
if (redis.call('HGET', K, 'ver') or '') ~= ARGV[2] then return nil end
local n = redis.call('HINCRBY', K, 'ver', 1)
redis.call('HSET', K, 'doc', ARGV[3])
feed('4', '', '', '', '0')
return tostring(n)
)lua";

// The relay of a cluster's outboxes into the feed, run in the feed's group. ARGV: P (the feed
// group's prefix), group, the relay mark the caller read ("" : none), the new mark
// ("<outbox identity>:<last number>"), "1" when entries were lost (the outbox was replaced or
// trimmed past the mark: the feed gets a new identity, so every reader reloads), then the entries
// (kind, id, handle, user, until) in order. Appends them only when the mark is still the one read
// (another instance may have relayed them meanwhile). Returns 1, or 0 when the mark had moved.
inline constexpr const char* kRelay = R"lua(
local mark = P .. 'relayed:' .. ARGV[2]
if (redis.call('GET', mark) or '') ~= ARGV[3] then return 0 end
if ARGV[5] == '1' then redis.call('DEL', P .. 'feed:id') end
for i = 6, #ARGV, 5 do
  feed_direct(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
end
redis.call('SET', mark, ARGV[4])
return 1
)lua";

// Throttle records. ARGV: P, before, batch. Drops up to `batch` records whose window and block
// both ended before `before`; returns how many.
inline constexpr const char* kThrottleRemoveStale = R"lua(
local n = 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'tz', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))) do
  redis.call('DEL', P .. 't:' .. key)
  redis.call('ZREM', P .. 'tz', key)
  n = n + 1
end
return n
)lua";

// ARGV: P, key. The record and its index entry, together.
inline constexpr const char* kThrottleRemove = R"lua(
redis.call('DEL', P .. 't:' .. ARGV[2])
redis.call('ZREM', P .. 'tz', ARGV[2])
return 1
)lua";

}  // namespace tessera::store::redis::scripts
