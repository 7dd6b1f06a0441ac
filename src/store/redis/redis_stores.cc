// The Redis SessionStore and ThrottleStore (include/tessera/store/redis.h).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "crypto/random.h"
#include "crypto/seal.h"
#include "store/redis/client.h"
#include "store/redis/scripts.h"
#include "tessera/store/redis.h"
#include "tessera/token/keyset.h"

namespace tessera::store {
namespace {

using redis::Hex;
using redis::Reply;
using session::RefreshOutcome;
using session::RefreshRecord;
using session::RefreshResult;
using session::RefreshRotation;
using session::Revocation;
using session::Session;

// `prefix` followed by `n` in decimal. (Not "(" + std::to_string(n): GCC 12 at -O3 warns about
// that expression with a false -Wrestrict, which -Werror makes fatal.)
std::string Prefixed(std::string_view prefix, int64_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}
std::string Prefixed(std::string_view prefix, uint64_t n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

Status Unavailable(std::string message) {
  return Status(Code::kUnavailable, Reason::kStore, "redis: " + std::move(message));
}

// A reply of a shape the scripts never send: a server that is not what we think it is.
Status Malformed(std::string_view what) {
  return Unavailable("unexpected reply to " + std::string(what));
}

Result<std::string> Unhex(std::string_view hex) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2) return Malformed("a stored id");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = value(hex[i]), lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) return Malformed("a stored id");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

Result<int64_t> Int(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  if (r.type != Reply::Type::kString) return Malformed("a number");
  int64_t v = 0;
  auto [end, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
  if (ec != std::errc() || end != r.str.data() + r.str.size()) return Malformed("a number");
  return v;
}

// Session arrays: {id, handle, user, csrf, kind, created, seen, exp, tu, ua, ip, hk, uk, mfa} (hk
// and uk: handle and user in hex, for key names).
Result<Session> ToSession(const Reply& r) {
  if (r.type != Reply::Type::kArray || r.elements.size() != 14) return Malformed("a session");
  for (const Reply& e : r.elements) {
    if (e.type != Reply::Type::kString) return Malformed("a session");
  }
  Session s;
  TESSERA_ASSIGN_OR_RETURN(s.id_hash, Unhex(r.elements[0].str));
  s.handle = r.elements[1].str;
  s.user_id = r.elements[2].str;
  s.csrf_hash = r.elements[3].str;
  TESSERA_ASSIGN_OR_RETURN(int64_t kind, Int(r.elements[4]));
  s.kind = kind == 1 ? session::SessionKind::kToken : session::SessionKind::kCookie;
  TESSERA_ASSIGN_OR_RETURN(s.created_at, Int(r.elements[5]));
  TESSERA_ASSIGN_OR_RETURN(s.last_seen_at, Int(r.elements[6]));
  TESSERA_ASSIGN_OR_RETURN(s.expires_at, Int(r.elements[7]));
  TESSERA_ASSIGN_OR_RETURN(s.tokens_until, Int(r.elements[8]));
  s.user_agent = r.elements[9].str;
  s.ip = r.elements[10].str;
  s.mfa = r.elements[13].str == "1";
  return s;
}

Result<std::vector<Session>> ToSessions(const Reply& r) {
  if (r.type != Reply::Type::kArray) return Malformed("a list of sessions");
  std::vector<Session> out;
  out.reserve(r.elements.size());
  for (const Reply& e : r.elements) {
    TESSERA_ASSIGN_OR_RETURN(Session s, ToSession(e));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::optional<Session>> ToOptionalSession(const Reply& r) {
  if (r.is_nil()) return std::optional<Session>();
  TESSERA_ASSIGN_OR_RETURN(Session s, ToSession(r));
  return std::optional<Session>(std::move(s));
}

// Record arrays: {hash, sid, iss, rot, succ, seal, fam, gen}.
Result<RefreshRecord> ToRecord(const Reply& r) {
  if (r.type != Reply::Type::kArray || r.elements.size() != 8) return Malformed("a refresh record");
  for (const Reply& e : r.elements) {
    if (e.type != Reply::Type::kString) return Malformed("a refresh record");
  }
  RefreshRecord out;
  TESSERA_ASSIGN_OR_RETURN(out.hash, Unhex(r.elements[0].str));
  TESSERA_ASSIGN_OR_RETURN(out.session_id_hash, Unhex(r.elements[1].str));
  TESSERA_ASSIGN_OR_RETURN(out.issued_at, Int(r.elements[2]));
  TESSERA_ASSIGN_OR_RETURN(out.rotated_at_ms, Int(r.elements[3]));
  TESSERA_ASSIGN_OR_RETURN(out.successor_hash, Unhex(r.elements[4].str));
  out.sealed_successor = r.elements[5].str;
  TESSERA_ASSIGN_OR_RETURN(out.family, Unhex(r.elements[6].str));
  TESSERA_ASSIGN_OR_RETURN(out.generation, Int(r.elements[7]));
  return out;
}

// Refresh generations are 48-bit (token::TokenService); times in milliseconds stay below 2^52
// for the next 140,000 years. Both pass through Lua's doubles exactly.
constexpr int64_t kMaxGeneration = int64_t{1} << 48;
constexpr int64_t kMaxMillis = int64_t{1} << 52;

redis::ClientOptions ClientOptionsFor(const RedisOptions& o) {
  redis::ClientOptions c;
  c.connect_timeout = o.connect_timeout;
  c.command_timeout = o.command_timeout;
  return c;
}

Result<std::shared_ptr<redis::Pool>> OpenPool(std::string_view url, const RedisOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::ParseUrl(url));
  auto pool = std::make_shared<redis::Pool>(std::move(endpoint), ClientOptionsFor(options),
                                            options.pool_size);
  // Reach the server once, so a wrong address or password is said at startup.
  TESSERA_ASSIGN_OR_RETURN(Reply pong, pool->Command({"PING"}, true));
  if (pong.is_error()) return Unavailable("PING: " + pong.str);
  // A server that may evict keys may evict a revocation, and a revoked token would pass again:
  // refuse it. (A server that hides CONFIG, as managed services do, is taken at its word.)
  TESSERA_ASSIGN_OR_RETURN(Reply policy,
                           pool->Command({"CONFIG", "GET", "maxmemory-policy"}, true));
  if (policy.type == Reply::Type::kArray && policy.elements.size() == 2 &&
      policy.elements[1].str != "noeviction") {
    return InvalidArgument(Reason::kBadConfig,
                           "the Redis server has maxmemory-policy " + policy.elements[1].str +
                               "; tessera needs noeviction (an evicted revocation would let a "
                               "revoked token in again)");
  }
  return pool;
}

// What the scripts and plain commands share: the pool, the prefix, error mapping.
class RedisBase {
 protected:
  RedisBase(std::shared_ptr<redis::Pool> pool, std::string prefix)
      : pool_(std::move(pool)), prefix_(std::move(prefix)) {}

  // Runs `script` with ARGV = {prefix, args...}. An error reply is kUnavailable: the scripts
  // raise none of their own, so one means the server refused (OOM, READONLY, BUSY...).
  Result<Reply> Eval(const redis::Script& script, std::vector<std::string_view> args) {
    args.insert(args.begin(), prefix_);
    TESSERA_ASSIGN_OR_RETURN(redis::Pool::Lease lease, pool_->Acquire());
    TESSERA_ASSIGN_OR_RETURN(Reply r, script.Run(*lease, {}, args));
    if (r.is_error()) return Unavailable(r.str);
    if (const int replicas = pool_->endpoint().wait_replicas; replicas > 0 && script.writes()) {
      // Acknowledged only once the replicas have it: a failover cannot undo what was answered.
      const std::string n = std::to_string(replicas);
      const std::string ms = std::to_string(pool_->options().command_timeout.count());
      TESSERA_ASSIGN_OR_RETURN(
          Reply acked, lease->Command({"WAIT", n, ms}, 2 * pool_->options().command_timeout));
      if (acked.is_error()) return Unavailable("WAIT: " + acked.str);
      if (acked.type != Reply::Type::kInteger || acked.integer < replicas) {
        return Status(Code::kUnavailable, Reason::kStore,
                      "redis: written, but " + std::to_string(acked.integer) + " of " + n +
                          " replicas confirmed it in time (wait_replicas); it may not survive a "
                          "failover");
      }
    }
    return r;
  }

  Result<Reply> Command(std::vector<std::string_view> argv, bool idempotent) {
    TESSERA_ASSIGN_OR_RETURN(Reply r, pool_->Command(argv, idempotent));
    if (r.is_error()) return Unavailable(r.str);
    return r;
  }

  std::string Key(std::string_view kind, std::string_view id) const {
    return prefix_ + std::string(kind) + std::string(id);
  }

  std::shared_ptr<redis::Pool> pool_;
  const std::string prefix_;
};

redis::Script MakeScript(const char* body, bool writes = true) {
  return redis::Script(std::string(redis::scripts::kPrelude) + body, writes);
}

class RedisSessionStore final : public session::SessionStore, RedisBase {
 public:
  RedisSessionStore(std::shared_ptr<redis::Pool> pool, std::string prefix)
      : RedisBase(std::move(pool), std::move(prefix)) {}

  Status Create(const Session& s, const session::LimitPolicy& limit, int64_t now,
                std::vector<Session>* evicted) override {
    return CreateWith(s, {}, limit, now, evicted);
  }

  Status CreateTokenSession(const Session& s, const session::FirstRefreshToken& first,
                            const session::LimitPolicy& limit, int64_t now,
                            std::vector<Session>* evicted) override {
    TESSERA_RETURN_IF_ERROR(CheckTokenSession(s, first));
    return CreateWith(s, first, limit, now, evicted);
  }

  Result<std::optional<Session>> Get(std::string_view id_hash) override {
    const std::string id = Hex(id_hash);
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, Command({"HMGET", Key("s:", id), "handle", "user", "csrf", "kind", "created",
                          "seen", "exp", "tu", "ua", "ip", "hk", "uk", "mfa"},
                         true));
    if (r.type != Reply::Type::kArray || r.elements.size() != 13) return Malformed("HMGET");
    if (r.elements[0].is_nil()) return std::optional<Session>();
    Reply as_array;
    as_array.type = Reply::Type::kArray;
    Reply first;
    first.type = Reply::Type::kString;
    first.str = id;
    as_array.elements.push_back(std::move(first));
    for (Reply& e : r.elements) {
      if (e.is_nil()) {
        e.type = Reply::Type::kString;
        e.str.clear();
      }
      as_array.elements.push_back(std::move(e));
    }
    return ToOptionalSession(as_array);
  }

  Result<std::vector<Session>> ListByUser(std::string_view user_id) override {
    const std::string user = Hex(user_id);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(list_by_user_, {user}));
    return ToSessions(r);
  }

  Result<std::vector<Session>> ListAll(size_t limit) override {
    const std::string n = std::to_string(limit);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(list_all_, {n}));
    return ToSessions(r);
  }

