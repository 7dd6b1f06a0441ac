#include "runtime.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "crypto/hmac.h"
#include "crypto/password_list.h"
#include "crypto/random.h"
#include "store/open.h"
#include "token/private_file.h"

namespace tessera::server {
namespace {

// `s` with "what: " before its message, its code and reason kept.
Status Naming(std::string_view what, const Status& s) {
  return Status(s.code(), s.reason(), std::string(what) + ": " + s.message());
}

// A 32-byte secret in the data directory, made on first start (mode 0600), so that what it keys
// stays the same across restarts and across instances sharing the data directory: the names of
// unknown accounts in the audit trail, device cookies. A file that is there but is no key (cut
// short, overwritten) is refused, not silently replaced: the operator decides whether to restore
// it or to start over with a new key.
Result<std::string> DataKey(const Config& config, std::string_view file) {
  constexpr size_t kKeyBytes = 32;
  const std::string path = config.server.data + "/" + std::string(file);
  TESSERA_ASSIGN_OR_RETURN(token::FileLock lock, token::FileLock::Acquire(path + ".lock"));
  TESSERA_ASSIGN_OR_RETURN(auto existing, token::ReadPrivateFile(path, 4096));
  if (existing) {
    if (existing->bytes.size() == kKeyBytes) return existing->bytes;
    return Status(Code::kInternal, Reason::kIo,
                  path + " holds " + std::to_string(existing->bytes.size()) +
                      " bytes, not a 32-byte key: restore it from a backup, or remove it to "
                      "start with a new key");
  }
  std::string key = crypto::RandomString(kKeyBytes);
  TESSERA_RETURN_IF_ERROR(token::WritePrivateFile(path, key).status());
  return key;
}

// The key that seals TOTP secrets and keys recovery-code hashes (user/mfa_service.h). Every
// instance that shares the account store needs the same one: derived from the deployment's shared
// secret (token.keyset_secret_file) when there is one, else a file in the data directory, which
// instances sharing accounts (PostgreSQL) but not a data directory must then copy.
Result<std::string> MfaKey(const Config& config) {
  TESSERA_ASSIGN_OR_RETURN(std::string shared, store::ReadKeysetSecret(config));
  if (shared.empty()) return DataKey(config, "mfa.key");
  crypto::HmacKey root(crypto::Hash::kSha256, shared);
  std::string key(32, '\0');
  root.Compute("tessera mfa key v1", reinterpret_cast<uint8_t*>(key.data()));
  return key;
}

// The name authenticator apps show beside the code: the issuer's host ("auth.example.com"), which
// people recognise, rather than its whole URL.
std::string MfaIssuer(std::string_view issuer_url) {
  std::string_view host = issuer_url;
  if (size_t scheme = host.find("://"); scheme != std::string_view::npos) {
    host.remove_prefix(scheme + 3);
  }
  host = host.substr(0, host.find('/'));
  return host.empty() ? "tessera" : std::string(host);
}

}  // namespace

token::KeysetOptions KeysetOptionsFor(const Config& config) {
  token::KeysetOptions options;
  // LoadConfig admits only algorithm names that parse.
  if (auto alg = jose::AlgFromName(config.token.alg)) options.alg = *alg;
  options.access_ttl_seconds = config.token.access_ttl.count();
  return options;
}

Result<std::unique_ptr<Runtime>> Runtime::Open(Config config, Options options) {
  std::unique_ptr<Runtime> r(new Runtime(std::move(config), options));
  TESSERA_RETURN_IF_ERROR(r->Assemble());
  if (options.maintenance) {
    r->follower_->Spawn();
    r->thread_ = std::thread([p = r.get()] {
      NameThisThread("tessera-chores");
      p->MaintenanceLoop();
    });
  }
  return r;
}

Status Runtime::Assemble() {
  const Config& c = config_;
  const Clock* clock = options_.clock;
  // The keys below, the keyset file and the audit log live there whatever the stores are; with
  // PostgreSQL and Redis no store makes it.
  if (Status s = store::EnsureDataDir(c.server.data); !s.ok()) return Naming("server.data", s);
  auto users = store::OpenUserStore(c);
  if (!users) return Naming("users.store", users.error());
  users_ = std::move(*users);
  auto sessions = store::OpenSessionStore(c);
  if (!sessions) return Naming("session.store", sessions.error());
  sessions_ = std::move(*sessions);
  auto throttle_store = store::OpenThrottleStore(c);
  if (!throttle_store) return Naming("throttle store", throttle_store.error());
  throttle_store_ = std::move(*throttle_store);
  auto audit_name_key = DataKey(c, "audit-name.key");
  if (!audit_name_key) return Naming("audit-name.key", audit_name_key.error());
  auto device_cookie_key = DataKey(c, "device-cookie.key");
  if (!device_cookie_key) return Naming("device-cookie.key", device_cookie_key.error());
  auto mfa_key = MfaKey(c);
  if (!mfa_key) return Naming("the second factor's key", mfa_key.error());

  const auto limit = [](const Rate& rate) {
    return user::ThrottleLimit{rate.count, static_cast<int64_t>(rate.per.count())};
  };
  throttle_ = std::make_unique<user::LoginThrottle>(
      throttle_store_.get(), limit(c.throttle.login_per_user), limit(c.throttle.login_per_ip),
      clock, static_cast<int>(c.throttle.ipv6_prefix));
  auto hasher = crypto::PasswordHasher::Create(
      {c.password.argon2_memory_kib, c.password.argon2_iterations});
  if (!hasher) return Naming("password", hasher.error());
  hasher_ = std::make_unique<crypto::PasswordHasher>(std::move(*hasher));
  // Argon2id runs on its own bounded pool; a full queue answers 503 at once instead of letting
  // sign-ins pile up behind each other.
  password_pool_ =
      std::make_unique<WorkerPool>(c.password.workers, /*queue_capacity=*/64, "tessera-hash");
  // Requests that may wait for a store run here, so that the I/O threads never wait.
  store_pool_ = std::make_unique<WorkerPool>(
      c.server.store_workers, /*queue_capacity=*/size_t{64} * c.server.store_workers, "tessera-store");
  // The common-password list is decoded on first use; pay that now, not in a request.
  (void)crypto::CommonPasswordCount();

  session::SessionOptions session_options;
  session_options.idle_timeout_seconds = c.session.idle_timeout.count();
  session_options.absolute_timeout_seconds = c.session.absolute_timeout.count();
  // last_seen is written at most once a minute, or a quarter of the idle timeout when that is
  // shorter, so activity always keeps a session alive.
  session_options.touch_interval_seconds =
      std::clamp<int64_t>(session_options.idle_timeout_seconds / 4, 0, 60);
  // Requests never wait for a last-seen write; maintenance writes them once a second.
  session_options.defer_touches = true;
  session_options.limit.max_per_user = c.session.max_per_user;
  session_options.limit.on_limit = c.session.on_limit == SessionLimitAction::kReject
                                       ? session::OnLimit::kReject
                                       : session::OnLimit::kEvictOldest;
  manager_ = std::make_unique<session::SessionManager>(sessions_.get(), session_options, clock);
  accounts_ = std::make_unique<user::AccountService>(users_.get(), manager_.get(), hasher_.get(),
                                                     clock);
  mfa_ = std::make_unique<user::MfaService>(users_.get(), *mfa_key, MfaIssuer(c.token.issuer),
                                            clock);

  auto audit = log::AuditLog::Open(store::AuditPath(c), clock);
  if (!audit) return Naming("audit.path", audit.error());
  audit_ = std::move(*audit);
  auto access_log = log::AccessLog::Open(c.server.access_log);
  if (!access_log) return Naming("server.access_log", access_log.error());
  access_log_ = std::move(*access_log);

  // Token mode: the signing keyset (created on first start), and the revocation list rebuilt from
  // the store, so a restart forgets no revoked session while its tokens can live.
  const int64_t started = clock->NowSeconds();
  auto keyset_storage = store::OpenKeysetStorage(c);
  if (!keyset_storage) return Naming("signing keys", keyset_storage.error());
  auto keyset =
      token::Keyset::LoadOrCreate(std::move(*keyset_storage), KeysetOptionsFor(c), started);
  if (!keyset) return Naming("signing keys", keyset.error());
  keyset_ = std::move(*keyset);
  revocations_ = std::make_unique<token::LocalRevocationList>(kTokenLeewaySeconds);
  revocation_feed_ = std::make_unique<RevocationFeed>();
  // What other processes sharing the store change (the CLI, other instances) arrives through the
  // store's change feed, applied per key: a cached session dropped, a revocation added, a cached
  // account dropped, the keyset reloaded. Start reloads the revocation list and takes the feed's
  // head, so nothing is missed between the two; a store that cannot do that stops the start.
  follower_ = std::make_unique<session::ChangeFollower>(
      sessions_.get(),
      session::ChangeSinks{
          .apply =
              [this](const session::Change& change) {
                manager_->Apply(change);
                revocations_->Apply(change);
                revocation_feed_->Apply(change);  // after the list: see RevocationFeed::Cursor
                if (change.kind == session::ChangeKind::kUserChanged && app_) {
                  app_->context().auth.ForgetUser(change.user_id);
                }
                if (change.kind == session::ChangeKind::kKeysetChanged) {
                  if (auto reloaded = keyset_->ReloadIfChanged(); !reloaded) {
                    std::cerr << "tessera: keeping the signing keys in use: "
                              << reloaded.error().message() << std::endl;
                  }
                }
              },
          .reload =
              [this] {
                // Entries were lost (or this is the start): nothing cached can be trusted.
                manager_->DropCache();
                return revocations_->Load(*sessions_, options_.clock->NowSeconds());
              },
          .reloaded =
              [this](const session::FeedPosition& head) { revocation_feed_->Reset(head); },
          .report =
              [](const Status& s) {
                if (s.ok()) {
                  std::cerr << "tessera: the session store's change feed is read again"
                            << std::endl;
                } else {
                  std::cerr << "tessera: cannot read the session store's change feed (bearer "
                               "tokens are refused and sessions read from the store until it "
                               "works): "
                            << s.message() << std::endl;
                }
              }});
  if (Status caught_up = follower_->Start(); !caught_up.ok()) {
    return Naming("change feed", caught_up);
  }
  if (options_.maintenance) {
    // Fail closed while the feed is behind (docs/design.md "The change feed"): bearer tokens get
    // 503 and the session cache is bypassed. Without the follower's thread (tests that drive
    // MaintainOnce themselves) this process applies the feed when told to.
    auto fresh = [f = follower_.get()] { return f->Fresh(); };
    revocations_->set_feed(fresh);
    manager_->set_feed(fresh);
  }
  // Every session the manager ends (logout, revocation, eviction, expiry found on use) puts its
  // sid into the list while its access tokens can live, and leaves the active-sessions gauge.
  manager_->set_on_end([this](const session::Session& s) {
    if (s.tokens_until > 0) revocations_->RevokeSession(s.handle, s.tokens_until);
    if (app_) app_->context().metrics.SessionEnded();
  });
  key_source_ = std::make_unique<token::KeysetKeySource>(keyset_.get());
  verifier_ = std::make_unique<token::AccessVerifier>(
      key_source_.get(), revocations_.get(),
      token::AccessVerifierOptions{
          .issuer = c.token.issuer,
          .audience = c.token.audience,
          .leeway_seconds = kTokenLeewaySeconds,
          .cache_capacity = c.token.verify_cache,
          // Sessions in memory, and their revocations, die with the process: no token from
          // before this start is alive.
          .not_before = c.session.store == "memory" ? started : 0});
  tokens_ = std::make_unique<token::TokenService>(
      keyset_.get(), manager_.get(), sessions_.get(), revocations_.get(),
      token::TokenServiceOptions{
          .issuer = c.token.issuer,
          .audience = c.token.audience,
          .access_ttl_seconds = c.token.access_ttl.count(),
          .refresh_ttl_seconds = c.token.refresh_ttl.count(),
          .refresh_reuse_grace_ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(c.token.refresh_reuse_grace)
                  .count()},
      clock);
  app_ = std::make_unique<App>(AppDeps{.config = &config_,
                                       .users = users_.get(),
                                       .sessions = sessions_.get(),
                                       .session_manager = manager_.get(),
                                       .hasher = hasher_.get(),
                                       .password_pool = password_pool_.get(),
                                       .store_pool = store_pool_.get(),
                                       .throttle = throttle_.get(),
                                       .accounts = accounts_.get(),
                                       .mfa = mfa_.get(),
                                       .audit = audit_.get(),
                                       .access_log = access_log_.get(),
                                       .clock = clock,
                                       .audit_name_key = std::move(*audit_name_key),
                                       .device_cookie_key = std::move(*device_cookie_key),
                                       .tokens = tokens_.get(),
                                       .verifier = verifier_.get(),
                                       .keyset = keyset_.get(),
                                       .revocations = revocations_.get(),
                                       .revocation_feed = revocation_feed_.get()});
  CountSessions();
  return Status::Ok();
}

void Runtime::CountSessions() {
  auto alive = manager_->CountAlive();
  app_->context().metrics.SetActiveSessions(alive ? static_cast<int64_t>(*alive) : -1);
}

Runtime::~Runtime() {
  if (follower_) follower_->Stop();
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  if (store_pool_) store_pool_->Shutdown();
  if (password_pool_) password_pool_->Shutdown();
}

void Runtime::MaintainOnce() {
  if (Status polled = follower_->PollOnce(std::chrono::milliseconds(0)); !polled.ok()) {
    std::cerr << "tessera: cannot read the session store's change feed: " << polled.message()
              << std::endl;
  }
  revocation_feed_->Expire(options_.clock->NowMillis());
}

// The server's background chores until stopped (the change feed has a thread of its own).
// - Every tenth of a second: answer the GET /v1/revocations long polls whose wait has ended.
// - Every second: write the queued last-seen updates in one batch (SessionOptions::
//   defer_touches) and reload the signing keyset if `tessera keys` changed it.
// - Every 15 seconds: count the live sessions for the tessera_sessions_active gauge, so that a
//   scrape of /metrics does no store work on an I/O thread.
// - Every five minutes: delete expired sessions and stale sign-in counters so the store does not
//   grow without bound (expired sessions are already refused; this reclaims space), and drop
//   revocations whose tokens have all expired, and read the whole revocation list again (a
//   safety net under the feed).
// A last flush runs on the way out. Errors are retried on the next round: the request path never
// depends on these succeeding (it fails closed on its own).
void Runtime::MaintenanceLoop() {
  using Steady = std::chrono::steady_clock;
  auto next_second = Steady::now() + std::chrono::seconds(1);
  auto next_purge = Steady::now() + std::chrono::minutes(5);
  auto next_count = Steady::now() + std::chrono::seconds(15);
  std::unique_lock lock(mu_);
  for (;;) {
    const bool stopping =
        cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
    lock.unlock();
    // GET /v1/revocations long polls whose wait has ended: answered with no entries, within a
    // tenth of a second of their deadline (a subscriber counts its freshness from when it asked,
    // so a late answer would eat into its staleness bound).
    revocation_feed_->Expire(options_.clock->NowMillis());
    if (stopping || Steady::now() >= next_second) {
      next_second = Steady::now() + std::chrono::seconds(1);
      (void)manager_->FlushTouches();  // a failure re-queues them for the next round
      if (auto reloaded = keyset_->ReloadIfChanged(); !reloaded) {
        std::cerr << "tessera: keeping the signing keys in use: " << reloaded.error().message()
                  << std::endl;
      }
    }
    if (stopping) return;
    if (Steady::now() >= next_count) {
      next_count = Steady::now() + std::chrono::seconds(15);
      CountSessions();
    }
    if (Steady::now() >= next_purge) {
      next_purge += std::chrono::minutes(5);
      const int64_t now = options_.clock->NowSeconds();
      (void)manager_->PurgeExpired();
      (void)throttle_store_->RemoveStale(now - 2 * 3600);
      // A safety net under the feed: the whole list again (a union; entries already held change
      // nothing). It catches a revocation written with no entry, by a process that predates the
      // feed on the same SQLite file, say.
      (void)revocations_->Load(*sessions_, now);
      revocations_->Prune(now);
    }
    lock.lock();
  }
}

}  // namespace tessera::server
