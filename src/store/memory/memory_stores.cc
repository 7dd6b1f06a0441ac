// In-memory SessionStore and UserStore: one mutex each, maps by key.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <random>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/store/memory.h"

namespace tessera::store {
namespace {

using session::RefreshOutcome;
using session::RefreshRecord;
using session::RefreshResult;
using session::RefreshRotation;
using session::Revocation;
using session::Session;

// A feed's identity: only needs to differ between stores (it is no secret).
std::string NewFeedId() {
  std::random_device rd;
  std::string id = "memory-";
  for (int i = 0; i < 4; ++i) id += std::to_string(rd());
  return id;
}

Status UnknownSession() {
  return Status(Code::kNotFound, Reason::kUnknownSession, "no such session");
}

class MemorySessionStore final : public session::SessionStore {
 public:
  Status Create(const Session& s, const session::LimitPolicy& limit, int64_t now,
                std::vector<Session>* evicted) override {
    std::lock_guard lock(mu_);
    return CreateLocked(s, /*first=*/{}, limit, now, evicted);
  }

  Status CreateTokenSession(const Session& s, const session::FirstRefreshToken& first,
                            const session::LimitPolicy& limit, int64_t now,
                            std::vector<Session>* evicted) override {
    TESSERA_RETURN_IF_ERROR(CheckTokenSession(s, first));
    std::lock_guard lock(mu_);
    return CreateLocked(s, first, limit, now, evicted);
  }

  Result<std::optional<Session>> Get(std::string_view id_hash) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id_hash);
    if (it == sessions_.end()) return std::optional<Session>();
    return std::optional<Session>(it->second);
  }

  Result<std::vector<Session>> ListByUser(std::string_view user_id) override {
    std::lock_guard lock(mu_);
    std::vector<Session> out;
    for (const auto& [k, v] : sessions_) {
      if (v.user_id == user_id) out.push_back(v);
    }
    std::sort(out.begin(), out.end(),
              [this](const Session& a, const Session& b) { return OlderLocked(a, b); });
    return out;
  }

