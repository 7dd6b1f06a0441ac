// Redis stores: sessions (with refresh families and the revocation list) and sign-in throttle
// counters, shared by every tessera instance that uses the same Redis. Every operation the
// SessionStore contract calls atomic is one Lua script (EVALSHA), so it is atomic across
// instances; keys expire by themselves (a session's keys live until its absolute deadline plus
// the revocation retention, a backstop for RemoveExpired, which does the real work).
//
// Blocking: EVERY method blocks on a network round trip (up to command_timeout, plus
// connect_timeout when a connection must be opened). Call them only from worker threads, never
// from an I/O thread (ReadChanges also waits up to its `wait`, on a connection of its own).
//
// A server that cannot be reached, times out or answers with an error gives Code::kUnavailable
// (Reason::kStore, or kStoreBusy when every connection is in use): callers fail closed.
//
// Key layout (all under `prefix`): s:<id> session hash, h:<handle> -> id, u:<user> ids by
// creation, all/exp/seen indexes by creation, deadline and last use, r:<hash> refresh records,
// rs:<id> a session's record hashes, f:<family> -> id, rot records by rotation time, rev the
// revocation list (handle by until), order the counter that orders sessions of one second, feed the
// change feed (a stream, ids 0-<n>, about the last 100,000 entries), feed:seq its counter, feed:id
// its identity, t:<key> throttle records, tz their index. Binary ids and hashes appear in hex.
// In a Redis Cluster (redis+cluster://) the same keys live in 16 groups, each under its own
// prefix `prefix{<tag>}` (one slot): a user's sessions and refresh records in the user's group,
// the feed and the keyset in group 0; each group also has an outbox (outbox, outbox:seq,
// outbox:id) that is relayed into the feed (relayed:<group> marks in group 0), and the directory
// keys d:<s|h|r|f>:<hex> (no tag) name the group of a session id, handle, refresh hash or family
// (docs/design.md, "Redis Cluster").
//
// Behind Sentinel, every new connection goes to the primary the sentinels name (checked with
// ROLE), and a failover announced by them (+switch-master) retires the connections to the old one;
// a server that answers READONLY or LOADING is left at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/result.h"
#include "tessera/session/session_store.h"
#include "tessera/token/keyset.h"
#include "tessera/user/throttle.h"

namespace tessera::store {

struct RedisOptions {
  // Every key starts with it, so several deployments (or tests) can share one Redis.
  std::string prefix = "tessera:";
  // Connections per store; a caller waits (up to command_timeout) when all are in use.
  size_t pool_size = 8;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
};

// `url`: redis://[[user]:password@]host[:port][/db] or rediss://...[?ca_file=PATH] (TLS), or a
// Sentinel group: redis+sentinel://[[user]:password@]host[:port],host[:port].../master[/db]
// [?sentinel_user=U&sentinel_password=P] (rediss+sentinel:// for TLS everywhere), or a Redis
// Cluster: redis+cluster://[[user]:password@]host[:port],host[:port]... (rediss+cluster://;
// Redis 7.0 or later; the prefix may not hold '{' or '}'); any of them with ?wait_replicas=N
// (src/store/redis/client.h, docs/design.md "Redis" and "Redis Cluster").
// Errors: kInvalidArgument/kBadConfig for a malformed URL (the message never holds the password),
// kUnavailable when the server cannot be reached or refuses the credentials.
Result<std::unique_ptr<session::SessionStore>> OpenRedisSessionStore(std::string_view url,
                                                                     RedisOptions options = {});
Result<std::unique_ptr<user::ThrottleStore>> OpenRedisThrottleStore(std::string_view url,
                                                                    RedisOptions options = {});

// The signing keyset kept in Redis (`prefix`keyset), for instances that share no data directory:
// compare-and-set writes (two `tessera keys rotate` at once make one key), each announced on the
// change feed (kKeysetChanged) so every instance reloads at once. The document is sealed with
// AES-256-GCM under a key derived from `secret` (token.keyset_secret_file, at least 32 bytes, the
// same on every instance): Redis, its backups and replicas hold no usable private key.
Result<std::unique_ptr<token::KeysetStorage>> OpenRedisKeysetStorage(std::string_view url,
                                                                     std::string secret,
                                                                     RedisOptions options = {});

// What the server's persistence settings would lose if it were killed, for the startup warning
// of `tessera serve` (docs/design.md "Redis"): empty when a write it acknowledged survives a
// SIGKILL (appendonly yes with appendfsync always, or ?wait_replicas=N: every write confirmed by
// replicas), else one sentence saying what is weaker. Redis 7.0 has no WAITAOF: a revocation
// answered 2xx is only as durable as these settings. Behind Sentinel without wait_replicas, a
// failover may lose the last writes (asynchronous replication), which is said too. A server that
// refuses CONFIG (managed services) gets a sentence that says its settings could not be read.
// Blocks on a round trip (and the sentinels', for redis+sentinel://).
Result<std::string> RedisDurabilityWarning(std::string_view url, RedisOptions options = {});

}  // namespace tessera::store
