#include "tessera/token/revocation_subscription.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/worker_pool.h"
#include "token/http_get.h"
#include "token/revocation_page.h"

namespace tessera::token {
namespace {

constexpr int64_t kMaxTimeoutMs = 600 * 1000;

Status BadConfig(std::string message) {
  return InvalidArgument(Reason::kBadConfig, "revocation subscription: " + std::move(message));
}

Status Malformed(std::string_view what) {
  return Status(Code::kUnavailable, Reason::kBadJson,
                "GET /v1/revocations: the answer is not a revocation page (" + std::string(what) +
                    ")");
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 wants client ids and secrets
// encoded before they are joined for HTTP Basic.
std::string FormEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string BasicAuthorization(std::string_view id, std::string_view secret) {
  const std::string joined = FormEncode(id) + ":" + FormEncode(secret);
  std::string encoded(4 * ((joined.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(joined.data()),
                                static_cast<int>(joined.size()));
  encoded.resize(static_cast<size_t>(std::max(n, 0)));
  std::string out = "Basic ";
  out += encoded;
  return out;
}

Status CheckOptions(const RevocationSubscriptionOptions& o) {
  auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (o.url.empty() && o.issuer.empty()) {
    return BadConfig("a URL, or an issuer to discover it from, is required");
  }
  if (o.client_id.empty() || o.client_secret.empty()) {
    return BadConfig("a client id and secret (one of tessera's token.clients) are required");
  }
  if (!in(o.max_staleness_ms, 2500, kMaxTimeoutMs)) {
    return BadConfig("max_staleness_ms must be within 2500 and 600000");
  }
  if (!in(o.wait_seconds, 1, 30) || 2 * o.wait_seconds * 1000 >= o.max_staleness_ms) {
    return BadConfig("wait_seconds must be within 1 and 30, and twice it below max_staleness_ms");
  }
  if (!in(o.connect_timeout_ms, 1, kMaxTimeoutMs) || !in(o.total_timeout_ms, 1, kMaxTimeoutMs)) {
    return BadConfig("timeouts must be within 1 ms and 10 minutes");
  }
  if (!in(o.retry_min_ms, 1, kMaxTimeoutMs) || !in(o.retry_max_ms, o.retry_min_ms, kMaxTimeoutMs)) {
    return BadConfig("retry_min_ms must be at least 1 ms and retry_max_ms at least that");
  }
  if (o.max_body_bytes < 1024) return BadConfig("max_body_bytes must be at least 1024");
  if (!in(o.leeway_seconds, 0, 600)) return BadConfig("leeway_seconds must be within 0 and 600");
  return Status::Ok();
}

// A cursor goes into the query string as it is: only characters that need no escaping.
bool IsCursor(std::string_view s) {
  return !s.empty() && s.size() <= kMaxRevocationCursorBytes &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~';
         });
}

}  // namespace

Result<RevocationPage> ParseRevocationPage(std::string_view body, size_t max_bytes) {
  json::Limits limits;
  limits.max_bytes = max_bytes;
  auto doc = json::ParseStrict(body, limits);
  if (!doc) return Malformed(doc.error().message());
  if (!doc->is_object()) return Malformed("not an object");
  auto cursor = doc->find("cursor");
  auto entries = doc->find("revocations");
  if (cursor == doc->end() || !cursor->is_string() ||
      !IsCursor(cursor->get_ref<const std::string&>())) {
    return Malformed("no usable cursor");
  }
  if (entries == doc->end() || !entries->is_array()) return Malformed("no revocations array");
  RevocationPage page;
  page.cursor = cursor->get<std::string>();
  page.entries.reserve(entries->size());
  for (const auto& e : *entries) {
    if (!e.is_object()) return Malformed("an entry is not an object");
    auto sid = e.find("sid");
    auto jti = e.find("jti");
    auto until = e.find("until");
    if ((sid == e.end()) == (jti == e.end())) return Malformed("an entry without one sid or jti");
    const auto& key = sid != e.end() ? *sid : *jti;
    if (!key.is_string() || key.get_ref<const std::string&>().empty() ||
        key.get_ref<const std::string&>().size() > kMaxRevokedKeyBytes) {
      return Malformed("an entry's sid or jti");
    }
    if (until == e.end() || !until->is_number_integer()) return Malformed("an entry's until");
    page.entries.push_back({.session = sid != e.end(),
                            .key = key.get<std::string>(),
                            .until = until->get<int64_t>()});
  }
  return page;
}

Result<std::unique_ptr<RevocationSubscription>> RevocationSubscription::Create(
    RevocationSubscriptionOptions o, const Clock* clock) {
  if (o.wait_seconds == 0) o.wait_seconds = std::max<int64_t>(1, o.max_staleness_ms / 4000);
  TESSERA_RETURN_IF_ERROR(CheckOptions(o));
  const HttpGetOptions get{.ca_file = o.ca_file,
                           .connect_timeout_ms = o.connect_timeout_ms,
                           .total_timeout_ms = o.total_timeout_ms,
                           .max_body_bytes = o.max_body_bytes};
  std::string url = o.url;
  if (url.empty()) {
    TESSERA_ASSIGN_OR_RETURN(
        url, DiscoverUrl(o.issuer, "tessera_revocation_endpoint", get, o.allow_plain_http));
  }
  TESSERA_RETURN_IF_ERROR(CheckKeyUrl(url, o.allow_plain_http));
  std::string authorization = BasicAuthorization(o.client_id, o.client_secret);
  std::unique_ptr<RevocationSubscription> s(new RevocationSubscription(
      std::move(o), std::move(url), std::move(authorization),
      clock ? clock : &SystemClock::Instance()));
  bool reset = false;
  TESSERA_RETURN_IF_ERROR(s->Exchange(/*snapshot=*/true, &reset));
  if (reset) return Status(Code::kUnavailable, Reason::kIo, "GET /v1/revocations: 410 on a snapshot");
  s->thread_ = std::thread([p = s.get()] {
    NameThisThread("tessera-revsub");
    p->Run();
  });
  return s;
}

RevocationSubscription::RevocationSubscription(RevocationSubscriptionOptions options,
                                               std::string url, std::string authorization,
                                               const Clock* clock)
    : options_(std::move(options)),
      url_(std::move(url)),
      authorization_(std::move(authorization)),
      clock_(clock),
      list_(options_.leeway_seconds) {}

RevocationSubscription::~RevocationSubscription() {
  cancel_.store(true);
  {
    std::lock_guard lock(mu_);  // so that a Run between its check and its wait sees the flag
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RevocationSubscription::IsRevoked(std::string_view sid, std::string_view jti,
                                       int64_t now) const {
  return list_.IsRevoked(sid, jti, now);
}

void RevocationSubscription::RevokeSession(std::string_view sid, int64_t until) {
  list_.RevokeSession(sid, until);
}

void RevocationSubscription::RevokeTokenId(std::string_view jti, int64_t until) {
  list_.RevokeTokenId(jti, until);
}

size_t RevocationSubscription::size() const { return list_.size(); }

Status RevocationSubscription::Check(int64_t) const {
  const int64_t confirmed = confirmed_ns_.load(std::memory_order_acquire);
  if (confirmed != 0 && SteadyNanos() - confirmed <= options_.max_staleness_ms * 1'000'000) {
    return Status::Ok();
  }
  return Status(Code::kUnavailable, Reason::kRevocationStale,
                "the revocation list has not been confirmed current for " +
                    std::to_string(options_.max_staleness_ms) + " ms");
}

RevocationHealth RevocationSubscription::health() const {
  RevocationHealth h;
  h.current = Check(0).ok();
  const int64_t confirmed = confirmed_ns_.load(std::memory_order_acquire);
  if (confirmed != 0) h.confirmed_ms_ago = (SteadyNanos() - confirmed) / 1'000'000;
  h.entries = list_.size();
  std::lock_guard lock(mu_);
  h.last_status = last_status_;
  h.cursor = cursor_;
  h.answers = answers_;
  h.failures = failures_;
  h.snapshots = snapshots_;
  return h;
}

// {"cursor": "...", "revocations": [{"sid"|"jti": "...", "until": N, "seq"?: N}, ...]}. Members
// this version does not know are ignored (tessera may add some); anything it relies on that is
// missing or of the wrong type fails the whole page, which is then asked for again.
Status RevocationSubscription::Apply(std::string_view body, bool snapshot) {
  TESSERA_ASSIGN_OR_RETURN(RevocationPage page, ParseRevocationPage(body, options_.max_body_bytes));
  // All or nothing: a page is applied only once it has been read whole, so the cursor never
  // moves past an entry that was not applied.
  for (const RevocationPage::Entry& e : page.entries) {
    if (e.session) {
      list_.RevokeSession(e.key, e.until);
    } else {
      list_.RevokeTokenId(e.key, e.until);
    }
  }
  // Dropping what expired walks the whole list under its write lock: every half minute is
  // enough (an entry past its until refuses nothing anyway).
  if (const int64_t now = clock_->NowSeconds(); now - pruned_at_ >= 30 || now < pruned_at_) {
    list_.Prune(now);
    pruned_at_ = now;
  }
  std::lock_guard lock(mu_);
  cursor_ = std::move(page.cursor);
  if (snapshot) ++snapshots_;
  return Status::Ok();
}

Status RevocationSubscription::Exchange(bool snapshot, bool* reset) {
  *reset = false;
  std::string url = url_;
  HttpGetOptions get{.ca_file = options_.ca_file,
                     .connect_timeout_ms = options_.connect_timeout_ms,
                     .total_timeout_ms = options_.total_timeout_ms,
                     .max_body_bytes = options_.max_body_bytes,
                     .cancel = &cancel_,
                     .accept = "application/json",
                     .authorization = authorization_,
                     .any_status = true};
  if (!snapshot) {
    std::string cursor;
    {
      std::lock_guard lock(mu_);
      cursor = cursor_;
    }
    url += url.find('?') == std::string::npos ? "?after=" : "&after=";
    url += cursor;
    url += "&wait=";
    url += std::to_string(options_.wait_seconds);
    // tessera answers an empty poll within a tenth of a second of the wait's end.
    get.total_timeout_ms += options_.wait_seconds * 1000;
  }
  // Everything revoked before this moment is in the answer, whenever the answer comes.
  const int64_t asked = SteadyNanos();
  Status status = [&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(HttpGetResponse response, HttpGet(url, get));
    if (response.status == 410 && !snapshot) {
      *reset = true;
      return Status::Ok();
    }
    if (response.status != 200) {
      // The error member only: the body is tessera's and short, but a proxy's could be anything.
      std::string error;
      if (auto doc = json::ParseStrict(response.body);
          doc && doc->is_object() && doc->contains("error") && (*doc)["error"].is_string()) {
        error = ' ';
        error += (*doc)["error"].get<std::string>().substr(0, 64);
      }
      return Status(Code::kUnavailable, Reason::kIo,
                    "GET /v1/revocations: HTTP status " + std::to_string(response.status) + error);
    }
    TESSERA_RETURN_IF_ERROR(Apply(response.body, snapshot));
    confirmed_ns_.store(asked, std::memory_order_release);
    return Status::Ok();
  }();
  std::lock_guard lock(mu_);
  last_status_ = status;
  if (status.ok()) {
    ++answers_;
  } else {
    ++failures_;
  }
  return status;
}

bool RevocationSubscription::Stopping(std::chrono::milliseconds sleep) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, sleep, [this] { return cancel_.load(); });
}

void RevocationSubscription::Run() {
  std::minstd_rand jitter(std::random_device{}());
  int64_t backoff = options_.retry_min_ms;
  bool need_snapshot = false;
  while (!cancel_.load()) {
    bool reset = false;
    Status s = Exchange(need_snapshot, &reset);
    if (cancel_.load()) return;
    if (s.ok()) {
      need_snapshot = reset;
      backoff = options_.retry_min_ms;
      continue;
    }
    const int64_t sleep = backoff + static_cast<int64_t>(jitter() % (backoff / 4 + 1));
    backoff = std::min(backoff * 2, options_.retry_max_ms);
    if (Stopping(std::chrono::milliseconds(sleep))) return;
  }
}

}  // namespace tessera::token
