#include "metrics.h"

#include <cstdio>

namespace tessera::server {
namespace {

constexpr const char* kRouteNames[] = {"auth",    "login",  "logout", "me",
                                       "sessions", "users", "admin",  "web",
                                       "health",  "metrics", "token", "oauth",
                                       "well_known", "other"};
static_assert(std::size(kRouteNames) == static_cast<size_t>(Route::kCount_));

constexpr const char* kLoginOutcomes[] = {"success",     "failure", "throttled",   "busy",
                                          "unavailable", "invalid", "mfa_required"};
static_assert(std::size(kLoginOutcomes) == static_cast<size_t>(LoginOutcome::kCount_));

constexpr const char* kAuthOutcomes[] = {"allowed", "denied", "unavailable"};
static_assert(std::size(kAuthOutcomes) == static_cast<size_t>(AuthOutcome::kCount_));

constexpr const char* kRefreshOutcomes[] = {"rotated", "grace_replay", "reuse_detected", "invalid"};
static_assert(std::size(kRefreshOutcomes) == static_cast<size_t>(RefreshMetric::kCount_));

uint64_t Load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }

void Header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, const std::string& name_and_labels, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.17g\n", value);
  out += name_and_labels;
  out += buf;
}

void Sample(std::string& out, const std::string& name_and_labels, uint64_t value) {
  out += name_and_labels;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

std::string FormatBound(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

}  // namespace

const char* RouteName(Route r) { return kRouteNames[static_cast<size_t>(r)]; }

void Metrics::Response(int status) {
  if (status >= 100 && status < 600) Add(responses_[static_cast<size_t>(status / 100 - 1)]);
}

void Metrics::Request(Route route, int status, int64_t nanoseconds) {
  Response(status);
  Histogram& h = latency_[static_cast<size_t>(route)];
  const double seconds = static_cast<double>(nanoseconds) / 1e9;
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  Add(h.buckets[i]);  // cumulated on render
  h.sum_ns.fetch_add(static_cast<uint64_t>(nanoseconds < 0 ? 0 : nanoseconds),
                     std::memory_order_relaxed);
}

std::string Metrics::Render(const Gauges& g) const {
  std::string out;
  out.reserve(8192);

  Header(out, "tessera_logins_total", "counter", "Sign-in attempts by outcome.");
  for (size_t i = 0; i < logins_.size(); ++i) {
    Sample(out, std::string("tessera_logins_total{outcome=\"") + kLoginOutcomes[i] + "\"}",
           Load(logins_[i]));
  }
  Header(out, "tessera_throttled_attempts_total", "counter",
         "Sign-in attempts refused by the brute-force throttle (429).");
  Sample(out, "tessera_throttled_attempts_total",
         Load(logins_[static_cast<size_t>(LoginOutcome::kThrottled)]));

  Header(out, "tessera_auth_checks_total", "counter",
         "Forward-auth checks (/v1/auth and /v1/auth/...) by outcome.");
  for (size_t i = 0; i < auth_checks_.size(); ++i) {
    Sample(out, std::string("tessera_auth_checks_total{outcome=\"") + kAuthOutcomes[i] + "\"}",
           Load(auth_checks_[i]));
  }

  Header(out, "tessera_registrations_total", "counter",
         "Self-registrations (POST /v1/users) by outcome.");
  Sample(out, "tessera_registrations_total{outcome=\"created\"}", Load(registrations_[0]));
  Sample(out, "tessera_registrations_total{outcome=\"refused\"}", Load(registrations_[1]));

  Header(out, "tessera_token_refreshes_total", "counter",
         "Refresh-token presentations (POST /v1/token) by outcome; reuse_detected is theft.");
  for (size_t i = 0; i < refreshes_.size(); ++i) {
    Sample(out, std::string("tessera_token_refreshes_total{outcome=\"") + kRefreshOutcomes[i] + "\"}",
           Load(refreshes_[i]));
  }

  Header(out, "tessera_http_responses_total", "counter", "HTTP responses by status class.");
  for (size_t i = 0; i < responses_.size(); ++i) {
    Sample(out, "tessera_http_responses_total{code=\"" + std::to_string(i + 1) + "xx\"}",
           Load(responses_[i]));
  }

  Header(out, "tessera_http_request_duration_seconds", "histogram",
         "Time from a parsed request to its response, by route.");
  for (size_t r = 0; r < latency_.size(); ++r) {
    const Histogram& h = latency_[r];
    const std::string route = std::string("route=\"") + kRouteNames[r] + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += Load(h.buckets[b]);
      Sample(out,
             "tessera_http_request_duration_seconds_bucket{" + route + ",le=\"" +
                 FormatBound(kBuckets[b]) + "\"}",
             cumulative);
    }
    cumulative += Load(h.buckets[kBuckets.size()]);
    Sample(out, "tessera_http_request_duration_seconds_bucket{" + route + ",le=\"+Inf\"}",
           cumulative);
    Sample(out, "tessera_http_request_duration_seconds_sum{" + route + "}",
           static_cast<double>(Load(h.sum_ns)) / 1e9);
    Sample(out, "tessera_http_request_duration_seconds_count{" + route + "}", cumulative);
  }

  Header(out, "tessera_sessions_active", "gauge",
         "Sessions in the store that have not reached their absolute expiry (-1: store down).");
  Sample(out, "tessera_sessions_active", static_cast<double>(g.active_sessions));
  Header(out, "tessera_password_queue_depth", "gauge",
         "Password hashing tasks waiting for a worker.");
  Sample(out, "tessera_password_queue_depth", static_cast<uint64_t>(g.password_queue_depth));
  Header(out, "tessera_password_queue_capacity", "gauge",
         "Waiting tasks beyond which sign-ins get 503.");
  Sample(out, "tessera_password_queue_capacity", static_cast<uint64_t>(g.password_queue_capacity));
  Header(out, "tessera_password_workers", "gauge", "Password hashing threads.");
  Sample(out, "tessera_password_workers", static_cast<uint64_t>(g.password_workers));
  if (g.revoked_sessions >= 0) {
    Header(out, "tessera_revocations", "gauge",
           "Revoked sessions and token ids held in memory while their tokens could still live.");
    Sample(out, "tessera_revocations", static_cast<double>(g.revoked_sessions));
    Header(out, "tessera_verify_cache_total", "counter",
           "Bearer-token verifications by whether the verified-token cache answered.");
    Sample(out, "tessera_verify_cache_total{result=\"hit\"}",
           static_cast<uint64_t>(g.verify_cache_hits));
    Sample(out, "tessera_verify_cache_total{result=\"miss\"}",
           static_cast<uint64_t>(g.verify_cache_misses));
  }
  return out;
}

}  // namespace tessera::server