  Result<std::optional<Session>> RemoveByHandle(std::string_view handle) override {
    const std::string h = Hex(handle);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_handle_, {h}));
    return ToOptionalSession(r);
  }

  Status Touch(std::string_view id_hash, int64_t last_seen_at) override {
    const std::string id = Hex(id_hash), at = std::to_string(last_seen_at);
    return Eval(touch_, {id, at}).status();
  }

  Status TouchMany(const std::vector<std::pair<std::string, int64_t>>& touches) override {
    if (touches.empty()) return Status::Ok();
    std::vector<std::string> owned;
    owned.reserve(touches.size() * 2);
    for (const auto& [id_hash, at] : touches) {
      owned.push_back(Hex(id_hash));
      owned.push_back(std::to_string(at));
    }
    return Eval(touch_many_, {owned.begin(), owned.end()}).status();
  }

  Result<std::optional<Session>> Remove(std::string_view id_hash) override {
    const std::string id = Hex(id_hash);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_, {id}));
    return ToOptionalSession(r);
  }

  Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                            std::string_view keep_id_hash) override {
    const std::string user = Hex(user_id), keep = Hex(keep_id_hash);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_user_, {user, keep}));
    return ToSessions(r);
  }

  Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) override {
    const std::string now_s = std::to_string(now), idle = std::to_string(idle_cutoff);
    const std::string revocations = std::to_string(now - session::kRevocationRetentionSeconds);
    const std::string rotations = std::to_string((now - session::kMaxRefreshGraceSeconds) * 1000);
    // In batches, so one call never holds Redis for long.
    const std::string batch = "1000";
    size_t ended = 0;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(Reply r,
                               Eval(remove_expired_, {now_s, idle, revocations, rotations, batch}));
      if (r.type != Reply::Type::kArray || r.elements.size() != 2) return Malformed("expiry");
      TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r.elements[0]));
      TESSERA_ASSIGN_OR_RETURN(int64_t more, Int(r.elements[1]));
      ended += static_cast<size_t>(n);
      if (!more) return ended;
    }
  }

  Result<size_t> CountAlive(int64_t now) override {
    const std::string now_s = std::to_string(now);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(count_alive_, {now_s}));
    TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r));
    return static_cast<size_t>(n);
  }

  // The feed: entries are stream `feed` ids 0-<n>, n from the counter feed:seq (both written by
  // the scripts, with the change). feed:id names the feed; it goes with the data (a restart
  // without it, FLUSHALL), and the first reader that finds it gone makes a new one, so every
  // cursor of the old feed reads as a gap.
  Result<session::FeedPosition> FeedHead() override {
    TESSERA_ASSIGN_OR_RETURN(redis::Pool::Lease lease, pool_->Acquire());
    return HeadOn(*lease);
  }

  Result<session::ChangeBatch> ReadChanges(const session::FeedPosition& after, size_t max,
                                           std::chrono::milliseconds wait) override {
    if (max == 0) return InvalidArgument(Reason::kNone, "read at least one change");
    // A connection of its own: a blocking XREAD must not hold one of the pool's.
    std::lock_guard lock(feed_mu_);
    if (!feed_conn_ || feed_conn_->broken() || !pool_->Current(*feed_conn_)) {
      feed_conn_.reset();
      TESSERA_ASSIGN_OR_RETURN(feed_conn_, pool_->Open());
    }
    redis::Connection& conn = *feed_conn_;
    session::ChangeBatch out;
    TESSERA_ASSIGN_OR_RETURN(out.next, HeadOn(conn));
    if (after.feed != out.next.feed || after.seq > out.next.seq) {
      out.gap = true;
      return out;
    }
    const std::string count = std::to_string(max);
    const std::string stream = Key("feed", "");
    Reply entries;
    if (after.seq < out.next.seq) {
      const std::string from = Prefixed("0-", after.seq + 1);
      TESSERA_ASSIGN_OR_RETURN(entries,
                               conn.Command({"XRANGE", stream, from, "+", "COUNT", count}));
    } else if (wait.count() > 0) {
      // Nothing new: wait for the next entry on the server, which answers the moment a script
      // appends one.
      const std::string block = std::to_string(wait.count());
      const std::string from = Prefixed("0-", after.seq);
      TESSERA_ASSIGN_OR_RETURN(
          Reply r, conn.Command({"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", stream, from},
                                wait + pool_->options().command_timeout));
      if (r.is_error()) return Unavailable("XREAD: " + r.str);
      if (r.is_nil()) return out;  // the wait ended quietly
      // [[stream, [entries...]]]
      if (r.type != Reply::Type::kArray || r.elements.size() != 1 ||
          r.elements[0].type != Reply::Type::kArray || r.elements[0].elements.size() != 2) {
        return Malformed("XREAD");
      }
      entries = std::move(r.elements[0].elements[1]);
    } else {
      return out;
    }
    if (entries.is_error()) return Unavailable("reading the change feed: " + entries.str);
    if (entries.type != Reply::Type::kArray) return Malformed("the change feed");
    uint64_t expect = after.seq + 1;
    for (const Reply& e : entries.elements) {
      TESSERA_ASSIGN_OR_RETURN(session::Change c, ToChange(e));
      if (c.seq != expect) {  // trimmed past the cursor, or a feed that restarted under us
        out.changes.clear();
        out.gap = true;
        return out;
      }
      ++expect;
      out.changes.push_back(std::move(c));
    }
    if (out.changes.empty()) {
      // The head said there was more, yet nothing follows the cursor: trimmed.
      if (after.seq < out.next.seq) out.gap = true;
      return out;
    }
    out.next.seq = out.changes.back().seq;
    return out;
  }

  Status PublishChange(const session::Change& c) override {
    TESSERA_RETURN_IF_ERROR(CheckPublished(c));
    const std::string kind = std::to_string(static_cast<int>(c.kind));
    return Eval(publish_, {kind, c.user_id}).status();
  }

  Result<RefreshResult> RotateRefresh(const RefreshRotation& r) override {
    if (r.presented_hash.empty() || r.successor_hash.empty() || r.now_ms <= 0 || r.generation < 0) {
      return InvalidArgument(Reason::kNone, "a rotation needs both hashes and a time");
    }
    // Lua computes with doubles: keep every number well inside their exact range.
    if (r.generation >= kMaxGeneration || r.now_ms > kMaxMillis) {
      return InvalidArgument(Reason::kNone, "a generation or time out of range");
    }
    const std::string presented = Hex(r.presented_hash), successor = Hex(r.successor_hash);
    const std::string family = Hex(r.family), generation = std::to_string(r.generation);
    const std::string now_ms = std::to_string(r.now_ms), now = std::to_string(r.now_ms / 1000);
    const std::string grace = std::to_string(r.grace_ms), idle = std::to_string(r.idle_cutoff);
    const std::string access = std::to_string(r.access_expires_at);
    TESSERA_ASSIGN_OR_RETURN(
        Reply reply, Eval(rotate_refresh_, {presented, successor, r.sealed_successor, family,
                                            generation, now_ms, now, grace, idle, access}));
    if (reply.type != Reply::Type::kArray || reply.elements.empty() ||
        reply.elements[0].type != Reply::Type::kString) {
      return Malformed("a rotation");
    }
    const std::string& outcome = reply.elements[0].str;
    RefreshResult out;
    if (outcome == "unknown") return out;
    if (outcome == "exists") {
      return Status(Code::kAlreadyExists, Reason::kNone, "refresh token exists");
    }
    if (reply.elements.size() != 3) return Malformed("a rotation");
    if (outcome == "rotated") {
      out.outcome = RefreshOutcome::kRotated;
    } else if (outcome == "grace") {
      out.outcome = RefreshOutcome::kGraceReplay;
    } else if (outcome == "reuse") {
      out.outcome = RefreshOutcome::kReuseDetected;
    } else {
      return Malformed("a rotation");
    }
    TESSERA_ASSIGN_OR_RETURN(out.presented, ToRecord(reply.elements[1]));
    TESSERA_ASSIGN_OR_RETURN(out.session, ToSession(reply.elements[2]));
    return out;
  }

  Result<std::optional<Session>> RemoveByRefresh(std::string_view refresh_hash) override {
    const std::string h = Hex(refresh_hash);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_refresh_, {h}));
    return ToOptionalSession(r);
  }

  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view family,
                                                         int64_t generation) override {
    if (family.empty()) return InvalidArgument(Reason::kNone, "no refresh family");
    if (generation < 0 || generation >= kMaxGeneration) {
      return InvalidArgument(Reason::kNone, "a generation out of range");
    }
    const std::string f = Hex(family), g = std::to_string(generation);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_refresh_ancestor_, {f, g}));
    return ToOptionalSession(r);
  }

  Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) override {
    const std::string h = Hex(refresh_hash);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(find_refresh_, {h}));
    std::optional<std::pair<RefreshRecord, Session>> out;
    if (r.is_nil()) return out;
    if (r.type != Reply::Type::kArray || r.elements.size() != 2)
      return Malformed("a refresh record");
    TESSERA_ASSIGN_OR_RETURN(RefreshRecord record, ToRecord(r.elements[0]));
    TESSERA_ASSIGN_OR_RETURN(Session s, ToSession(r.elements[1]));
    out.emplace(std::move(record), std::move(s));
    return out;
  }

  Status AddRevocation(const Revocation& r) override {
    if (r.handle.empty()) {
      return Status(Code::kInvalidArgument, Reason::kNone, "a revocation needs a key");
    }
    const std::string until = std::to_string(r.until);
    return Eval(add_revocation_, {r.handle, until}).status();
  }

  Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) override {
    const std::string id = Hex(id_hash), e = std::to_string(exp);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(extend_tokens_until_, {id, e}));
    TESSERA_ASSIGN_OR_RETURN(int64_t found, Int(r));
    if (!found) return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
    return Status::Ok();
  }

  Result<std::vector<Revocation>> ListRevocations(int64_t now) override {
    const std::string after = Prefixed("(", now);
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, Command({"ZRANGEBYSCORE", Key("rev", ""), after, "+inf", "WITHSCORES"}, true));
    if (r.type != Reply::Type::kArray || r.elements.size() % 2) return Malformed("ZRANGEBYSCORE");
    std::vector<Revocation> out;
    out.reserve(r.elements.size() / 2);
    for (size_t i = 0; i < r.elements.size(); i += 2) {
      // Scores print as integers while they are below 2^53, as every unix time is.
      TESSERA_ASSIGN_OR_RETURN(int64_t until, Int(r.elements[i + 1]));
      out.push_back(Revocation{.handle = r.elements[i].str, .until = until});
    }
    return out;
  }

 private:
  Status CreateWith(const Session& s, const session::FirstRefreshToken& first,
                    const session::LimitPolicy& limit, int64_t now, std::vector<Session>* evicted) {
    const std::string id = Hex(s.id_hash);
    const std::string kind = s.kind == session::SessionKind::kToken ? "1" : "0";
    const std::string created = std::to_string(s.created_at), seen = std::to_string(s.last_seen_at);
    const std::string exp = std::to_string(s.expires_at), tu = std::to_string(s.tokens_until);
    const std::string max = std::to_string(limit.max_per_user), now_s = std::to_string(now);
    // The keys outlive the absolute deadline by the revocation retention: RemoveExpired ends the
    // session first (recording what it must); the expiry is the backstop if nothing ever does.
    // Clamped, so that no deadline far in the future overflows into a negative expiry.
    constexpr int64_t kMaxTtlSeconds = int64_t{10} * 366 * 24 * 3600;
    const int64_t ttl_s = std::clamp<int64_t>(s.expires_at - now, 0, kMaxTtlSeconds) +
                          session::kRevocationRetentionSeconds;
    const std::string ttl = std::to_string(ttl_s * 1000);
    const std::string refresh = Hex(first.hash), family = Hex(first.family);
    const std::string hk = Hex(s.handle), uk = Hex(s.user_id);
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, Eval(create_, {id, s.handle, s.user_id, s.csrf_hash, kind, created, seen, exp, tu,
                                s.user_agent, s.ip, max,
                                limit.on_limit == session::OnLimit::kReject ? "reject" : "evict",
                                now_s, ttl, refresh, family, hk, uk, s.mfa ? "1" : "0"}));
    if (r.type != Reply::Type::kArray || r.elements.empty() ||
        r.elements[0].type != Reply::Type::kString) {
      return Malformed("a create");
    }
    const std::string& outcome = r.elements[0].str;
    if (outcome == "limit")
      return ResourceExhausted(Reason::kSessionLimit, "session limit reached");
    if (outcome == "exists") {
      const std::string what = r.elements.size() > 1 ? r.elements[1].str : "session";
      return Status(Code::kAlreadyExists, Reason::kNone, what + " exists");
    }
    if (outcome != "ok" || r.elements.size() != 2) return Malformed("a create");
    TESSERA_ASSIGN_OR_RETURN(std::vector<Session> gone, ToSessions(r.elements[1]));
    if (evicted) evicted->insert(evicted->end(), gone.begin(), gone.end());
    return Status::Ok();
  }

  const redis::Script create_ = MakeScript(redis::scripts::kCreate);
  // Reads (list_by_user only tidies its index, which a failover may undo harmlessly).
  const redis::Script list_by_user_ = MakeScript(redis::scripts::kListByUser, false);
  const redis::Script list_all_ = MakeScript(redis::scripts::kListAll, false);
  const redis::Script remove_ = MakeScript(redis::scripts::kRemove);
  const redis::Script remove_by_handle_ = MakeScript(redis::scripts::kRemoveByHandle);
  const redis::Script remove_by_user_ = MakeScript(redis::scripts::kRemoveByUser);
  const redis::Script touch_ = MakeScript(redis::scripts::kTouch);
  const redis::Script touch_many_ = MakeScript(redis::scripts::kTouchMany);
  const redis::Script remove_expired_ = MakeScript(redis::scripts::kRemoveExpired);
  const redis::Script count_alive_ = MakeScript(redis::scripts::kCountAlive, false);
  const redis::Script rotate_refresh_ = MakeScript(redis::scripts::kRotateRefresh);
  const redis::Script remove_by_refresh_ = MakeScript(redis::scripts::kRemoveByRefresh);
  const redis::Script remove_by_refresh_ancestor_ =
      MakeScript(redis::scripts::kRemoveByRefreshAncestor);
  const redis::Script find_refresh_ = MakeScript(redis::scripts::kFindRefresh, false);
  const redis::Script extend_tokens_until_ = MakeScript(redis::scripts::kExtendTokensUntil);
  const redis::Script add_revocation_ = MakeScript(redis::scripts::kAddRevocation);
  const redis::Script publish_ = MakeScript(redis::scripts::kPublish);

  // The feed's id and head, making the id when there is none (see FeedHead).
  //
  // The feed's identity also names the Redis process (INFO server's run_id, new at every start
  // and on every replica promoted by a failover): a server that restarted may have come back
  // with fewer entries than some reader saw (appendfsync everysec, a replica that was behind),
  // and numbers written after that would reuse theirs. Every cursor from before a restart so reads
  // as a gap, and the reader reloads instead of missing the entries that were renumbered.
  Result<session::FeedPosition> HeadOn(redis::Connection& conn) {
    const std::string id_key = Key("feed:id", ""), seq_key = Key("feed:seq", "");
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<Reply> r,
        conn.Pipeline({{"GET", id_key}, {"GET", seq_key}, {"INFO", "server"}}));
    if (r.size() != 3 || r[0].is_error() || r[1].is_error()) return Malformed("the feed's head");
    // A server that refuses INFO (some managed services rename it) leaves only feed:id.
    std::string run_id;
    if (r[2].type == Reply::Type::kString) {
      const size_t at = r[2].str.find("run_id:");
      if (at != std::string::npos) {
        const size_t from = at + 7, end = r[2].str.find_first_of("\r\n", from);
        run_id = r[2].str.substr(from, end == std::string::npos ? std::string::npos : end - from);
      }
    }
    session::FeedPosition head;
    if (!r[1].is_nil()) {
      TESSERA_ASSIGN_OR_RETURN(int64_t seq, Int(r[1]));
      if (seq < 0) return Malformed("the feed's head");
      head.seq = static_cast<uint64_t>(seq);
    }
    if (!r[0].is_nil()) {
      head.feed = r[0].str + "@" + run_id;
      return head;
    }
    // SET NX: when two readers find it gone at once, both end up with the one that won.
    std::random_device rd;
    std::string fresh;
    for (int i = 0; i < 4; ++i) fresh += std::to_string(rd()) + ".";
    TESSERA_ASSIGN_OR_RETURN(std::vector<Reply> set,
                             conn.Pipeline({{"SET", id_key, fresh, "NX"}, {"GET", id_key}}));
    if (set.size() != 2 || set[1].type != Reply::Type::kString) return Malformed("the feed's id");
    head.feed = set[1].str + "@" + run_id;
    return head;
  }

  // A stream entry: [id "0-<seq>", [k, kind, i, id hex, h, handle, u, user, t, until]].
  static Result<session::Change> ToChange(const Reply& e) {
    if (e.type != Reply::Type::kArray || e.elements.size() != 2 ||
        e.elements[0].type != Reply::Type::kString || e.elements[1].type != Reply::Type::kArray ||
        e.elements[1].elements.size() != 10 || !e.elements[0].str.starts_with("0-")) {
      return Malformed("a change");
    }
    session::Change c;
    const std::string& id = e.elements[0].str;
    auto [end, ec] = std::from_chars(id.data() + 2, id.data() + id.size(), c.seq);
    if (ec != std::errc() || end != id.data() + id.size()) return Malformed("a change");
    const auto& f = e.elements[1].elements;
    for (const Reply& x : f) {
      if (x.type != Reply::Type::kString) return Malformed("a change");
    }
    if (f[0].str != "k" || f[2].str != "i" || f[4].str != "h" || f[6].str != "u" ||
        f[8].str != "t") {
      return Malformed("a change");
    }
    TESSERA_ASSIGN_OR_RETURN(int64_t kind, Int(f[1]));
    if (kind < 1 || kind > 4) return Malformed("a change");
    c.kind = static_cast<session::ChangeKind>(kind);
    TESSERA_ASSIGN_OR_RETURN(c.id_hash, Unhex(f[3].str));
    c.handle = f[5].str;
    c.user_id = f[7].str;
    TESSERA_ASSIGN_OR_RETURN(c.until, Int(f[9]));
    return c;
  }

  std::mutex feed_mu_;
  std::unique_ptr<redis::Connection> feed_conn_;  // GUARDED_BY(feed_mu_)
};