  Result<std::vector<Session>> ListAll(size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<Session> out;
    for (const auto& [k, v] : sessions_) out.push_back(v);
    std::sort(out.begin(), out.end(),
              [this](const Session& a, const Session& b) { return OlderLocked(a, b); });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  Result<std::optional<Session>> RemoveByHandle(std::string_view handle) override {
    std::lock_guard lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.handle == handle) return std::optional<Session>(EndLocked(it));
    }
    return std::optional<Session>();
  }

  Status Touch(std::string_view id_hash, int64_t last_seen_at) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id_hash);
    if (it != sessions_.end()) it->second.last_seen_at = last_seen_at;
    return Status::Ok();
  }

  Result<std::optional<Session>> Remove(std::string_view id_hash) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id_hash);
    if (it == sessions_.end()) return std::optional<Session>();
    return std::optional<Session>(EndLocked(it));
  }

  Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                            std::string_view keep_id_hash) override {
    std::lock_guard lock(mu_);
    std::vector<Session> out;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto next = std::next(it);
      if (it->second.user_id == user_id && it->first != keep_id_hash) {
        out.push_back(EndLocked(it));
      }
      it = next;
    }
    return out;
  }

  Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) override {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      auto next = std::next(it);
      if (it->second.expires_at <= now || it->second.last_seen_at < idle_cutoff) {
        EndLocked(it);
        ++n;
      }
      it = next;
    }
    std::erase_if(revocations_, [&](const auto& kv) {
      return kv.second <= now - session::kRevocationRetentionSeconds;
    });
    // No grace window is still running for these: a replay is theft whether the record is here
    // or not, and a token of a family is recognised without it.
    const int64_t cutoff_ms = (now - session::kMaxRefreshGraceSeconds) * 1000;
    for (auto& [session_id, hashes] : families_) {
      std::erase_if(hashes, [&](const std::string& h) {
        auto it = refresh_.find(h);
        if (it == refresh_.end()) return true;
        RefreshRecord& record = it->second;
        if (record.rotated_at_ms <= 0 || record.rotated_at_ms >= cutoff_ms) return false;
        if (record.family.empty()) {
          record.sealed_successor.clear();
          return false;
        }
        refresh_.erase(it);
        return true;
      });
    }
    return n;
  }

  Result<size_t> CountAlive(int64_t now) override {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(sessions_.begin(), sessions_.end(),
                                              [&](const auto& kv) { return kv.second.expires_at > now; }));
  }

  Result<session::FeedPosition> FeedHead() override {
    std::lock_guard lock(mu_);
    return session::FeedPosition{feed_, seq_};
  }

  Result<session::ChangeBatch> ReadChanges(const session::FeedPosition& after, size_t max,
                                           std::chrono::milliseconds wait) override {
    if (max == 0) return InvalidArgument(Reason::kNone, "read at least one change");
    std::unique_lock lock(mu_);
    session::ChangeBatch out;
    out.next = {feed_, seq_};
    // The oldest entry kept is seq_ - changes_.size() + 1; a cursor before its predecessor lost
    // entries.
    if (after.feed != feed_ || after.seq > seq_ || after.seq + changes_.size() < seq_) {
      out.gap = true;
      return out;
    }
    if (after.seq == seq_ && wait.count() > 0) {
      changed_.wait_for(lock, wait, [&] { return seq_ != after.seq; });
    }
    const size_t first = changes_.size() - (seq_ - after.seq);
    for (size_t i = first; i < changes_.size() && out.changes.size() < max; ++i) {
      out.changes.push_back(changes_[i]);
    }
    out.next = {feed_, after.seq + out.changes.size()};
    return out;
  }

  Status PublishChange(const session::Change& c) override {
    TESSERA_RETURN_IF_ERROR(CheckPublished(c));
    std::lock_guard lock(mu_);
    AppendLocked(c);
    return Status::Ok();
  }

  // MemoryRefreshRecordCountForTesting.
  size_t RefreshRecordCount(std::string_view session_id_hash) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [hash, record] : refresh_) n += record.session_id_hash == session_id_hash;
    return n;
  }

  Result<RefreshResult> RotateRefresh(const RefreshRotation& r) override {
    if (r.presented_hash.empty() || r.successor_hash.empty() || r.now_ms <= 0 ||
        r.generation < 0) {
      return InvalidArgument(Reason::kNone, "a rotation needs both hashes and a time");
    }
    std::lock_guard lock(mu_);
    RefreshResult out;  // kUnknown
    const int64_t now = r.now_ms / 1000;
    auto p = refresh_.find(r.presented_hash);
    if (p == refresh_.end()) return PresentAncestorLocked(r);
    auto s = sessions_.find(p->second.session_id_hash);
    // The family lives only as long as its session, absolute and idle deadlines alike.
    if (s == sessions_.end() || s->second.expires_at <= now ||
        s->second.last_seen_at < r.idle_cutoff) {
      return out;
    }
    RefreshRecord& presented = p->second;
    Session& session = s->second;
    if (presented.rotated_at_ms == 0) {
      if (refresh_.count(r.successor_hash)) {
        return Status(Code::kAlreadyExists, Reason::kNone, "refresh token exists");
      }
      // A token from before families starts one (r.family) with its successor.
      const bool had_family = !presented.family.empty();
      std::string family = had_family ? presented.family : r.family;
      const int64_t generation = (had_family ? presented.generation : r.generation) + 1;
      if (!had_family && !family.empty() && family_index_.count(family)) {
        return Status(Code::kAlreadyExists, Reason::kNone, "refresh family exists");
      }
      presented.rotated_at_ms = r.now_ms;
      presented.successor_hash = r.successor_hash;
      presented.sealed_successor = r.sealed_successor;
      refresh_.emplace(r.successor_hash, RefreshRecord{.hash = r.successor_hash,
                                                       .session_id_hash = session.id_hash,
                                                       .issued_at = now,
                                                       .family = family,
                                                       .generation = generation});
      if (!had_family && !family.empty()) family_index_.emplace(family, session.id_hash);
      std::vector<std::string>& hashes = families_[session.id_hash];
      // The presented token's ancestors can no longer be replayed for a successor (the ones they
      // sealed are spent): records of a family go, a family still recognises them as theft; a
      // token without a family keeps its record but loses its seal (see the SQLite store).
      std::erase_if(hashes, [&](const std::string& h) {
        auto it = refresh_.find(h);
        if (it == refresh_.end()) return true;
        if (!it->second.family.empty() && it->second.generation < presented.generation) {
          refresh_.erase(it);
          return true;
        }
        if (it->second.successor_hash == presented.hash) it->second.sealed_successor.clear();
        return false;
      });
      hashes.push_back(r.successor_hash);
      session.last_seen_at = std::max(session.last_seen_at, now);
      session.tokens_until = std::max(session.tokens_until, r.access_expires_at);
      out.outcome = RefreshOutcome::kRotated;
      out.presented = presented;
      out.session = session;
      return out;
    }
    auto successor = refresh_.find(presented.successor_hash);
    const bool successor_live =
        successor != refresh_.end() && successor->second.rotated_at_ms == 0;
    // Two tabs refreshing at once: the slower one gets the successor the faster one created.
    if (r.grace_ms > 0 && r.now_ms - presented.rotated_at_ms < r.grace_ms && successor_live) {
      session.tokens_until = std::max(session.tokens_until, r.access_expires_at);
      out.outcome = RefreshOutcome::kGraceReplay;
      out.presented = presented;
      out.session = session;
      return out;
    }
    // Anything else is a token used twice: one of the two holders is a thief, and we cannot tell
    // which, so the whole family and its session end (RFC 9700 section 4.14.2).
    out.outcome = RefreshOutcome::kReuseDetected;
    out.presented = presented;
    out.session = EndLocked(s);
    return out;
  }

  Result<std::optional<Session>> RemoveByRefreshAncestor(std::string_view family,
                                                         int64_t generation) override {
    if (family.empty()) return InvalidArgument(Reason::kNone, "no refresh family");
    std::lock_guard lock(mu_);
    auto s = FindAncestorFamilyLocked(family, generation);
    if (s == sessions_.end()) return std::optional<Session>();
    return std::optional<Session>(EndLocked(s));
  }

  Result<std::optional<Session>> RemoveByRefresh(std::string_view refresh_hash) override {
    std::lock_guard lock(mu_);
    auto p = refresh_.find(refresh_hash);
    if (p == refresh_.end()) return std::optional<Session>();
    auto s = sessions_.find(p->second.session_id_hash);
    if (s == sessions_.end()) return std::optional<Session>();
    return std::optional<Session>(EndLocked(s));
  }

  Status ExtendTokensUntil(std::string_view id_hash, int64_t exp) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id_hash);
    // A session that is gone has no revocation entry to come: its tokens must not be issued.
    if (it == sessions_.end()) return UnknownSession();
    it->second.tokens_until = std::max(it->second.tokens_until, exp);
    return Status::Ok();
  }

  Result<std::optional<std::pair<RefreshRecord, Session>>> FindRefresh(
      std::string_view refresh_hash) override {
    std::lock_guard lock(mu_);
    std::optional<std::pair<RefreshRecord, Session>> out;
    auto p = refresh_.find(refresh_hash);
    if (p == refresh_.end()) return out;
    auto s = sessions_.find(p->second.session_id_hash);
    if (s != sessions_.end()) out.emplace(p->second, s->second);
    return out;
  }

  Status AddRevocation(const Revocation& r) override {
    if (r.handle.empty()) {
      return Status(Code::kInvalidArgument, Reason::kNone, "a revocation needs a key");
    }
    std::lock_guard lock(mu_);
    int64_t& until = revocations_[r.handle];
    until = std::max(until, r.until);
    AppendLocked({.kind = session::ChangeKind::kTokenRevoked, .handle = r.handle, .until = r.until});
    return Status::Ok();
  }

  Result<std::vector<Revocation>> ListRevocations(int64_t now) override {
    std::lock_guard lock(mu_);
    std::vector<Revocation> out;
    for (const auto& [handle, until] : revocations_) {
      if (until > now) out.push_back(Revocation{.handle = handle, .until = until});
    }
    return out;
  }

 private:
  using SessionMap = std::map<std::string, Session, std::less<>>;

  // The session whose live refresh token is of `family` and of a later generation than
  // `generation`; end() when there is none. REQUIRES: mu_ held.
  SessionMap::iterator FindAncestorFamilyLocked(std::string_view family, int64_t generation) {
    if (family.empty()) return sessions_.end();
    auto f = family_index_.find(family);
    if (f == family_index_.end()) return sessions_.end();
    auto s = sessions_.find(f->second);
    if (s == sessions_.end()) return sessions_.end();
    auto hashes = families_.find(s->first);
    if (hashes == families_.end()) return sessions_.end();
    for (const std::string& h : hashes->second) {
      auto it = refresh_.find(h);
      if (it != refresh_.end() && it->second.rotated_at_ms == 0 && it->second.family == family &&
          it->second.generation > generation) {
        return s;
      }
    }
    return sessions_.end();
  }

  // RotateRefresh for a hash that is not stored: theft when it names an ancestor of a live family.
  // REQUIRES: mu_ held.
  RefreshResult PresentAncestorLocked(const RefreshRotation& r) {
    RefreshResult out;  // kUnknown
    auto s = FindAncestorFamilyLocked(r.family, r.generation);
    if (s == sessions_.end() || s->second.expires_at <= r.now_ms / 1000 ||
        s->second.last_seen_at < r.idle_cutoff) {
      return out;
    }
    out.outcome = RefreshOutcome::kReuseDetected;
    out.presented = RefreshRecord{.hash = r.presented_hash,
                                  .session_id_hash = s->first,
                                  .family = r.family,
                                  .generation = r.generation};
    out.session = EndLocked(s);
    return out;
  }

  // Create, and when `refresh_hash` is not empty the first token of the family: every check runs
  // before anything changes, so a refusal stores nothing. REQUIRES: mu_ held.
  Status CreateLocked(const Session& s, const session::FirstRefreshToken& first,
                      const session::LimitPolicy& limit, int64_t now,
                      std::vector<Session>* evicted) {
    const std::string_view refresh_hash = first.hash;
    if (sessions_.count(s.id_hash)) {
      return Status(Code::kAlreadyExists, Reason::kNone, "session exists");
    }
    for (const auto& [k, v] : sessions_) {
      if (v.handle == s.handle) return Status(Code::kAlreadyExists, Reason::kNone, "handle exists");
    }
    if (!refresh_hash.empty() && refresh_.count(refresh_hash)) {
      return Status(Code::kAlreadyExists, Reason::kNone, "refresh token exists");
    }
    if (!refresh_hash.empty() && !first.family.empty() && family_index_.count(first.family)) {
      return Status(Code::kAlreadyExists, Reason::kNone, "refresh family exists");
    }
    if (limit.max_per_user > 0) {
      std::vector<const Session*> alive;
      for (const auto& [k, v] : sessions_) {
        if (v.user_id == s.user_id && v.expires_at > now) alive.push_back(&v);
      }
      if (alive.size() >= limit.max_per_user) {
        if (limit.on_limit == session::OnLimit::kReject) {
          return ResourceExhausted(Reason::kSessionLimit, "session limit reached");
        }
        std::sort(alive.begin(), alive.end(),
                  [this](const Session* a, const Session* b) { return OlderLocked(*a, *b); });
        const size_t excess = alive.size() - limit.max_per_user + 1;
        std::vector<std::string> doomed;
        for (size_t i = 0; i < excess; ++i) doomed.push_back(alive[i]->id_hash);
        for (const auto& id : doomed) {
          Session gone = EndLocked(sessions_.find(id));
          if (evicted) evicted->push_back(std::move(gone));
        }
      }
    }
    sessions_.emplace(s.id_hash, s);
    order_[s.id_hash] = ++created_;
    if (!refresh_hash.empty()) {
      refresh_.emplace(std::string(refresh_hash), RefreshRecord{.hash = std::string(refresh_hash),
                                                                .session_id_hash = s.id_hash,
                                                                .issued_at = s.created_at,
                                                                .family = std::string(first.family),
                                                                .generation = 0});
      families_[s.id_hash].push_back(std::string(refresh_hash));
      if (!first.family.empty()) family_index_.emplace(std::string(first.family), s.id_hash);
    }
    return Status::Ok();
  }

  // Ends a session the one way every removal shares: its refresh family goes with it, and its
  // handle stays revoked while its access tokens may still be presented. REQUIRES: mu_ held.
  Session EndLocked(SessionMap::iterator it) {
    Session s = std::move(it->second);
    sessions_.erase(it);
    order_.erase(s.id_hash);
    if (auto f = families_.find(s.id_hash); f != families_.end()) {
      for (const auto& h : f->second) {
        auto it = refresh_.find(h);
        if (it == refresh_.end()) continue;
        if (!it->second.family.empty()) family_index_.erase(it->second.family);
        refresh_.erase(it);
      }
      families_.erase(f);
    }
    if (s.tokens_until > 0) {
      int64_t& until = revocations_[s.handle];
      until = std::max(until, s.tokens_until);
    }
    AppendLocked({.kind = session::ChangeKind::kSessionEnded,
                  .id_hash = s.id_hash,
                  .handle = s.handle,
                  .user_id = s.user_id,
                  .until = s.tokens_until});
    return s;
  }

  // Oldest first: by created_at, and sessions of one second in the order they were stored (as
  // SQLite's rowid does). REQUIRES: mu_ held.
  bool OlderLocked(const Session& a, const Session& b) const {
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    auto x = order_.find(a.id_hash), y = order_.find(b.id_hash);
    return (x == order_.end() ? 0 : x->second) < (y == order_.end() ? 0 : y->second);
  }

  // Appends to the feed, numbering the entry; the oldest goes past kMaxChanges. REQUIRES: mu_.
  void AppendLocked(session::Change c) {
    c.seq = ++seq_;
    changes_.push_back(std::move(c));
    if (changes_.size() > kMaxChanges) changes_.pop_front();
    changed_.notify_all();
  }

  static constexpr size_t kMaxChanges = 100000;

  std::mutex mu_;
  SessionMap sessions_;                                        // GUARDED_BY(mu_)
  std::map<std::string, RefreshRecord, std::less<>> refresh_;  // GUARDED_BY(mu_); by hash
  // Each session's stored refresh token hashes, by session id_hash.
  std::map<std::string, std::vector<std::string>, std::less<>> families_;  // GUARDED_BY(mu_)
  // Family key -> session id_hash, for recognising pruned ancestors.
  std::map<std::string, std::string, std::less<>> family_index_;  // GUARDED_BY(mu_)
  std::map<std::string, int64_t, std::less<>> revocations_;  // GUARDED_BY(mu_); handle -> until
  std::map<std::string, uint64_t, std::less<>> order_;  // GUARDED_BY(mu_); id_hash -> when stored
  uint64_t created_ = 0;                                // GUARDED_BY(mu_)
  // The change feed: a ring of the last kMaxChanges entries, the newest numbered seq_.
  const std::string feed_ = NewFeedId();
  std::deque<session::Change> changes_;  // GUARDED_BY(mu_)
  uint64_t seq_ = 0;                     // GUARDED_BY(mu_)
  std::condition_variable changed_;
};

