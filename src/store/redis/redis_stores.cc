// The Redis SessionStore and ThrottleStore (include/tessera/store/redis.h).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "crypto/hash.h"
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

// In a cluster, the data is split into this many groups, each under its own hash tag and so in
// one slot: everything one atomic script touches is in one group (docs/design.md, "Redis
// Cluster"). The number is part of the layout: changing it moves every key.
constexpr size_t kClusterGroups = 16;

// Group g's hash tag: the smallest decimal number whose slot lies in the g-th sixteenth of the
// slot space, so that the groups spread evenly over any even split of the slots among primaries.
std::vector<std::string> GroupTags() {
  std::vector<std::string> tags(kClusterGroups);
  size_t found = 0;
  for (uint64_t n = 0; found < kClusterGroups; ++n) {
    const std::string tag = std::to_string(n);
    const size_t g = redis::SlotOf(tag) * kClusterGroups / 16384;
    if (tags[g].empty()) {
      tags[g] = tag;
      ++found;
    }
  }
  return tags;
}

Result<std::shared_ptr<redis::Router>> OpenRouter(std::string_view url,
                                                  const RedisOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::ParseUrl(url));
  if (!endpoint.cluster_seeds.empty() && options.prefix.find_first_of("{}") != std::string::npos) {
    return InvalidArgument(Reason::kBadConfig,
                           "in a Redis Cluster the key prefix may not hold '{' or '}' (tessera "
                           "adds its own hash tags)");
  }
  auto router = std::make_shared<redis::Router>(std::move(endpoint), ClientOptionsFor(options),
                                                options.pool_size);
  // Reach the server once (every primary, in a cluster: each one's policy matters), so a wrong
  // address or password is said at startup.
  const std::vector<std::string> tags =
      router->cluster() ? GroupTags() : std::vector<std::string>{""};
  for (const std::string& tag : tags) {
    const std::string key = "{" + tag + "}";
    TESSERA_ASSIGN_OR_RETURN(Reply pong, router->Command(key, {"PING"}, true));
    if (pong.is_error()) return Unavailable("PING: " + pong.str);
    // A server that may evict keys may evict a revocation, and a revoked token would pass again:
    // refuse it. (A server that hides CONFIG, as managed services do, is taken at its word.)
    TESSERA_ASSIGN_OR_RETURN(Reply policy,
                             router->Command(key, {"CONFIG", "GET", "maxmemory-policy"}, true));
    if (policy.type == Reply::Type::kArray && policy.elements.size() == 2 &&
        policy.elements[1].str != "noeviction") {
      return InvalidArgument(Reason::kBadConfig,
                             "the Redis server has maxmemory-policy " + policy.elements[1].str +
                                 "; tessera needs noeviction (an evicted revocation would let a "
                                 "revoked token in again)");
    }
  }
  return router;
}

// A script of the stores, and whether it may append to the change feed (then, in a cluster, its
// group's outbox is relayed after it).
struct StoreScript {
  redis::Script script;
  bool feeds;
};

StoreScript MakeScript(const char* body, bool writes = true) {
  const std::string_view b(body);
  const bool feeds =
      b.find("feed(") != std::string_view::npos || b.find("end_session(") != std::string_view::npos;
  return StoreScript{redis::Script(std::string(redis::scripts::kPrelude) + body, writes), feeds};
}

// What the scripts and plain commands share: the router, the key layout, error mapping, and in
// a cluster the directory and the relay of the outboxes.
//
// One server (redis://, redis+sentinel://): one group, whose prefix is the configured one; the
// scripts compute their keys from it, and write the feed directly.
// A cluster: kClusterGroups groups, group g's prefix being the configured one followed by
// "{<tag g>}"; a user's sessions, refresh records and index live in the user's group, a throttle
// record in its key's, the keyset and the feed in group 0. Lookups by a session id, handle,
// refresh hash or family, which do not say the user, first read the directory: keys
// <prefix>d:<kind>:<hex> (no hash tag, so spread over every slot) holding the group number,
// written before the session's own keys (so a live session always has them) and expiring with
// them. Scripts get their group's prefix as KEYS[1] as well, so they run where its slot is, and
// append to the group's outbox, which Relay moves to the feed.
class RedisBase {
 protected:
  RedisBase(std::shared_ptr<redis::Router> router, std::string prefix)
      : router_(std::move(router)), prefix_(std::move(prefix)) {
    if (router_->cluster()) {
      for (const std::string& tag : GroupTags()) group_prefix_.push_back(prefix_ + "{" + tag + "}");
    } else {
      group_prefix_.push_back(prefix_);
    }
  }

  bool cluster() const { return router_->cluster(); }
  size_t groups() const { return group_prefix_.size(); }
  const std::string& P(size_t group) const { return group_prefix_[group]; }
  // The group of a user, a throttle key or a revocation key (0 on one server).
  size_t GroupOf(std::string_view bytes) const {
    if (!cluster()) return 0;
    return static_cast<uint8_t>(crypto::Sha256(bytes)[0]) % kClusterGroups;
  }
  std::string Key(size_t group, std::string_view kind, std::string_view id) const {
    std::string out = P(group);
    out += kind;
    out += id;
    return out;
  }

  // Runs `script` in `group` with ARGV = {group prefix, args...}. An error reply is
  // kUnavailable: the scripts raise none of their own, so one means the server refused (OOM,
  // READONLY, BUSY...). In a cluster, a script that may have appended to the outbox is followed
  // by its relay: what the caller is told is done has reached the feed.
  Result<Reply> Eval(const StoreScript& s, size_t group, std::vector<std::string_view> args) {
    const std::string& prefix = P(group);
    args.insert(args.begin(), prefix);
    std::vector<std::string_view> keys;
    if (cluster()) keys.push_back(prefix);
    const redis::Script& script = s.script;
    const bool relay = cluster() && s.feeds;
    Status waited = Status::Ok();
    std::optional<OutboxHead> outbox;
    TESSERA_ASSIGN_OR_RETURN(Reply r,
                             router_->Run(prefix, [&](redis::Connection& conn) -> Result<Reply> {
                               waited = Status::Ok();
                               outbox.reset();
                               TESSERA_ASSIGN_OR_RETURN(Reply reply, script.Run(conn, keys, args));
                               if (reply.is_error()) return reply;
                               waited = WaitForReplicas(conn, script);
                               if (relay && waited.ok()) {
                                 // Where the outbox stands now, on the same connection: when it is
                                 // exactly where this process last relayed it (its id, its last
                                 // entry's number and content), the script appended nothing and
                                 // there is nothing to relay.
                                 auto head = ReadOutboxHeadOn(conn, prefix, /*make_id=*/false);
                                 if (head && head->error.empty()) outbox = std::move(*head);
                               }
                               return reply;
                             }));
    if (r.is_error()) return Unavailable(r.str);
    // Relayed even when the replicas did not confirm: the change is made on the primary, and
    // the other instances must hear of it as soon as it is.
    if (relay && (!outbox || !Relayed(group, *outbox))) TESSERA_RETURN_IF_ERROR(Relay(group));
    TESSERA_RETURN_IF_ERROR(waited);
    return r;
  }

