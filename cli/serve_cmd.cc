// tessera serve [--config FILE] [--listen HOST:PORT] [--data DIR]: the authentication server.
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.h"
#include "context.h"
#include "core/log.h"
#include "http_server.h"
#include "io.h"
#include "runtime.h"
#include "store/open.h"
#include "tessera/store/redis.h"

namespace tessera::cli {
namespace {

struct ServeArgs {
  DataOptions data;
  std::string listen;
};

// Hands requests to the App once it exists: the listener is bound first, so that the issuer can
// name the port the OS picked (listen port 0) before anything is signed.
class LateHandler final : public server::Handler {
 public:
  void Handle(server::HttpRequest request, server::Responder respond) override {
    target->Handle(std::move(request), std::move(respond));
  }
  void Refused(const server::HttpRequest& partial, const server::HttpResponse& answer) override {
    target->Refused(partial, answer);
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

// Startup failures follow the CLI contract: a configuration that cannot work is a usage error
// (2); a store, file or port that fails is an operational error (1). One line a person can act on.
int StartupFailure(const Status& s) {
  return Fail(s.code() == Code::kInvalidArgument ? kExitUsage : kExitDenied, s.message());
}

// The path this binary can be run by again from the current directory: what a person pastes.
std::string SelfPath() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "tessera";
  const auto relative = std::filesystem::relative(self, std::filesystem::current_path(ec), ec);
  if (!ec && !relative.empty() && !relative.string().starts_with("..")) {
    return relative.has_parent_path() ? relative.string() : "./" + relative.string();
  }
  return self.string();
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

  LateHandler handler;
  server::HttpServerOptions http;
  http.host = config->server.listen.host;
  http.port = config->server.listen.port;
  http.io_threads = config->server.io_threads;
  // HTTPS when both are set (the configuration refuses one without the other); Start() loads and
  // checks them, and fails naming the key and the file.
  http.tls_cert_file = config->server.tls_cert;
  http.tls_key_file = config->server.tls_key;
  // A stop answers the long polls of GET /v1/revocations at once instead of draining them.
  std::atomic<server::Runtime*> live{nullptr};
  http.on_drain = [&live] {
    (void)sd_notify(0, "STOPPING=1");
    if (server::Runtime* r = live.load()) r->revocation_feed().ReleaseAll();
  };
  // logrotate's postrotate (or `systemctl reload`, which the unit maps to SIGHUP).
  http.on_hangup = [] {
    if (Status s = log::ReopenLogFiles(); !s.ok()) {
      std::cerr << "tessera: SIGHUP: " << s.message() << std::endl;
    }
  };
  auto server = server::HttpServer::Start(http, &handler);
  if (!server) return StartupFailure(server.error());
  const bool v6 = http.host.find(':') != std::string::npos;
  const std::string scheme = http.tls_cert_file.empty() ? "http://" : "https://";
  auto url_with_port = [&](uint16_t port) {
    return scheme + (v6 ? "[" + http.host + "]" : http.host) + ":" + std::to_string(port);
  };
  const std::string url = url_with_port((*server)->bound_port());
  // An issuer derived from "listen on any free port" names port 0; it becomes the real URL.
  if (http.port == 0 && config->token.issuer == url_with_port(0)) config->token.issuer = url;

  auto runtime = server::Runtime::Open(*config, {});
  if (!runtime) return StartupFailure(runtime.error());
  if (store::IsRedisUrl(config->session.store)) {
    // A 2xx for a logout promises the revocation is kept; say so when Redis would not keep it.
    auto weak = store::RedisDurabilityWarning(config->session.store);
    if (!weak) {
      std::cerr << "tessera: warning: cannot read the Redis persistence settings: "
                << weak.error().message() << std::endl;
    } else if (!weak->empty()) {
      std::cerr << "tessera: warning: " << *weak << std::endl;
    }
  }
  handler.target = &(*runtime)->app();
  live.store(runtime->get());
  std::cout << "tessera: listening on " << url << "\n"
            << "tessera: data in " << config->server.data << std::endl;
  if (auto existing = (*runtime)->users().List(); existing && existing->empty()) {
    // A command that works when pasted into the same directory, and names the same data.
    std::cout << "tessera: no accounts yet; add the first with: " << SelfPath()
              << " user add NAME --role admin --data " << config->server.data << std::endl;
  }
  // metrics.listen: the operations listener (/metrics, /healthz, /readyz) on an address of its
  // own, served by its own threads until the main listener stops.
  std::unique_ptr<server::HttpServer> ops_server;
  std::thread ops_thread;
  if (config->metrics.listen) {
    server::HttpServerOptions ops;
    ops.host = config->metrics.listen->host;
    ops.port = config->metrics.listen->port;
    ops.io_threads = 1;
    ops.max_connections = 64;
    auto started = server::HttpServer::Start(ops, &(*runtime)->app().ops());
    if (!started) return StartupFailure(started.error());
    ops_server = std::move(*started);
    std::cout << "tessera: metrics on http://"
              << (ops.host.find(':') != std::string::npos ? "[" + ops.host + "]" : ops.host) << ":"
              << ops_server->bound_port() << "/metrics" << std::endl;
    ops_thread = std::thread([&ops_server] { ops_server->Run(); });
  }
  // Under systemd (Type=notify): `systemctl start` returns now, when the stores are open, the
  // keys loaded and the listener bound, the moment /readyz says ready. Elsewhere NOTIFY_SOCKET is
  // unset and this does nothing.
  (void)sd_notifyf(0, "READY=1\nSTATUS=listening on %s", url.c_str());
  (*server)->Run();
  if (ops_server) {
    ops_server->Stop();
    ops_thread.join();
  }
  live.store(nullptr);
  runtime->reset();  // maintenance's last flush, then the password pool
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