class MemoryUserStore final : public user::UserStore {
 public:
  Status Add(const user::User& u) override {
    std::lock_guard lock(mu_);
    if (by_name_.count(u.username)) {
      return Status(Code::kAlreadyExists, Reason::kUserExists, "user exists");
    }
    for (const auto& [k, v] : by_name_) {
      if (v.id == u.id) return Status(Code::kAlreadyExists, Reason::kUserExists, "user id exists");
    }
    by_name_.emplace(u.username, u);
    return Status::Ok();
  }

  Result<std::optional<user::User>> FindByName(std::string_view name) override {
    std::lock_guard lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return std::optional<user::User>();
    return std::optional<user::User>(it->second);
  }

  Result<std::optional<user::User>> FindById(std::string_view id) override {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : by_name_) {
      if (v.id == id) return std::optional<user::User>(v);
    }
    return std::optional<user::User>();
  }

  Result<std::vector<user::User>> List() override {
    std::lock_guard lock(mu_);
    std::vector<user::User> out;
    for (const auto& [k, v] : by_name_) out.push_back(v);
    return out;
  }

  Status Remove(std::string_view name) override {
    std::lock_guard lock(mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    totp_.erase(it->second.id);
    by_name_.erase(it);
    return Status::Ok();
  }

  Result<std::optional<user::Totp>> GetTotp(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = totp_.find(id);
    if (it == totp_.end()) return std::optional<user::Totp>();
    return std::optional<user::Totp>(it->second);
  }

  Status PutTotp(std::string_view id, const user::Totp& totp) override {
    std::lock_guard lock(mu_);
    bool exists = false;
    for (const auto& [k, v] : by_name_) exists = exists || v.id == id;
    if (!exists) return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    totp_.insert_or_assign(std::string(id), totp);
    return Status::Ok();
  }

  Result<bool> StartTotp(std::string_view id, const user::Totp& pending) override {
    std::lock_guard lock(mu_);
    bool exists = false;
    for (const auto& [k, v] : by_name_) exists = exists || v.id == id;
    if (!exists) return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
    auto it = totp_.find(id);
    if (it != totp_.end() && it->second.confirmed) return false;
    totp_.insert_or_assign(std::string(id), pending);
    return true;
  }

  Result<bool> ConfirmTotp(std::string_view id, std::string_view sealed_secret, int64_t step,
                           const std::vector<std::string>& recovery_hashes,
                           int64_t now) override {
    std::lock_guard lock(mu_);
    auto it = totp_.find(id);
    if (it == totp_.end() || it->second.confirmed || it->second.sealed_secret != sealed_secret) {
      return false;
    }
    user::Totp& t = it->second;
    t.confirmed = true;
    t.last_step = step;
    t.recovery_hashes = recovery_hashes;
    t.created_at = now;
    t.ticket_hash.clear();
    t.ticket_expires_at = 0;
    return true;
  }

  Result<bool> RemoveTotp(std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = totp_.find(id);
    if (it == totp_.end()) return false;
    totp_.erase(it);
    return true;
  }

  Result<bool> SetMfaTicket(std::string_view id, std::string_view ticket_hash,
                            int64_t expires_at) override {
    std::lock_guard lock(mu_);
    auto it = totp_.find(id);
    if (it == totp_.end() || !it->second.confirmed) return false;
    it->second.ticket_hash = std::string(ticket_hash);
    it->second.ticket_expires_at = expires_at;
    return true;
  }

  Result<bool> UseMfa(std::string_view id, const MfaUse& use) override {
    std::lock_guard lock(mu_);
    auto it = totp_.find(id);
    if (it == totp_.end()) return false;
    user::Totp& t = it->second;
    if (!t.confirmed || use.ticket_hash.empty() || t.ticket_hash != use.ticket_hash ||
        t.ticket_expires_at <= use.now) {
      return false;
    }
    if (use.recovery_hash.empty()) {
      if (use.step <= t.last_step) return false;
      t.last_step = use.step;
    } else {
      auto code = std::find(t.recovery_hashes.begin(), t.recovery_hashes.end(), use.recovery_hash);
      if (code == t.recovery_hashes.end()) return false;
      t.recovery_hashes.erase(code);
    }
    t.ticket_hash.clear();
    t.ticket_expires_at = 0;
    return true;
  }

  Status SetPasswordHash(std::string_view id, std::string_view hash) override {
    return Change(id, [&](user::User& u) { u.password_hash = std::string(hash); });
  }

  Status SetRoles(std::string_view id, const std::vector<std::string>& roles) override {
    return Change(id, [&](user::User& u) { u.roles = roles; });
  }

  Status SetDisabled(std::string_view id, bool disabled) override {
    return Change(id, [&](user::User& u) { u.disabled = disabled; });
  }

  Status Ping() override { return Status::Ok(); }

 private:
  template <typename F>
  Status Change(std::string_view id, F&& change) {
    std::lock_guard lock(mu_);
    for (auto& [k, v] : by_name_) {
      if (v.id == id) {
        change(v);
        return Status::Ok();
      }
    }
    return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
  }

  std::mutex mu_;
  std::map<std::string, user::User, std::less<>> by_name_;  // GUARDED_BY(mu_)
  std::map<std::string, user::Totp, std::less<>> totp_;     // by user id; GUARDED_BY(mu_)
};