  // Where an outbox stands: its identity, and the number and fingerprint of its last entry
  // (0 and "" when it has none). `error`: the server's error reply (a redirect), else empty.
  struct OutboxHead {
    std::string id;
    uint64_t seq = 0;
    std::string fp;
    std::string error;
    bool operator==(const OutboxHead& o) const { return id == o.id && seq == o.seq && fp == o.fp; }
  };

  // A short digest of an outbox entry's content: a relay mark names the last entry it moved by
  // number and content, so that an outbox that went back and numbered new entries again (a
  // failover to a replica that was behind, a restart that lost the last writes) is seen, even
  // when the server does not say that it restarted.
  static std::string Fingerprint(const Reply& entry) {
    std::string joined;
    for (const Reply& f : entry.elements[1].elements) {
      joined += f.str;
      joined += '\x1f';
    }
    return Hex(crypto::Sha256(joined).substr(0, 8));
  }

  static Result<OutboxHead> ReadOutboxHeadOn(redis::Connection& conn, const std::string& gp,
                                             bool make_id) {
    OutboxHead head;
    TESSERA_ASSIGN_OR_RETURN(std::vector<Reply> r,
                             conn.Pipeline({{"GET", gp + "outbox:id"},
                                            {"XREVRANGE", gp + "outbox", "+", "-", "COUNT", "1"}}));
    if (r.size() != 2) return Malformed("an outbox");
    for (const Reply& x : r) {
      if (x.is_error()) {
        head.error = x.str;
        return head;
      }
    }
    if (r[1].type != Reply::Type::kArray || r[1].elements.size() > 1) return Malformed("an outbox");
    if (!r[1].elements.empty()) {
      TESSERA_ASSIGN_OR_RETURN(session::Change c, ToChange(r[1].elements[0]));
      head.seq = c.seq;
      head.fp = Fingerprint(r[1].elements[0]);
    }
    if (r[0].type == Reply::Type::kString) {
      head.id = r[0].str;
      return head;
    }
    if (!make_id) {
      head.error = "no outbox id";
      return head;
    }
    // SET NX: when two relayers find it gone at once, both end up with the one that won.
    std::random_device rd;
    std::string fresh;
    for (int i = 0; i < 4; ++i) fresh += std::to_string(rd()) + ".";
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<Reply> set,
        conn.Pipeline({{"SET", gp + "outbox:id", fresh, "NX"}, {"GET", gp + "outbox:id"}}));
    if (set.size() != 2) return Malformed("an outbox id");
    if (set[0].is_error()) {
      head.error = set[0].str;
      return head;
    }
    if (set[1].type != Reply::Type::kString) return Malformed("an outbox id");
    head.id = set[1].str;
    return head;
  }

  Result<OutboxHead> ReadOutboxHead(size_t group) {
    const std::string& gp = P(group);
    OutboxHead head;
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, router_->Run(gp, [&](redis::Connection& conn) -> Result<Reply> {
          TESSERA_ASSIGN_OR_RETURN(head, ReadOutboxHeadOn(conn, gp, /*make_id=*/true));
          if (!head.error.empty()) {
            Reply e;
            e.type = Reply::Type::kError;
            e.str = head.error;
            return e;
          }
          return Reply{};
        }));
    if (r.is_error()) return Unavailable(r.str);
    return head;
  }

  // Whether this process relayed `group`'s outbox up to `head`.
  bool Relayed(size_t group, const OutboxHead& head) {
    std::lock_guard lock(relayed_mu_);
    return relayed_.size() > group && relayed_[group] == head;
  }
  void NoteRelayed(size_t group, OutboxHead head) {
    std::lock_guard lock(relayed_mu_);
    if (relayed_.size() <= group) relayed_.resize(groups());
    relayed_[group] = std::move(head);
  }

  Result<Reply> Command(std::string_view key, std::vector<std::string_view> argv, bool idempotent) {
    TESSERA_ASSIGN_OR_RETURN(Reply r, router_->Command(key, argv, idempotent));
    if (r.is_error()) return Unavailable(r.str);
    return r;
  }

  // ---- The directory (cluster only) ----

  std::string DirectoryKey(char kind, std::string_view hex) const {
    std::string out = prefix_ + "d:";
    out += kind;
    out += ':';
    out += hex;
    return out;
  }

  // The group named for (kind, hex), nullopt when none is (nothing lives there). On one server
  // always group 0.
  Result<std::optional<size_t>> Locate(char kind, std::string_view hex) {
    if (!cluster()) return std::optional<size_t>(0);
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, Command(DirectoryKey(kind, hex), {"GET", DirectoryKey(kind, hex)}, true));
    if (r.is_nil()) return std::optional<size_t>();
    TESSERA_ASSIGN_OR_RETURN(int64_t g, Int(r));
    if (g < 0 || static_cast<size_t>(g) >= groups()) return Malformed("a directory entry");
    return std::optional<size_t>(static_cast<size_t>(g));
  }

  // Locate, and how long the entry has left (ms; 0 when it has no expiry).
  Result<std::optional<std::pair<size_t, int64_t>>> LocateWithTtl(char kind, std::string_view hex) {
    using Found = std::optional<std::pair<size_t, int64_t>>;
    const std::string key = DirectoryKey(kind, hex);
    std::vector<Reply> replies;
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, router_->Run(key, [&](redis::Connection& conn) -> Result<Reply> {
          TESSERA_ASSIGN_OR_RETURN(replies, conn.Pipeline({{"GET", key}, {"PTTL", key}}));
          if (replies.size() != 2) return Malformed("a directory entry");
          if (replies[0].is_error()) return replies[0];
          return Reply{};
        }));
    if (r.is_error()) return Unavailable(r.str);
    if (replies[0].is_nil()) return Found();
    TESSERA_ASSIGN_OR_RETURN(int64_t g, Int(replies[0]));
    if (g < 0 || static_cast<size_t>(g) >= groups()) return Malformed("a directory entry");
    const int64_t ttl =
        replies[1].type == Reply::Type::kInteger ? std::max<int64_t>(replies[1].integer, 0) : 0;
    return Found(std::pair<size_t, int64_t>{static_cast<size_t>(g), ttl});
  }

  // Names `group` for each (kind, hex), for `ttl_ms`, unless one already names another group:
  // then kAlreadyExists (what (kind, hex) names belongs to someone else). With ?wait_replicas=N
  // each waits for the replicas, as the writes it points to do. `placed` gets the keys this call
  // created, for Unplace when what they point to is not written after all. Nothing on one server.
  Status Place(const std::vector<std::pair<char, std::string_view>>& entries, size_t group,
               int64_t ttl_ms, std::vector<std::string>* placed) {
    if (!cluster()) return Status::Ok();
    const std::string g = std::to_string(group), ttl = std::to_string(std::max<int64_t>(ttl_ms, 1));
    const int replicas = router_->endpoint().wait_replicas;
    for (const auto& [kind, hex] : entries) {
      if (hex.empty()) continue;
      const std::string key = DirectoryKey(kind, hex);
      // Set unless present, answering what was there (nil: nothing, now ours).
      Status waited = Status::Ok();
      TESSERA_ASSIGN_OR_RETURN(
          Reply held, router_->Run(key, [&](redis::Connection& conn) -> Result<Reply> {
            waited = Status::Ok();
            TESSERA_ASSIGN_OR_RETURN(Reply r,
                                     conn.Command({"SET", key, g, "PX", ttl, "NX", "GET"}));
            if (!r.is_error() && replicas > 0) waited = WaitForReplicas(conn, replicas);
            return r;
          }));
      if (held.is_error()) return Unavailable(held.str);
      if (held.is_nil()) placed->push_back(key);
      TESSERA_RETURN_IF_ERROR(waited);
      if (!held.is_nil() && held.str != g) {
        return Status(Code::kAlreadyExists, Reason::kNone, "an id held by another session");
      }
    }
    return Status::Ok();
  }

  // Removes directory entries Place made for something that was not written after all (a
  // refused sign-in, a rotation that made no successor), so they do not linger until their
  // expiry. Best effort: an entry left behind points at nothing, and expires.
  void Unplace(const std::vector<std::string>& placed) {
    for (const std::string& key : placed) (void)router_->Command(key, {"DEL", key}, false);
  }

  // ---- The relay (cluster only) ----

  // Moves what `group`'s outbox holds beyond the relay mark into the feed (group 0), in order,
  // exactly once however many instances relay at once (the mark is compared and set in the
  // same script as the appends). The mark, "<outbox id>:<number>:<fingerprint>", names the last
  // entry moved. An outbox that was replaced (another id: its node lost its data), that went
  // back (the entry at the mark is gone or says something else: a failover to a replica that was
  // behind, a restart that lost the last writes) or that was trimmed past the mark has lost
  // entries no reader may have seen: the mark then jumps to the outbox's head without moving
  // anything, and the feed gets a new identity, so that every reader reloads from the store.
  // Blocks: a few round trips.
  Status Relay(size_t group) {
    const std::string& gp = P(group);
    const std::string g = std::to_string(group);
    const std::string mark_key = Key(0, "relayed:", g);
    for (int round = 0; round < 100; ++round) {
      // The mark first, then the head: a relay by another instance in between leaves the mark
      // read behind the head read, never ahead of it.
      TESSERA_ASSIGN_OR_RETURN(Reply mark, Command(mark_key, {"GET", mark_key}, true));
      const std::string expected = mark.is_nil() ? "" : mark.str;
      TESSERA_ASSIGN_OR_RETURN(OutboxHead head, ReadOutboxHead(group));
      // "<id>:<done>:<fp>"
      std::string mid, mfp;
      uint64_t done = 0;
      bool parsed = false;
      if (const size_t b = expected.rfind(':'); b != std::string::npos && b > 0) {
        if (const size_t a = expected.rfind(':', b - 1); a != std::string::npos) {
          mid = expected.substr(0, a);
          mfp = expected.substr(b + 1);
          const std::string_view n = std::string_view(expected).substr(a + 1, b - a - 1);
          auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), done);
          parsed = ec == std::errc() && end == n.data() + n.size();
        }
      }
      const bool first = expected.empty();
      const bool same = parsed && mid == head.id;
      if (same && done == head.seq && mfp == head.fp) {
        NoteRelayed(group, head);
        return Status::Ok();
      }
      bool lost = !first && (!same || done > head.seq || (done == head.seq && mfp != head.fp));
      std::vector<std::string> args;
      OutboxHead moved_to = head;
      if (!lost) {
        // From the entry at the mark (to check that it is still the one moved), or the first.
        const uint64_t from = first || done == 0 ? 1 : done;
        TESSERA_ASSIGN_OR_RETURN(
            Reply entries,
            Command(gp, {"XRANGE", gp + "outbox", Prefixed("0-", from), "+", "COUNT", "1001"},
                    true));
        if (entries.type != Reply::Type::kArray) return Malformed("an outbox");
        uint64_t expect = from;
        bool checked = first || done == 0;
        moved_to.seq = first ? 0 : done;
        moved_to.fp = first ? "" : mfp;
        for (const Reply& e : entries.elements) {
          TESSERA_ASSIGN_OR_RETURN(session::Change c, ToChange(e));
          if (c.seq != expect) {  // trimmed past the mark, or a hole
            lost = true;
            break;
          }
          ++expect;
          if (!checked) {  // the entry at the mark
            checked = true;
            if (Fingerprint(e) != mfp) {
              lost = true;
              break;
            }
            continue;
          }
          const Reply& f = e.elements[1];
          for (size_t i = 1; i < 10; i += 2) args.push_back(f.elements[i].str);
          moved_to.seq = c.seq;
          moved_to.fp = Fingerprint(e);
        }
        if (!checked) lost = true;  // the entry at the mark is gone
        if (!lost && entries.elements.empty() && head.seq > 0) lost = true;  // numbered, gone
      }
      if (lost) {
        args.clear();
        moved_to = head;
      }
      const std::string new_mark = head.id + ":" + std::to_string(moved_to.seq) + ":" + moved_to.fp;
      std::vector<std::string_view> argv = {g, expected, new_mark, lost ? "1" : "0"};
      argv.insert(argv.end(), args.begin(), args.end());
      TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(relay_, 0, argv));
      TESSERA_ASSIGN_OR_RETURN(int64_t moved, Int(r));
      if (moved && moved_to.seq >= head.seq) {
        NoteRelayed(group, moved_to);
        return Status::Ok();
      }
      // Another relayer moved the mark first, or more is waiting: read the mark again.
    }
    return Status(Code::kUnavailable, Reason::kStoreBusy, "redis: relaying the change feed");
  }

  // The identity ("<id>@<run id>") and the last number of a numbered stream whose id and counter
  // are `id_key` and `seq_key`, read where `route` lives; makes the id when there is none.
  //
  // The identity also names the Redis process (INFO server's run_id, new at every start and on
  // every replica promoted by a failover): a server that restarted may have come back with fewer
  // entries than some reader saw (appendfsync everysec, a replica that was behind), and numbers
  // written after that would reuse theirs. Every cursor from before a restart so reads as a gap,
  // and the reader reloads instead of missing the entries that were renumbered.
  Result<std::pair<std::string, uint64_t>> StreamHead(const std::string& id_key,
                                                      const std::string& seq_key,
                                                      std::string_view route) {
    std::pair<std::string, uint64_t> out;
    TESSERA_ASSIGN_OR_RETURN(Reply r, router_->Run(route, [&](redis::Connection& conn) {
      return StreamHeadOn(conn, id_key, seq_key, &out);
    }));
    if (r.is_error()) return Unavailable(r.str);
    return out;
  }

  // The same on a connection of the caller's; the reply is an error reply when the server
  // refused (a redirect, in a cluster), else an empty status.
  static Result<Reply> StreamHeadOn(redis::Connection& conn, const std::string& id_key,
                                    const std::string& seq_key,
                                    std::pair<std::string, uint64_t>* out) {
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<Reply> r,
        conn.Pipeline({{"GET", id_key}, {"GET", seq_key}, {"INFO", "server"}}));
    if (r.size() != 3) return Malformed("the feed's head");
    if (r[0].is_error()) return r[0];
    if (r[1].is_error()) return r[1];
    // A server that refuses INFO (some managed services rename it) leaves only the id.
    std::string run_id;
    if (r[2].type == Reply::Type::kString) {
      const size_t at = r[2].str.find("run_id:");
      if (at != std::string::npos) {
        const size_t from = at + 7, end = r[2].str.find_first_of("\r\n", from);
        run_id = r[2].str.substr(from, end == std::string::npos ? std::string::npos : end - from);
      }
    }
    out->second = 0;
    if (!r[1].is_nil()) {
      TESSERA_ASSIGN_OR_RETURN(int64_t seq, Int(r[1]));
      if (seq < 0) return Malformed("the feed's head");
      out->second = static_cast<uint64_t>(seq);
    }
    if (!r[0].is_nil()) {
      out->first = r[0].str + "@" + run_id;
      return Reply{};
    }
    // SET NX: when two readers find it gone at once, both end up with the one that won.
    std::random_device rd;
    std::string fresh;
    for (int i = 0; i < 4; ++i) fresh += std::to_string(rd()) + ".";
    TESSERA_ASSIGN_OR_RETURN(std::vector<Reply> set,
                             conn.Pipeline({{"SET", id_key, fresh, "NX"}, {"GET", id_key}}));
    if (set.size() != 2) return Malformed("the feed's id");
    if (set[0].is_error()) return set[0];
    if (set[1].type != Reply::Type::kString) return Malformed("the feed's id");
    out->first = set[1].str + "@" + run_id;
    return Reply{};
  }

  // A stream entry: [id "0-<seq>", [k, kind, i, id hex, h, handle, u, user, t, until]], and in
  // an outbox [..., n, time] after them.
  static Result<session::Change> ToChange(const Reply& e) {
    if (e.type != Reply::Type::kArray || e.elements.size() != 2 ||
        e.elements[0].type != Reply::Type::kString || e.elements[1].type != Reply::Type::kArray ||
        (e.elements[1].elements.size() != 10 && e.elements[1].elements.size() != 12) ||
        !e.elements[0].str.starts_with("0-")) {
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

  std::shared_ptr<redis::Router> router_;
  const std::string prefix_;
  std::vector<std::string> group_prefix_;

 private:
  // With ?wait_replicas=N, a write is acknowledged only once the replicas have it: a failover
  // cannot undo what was answered.
  Status WaitForReplicas(redis::Connection& conn, const redis::Script& script) {
    const int replicas = router_->endpoint().wait_replicas;
    if (replicas <= 0 || !script.writes()) return Status::Ok();
    return WaitForReplicas(conn, replicas);
  }
  Status WaitForReplicas(redis::Connection& conn, int replicas) {
    const std::string n = std::to_string(replicas);
    const std::string ms = std::to_string(router_->options().command_timeout.count());
    TESSERA_ASSIGN_OR_RETURN(Reply acked,
                             conn.Command({"WAIT", n, ms}, 2 * router_->options().command_timeout));
    if (acked.is_error()) return Unavailable("WAIT: " + acked.str);
    if (acked.type != Reply::Type::kInteger || acked.integer < replicas) {
      return Status(Code::kUnavailable, Reason::kStore,
                    "redis: written, but " + std::to_string(acked.integer) + " of " + n +
                        " replicas confirmed it in time (wait_replicas); it may not survive a "
                        "failover");
    }
    return Status::Ok();
  }

  const StoreScript relay_ = MakeScript(redis::scripts::kRelay);
  std::mutex relayed_mu_;
  // Per group, where this process last saw the outbox relayed to.
  std::vector<OutboxHead> relayed_;  // GUARDED_BY(relayed_mu_)
};

class RedisSessionStore final : public session::SessionStore, RedisBase {
 public:
  RedisSessionStore(std::shared_ptr<redis::Router> router, std::string prefix)
      : RedisBase(std::move(router), std::move(prefix)) {}

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
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('s', id));
    if (!group) return std::optional<Session>();
    const std::string key = Key(*group, "s:", id);
    TESSERA_ASSIGN_OR_RETURN(
        Reply r, Command(key,
                         {"HMGET", key, "handle", "user", "csrf", "kind", "created", "seen", "exp",
                          "tu", "ua", "ip", "hk", "uk", "mfa"},
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
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(list_by_user_, GroupOf(user_id), {user}));
    return ToSessions(r);
  }

  Result<std::vector<Session>> ListAll(size_t limit) override {
    const std::string n = std::to_string(limit);
    std::vector<Session> out;
    for (size_t g = 0; g < groups(); ++g) {
      TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(list_all_, g, {n}));
      TESSERA_ASSIGN_OR_RETURN(std::vector<Session> some, ToSessions(r));
      out.insert(out.end(), std::make_move_iterator(some.begin()),
                 std::make_move_iterator(some.end()));
    }
    if (groups() > 1) {
      // Oldest first across the groups, as within each.
      std::stable_sort(out.begin(), out.end(), [](const Session& a, const Session& b) {
        return a.created_at < b.created_at;
      });
      if (out.size() > limit) out.resize(limit);
    }
    return out;
  }

  Result<std::optional<Session>> RemoveByHandle(std::string_view handle) override {
    const std::string h = Hex(handle);
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('h', h));
    if (!group) return std::optional<Session>();
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_handle_, *group, {h}));
    return ToOptionalSession(r);
  }

  Status Touch(std::string_view id_hash, int64_t last_seen_at) override {
    const std::string id = Hex(id_hash), at = std::to_string(last_seen_at);
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('s', id));
    if (!group) return Status::Ok();
    return Eval(touch_, *group, {id, at}).status();
  }

  Status TouchMany(const std::vector<std::pair<std::string, int64_t>>& touches) override {
    if (touches.empty()) return Status::Ok();
    // (id, last_seen) pairs per group.
    std::vector<std::vector<std::string>> by_group(groups());
    for (const auto& [id_hash, at] : touches) {
      std::string id = Hex(id_hash);
      TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('s', id));
      if (!group) continue;
      by_group[*group].push_back(std::move(id));
      by_group[*group].push_back(std::to_string(at));
    }
    for (size_t g = 0; g < groups(); ++g) {
      if (by_group[g].empty()) continue;
      TESSERA_RETURN_IF_ERROR(
          Eval(touch_many_, g, {by_group[g].begin(), by_group[g].end()}).status());
    }
    return Status::Ok();
  }

  Result<std::optional<Session>> Remove(std::string_view id_hash) override {
    const std::string id = Hex(id_hash);
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('s', id));
    if (!group) return std::optional<Session>();
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_, *group, {id}));
    return ToOptionalSession(r);
  }

  Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                            std::string_view keep_id_hash) override {
    const std::string user = Hex(user_id), keep = Hex(keep_id_hash);
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_user_, GroupOf(user_id), {user, keep}));
    return ToSessions(r);
  }

  Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) override {
    const std::string now_s = std::to_string(now), idle = std::to_string(idle_cutoff);
    const std::string revocations = std::to_string(now - session::kRevocationRetentionSeconds);
    const std::string rotations = std::to_string((now - session::kMaxRefreshGraceSeconds) * 1000);
    // In batches, so one call never holds Redis for long.
    const std::string batch = "1000";
    size_t ended = 0;
    for (size_t g = 0; g < groups(); ++g) {
      while (true) {
        TESSERA_ASSIGN_OR_RETURN(
            Reply r, Eval(remove_expired_, g, {now_s, idle, revocations, rotations, batch}));
        if (r.type != Reply::Type::kArray || r.elements.size() != 2) return Malformed("expiry");
        TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r.elements[0]));
        TESSERA_ASSIGN_OR_RETURN(int64_t more, Int(r.elements[1]));
        ended += static_cast<size_t>(n);
        if (!more) break;
      }
    }
    return ended;
  }

  Result<size_t> CountAlive(int64_t now) override {
    const std::string now_s = std::to_string(now);
    size_t alive = 0;
    for (size_t g = 0; g < groups(); ++g) {
      TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(count_alive_, g, {now_s}));
      TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r));
      alive += static_cast<size_t>(n);
    }
    return alive;
  }

  // The feed: entries are stream `feed` ids 0-<n>, n from the counter feed:seq (on one server
  // both written by the scripts, with the change; in a cluster by the relay, from the groups'
  // outboxes). feed:id names the feed; it goes with the data (a restart without it, FLUSHALL),
  // and the first reader that finds it gone makes a new one, so every cursor of the old feed reads
  // as a gap. The feed lives in group 0.
  Result<session::FeedPosition> FeedHead() override {
    session::FeedPosition head;
    TESSERA_ASSIGN_OR_RETURN(auto h,
                             StreamHead(Key(0, "feed:id", ""), Key(0, "feed:seq", ""), P(0)));
    head.feed = std::move(h.first);
    head.seq = h.second;
    return head;
  }

  Result<session::ChangeBatch> ReadChanges(const session::FeedPosition& after, size_t max,
                                           std::chrono::milliseconds wait) override {
    if (max == 0) return InvalidArgument(Reason::kNone, "read at least one change");
    // A connection of its own: a blocking XREAD must not hold one of the pool's.
    std::lock_guard lock(feed_mu_);
    if (cluster()) {
      // What an instance that ended a session could not relay (it stopped, or lost Redis) is
      // relayed by whoever reads next: every outbox is looked at this often, and a reader that
      // cannot look at them all is not current (its caller fails closed after a while).
      const auto now = std::chrono::steady_clock::now();
      if (now - swept_ >= kSweepInterval) {
        for (size_t g = 0; g < groups(); ++g) TESSERA_RETURN_IF_ERROR(Relay(g));
        swept_ = now;
      }
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(kSweepInterval));
    }
    if (!feed_conn_ || feed_conn_->broken() || !router_->Current(*feed_conn_)) {
      feed_conn_.reset();
      TESSERA_ASSIGN_OR_RETURN(feed_conn_, router_->Open(P(0)));
    }
    redis::Connection& conn = *feed_conn_;
    session::ChangeBatch out;
    std::pair<std::string, uint64_t> head;
    TESSERA_ASSIGN_OR_RETURN(
        Reply refused, StreamHeadOn(conn, Key(0, "feed:id", ""), Key(0, "feed:seq", ""), &head));
    if (refused.is_error()) {
      // The feed's slot moved (a failover, a resharding): a new connection next time.
      feed_conn_.reset();
      return Unavailable("reading the change feed: " + refused.str);
    }
    out.next.feed = std::move(head.first);
    out.next.seq = head.second;
    if (after.feed != out.next.feed || after.seq > out.next.seq) {
      out.gap = true;
      return out;
    }
    const std::string count = std::to_string(max);
    const std::string stream = Key(0, "feed", "");
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
                                wait + router_->options().command_timeout));
      if (r.is_error()) {
        feed_conn_.reset();
        return Unavailable("XREAD: " + r.str);
      }
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
    return Eval(publish_, GroupOf(c.user_id), {kind, c.user_id}).status();
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
    RefreshResult out;
    std::optional<size_t> group;
    std::vector<std::string> placed;
    if (!cluster()) {
      group = 0;
    } else {
      // The presented token's group, or (a pruned ancestor, whose record is gone) its family's.
      TESSERA_ASSIGN_OR_RETURN(auto found, LocateWithTtl('r', presented));
      if (!found && !family.empty()) {
        TESSERA_ASSIGN_OR_RETURN(found, LocateWithTtl('f', family));
      }
      if (!found) return out;  // unknown everywhere: the script would say so
      group = found->first;
      // The successor (and a family the rotation starts) are found from the directory too:
      // named before the script writes them, for as long as the presented token's entry lives.
      const int64_t ms = found->second > 0 ? found->second : int64_t{10} * 366 * 24 * 3600 * 1000;
      if (Status s = Place({{'r', successor}, {'f', family}}, *group, ms, &placed); !s.ok()) {
        Unplace(placed);
        return s;
      }
    }
    auto rotated = Eval(rotate_refresh_, *group,
                        {presented, successor, r.sealed_successor, family, generation, now_ms, now,
                         grace, idle, access});
    // Only a rotation writes the successor (and starts a family); otherwise the entries go. (On
    // an error the script may or may not have run: they stay, and expire.)
    if (rotated && !(rotated->type == Reply::Type::kArray && !rotated->elements.empty() &&
                     rotated->elements[0].str == "rotated")) {
      Unplace(placed);
    }
    TESSERA_ASSIGN_OR_RETURN(Reply reply, std::move(rotated));
    if (reply.type != Reply::Type::kArray || reply.elements.empty() ||
        reply.elements[0].type != Reply::Type::kString) {
      return Malformed("a rotation");
    }
    const std::string& outcome = reply.elements[0].str;
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
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('r', h));
    if (!group) return std::optional<Session>();
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_refresh_, *group, {h}));
    return ToOptionalSession(r);
  }

  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view family,
                                                         int64_t generation) override {
    if (family.empty()) return InvalidArgument(Reason::kNone, "no refresh family");
    if (generation < 0 || generation >= kMaxGeneration) {
      return InvalidArgument(Reason::kNone, "a generation out of range");
    }
    const std::string f = Hex(family), g = std::to_string(generation);
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('f', f));
    if (!group) return std::optional<Session>();
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_by_refresh_ancestor_, *group, {f, g}));
    return ToOptionalSession(r);
  }

  Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) override {
    const std::string h = Hex(refresh_hash);
    std::optional<std::pair<RefreshRecord, Session>> out;
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('r', h));
    if (!group) return out;
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(find_refresh_, *group, {h}));
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
    return Eval(add_revocation_, GroupOf(r.handle), {r.handle, until}).status();
  }

  Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) override {
    const std::string id = Hex(id_hash), e = std::to_string(exp);
    TESSERA_ASSIGN_OR_RETURN(std::optional<size_t> group, Locate('s', id));
    if (!group) return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(extend_tokens_until_, *group, {id, e}));
    TESSERA_ASSIGN_OR_RETURN(int64_t found, Int(r));
    if (!found) return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
    return Status::Ok();
  }

  Result<std::vector<Revocation>> ListRevocations(int64_t now) override {
    const std::string after = Prefixed("(", now);
    std::vector<Revocation> out;
    for (size_t g = 0; g < groups(); ++g) {
      const std::string key = Key(g, "rev", "");
      TESSERA_ASSIGN_OR_RETURN(
          Reply r, Command(key, {"ZRANGEBYSCORE", key, after, "+inf", "WITHSCORES"}, true));
      if (r.type != Reply::Type::kArray || r.elements.size() % 2) {
        return Malformed("ZRANGEBYSCORE");
      }
      out.reserve(out.size() + r.elements.size() / 2);
      for (size_t i = 0; i < r.elements.size(); i += 2) {
        // Scores print as integers while they are below 2^53, as every unix time is.
        TESSERA_ASSIGN_OR_RETURN(int64_t until, Int(r.elements[i + 1]));
        out.push_back(Revocation{.handle = r.elements[i].str, .until = until});
      }
    }
    return out;
  }

 private:
  // How often a cluster's reader looks at every outbox (ReadChanges).
  static constexpr std::chrono::milliseconds kSweepInterval{200};

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
    const size_t group = GroupOf(s.user_id);
    std::vector<std::string> placed;
    if (Status p = Place({{'s', id}, {'h', hk}, {'r', refresh}, {'f', family}}, group, ttl_s * 1000,
                         &placed);
        !p.ok()) {
      Unplace(placed);
      return p;
    }
    auto created_reply = Eval(create_, group,
                              {id,
                               s.handle,
                               s.user_id,
                               s.csrf_hash,
                               kind,
                               created,
                               seen,
                               exp,
                               tu,
                               s.user_agent,
                               s.ip,
                               max,
                               limit.on_limit == session::OnLimit::kReject ? "reject" : "evict",
                               now_s,
                               ttl,
                               refresh,
                               family,
                               hk,
                               uk,
                               s.mfa ? "1" : "0"});
    // A refused sign-in (the limit, an id in use) leaves no entry behind. (On an error the
    // script may or may not have run: they stay, and expire with the session.)
    if (created_reply &&
        !(created_reply->type == Reply::Type::kArray && !created_reply->elements.empty() &&
          created_reply->elements[0].str == "ok")) {
      Unplace(placed);
    }
    TESSERA_ASSIGN_OR_RETURN(Reply r, std::move(created_reply));
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

  const StoreScript create_ = MakeScript(redis::scripts::kCreate);
  // Reads (list_by_user only tidies its index, which a failover may undo harmlessly).
  const StoreScript list_by_user_ = MakeScript(redis::scripts::kListByUser, false);
  const StoreScript list_all_ = MakeScript(redis::scripts::kListAll, false);
  const StoreScript remove_ = MakeScript(redis::scripts::kRemove);
  const StoreScript remove_by_handle_ = MakeScript(redis::scripts::kRemoveByHandle);
  const StoreScript remove_by_user_ = MakeScript(redis::scripts::kRemoveByUser);
  const StoreScript touch_ = MakeScript(redis::scripts::kTouch);
  const StoreScript touch_many_ = MakeScript(redis::scripts::kTouchMany);
  const StoreScript remove_expired_ = MakeScript(redis::scripts::kRemoveExpired);
  const StoreScript count_alive_ = MakeScript(redis::scripts::kCountAlive, false);
  const StoreScript rotate_refresh_ = MakeScript(redis::scripts::kRotateRefresh);
  const StoreScript remove_by_refresh_ = MakeScript(redis::scripts::kRemoveByRefresh);
  const StoreScript remove_by_refresh_ancestor_ =
      MakeScript(redis::scripts::kRemoveByRefreshAncestor);
  const StoreScript find_refresh_ = MakeScript(redis::scripts::kFindRefresh, false);
  const StoreScript extend_tokens_until_ = MakeScript(redis::scripts::kExtendTokensUntil);
  const StoreScript add_revocation_ = MakeScript(redis::scripts::kAddRevocation);
  const StoreScript publish_ = MakeScript(redis::scripts::kPublish);

  std::mutex feed_mu_;
  std::unique_ptr<redis::Connection> feed_conn_;   // GUARDED_BY(feed_mu_)
  std::chrono::steady_clock::time_point swept_{};  // GUARDED_BY(feed_mu_)
};