// The signing keyset in Redis (token::KeysetStorage): hash `keyset` {doc, ver}. doc is the keyset
// document sealed (crypto::SealWithSecret, AES-256-GCM under an HKDF of the operator's secret), so
// that a copy of Redis (a backup, a replica, MONITOR) holds no private key; ver counts writes and
// is the compare-and-set version. A write also announces kKeysetChanged on the change feed, in the
// same script, so every instance reloads at once.
class RedisKeysetStorage final : public token::KeysetStorage, RedisBase {
 public:
  RedisKeysetStorage(std::shared_ptr<redis::Pool> pool, std::string prefix, std::string secret)
      : RedisBase(std::move(pool), std::move(prefix)), secret_(std::move(secret)) {}
  ~RedisKeysetStorage() override { crypto::SecureZero(secret_.data(), secret_.size()); }

  Result<std::optional<Document>> Read() override {
    TESSERA_ASSIGN_OR_RETURN(Reply r, Command({"HMGET", Key("keyset", ""), "doc", "ver"}, true));
    if (r.type != Reply::Type::kArray || r.elements.size() != 2) return Malformed("HMGET");
    if (r.elements[0].is_nil() || r.elements[1].is_nil()) return std::optional<Document>();
    auto opened = crypto::OpenWithSecret(secret_, kContext, r.elements[0].str);
    if (!opened) {
      return InvalidArgument(Reason::kBadConfig,
                             "the signing keys in Redis do not open with token.keyset_secret_file "
                             "(another secret, or altered)");
    }
    return std::optional<Document>(
        Document{.bytes = std::move(*opened), .version = r.elements[1].str});
  }

