// tessera serve [--config FILE] [--listen HOST:PORT] [--data DIR]: the authentication server.
#include <sys/resource.h>

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "app.h"
#include "commands.h"
#include "core/log.h"
#include "context.h"
#include "http_server.h"
#include "io.h"
#include "tessera/clock.h"
#include "tessera/token/access_token.h"
#include "tessera/token/keyset.h"
#include "tessera/token/revocation.h"
#include "tessera/token/token_service.h"

namespace tessera::cli {
namespace {

// Clock skew allowed on access tokens' exp/nbf/iat between instances and services (SECURITY.md
// JV-05 and MI-03: at most 60 s); revocations are kept that much longer than the tokens they stop.
constexpr int64_t kTokenLeewaySeconds = 60;

struct ServeArgs {
  DataOptions data;
  std::string listen;
};

// The server's background chores until stopped.
// - Every 100 ms: bring in revocations other processes recorded in the session store (the CLI,
//   another instance on the same SQLite file), so their access tokens stop within that time.
// - Every second: write the queued last-seen updates in one batch (SessionOptions::
//   defer_touches), and reload the signing keyset if `tessera keys` changed it.
// - Every five minutes: delete expired sessions and stale sign-in counters so the store does not
//   grow without bound (expired sessions are already refused; this reclaims space), and drop
//   revocations whose tokens have all expired.
// A last flush runs on the way out. Errors are retried on the next round: the request path never
// depends on these succeeding (it fails closed on its own).
class Maintenance {
 public:
  struct Parts {
    session::SessionManager* sessions;
    session::SessionStore* store;
    user::ThrottleStore* throttle;
    token::LocalRevocationList* revocations;  // null: token mode off
    token::Keyset* keyset;                    // null: token mode off
  };
  explicit Maintenance(Parts p) : p_(p), thread_([this] { Loop(); }) {}
  ~Maintenance() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    using Clock = std::chrono::steady_clock;
    auto next_second = Clock::now() + std::chrono::seconds(1);
    auto next_purge = Clock::now() + std::chrono::minutes(5);
    std::unique_lock lock(mu_);
    for (;;) {
      const bool stopping =
          cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
      lock.unlock();
      const int64_t now = SystemClock::Instance().NowSeconds();
      if (p_.revocations) {
        // While this fails for more than a few seconds, bearer tokens get 503 (fail closed).
        auto synced = p_.revocations->SyncFrom(*p_.store, now);
        if (!synced && !sync_failing_) {
          std::cerr << "tessera: cannot read revocations from the session store: "
                    << synced.error().message() << std::endl;
        } else if (synced && sync_failing_) {
          std::cerr << "tessera: revocations are read from the session store again" << std::endl;
        }
        sync_failing_ = !synced;
      }
      if (stopping || Clock::now() >= next_second) {
        next_second = Clock::now() + std::chrono::seconds(1);
        (void)p_.sessions->FlushTouches();  // a failure re-queues them for the next round
        if (p_.keyset) {
          if (auto reloaded = p_.keyset->ReloadIfChanged(); !reloaded) {
            std::cerr << "tessera: keeping the signing keys in use: "
                      << reloaded.error().message() << std::endl;
          }
        }
      }
      if (stopping) return;
      if (Clock::now() >= next_purge) {
        next_purge += std::chrono::minutes(5);
        (void)p_.sessions->PurgeExpired();
        (void)p_.throttle->RemoveStale(now - 2 * 3600);
        if (p_.revocations) {
          // Sessions this process purged do not move the store's external version; their
          // revocation entries (recorded by the store) are read here.
          auto entries = p_.store->ListRevocations(now - p_.revocations->leeway_seconds());
          if (entries) p_.revocations->Merge(*entries);
          p_.revocations->Prune(now);
        }
      }
      lock.lock();
    }
  }
  Parts p_;
  bool sync_failing_ = false;  // only the loop's thread
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

// Hands requests to the App once it exists: the listener is bound first, so that the issuer can
// name the port the OS picked (listen port 0) before anything is signed.
class LateHandler final : public server::Handler {
 public:
  void Handle(server::HttpRequest request, server::Responder respond) override {
    target->Handle(std::move(request), std::move(respond));
  }
  server::Handler* target = nullptr;  // set before the server runs
};

// Every connection is a file descriptor; the usual soft limit of 1024 would cap a server at
// fewer connections than the configured cap, so raise it to the hard limit.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Serve(const ServeArgs& a) {
  RaiseFileLimit();
  ConfigSources sources;
  if (!a.data.config_file.empty()) sources.file = a.data.config_file;
  sources.env = ProcessEnvironment();
  if (!a.data.data_dir.empty()) sources.data = a.data.data_dir;
  if (!a.listen.empty()) sources.listen = a.listen;
  auto config = LoadConfig(sources);
  if (!config) return Fail(kExitUsage, config.error().message());
  auto users = OpenUserStore(*config);
  if (!users) return Fail(kExitUsage, users.error().message());
  auto sessions = OpenSessionStore(*config);
  if (!sessions) return Fail(kExitUsage, sessions.error().message());
  auto throttle_store = OpenThrottleStore(*config);
  if (!throttle_store) return Fail(kExitUsage, throttle_store.error().message());
  const auto limit = [](const Rate& r) {
    return user::ThrottleLimit{r.count, static_cast<int64_t>(r.per.count())};
  };
  user::LoginThrottle throttle(throttle_store->get(), limit(config->throttle.login_per_user),
                               limit(config->throttle.login_per_ip), &SystemClock::Instance());
  auto hasher = crypto::PasswordHasher::Create(
      {config->password.argon2_memory_kib, config->password.argon2_iterations});
  if (!hasher) return Fail(kExitUsage, "password: " + hasher.error().message());
  // Argon2id runs on its own bounded pool; a full queue answers 503 at once instead of letting
  // sign-ins pile up behind each other.
  WorkerPool password_pool(config->password.workers, /*queue_capacity=*/64);
  session::SessionOptions session_options;
  session_options.idle_timeout_seconds = config->session.idle_timeout.count();
  session_options.absolute_timeout_seconds = config->session.absolute_timeout.count();
  // last_seen is written at most once a minute, or a quarter of the idle timeout when that is
  // shorter, so activity always keeps a session alive.
  session_options.touch_interval_seconds =
      std::clamp<int64_t>(session_options.idle_timeout_seconds / 4, 0, 60);
  // Requests never wait for a last-seen write; Maintenance writes them once a second.
  session_options.defer_touches = true;
  session_options.limit.max_per_user = config->session.max_per_user;
  session_options.limit.on_limit = config->session.on_limit == SessionLimitAction::kReject
                                       ? session::OnLimit::kReject
                                       : session::OnLimit::kEvictOldest;
  session::SessionManager manager(sessions->get(), session_options, &SystemClock::Instance());
  auto audit = log::AuditLog::Open(AuditPath(*config));
  if (!audit) return Fail(kExitUsage, "audit.path: " + audit.error().message());
  auto access_log = log::AccessLog::Open(config->server.access_log);
  if (!access_log) return Fail(kExitUsage, "server.access_log: " + access_log.error().message());