// The signing keyset in Redis (token::KeysetStorage): hash `keyset` {doc, ver}. doc is the keyset
// document sealed (crypto::SealWithSecret, AES-256-GCM under an HKDF of the operator's secret), so
// that a copy of Redis (a backup, a replica, MONITOR) holds no private key; ver counts writes and
// is the compare-and-set version. A write also announces kKeysetChanged on the change feed, in the
// same script, so every instance reloads at once.
class RedisKeysetStorage final : public token::KeysetStorage, RedisBase {
 public:
  RedisKeysetStorage(std::shared_ptr<redis::Router> router, std::string prefix, std::string secret)
      : RedisBase(std::move(router), std::move(prefix)), secret_(std::move(secret)) {}
  ~RedisKeysetStorage() override { crypto::SecureZero(secret_.data(), secret_.size()); }

  Result<std::optional<Document>> Read() override {
    const std::string key = Key(0, "keyset", "");
    TESSERA_ASSIGN_OR_RETURN(Reply r, Command(key, {"HMGET", key, "doc", "ver"}, true));
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
    const std::string key = Key(0, "keyset", "");
    TESSERA_ASSIGN_OR_RETURN(Reply r, Command(key, {"HGET", key, "ver"}, true));
    if (r.is_nil()) return std::optional<std::string>();
    if (r.type != Reply::Type::kString) return Malformed("HGET");
    return std::optional<std::string>(r.str);
  }