  Result<std::optional<std::string>> Version() override {
    TESSERA_ASSIGN_OR_RETURN(Reply r, Command({"HGET", Key("keyset", ""), "ver"}, true));
    if (r.is_nil()) return std::optional<std::string>();
    if (r.type != Reply::Type::kString) return Malformed("HGET");
    return std::optional<std::string>(r.str);
  }

  Result<std::optional<std::string>> Replace(const std::optional<std::string>& expected,
                                             std::string_view bytes) override {
    TESSERA_ASSIGN_OR_RETURN(std::string sealed, crypto::SealWithSecret(secret_, kContext, bytes));
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(replace_, {expected.value_or(""), sealed}));
    if (r.is_nil()) return std::optional<std::string>();
    if (r.type != Reply::Type::kString) return Malformed("a keyset write");
    return std::optional<std::string>(r.str);
  }

  const std::string& name() const override { return name_; }

 private:
  static constexpr std::string_view kContext = "tessera keyset v1";
  std::string secret_;
  const std::string name_ = "the signing keys in Redis";
  const redis::Script replace_ = MakeScript(redis::scripts::kKeysetReplace);
};

// Throttle records: t:<key> hashes {ws, f, bu, st}, indexed in tz by the later of window start and
// block end. Update is optimistic (WATCH/MULTI/EXEC), retried when another writer got there first.
class RedisThrottleStore final : public user::ThrottleStore, RedisBase {
 public:
  RedisThrottleStore(std::shared_ptr<redis::Pool> pool, std::string prefix)
      : RedisBase(std::move(pool), std::move(prefix)) {}

