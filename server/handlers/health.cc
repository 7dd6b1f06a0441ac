// Liveness, readiness and the Prometheus metrics page.
#include <nlohmann/json.hpp>

#include "../forms.h"
#include "../responses.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "handlers.h"

namespace tessera::server::handlers {

HttpResponse Health(Context&) { return Json(200, {{"status", "ok"}}); }

HttpResponse Ready(Context& c) {
  Status users = c.d.users->Ping();
  auto sessions = c.d.sessions->FeedHead();
  Status revocations = c.d.tokens ? c.d.tokens->revocations().Check(c.Now()) : Status::Ok();
  const bool ok = users.ok() && sessions && revocations.ok();
  return Json(ok ? 200 : 503, {{"status", ok ? "ok" : "unavailable"},
                               {"users", users.ok() ? "ok" : "unavailable"},
                               {"sessions", sessions ? "ok" : "unavailable"},
                               {"revocations", revocations.ok() ? "ok" : "unavailable"}});
}

HttpResponse MetricsPage(Context& c, const HttpRequest& request) {
  if (!c.d.config->metrics.token_sha256.empty()) {
    // metrics.token_sha256: scrapers send the token as a bearer credential, compared by hash in
    // constant time.
    auto token = ParseBearerAuthorization(request.Header("Authorization"));
    if (!token || !crypto::ConstantTimeEquals(crypto::HexSha256(*token),
                                              c.d.config->metrics.token_sha256)) {
      HttpResponse r = Error(401, "invalid_token", "the metrics need a bearer token");
      r.Set("WWW-Authenticate", "Bearer realm=\"tessera-metrics\"");
      return r;
    }
  }
  Metrics::Gauges g;
  g.active_sessions = c.metrics.active_sessions();
  g.password_queue_depth = c.d.password_pool->queue_depth();
  g.password_queue_capacity = c.d.password_pool->queue_capacity();
  g.password_workers = c.d.password_pool->thread_count();
  if (c.d.verifier) {
    g.revoked_sessions = static_cast<int64_t>(c.d.tokens->revocations().size());
    g.verify_cache_hits = static_cast<int64_t>(c.d.verifier->cache_hits());
    g.verify_cache_misses = static_cast<int64_t>(c.d.verifier->cache_misses());
  }
  HttpResponse r;
  r.body = c.metrics.Render(g);
  r.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace tessera::server::handlers
