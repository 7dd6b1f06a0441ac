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

namespace tessera::cli {
namespace {

struct ServeArgs {
  DataOptions data;
  std::string listen;
};

// The server's background chores until stopped: every second, write the queued last-seen
// updates in one batch (SessionOptions::defer_touches); every five minutes, delete expired
// sessions and stale sign-in counters so the store does not grow without bound (expired sessions
// are already refused; this reclaims space). A last flush runs on the way out.
class Maintenance {
 public:
  Maintenance(session::SessionManager* m, user::ThrottleStore* t)
      : thread_([this, m, t] { Loop(m, t); }) {}
  ~Maintenance() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop(session::SessionManager* m, user::ThrottleStore* t) {
    auto next_purge = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    std::unique_lock lock(mu_);
    for (;;) {
      const bool stopping = cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
      lock.unlock();
      (void)m->FlushTouches();  // a failure re-queues them for the next round
      if (stopping) return;
      if (std::chrono::steady_clock::now() >= next_purge) {
        next_purge += std::chrono::minutes(5);
        (void)m->PurgeExpired();
        (void)t->RemoveStale(SystemClock::Instance().NowSeconds() - 2 * 3600);
      }
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
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
  server::App app({.config = &*config,
                   .users = users->get(),
                   .sessions = sessions->get(),
                   .session_manager = &manager,
                   .hasher = &*hasher,
                   .password_pool = &password_pool,
                   .throttle = &throttle,
                   .audit = audit->get(),
                   .access_log = access_log->get()});
  server::HttpServerOptions http;
  http.host = config->server.listen.host;
  http.port = config->server.listen.port;
  // HTTPS when both are set (the configuration refuses one without the other); Start() loads and
  // checks them, and fails naming the key and the file.
  http.tls_cert_file = config->server.tls_cert;
  http.tls_key_file = config->server.tls_key;
  auto server = server::HttpServer::Start(http, &app);
  if (!server) return Fail(kExitUsage, server.error().message());
  const bool v6 = http.host.find(':') != std::string::npos;
  const std::string scheme = http.tls_cert_file.empty() ? "http://" : "https://";
  const std::string url = scheme + (v6 ? "[" + http.host + "]" : http.host) + ":" +
                          std::to_string((*server)->bound_port());
  std::cout << "tessera: listening on " << url << "\n"
            << "tessera: data in " << config->server.data << "\n"
            << "tessera: add the first user with: tessera user add NAME --role admin --data "
            << config->server.data << std::endl;
  {
    Maintenance maintenance(&manager, throttle_store->get());
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
