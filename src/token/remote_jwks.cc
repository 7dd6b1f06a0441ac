#include "tessera/token/remote_jwks.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "core/json.h"
#include "token/http_get.h"

namespace tessera::token {
namespace {

// Bounds on durations, far beyond any sensible value, so that time sums cannot overflow.
constexpr int64_t kMaxSeconds = 366 * 86400;
constexpr int64_t kMaxTimeoutMs = 600 * 1000;

Status BadConfig(std::string message) {
  return InvalidArgument(Reason::kBadConfig, std::move(message));
}

Status CheckOptions(const RemoteJwksOptions& o) {
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (o.issuer.empty() && o.jwks_url.empty()) {
    return BadConfig("remote JWKS: an issuer (for discovery) or a JWKS URL is required");
  }
  if (!in(o.connect_timeout_ms, 1, kMaxTimeoutMs) || !in(o.total_timeout_ms, 1, kMaxTimeoutMs)) {
    return BadConfig("remote JWKS: timeouts must be within 1 ms and 600 s");
  }
  if (o.max_body_bytes == 0) return BadConfig("remote JWKS: max_body_bytes must be positive");
  if (!in(o.min_refresh_seconds, 1, kMaxSeconds) ||
      !in(o.max_refresh_seconds, o.min_refresh_seconds, kMaxSeconds) ||
      !in(o.default_refresh_seconds, o.min_refresh_seconds, o.max_refresh_seconds)) {
    return BadConfig("remote JWKS: need 1 <= min_refresh <= default_refresh <= max_refresh");
  }
  // Zero would let every token with a made-up kid cause a fetch (KM-03).
  if (!in(o.unknown_kid_interval_seconds, 1, kMaxSeconds)) {
    return BadConfig("remote JWKS: unknown_kid_interval_seconds must be at least 1");
  }
  return Status::Ok();
}

HttpGetOptions HttpOptions(const RemoteJwksOptions& o) {
  return {.ca_file = o.ca_file,
          .connect_timeout_ms = o.connect_timeout_ms,
          .total_timeout_ms = o.total_timeout_ms,
          .max_body_bytes = o.max_body_bytes};
}

// The JWKS URL from the issuer's discovery document (OpenID Connect Discovery 1.0 section 4).
Result<std::string> Discover(const RemoteJwksOptions& o) {
  std::string_view base = o.issuer;
  while (base.ends_with('/')) base.remove_suffix(1);
  const std::string url = std::string(base) + "/.well-known/openid-configuration";
  TESSERA_RETURN_IF_ERROR(CheckKeyUrl(url, o.allow_plain_http));
  TESSERA_ASSIGN_OR_RETURN(HttpGetResponse response, HttpGet(url, HttpOptions(o)));
  auto doc = json::ParseStrict(response.body);
  if (!doc || !doc->is_object()) {
    return InvalidArgument(Reason::kBadJson, url + ": not a JSON object");
  }
  // Section 4.3: a document that names another issuer describes another issuer's keys (a
  // misrouted proxy, a mix-up); trusting its jwks_uri would accept that issuer's tokens.
  auto issuer = doc->find("issuer");
  if (issuer == doc->end() || !issuer->is_string() ||
      issuer->get_ref<const std::string&>() != o.issuer) {
    std::string found = issuer == doc->end()
                            ? "none"
                            : issuer->dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    return InvalidArgument(
        Reason::kIssuerMismatch,
        url + ": the document's issuer is " + found.substr(0, 200) + ", not \"" + o.issuer + "\"");
  }
  auto jwks_uri = doc->find("jwks_uri");
  if (jwks_uri == doc->end() || !jwks_uri->is_string()) {
    return InvalidArgument(Reason::kBadJson, url + ": no jwks_uri string");
  }
  TESSERA_RETURN_IF_ERROR(CheckKeyUrl(jwks_uri->get_ref<const std::string&>(), o.allow_plain_http));
  return jwks_uri->get<std::string>();
}

bool HasKid(const jose::Jwks& keys, std::string_view kid) {
  return std::any_of(keys.keys().begin(), keys.keys().end(),
                     [&](const jose::Jwk& k) { return k.kid() == kid; });
}

}  // namespace

struct RemoteJwks::Fetched {
  Status status;
  std::string body;
  std::shared_ptr<const jose::Jwks> keys;  // set when status is OK
  std::optional<int64_t> max_age;
};

RemoteJwks::RemoteJwks(RemoteJwksOptions options, std::string jwks_url)
    : options_(std::move(options)), jwks_url_(std::move(jwks_url)) {}

Result<std::unique_ptr<RemoteJwks>> RemoteJwks::Create(RemoteJwksOptions options, int64_t now) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  std::string url = options.jwks_url;
  if (url.empty()) {
    TESSERA_ASSIGN_OR_RETURN(url, Discover(options));
  } else {
    TESSERA_RETURN_IF_ERROR(CheckKeyUrl(url, options.allow_plain_http));
  }
  std::unique_ptr<RemoteJwks> jwks(new RemoteJwks(std::move(options), std::move(url)));
  // The first fetch runs here, before the fetch thread exists: its failure is Create's.
  Fetched first = jwks->Fetch();
  if (!first.status.ok()) return first.status;
  {
    std::lock_guard lock(jwks->mu_);
    jwks->Install(std::move(first), now);
  }
  jwks->thread_ = std::thread(&RemoteJwks::Loop, jwks.get());
  return jwks;
}

