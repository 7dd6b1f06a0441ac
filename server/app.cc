#include "app.h"

#include <algorithm>
#include <chrono>

#include "core/blocking.h"
#include "responses.h"
#include "web_assets.h"

namespace tessera::server {

App::App(AppDeps deps) : context_(deps), router_(DefaultRouter()) {}

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The access log's timestamp, formatted once per second per thread.
const std::string& CachedTimestamp() {
  thread_local int64_t second = -1;
  thread_local std::string text;
  const auto now = std::chrono::system_clock::now();
  const int64_t s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (s != second) {
    second = s;
    text = log::Timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(s)));
    text.resize(text.size() - 5);  // whole seconds: drop ".000Z", re-added below
    text += 'Z';
  }
  return text;
}

}  // namespace

void App::AccessLogLine(const HttpRequest& request, const HttpResponse& response,
                        int64_t nanoseconds) {
  std::string line;
  line.reserve(256);
  line += "{\"ts\":\"";
  line += CachedTimestamp();
  line += "\",\"log\":\"access\",\"method\":\"";
  log::AppendJsonEscaped(line, request.method.substr(0, 32));
  // The path only: a query string may carry what must not be logged. The path form of
  // forward-auth carries the protected app's own path, which is the app's to log, not ours (it may
  // hold a reset or sign-in link's token).
  line += "\",\"path\":\"";
  const std::string_view path = request.Path();
  if (path.starts_with("/v1/auth/")) {
    line += "/v1/auth/...";
  } else {
    log::AppendJsonEscaped(line, path.substr(0, 512));
  }
  line += "\",\"status\":";
  line += std::to_string(response.status);
  line += ",\"bytes\":";
  line += std::to_string(response.body.size());
  // Milliseconds with three decimals, from integers (printf's floating point showed in profiles).
  const int64_t us = (std::max<int64_t>(nanoseconds, 0) + 500) / 1000;
  const int64_t frac = us % 1000;
  line += ",\"ms\":";
  line += std::to_string(us / 1000);
  line += '.';
  line += static_cast<char>('0' + frac / 100);
  line += static_cast<char>('0' + frac / 10 % 10);
  line += static_cast<char>('0' + frac % 10);
  line += ",\"ip\":\"";
  log::AppendJsonEscaped(line, context_.identity.ClientIp(request));
  line += "\",\"ua\":\"";
  log::AppendJsonEscaped(line, request.Header("User-Agent").substr(0, 256));
  line += "\"}";
  context_.d.access_log->Append(line);
}

// Every answer: no sniffing, never cached (they carry identities and tokens), no referrer; HSTS
// when tessera itself serves TLS.
void App::AddCommonHeaders(HttpResponse& r) const {
  r.Set("X-Content-Type-Options", "nosniff");
  // Every answer carries identities or tokens and must not be stored, except the published key
  // set and discovery document, which set their own max-age.
  bool cacheable = false;
  for (const auto& [name, value] : r.headers) cacheable |= EqualsIgnoreCase(name, "Cache-Control");
  if (!cacheable) r.Set("Cache-Control", "no-store");
  r.Set("Referrer-Policy", "no-referrer");
  if (!context_.d.config->server.tls_cert.empty()) {
    r.Set("Strict-Transport-Security", "max-age=31536000");
  }
}

void App::Handle(HttpRequest request, Responder respond) {
  Serve(std::move(request), std::move(respond), /*ops=*/false);
}

void App::Refused(const HttpRequest& partial, const HttpResponse& answer) {
  // Counted by status class only: no route ran, so no latency is recorded.
  context_.metrics.Response(answer.status);
  if (!context_.d.access_log) return;
  if (!partial.method.empty()) return AccessLogLine(partial, answer, 0);
  // The head never completed: nothing of it is trusted, nothing of it is logged.
  const HttpRequest unread{.method = "-", .target = "-", .peer_ip = partial.peer_ip};
  AccessLogLine(unread, answer, 0);
}