  Result<std::optional<std::string>> Replace(const std::optional<std::string>& expected,
                                             std::string_view bytes) override {
    TESSERA_ASSIGN_OR_RETURN(std::string sealed, crypto::SealWithSecret(secret_, kContext, bytes));
    TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(replace_, 0, {expected.value_or(""), sealed}));
    if (r.is_nil()) return std::optional<std::string>();
    if (r.type != Reply::Type::kString) return Malformed("a keyset write");
    return std::optional<std::string>(r.str);
  }

  const std::string& name() const override { return name_; }

 private:
  static constexpr std::string_view kContext = "tessera keyset v1";
  std::string secret_;
  const std::string name_ = "the signing keys in Redis";
  const StoreScript replace_ = MakeScript(redis::scripts::kKeysetReplace);
};

// Throttle records: t:<key> hashes {ws, f, bu, st}, indexed in tz by the later of window start and
// block end. Update is optimistic (WATCH/MULTI/EXEC), retried when another writer got there first.
class RedisThrottleStore final : public user::ThrottleStore, RedisBase {
 public:
  RedisThrottleStore(std::shared_ptr<redis::Router> router, std::string prefix)
      : RedisBase(std::move(router), std::move(prefix)) {}

  Result<user::ThrottleRecord> Update(
      std::string_view key, const std::function<void(user::ThrottleRecord&)>& update) override {
    const size_t group = GroupOf(key);
    const std::string member = Hex(key), k = Key(group, "t:", member), index = Key(group, "tz", "");
    std::optional<user::ThrottleRecord> written;
    // Optimistic: read, change, write unless another writer got there first; then again after
    // a short random pause, so writers contending for one key (an attack on one account from
    // every instance) take turns instead of colliding again, until the command timeout. A
    // server's error reply (a redirect, in a cluster) goes back to the router as it came.
    TESSERA_ASSIGN_OR_RETURN(
        Reply outcome, router_->Run(k, [&](redis::Connection& conn) -> Result<Reply> {
          const auto deadline =
              std::chrono::steady_clock::now() + router_->options().command_timeout;
          std::minstd_rand jitter(std::random_device{}());
          for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
            if (attempt > 0) {
              const int cap_us = 200 << std::min(attempt, 5);
              std::this_thread::sleep_for(std::chrono::microseconds(jitter() % cap_us));
            }
            TESSERA_ASSIGN_OR_RETURN(Reply watched, conn.Command({"WATCH", k}));
            if (watched.is_error()) return watched;
            auto current = conn.Command({"HMGET", k, "ws", "f", "bu", "st"});
            auto read =
                current ? ToThrottle(*current) : Result<user::ThrottleRecord>(current.status());
            if (!read) {
              // The connection goes back to the pool: it must not keep watching.
              (void)conn.Command({"UNWATCH"});
              return read.status();
            }
            user::ThrottleRecord r = *read;
            update(r);
            const std::string ws = std::to_string(r.window_start), f = std::to_string(r.failures);
            const std::string bu = std::to_string(r.blocked_until), st = std::to_string(r.strikes);
            const std::string score = std::to_string(std::max(r.window_start, r.blocked_until));
            TESSERA_ASSIGN_OR_RETURN(
                std::vector<Reply> replies,
                conn.Pipeline({{"MULTI"},
                               {"HSET", k, "ws", ws, "f", f, "bu", bu, "st", st},
                               {"ZADD", index, score, member},
                               {"EXEC"}}));
            const Reply& exec = replies.back();
            if (exec.is_error()) return exec;
            if (exec.is_nil()) continue;  // another writer changed the record: read it again
            written = r;
            return Reply{};
          }
          return Reply{};
        }));
    if (outcome.is_error()) return Unavailable(outcome.str);
    if (!written) {
      return Status(Code::kUnavailable, Reason::kStoreBusy, "redis: throttle record contended");
    }
    return *written;
  }

  Result<user::ThrottleRecord> Get(std::string_view key) override {
    const std::string k = Key(GroupOf(key), "t:", Hex(key));
    TESSERA_ASSIGN_OR_RETURN(Reply r, Command(k, {"HMGET", k, "ws", "f", "bu", "st"}, true));
    return ToThrottle(r);
  }

  Status Remove(std::string_view key) override {
    const std::string member = Hex(key);
    return Eval(remove_, GroupOf(key), {member}).status();
  }

  Result<size_t> RemoveStale(int64_t before) override {
    const std::string b = std::to_string(before);
    constexpr int64_t kBatch = 1000;  // so that no one call holds Redis for long
    const std::string batch = std::to_string(kBatch);
    size_t removed = 0;
    for (size_t g = 0; g < groups(); ++g) {
      while (true) {
        TESSERA_ASSIGN_OR_RETURN(Reply r, Eval(remove_stale_, g, {b, batch}));
        TESSERA_ASSIGN_OR_RETURN(int64_t n, Int(r));
        removed += static_cast<size_t>(n);
        if (n < kBatch) break;
      }
    }
    return removed;
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

  const StoreScript remove_stale_ = MakeScript(redis::scripts::kThrottleRemoveStale);
  const StoreScript remove_ = MakeScript(redis::scripts::kThrottleRemove);
};

}  // namespace