class MemoryThrottleStore final : public user::ThrottleStore {
 public:
  Result<user::ThrottleRecord> Update(
      std::string_view key, const std::function<void(user::ThrottleRecord&)>& update) override {
    std::lock_guard lock(mu_);
    user::ThrottleRecord& r = records_[std::string(key)];
    update(r);
    return r;
  }
  Result<user::ThrottleRecord> Get(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = records_.find(key);
    return it == records_.end() ? user::ThrottleRecord{} : it->second;
  }
  Status Remove(std::string_view key) override {
    std::lock_guard lock(mu_);
    if (auto it = records_.find(key); it != records_.end()) records_.erase(it);
    return Status::Ok();
  }
  Result<size_t> RemoveStale(int64_t before) override {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::erase_if(records_, [&](const auto& kv) {
      return kv.second.window_start < before && kv.second.blocked_until < before;
    }));
  }

 private:
  std::mutex mu_;
  std::map<std::string, user::ThrottleRecord, std::less<>> records_;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<user::ThrottleStore> NewMemoryThrottleStore() {
  return std::make_unique<MemoryThrottleStore>();
}

std::unique_ptr<session::SessionStore> NewMemorySessionStore() {
  return std::make_unique<MemorySessionStore>();
}

size_t MemoryRefreshRecordCountForTesting(session::SessionStore& store,
                                          std::string_view session_id_hash) {
  auto* memory = dynamic_cast<MemorySessionStore*>(&store);
  return memory ? memory->RefreshRecordCount(session_id_hash) : 0;
}
std::unique_ptr<user::UserStore> NewMemoryUserStore() { return std::make_unique<MemoryUserStore>(); }

}  // namespace tessera::store