RemoteJwks::~RemoteJwks() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

RemoteJwks::Fetched RemoteJwks::Fetch() const {
  Fetched f;
  auto response = HttpGet(jwks_url_, HttpOptions(options_));
  if (!response) {
    f.status = response.error();
    return f;
  }
  auto jwks = jose::Jwks::Parse(response->body);
  if (!jwks) {
    f.status = Status(jwks.error().code(), jwks.error().reason(),
                      jwks_url_ + ": not a usable key set: " + jwks.error().message());
    return f;
  }
  // A published private or secret key is a broken issuer (KM-01), and a secret one would let
  // whoever fetched it mint tokens: refuse the whole answer rather than guess.
  for (const jose::Jwk& key : jwks->keys()) {
    if (key.is_private()) {
      f.status = InvalidArgument(Reason::kKeyInvalid,
                                 jwks_url_ + ": the set publishes a private or secret key");
      return f;
    }
  }
  // An empty answer (a misconfigured endpoint) would take every key away at once; keep the last
  // good set and report it instead.
  if (jwks->empty()) {
    f.status = InvalidArgument(Reason::kNoKey, jwks_url_ + ": no usable signing key in the set");
    return f;
  }
  f.keys = std::make_shared<const jose::Jwks>(std::move(*jwks));
  f.body = std::move(response->body);
  f.max_age = CacheMaxAge(response->cache_control);
  return f;
}

void RemoteJwks::Install(Fetched f, int64_t now) {
  ++done_;
  last_status_ = f.status;
  if (!f.status.ok()) {
    refresh_at_ = now + options_.min_refresh_seconds;
    return;
  }
  // An unchanged answer keeps the set's identity: the verified-token cache is keyed on it.
  if (!keys_ || f.body != body_) {
    keys_ = std::move(f.keys);
    body_ = std::move(f.body);
  }
  refresh_at_ = now + (f.max_age ? std::clamp(*f.max_age, options_.min_refresh_seconds,
                                              options_.max_refresh_seconds)
                                 : options_.default_refresh_seconds);
}

std::shared_ptr<const jose::Jwks> RemoteJwks::Keys(int64_t now) {
  std::lock_guard lock(mu_);
  // A refresh time further ahead than any interval means the clock was stepped back.
  bool due = now >= refresh_at_ || refresh_at_ - now > options_.max_refresh_seconds;
  if (due && !fetching_ && !wanted_) {
    wanted_ = true;
    wanted_now_ = now;
    cv_.notify_all();
  }
  return keys_;
}

bool RemoteJwks::RefreshForUnknownKid(std::string_view kid, int64_t now) {
  std::unique_lock lock(mu_);
  if (HasKid(*keys_, kid)) return true;
  // The clock stepped back counts as the interval having passed, not as a lockout.
  bool limited = unknown_kid_fetched_ && now >= unknown_kid_fetch_at_ &&
                 now - unknown_kid_fetch_at_ < options_.unknown_kid_interval_seconds;
  if (!limited) {
    unknown_kid_fetched_ = true;
    unknown_kid_fetch_at_ = now;
    FetchAndWait(lock, now);
  } else if (fetching_ || wanted_) {
    // A fetch is already on its way, most likely for this very kid (the first tokens after a
    // rotation arrive together): wait for it rather than reject, and start none.
    const uint64_t target = done_ + (fetching_ ? 1 : 0) + (wanted_ ? 1 : 0);
    cv_.wait_for(lock, std::chrono::milliseconds(2 * options_.total_timeout_ms + 1000),
                 [&] { return done_ >= target || stop_; });
  }
  return HasKid(*keys_, kid);
}

Status RemoteJwks::Refresh(int64_t now) {
  std::unique_lock lock(mu_);
  FetchAndWait(lock, now);
  return last_status_;
}

void RemoteJwks::FetchAndWait(std::unique_lock<std::mutex>& lock, int64_t now) {
  // The fetch asked for here finishes after the one in flight, if any.
  const uint64_t target = done_ + (fetching_ ? 1 : 0) + 1;
  wanted_now_ = wanted_ ? std::max(wanted_now_, now) : now;
  wanted_ = true;
  cv_.notify_all();
  // The fetch thread finishes every fetch within total_timeout_ms (curl enforces it); the bound
  // here only guards against that promise breaking.
  cv_.wait_for(lock, std::chrono::milliseconds(2 * options_.total_timeout_ms + 1000),
               [&] { return done_ >= target || stop_; });
}

void RemoteJwks::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || wanted_; });
    if (stop_) return;
    wanted_ = false;
    fetching_ = true;
    const int64_t now = wanted_now_;
    lock.unlock();
    Fetched fetched = Fetch();  // the network, outside the lock: Keys() never waits for it
    lock.lock();
    Install(std::move(fetched), now);
    fetching_ = false;
    cv_.notify_all();
  }
}

Status RemoteJwks::last_status() const {
  std::lock_guard lock(mu_);
  return last_status_;
}

int64_t RemoteJwks::refresh_at() const {
  std::lock_guard lock(mu_);
  return refresh_at_;
}

uint64_t RemoteJwks::fetch_count() const {
  std::lock_guard lock(mu_);
  return done_;
}

}  // namespace tessera::token