  Result<user::ThrottleRecord> Update(
      std::string_view key, const std::function<void(user::ThrottleRecord&)>& update) override {
    const std::string member = Hex(key), k = Key("t:", member);
    TESSERA_ASSIGN_OR_RETURN(redis::Pool::Lease conn, pool_->Acquire());
    // Optimistic: read, change, write unless another writer got there first; then again after
    // a short random pause, so writers contending for one key (an attack on one account from
    // every instance) take turns instead of colliding again, until the command timeout.
    const auto deadline = std::chrono::steady_clock::now() + pool_->options().command_timeout;
    std::minstd_rand jitter(std::random_device{}());
    for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
      if (attempt > 0) {
        const int cap_us = 200 << std::min(attempt, 5);
        std::this_thread::sleep_for(std::chrono::microseconds(jitter() % cap_us));
      }
      TESSERA_ASSIGN_OR_RETURN(Reply watched, conn->Command({"WATCH", k}));
      if (watched.is_error()) return Unavailable(watched.str);
      auto current = conn->Command({"HMGET", k, "ws", "f", "bu", "st"});
      auto read = current ? ToThrottle(*current) : Result<user::ThrottleRecord>(current.status());
      if (!read) {
        // The connection goes back to the pool: it must not keep watching.
        (void)conn->Command({"UNWATCH"});
        return read.status();
      }
      user::ThrottleRecord r = *read;
      update(r);
      const std::string ws = std::to_string(r.window_start), f = std::to_string(r.failures);
      const std::string bu = std::to_string(r.blocked_until), st = std::to_string(r.strikes);
      const std::string score = std::to_string(std::max(r.window_start, r.blocked_until));
      TESSERA_ASSIGN_OR_RETURN(std::vector<Reply> replies,
                               conn->Pipeline({{"MULTI"},
                                               {"HSET", k, "ws", ws, "f", f, "bu", bu, "st", st},
                                               {"ZADD", Key("tz", ""), score, member},
                                               {"EXEC"}}));
      const Reply& exec = replies.back();
      if (exec.is_error()) return Unavailable(exec.str);
      if (exec.is_nil()) continue;  // another writer changed the record: read it again
      return r;
    }
    return Status(Code::kUnavailable, Reason::kStoreBusy, "redis: throttle record contended");
  }

  Result<user::ThrottleRecord> Get(std::string_view key) override {
    TESSERA_ASSIGN_OR_RETURN(Reply r,
                             Command({"HMGET", Key("t:", Hex(key)), "ws", "f", "bu", "st"}, true));
    return ToThrottle(r);
  }

  Status Remove(std::string_view key) override {
    const std::string member = Hex(key);
    return Eval(remove_, {member}).status();
  }

  Result<size_t> RemoveStale(int64_t before) override {
    const std::string b = std::to_string(before);
    constexpr int64_t kBatch = 1000;  // so that no one call holds Redis for long
    const std::string batch = std::to_string(kBatch);
    size_t removed = 0;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_stale_, {b, batch}));
      TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r));
      removed += static_cast<size_t>(n);
      if (n < kBatch) return removed;
    }
  }

 private:
  static Result<user::ThrottleRecord> ToThrottle(const Reply& r) {
    if (r.type != Reply::Type::kArray || r.elements.size() != 4) return Malformed("HMGET");
    user::ThrottleRecord out;
    if (r.elements[0].is_nil()) return out;
    int64_t v[4];
    for (int i = 0; i < 4; ++i) {
      if (r.elements[i].is_nil()) return Malformed("a throttle record");
      TESSERA_ASSIGN_OR_RETURN(v[i], Int(r.elements[i]));
    }
    out.window_start = v[0];
    out.failures = static_cast<uint32_t>(v[1]);
    out.blocked_until = v[2];
    out.strikes = static_cast<uint32_t>(v[3]);
    return out;
  }

  const redis::Script remove_stale_ = MakeScript(redis::scripts::kThrottleRemoveStale);
  const redis::Script remove_ = MakeScript(redis::scripts::kThrottleRemove);
};

}  // namespace

