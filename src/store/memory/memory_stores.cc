// In-memory SessionStore and UserStore: one mutex each, maps by key.
#include <algorithm>
#include <map>
#include <mutex>

#include "tessera/store/memory.h"

namespace tessera::store {
namespace {

using session::Session;

class MemorySessionStore final : public session::SessionStore {
 public:
  Status Create(const Session& s, const session::LimitPolicy& limit, int64_t now,
                std::vector<Session>* evicted) override {
    std::lock_guard lock(mu_);
    if (sessions_.count(s.id_hash)) {
      return Status(Code::kAlreadyExists, Reason::kNone, "session exists");
    }
    for (const auto& [k, v] : sessions_) {
      if (v.handle == s.handle) return Status(Code::kAlreadyExists, Reason::kNone, "handle exists");
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
        std::sort(alive.begin(), alive.end(), [](const Session* a, const Session* b) {
          return a->created_at < b->created_at;
        });
        const size_t excess = alive.size() - limit.max_per_user + 1;
        std::vector<std::string> doomed;
        for (size_t i = 0; i < excess; ++i) {
          if (evicted) evicted->push_back(*alive[i]);
          doomed.push_back(alive[i]->id_hash);
        }
        for (const auto& id : doomed) sessions_.erase(id);
      }
    }
    sessions_.emplace(s.id_hash, s);
    return Status::Ok();
  }

  Result<std::optional<Session>> Get(std::string_view id_hash) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(std::string(id_hash));
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
              [](const Session& a, const Session& b) { return a.created_at < b.created_at; });
    return out;
  }

  Result<std::vector<Session>> ListAll(size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<Session> out;
    for (const auto& [k, v] : sessions_) out.push_back(v);
    std::sort(out.begin(), out.end(),
              [](const Session& a, const Session& b) { return a.created_at < b.created_at; });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  Result<std::optional<Session>> RemoveByHandle(std::string_view handle) override {
    std::lock_guard lock(mu_);
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.handle == handle) {
        Session s = std::move(it->second);
        sessions_.erase(it);
        return std::optional<Session>(std::move(s));
      }
    }
    return std::optional<Session>();
  }

  Status Touch(std::string_view id_hash, int64_t last_seen_at) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(std::string(id_hash));
    if (it != sessions_.end()) it->second.last_seen_at = last_seen_at;
    return Status::Ok();
  }

  Result<std::optional<Session>> Remove(std::string_view id_hash) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(std::string(id_hash));
    if (it == sessions_.end()) return std::optional<Session>();
    Session s = std::move(it->second);
    sessions_.erase(it);
    return std::optional<Session>(std::move(s));
  }

  Result<std::vector<Session>> RemoveByUser(std::string_view user_id,
                                            std::string_view keep_id_hash) override {
    std::lock_guard lock(mu_);
    std::vector<Session> out;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.user_id == user_id && it->first != keep_id_hash) {
        out.push_back(std::move(it->second));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  Result<size_t> RemoveExpired(int64_t now, int64_t idle_cutoff) override {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::erase_if(sessions_, [&](const auto& kv) {
      return kv.second.expires_at <= now || kv.second.last_seen_at < idle_cutoff;
    }));
  }

  Result<size_t> CountAlive(int64_t now) override {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(sessions_.begin(), sessions_.end(),
                                              [&](const auto& kv) { return kv.second.expires_at > now; }));
  }

  Result<uint64_t> ExternalVersion() override { return uint64_t{0}; }

 private:
  std::mutex mu_;
  std::map<std::string, Session, std::less<>> sessions_;  // GUARDED_BY(mu_)
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
    by_name_.erase(it);
    return Status::Ok();
  }

  Status SetPasswordHash(std::string_view id, std::string_view hash) override {
    std::lock_guard lock(mu_);
    for (auto& [k, v] : by_name_) {
      if (v.id == id) {
        v.password_hash = std::string(hash);
        return Status::Ok();
      }
    }
    return Status(Code::kNotFound, Reason::kUnknownUser, "no such user");
  }

  Status Ping() override { return Status::Ok(); }

 private:
  std::mutex mu_;
  std::map<std::string, user::User, std::less<>> by_name_;  // GUARDED_BY(mu_)
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
std::unique_ptr<user::UserStore> NewMemoryUserStore() { return std::make_unique<MemoryUserStore>(); }

}  // namespace tessera::store