  // Token mode: the signing keyset (created on first start), and the revocation list rebuilt from
  // the store, so a restart forgets no revoked session while its tokens can live.
  const int64_t started = SystemClock::Instance().NowSeconds();
  auto keyset = token::Keyset::LoadOrCreate(config->server.data, KeysetOptionsFor(*config), started);
  if (!keyset) return Fail(kExitUsage, "signing keys: " + keyset.error().message());
  token::LocalRevocationList revocations(/*leeway_seconds=*/kTokenLeewaySeconds);
  if (auto synced = revocations.SyncFrom(**sessions, started); !synced) {
    return Fail(kExitUsage, "revocation list: " + synced.error().message());
  }
  // Every session the manager ends (logout, revocation, eviction, expiry found on use) puts its
  // sid into the list while its access tokens can live.
  manager.set_on_end([&revocations](const session::Session& s) {
    if (s.tokens_until > 0) revocations.RevokeSession(s.handle, s.tokens_until);
  });

  LateHandler handler;
  server::HttpServerOptions http;
  http.host = config->server.listen.host;
  http.port = config->server.listen.port;
  // HTTPS when both are set (the configuration refuses one without the other); Start() loads and
  // checks them, and fails naming the key and the file.
  http.tls_cert_file = config->server.tls_cert;
  http.tls_key_file = config->server.tls_key;
  auto server = server::HttpServer::Start(http, &handler);
  if (!server) return Fail(kExitUsage, server.error().message());
  const bool v6 = http.host.find(':') != std::string::npos;
  const std::string scheme = http.tls_cert_file.empty() ? "http://" : "https://";
  auto url_with_port = [&](uint16_t port) {
    return scheme + (v6 ? "[" + http.host + "]" : http.host) + ":" + std::to_string(port);
  };
  const std::string url = url_with_port((*server)->bound_port());
  // An issuer derived from "listen on any free port" names port 0; it becomes the real URL.
  if (http.port == 0 && config->token.issuer == url_with_port(0)) config->token.issuer = url;

  token::KeysetKeySource key_source(keyset->get());
  token::AccessVerifier verifier(&key_source, &revocations,
                                 {.issuer = config->token.issuer,
                                  .audience = config->token.audience,
                                  .leeway_seconds = kTokenLeewaySeconds,
                                  .cache_capacity = config->token.verify_cache,
                                  // Sessions in memory, and their revocations, die with the
                                  // process: no token from before this start is alive.
                                  .not_before = config->session.store == "memory" ? started : 0});
  token::TokenService tokens(
      keyset->get(), &manager, sessions->get(), &revocations,
      {.issuer = config->token.issuer,
       .audience = config->token.audience,
       .access_ttl_seconds = config->token.access_ttl.count(),
       .refresh_ttl_seconds = config->token.refresh_ttl.count(),
       .refresh_reuse_grace_seconds = config->token.refresh_reuse_grace.count()},
      &SystemClock::Instance());
  server::App app({.config = &*config,
                   .users = users->get(),
                   .sessions = sessions->get(),
                   .session_manager = &manager,
                   .hasher = &*hasher,
                   .password_pool = &password_pool,
                   .throttle = &throttle,
                   .audit = audit->get(),
                   .access_log = access_log->get(),
                   .tokens = &tokens,
                   .verifier = &verifier,
                   .keyset = keyset->get()});
  handler.target = &app;
  std::cout << "tessera: listening on " << url << "\n"
            << "tessera: data in " << config->server.data << "\n"
            << "tessera: add the first user with: tessera user add NAME --role admin --data "
            << config->server.data << std::endl;
  {
    Maintenance maintenance({.sessions = &manager,
                             .store = sessions->get(),
                             .throttle = throttle_store->get(),
                             .revocations = &revocations,
                             .keyset = keyset->get()});
    (*server)->Run();
  }
  password_pool.Shutdown();
  std::cout << "tessera: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterServe(CLI::App& app, Action* run) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the authentication server");
  AddDataOptions(cmd, &args->data);
  cmd->add_option("--listen", args->listen, "HOST:PORT (default 127.0.0.1:8080)");
  cmd->callback([run, args] { *run = [args] { return Serve(*args); }; });
}

}  // namespace tessera::cli