Result<std::unique_ptr<session::SessionStore>> OpenRedisSessionStore(std::string_view url,
                                                                     RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto router, OpenRouter(url, options));
  return std::unique_ptr<session::SessionStore>(
      new RedisSessionStore(std::move(router), options.prefix));
}

Result<std::unique_ptr<token::KeysetStorage>> OpenRedisKeysetStorage(std::string_view url,
                                                                     std::string secret,
                                                                     RedisOptions options) {
  if (secret.size() < 32) {
    return InvalidArgument(Reason::kBadConfig, "the keyset secret must be at least 32 bytes");
  }
  options.pool_size = 2;  // a read a second, and a write now and then
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<redis::Router> router, OpenRouter(url, options));
  return std::unique_ptr<token::KeysetStorage>(
      new RedisKeysetStorage(std::move(router), options.prefix, std::move(secret)));
}

Result<std::string> RedisDurabilityWarning(std::string_view url, RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(redis::Endpoint endpoint, redis::ParseUrl(url));
  const bool sentinel = !endpoint.sentinels.empty();
  // A write a replica confirmed (WAIT) survives the primary's crash: the sentinels promote a
  // replica that has it. (Not the loss of every node at once: that is what persistence is for,
  // and an operator who replicates has chosen.)
  if (endpoint.wait_replicas > 0) return std::string();
  const bool cluster = !endpoint.cluster_seeds.empty();
  redis::Router router(std::move(endpoint), ClientOptionsFor(options), 1);
  auto value = [](const Reply& reply) -> std::optional<std::string> {
    if (reply.type != Reply::Type::kArray || reply.elements.size() != 2) return std::nullopt;
    return reply.elements[1].str;
  };
  // The weakest of the servers' settings: every primary of a cluster (one for each group's slot).
  std::optional<std::string> aof = "yes", fsync = "always";
  bool replicated = false;  // a primary of the cluster has a replica, which may take over
  for (const std::string& tag : cluster ? GroupTags() : std::vector<std::string>{""}) {
    const std::string key = "{" + tag + "}";
    TESSERA_ASSIGN_OR_RETURN(Reply a, router.Command(key, {"CONFIG", "GET", "appendonly"}, true));
    TESSERA_ASSIGN_OR_RETURN(Reply f, router.Command(key, {"CONFIG", "GET", "appendfsync"}, true));
    if (cluster) {
      // ["master", offset, [[host, port, offset]...]]
      TESSERA_ASSIGN_OR_RETURN(Reply role, router.Command(key, {"ROLE"}, true));
      replicated = replicated || (role.type == Reply::Type::kArray && role.elements.size() >= 3 &&
                                  !role.elements[2].elements.empty());
    }
    const auto node_aof = value(a), node_fsync = value(f);
    if (!node_aof || !node_fsync) {
      aof = fsync = std::nullopt;
      break;
    }
    if (*node_aof != "yes") aof = node_aof;
    if (*node_fsync != "always" && fsync) fsync = node_fsync;
  }
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
  if (sentinel || replicated) {
    // Replication is asynchronous: the replica promoted may lack the last writes, however the old
    // primary kept them. (A cluster whose primaries have no replica does not fail over.)
    warning += std::string(warning.empty() ? "" : "; ") +
               "a failover loses what the replicas had not yet received (add ?wait_replicas=1 to "
               "the URL, with two replicas so that writes go on when one is lost)";
  }
  return warning;
}

Result<std::unique_ptr<user::ThrottleStore>> OpenRedisThrottleStore(std::string_view url,
                                                                    RedisOptions options) {
  TESSERA_ASSIGN_OR_RETURN(auto router, OpenRouter(url, options));
  return std::unique_ptr<user::ThrottleStore>(
      new RedisThrottleStore(std::move(router), options.prefix));
}

}  // namespace tessera::store