Result<std::unique_ptr<session::SessionStore>> OpenRedisSessionStore(std::string_view url,
                                                                     RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto pool, OpenPool(url, options));
  return std::unique_ptr<session::SessionStore>(
      new RedisSessionStore(std::move(pool), options.prefix));
}

Result<std::unique_ptr<token::KeysetStorage>> OpenRedisKeysetStorage(std::string_view url,
                                                                     std::string secret,
                                                                     RedisOptions options) {
  if (secret.size() < 32) {
    return InvalidArgument(Reason::kBadConfig, "the keyset secret must be at least 32 bytes");
  }
  options.pool_size = 2;  // a read a second, and a write now and then
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<redis::Pool> pool, OpenPool(url, options));
  return std::unique_ptr<token::KeysetStorage>(
      new RedisKeysetStorage(std::move(pool), options.prefix, std::move(secret)));
}

Result<std::string> RedisDurabilityWarning(std::string_view url, RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::ParseUrl(url));
  const bool sentinel = !endpoint.sentinels.empty();
  // A write a replica confirmed (WAIT) survives the primary's crash: the sentinels promote a
  // replica that has it. (Not the loss of every node at once: that is what persistence is for,
  // and an operator who replicates has chosen.)
  if (endpoint.wait_replicas > 0) return std::string();
  redis::Pool pool(std::move(endpoint), ClientOptionsFor(options), 1);
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<redis::Connection> conn, pool.Open());
  TESSERA_ASSIGN_OR_RETURN(
      std::vector<Reply> r,
      conn->Pipeline({{"CONFIG", "GET", "appendonly"}, {"CONFIG", "GET", "appendfsync"}}));
  auto value = [](const Reply& reply) -> std::optional<std::string> {
    if (reply.type != Reply::Type::kArray || reply.elements.size() != 2) return std::nullopt;
    return reply.elements[1].str;
  };
  const auto aof = r.size() == 2 ? value(r[0]) : std::nullopt;
  const auto fsync = r.size() == 2 ? value(r[1]) : std::nullopt;
  std::string warning;
  if (!aof || !fsync) {
    warning =
        "the Redis server does not show its persistence settings (CONFIG GET refused); a "
        "revocation survives its crash only with appendonly yes and appendfsync always";
  } else if (*aof != "yes") {
    warning = "the Redis server has appendonly " + *aof +
              ": sessions ended and revocations made since its last snapshot are lost if it "
              "crashes (set appendonly yes and appendfsync always)";
  } else if (*fsync != "always") {
    warning = "the Redis server has appendfsync " + *fsync +
              ": revocations answered in the last second or so may be lost if its host crashes "
              "(set appendfsync always)";
  }
  if (sentinel) {
    // Replication is asynchronous: the replica promoted may lack the last writes, however the old
    // primary kept them.
    warning += std::string(warning.empty() ? "" : "; ") +
               "a failover loses what the replicas had not yet received (add ?wait_replicas=1 to "
               "the URL, with two replicas so that writes go on when one is lost)";
  }
  return warning;
}

Result<std::unique_ptr<user::ThrottleStore>> OpenRedisThrottleStore(std::string_view url,
                                                                    RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto pool, OpenPool(url, options));
  return std::unique_ptr<user::ThrottleStore>(
      new RedisThrottleStore(std::move(pool), options.prefix));
}

}  // namespace tessera::store