void App::Serve(HttpRequest request, Responder respond, bool ops) {
  const int64_t start = NowNs();
  server::Route route = Route::kOther;
  std::optional<HttpResponse> answer = Dispatch(request, respond, &route, ops);
  if (!answer) return;  // answered later, from the password pool (see Deferred)
  AddCommonHeaders(*answer);
  const int64_t elapsed = NowNs() - start;  // one clock read for the metric and the log line
  context_.metrics.Request(route, answer->status, elapsed);
  if (context_.d.access_log) AccessLogLine(request, *answer, elapsed);
  respond(std::move(*answer));
}

Responder App::Deferred(const HttpRequest& request, server::Route route, Responder respond) {
  const int64_t start = NowNs();
  std::shared_ptr<HttpRequest> summary;
  if (context_.d.access_log) {
    summary = std::make_shared<HttpRequest>();
    summary->method = request.method;
    summary->target = std::string(request.Path());
    summary->peer_ip = request.peer_ip;
    summary->headers = request.headers;
  }
  return [this, start, route, summary, respond = std::move(respond)](HttpResponse r) mutable {
    AddCommonHeaders(r);
    const int64_t elapsed = NowNs() - start;
    context_.metrics.Request(route, r.status, elapsed);
    if (summary) AccessLogLine(*summary, r, elapsed);
    respond(std::move(r));
  };
}

void App::OnStorePool(const HttpRequest& request, SyncHandler handler, std::string_view param,
                      Responder respond) {
  // The task owns a copy of the request (the connection reuses its buffers) and finds the
  // route parameter in the copy at the same place.
  auto owned = std::make_shared<HttpRequest>(request);
  const size_t offset = param.empty() ? 0 : static_cast<size_t>(param.data() - request.target.data());
  const size_t length = param.size();
  auto answer = std::make_shared<Responder>(std::move(respond));
  const bool queued = context_.d.store_pool->TrySubmit([this, owned, handler, offset, length, answer] {
    const std::string_view p =
        length ? std::string_view(owned->target).substr(offset, length) : std::string_view();
    (*answer)(handler(context_, *owned, p));
  });
  if (!queued) {
    // Every store worker is waiting and the queue is full: say so at once rather than queue
    // without bound behind a store that has stopped answering.
    HttpResponse busy = Error(503, "unavailable", "the server is overloaded; retry shortly");
    busy.Set("Retry-After", "1");
    (*answer)(std::move(busy));
  }
}

std::optional<HttpResponse> App::Dispatch(const HttpRequest& request, Responder& respond,
                                          Route* route, bool ops) {
  const std::string_view path = request.Path();
  const bool get = request.method == "GET" || request.method == "HEAD";
  // The operations listener serves the metrics and health routes only; when it exists, the
  // main listener does not serve the metrics.
  const bool ops_route = path == "/metrics" || path == "/healthz" || path == "/readyz";
  if (ops ? !ops_route : path == "/metrics" && context_.d.config->metrics.listen) {
    return Error(404, "not_found", "no such resource");
  }
  if (auto match = router_.Find(request.method, path)) {
    *route = match->spec->route;
    if (!match->handler) {
      // A proxy's check with a method tessera does not take is a refused check.
      if (*route == Route::kAuth) context_.metrics.AuthCheck(AuthOutcome::kDenied);
      HttpResponse r = Error(405, "invalid_request", "method not allowed");
      r.Set("Allow", Router::Allow(*match->spec));
      return r;
    }
    const MethodHandler& handler = *match->handler;
    if (!handler.sync) {
      handler.async(context_, request, match->param, Deferred(request, *route, std::move(respond)));
      return std::nullopt;
    }
    if (handler.runs == Runs::kInline || !context_.d.store_pool) {
      return handler.sync(context_, request, match->param);
    }
    if (handler.runs == Runs::kCacheFirst) {
      NoBlockingScope io_thread;
      HttpResponse r = handler.sync(context_, request, match->param);
      if (!io_thread.would_have_blocked()) return r;
      // A cache missed: nothing was done or counted; the request runs again on the store pool.
    }
    OnStorePool(request, handler.sync, match->param, Deferred(request, *route, std::move(respond)));
    return std::nullopt;
  }
  if (get) {
    if (auto page = ServeWebAsset(path)) {
      *route = Route::kWeb;
      return page;
    }
  }
  return Error(404, "not_found", "no such resource");
}

}  // namespace tessera::server
