#include "app.h"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "forms.h"
#include "responses.h"
#include "tessera/user/user.h"
#include "web_assets.h"

namespace tessera::server {
namespace {

using nlohmann::json;

// The value of cookie `name` from the request's Cookie headers, or empty.
std::string_view CookieValue(const HttpRequest& r, std::string_view name) {
  for (std::string_view header : r.Headers("Cookie")) {
    while (!header.empty()) {
      const size_t semi = header.find(';');
      std::string_view pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
  }
  return {};
}

// host[:port] of an origin "scheme://host[:port]", or empty when it is not one.
std::string_view OriginHost(std::string_view origin) {
  const size_t sep = origin.find("://");
  if (sep == std::string_view::npos) return {};
  return origin.substr(sep + 3);
}

// Parses an IPv4/IPv6 address into 16 bytes (IPv4 mapped), false if it is neither.
bool ParseIp(std::string_view text, unsigned char out[16], int* bits) {
  std::string s(text);
  unsigned char v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, v4, 4);
    *bits = 32;
    return true;
  }
  *bits = 128;
  return inet_pton(AF_INET6, s.c_str(), out) == 1;
}

// True when `ip` is `entry` (an address) or inside it (a CIDR range).
bool IpMatches(std::string_view ip, std::string_view entry) {
  unsigned char a[16], net[16];
  int a_bits, net_bits;
  const size_t slash = entry.find('/');
  if (!ParseIp(ip, a, &a_bits) || !ParseIp(entry.substr(0, slash), net, &net_bits)) return false;
  int prefix = net_bits;
  if (slash != std::string_view::npos) prefix = std::atoi(std::string(entry.substr(slash + 1)).c_str());
  if (net_bits == 32) prefix += 96;  // IPv4 ranges apply to the mapped form
  for (int i = 0; i < 128 && i < prefix; ++i) {
    const unsigned char mask = static_cast<unsigned char>(0x80 >> (i % 8));
    if ((a[i / 8] & mask) != (net[i / 8] & mask)) return false;
  }
  return true;
}

json UserJson(const user::User& u) {
  return {{"sub", u.id}, {"username", u.username}, {"roles", u.roles}};
}

json SessionJson(const session::SessionManager& m, const session::Session& s) {
  return {{"id", s.handle},
          {"created_at", s.created_at},
          {"last_seen_at", s.last_seen_at},
          {"expires_at", m.ExpiresAt(s)},
          {"user_agent", s.user_agent},
          {"ip", s.ip},
          {"kind", s.kind == session::SessionKind::kCookie ? "session" : "token"}};
}

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

}  // namespace

struct App::Caller {
  bool bearer = false;   // authenticated by an access token, not the session cookie
  std::string secret;    // the cookie's session secret; empty for bearer callers
  // Cookie callers: the stored record. Bearer callers: what the token says (handle = sid,
  // user_id = sub, kind token); no store was read.
  session::Session session;
  user::User user;
  int64_t expires_at = 0;  // X-Auth-Expires-At: the session's end, or the token's exp
};

App::App(AppDeps deps) : d_(deps) {
  for (const std::string& c : d_.config->token.clients) {
    // Validated by LoadConfig: "ID:" and 64 lowercase hex digits.
    const size_t colon = c.find(':');
    std::string hash;
    for (size_t i = colon + 1; i + 1 < c.size(); i += 2) {
      hash.push_back(static_cast<char>(std::stoi(c.substr(i, 2), nullptr, 16)));
    }
    clients_[c.substr(0, colon)] = std::move(hash);
  }
}

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the access log and metrics need of a request, held as copies for answers that come later
// from the password pool.
struct RequestSummary {
  std::string method, path, ip, user_agent;
};

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
  log::AppendJsonEscaped(line, request.method);
  // The path only: a query string may carry what must not be logged.
  line += "\",\"path\":\"";
  log::AppendJsonEscaped(line, request.Path().substr(0, 512));
  line += "\",\"status\":";
  line += std::to_string(response.status);
  line += ",\"bytes\":";
  line += std::to_string(response.body.size());
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(nanoseconds) / 1e6);
  line += ",\"ms\":";
  line += ms;
  line += ",\"ip\":\"";
  log::AppendJsonEscaped(line, ClientIp(request));
  line += "\",\"ua\":\"";
  log::AppendJsonEscaped(line, request.Header("User-Agent").substr(0, 256));
  line += "\"}";
  d_.access_log->Append(line);
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
  if (!d_.config->server.tls_cert.empty()) {
    r.Set("Strict-Transport-Security", "max-age=31536000");
  }
}

void App::Handle(HttpRequest request, Responder respond) {
  const int64_t start = NowNs();
  server::Route route = Route::kOther;
  std::optional<HttpResponse> answer = Dispatch(request, respond, &route);
  if (!answer) return;  // answered later, from the password pool (see Deferred)
  AddCommonHeaders(*answer);
  const int64_t elapsed = NowNs() - start;  // one clock read for the metric and the log line
  metrics_.Request(route, answer->status, elapsed);
  if (d_.access_log) AccessLogLine(request, *answer, elapsed);
  respond(std::move(*answer));
}

Responder App::Deferred(const HttpRequest& request, server::Route route, Responder respond) {
  const int64_t start = NowNs();
  std::shared_ptr<HttpRequest> summary;
  if (d_.access_log) {
    summary = std::make_shared<HttpRequest>();
    summary->method = request.method;
    summary->target = std::string(request.Path());
    summary->peer_ip = request.peer_ip;
    summary->headers = request.headers;
  }
  return [this, start, route, summary, respond = std::move(respond)](HttpResponse r) mutable {
    AddCommonHeaders(r);
    const int64_t elapsed = NowNs() - start;
    metrics_.Request(route, r.status, elapsed);
    if (summary) AccessLogLine(*summary, r, elapsed);
    respond(std::move(r));
  };
}

std::optional<HttpResponse> App::Dispatch(const HttpRequest& request, Responder& respond,
                                          server::Route* route) {
  const std::string_view path = request.Path();
  const std::string& m = request.method;
  const bool get = m == "GET" || m == "HEAD";
  auto not_allowed = [](const char* allow) {
    HttpResponse r = Error(405, "invalid_request", "method not allowed");
    r.Set("Allow", allow);
    return r;
  };

  if (path == "/v1/auth") {
    *route = Route::kAuth;
    return get ? ForwardAuth(request) : not_allowed("GET, HEAD");
  }
  if (path == "/healthz" || path == "/readyz") {
    *route = Route::kHealth;
    if (!get) return not_allowed("GET, HEAD");
    return path == "/healthz" ? Health() : Ready();
  }
  if (path == "/metrics") {
    *route = Route::kMetrics;
    return get ? MetricsPage() : not_allowed("GET, HEAD");
  }
  if (path == "/v1/me") {
    *route = Route::kMe;
    return get ? Me(request) : not_allowed("GET, HEAD");
  }
  if (path == "/v1/login") {
    *route = Route::kLogin;
    if (m != "POST") return not_allowed("POST");
    Login(request, Deferred(request, *route, std::move(respond)));
    return std::nullopt;
  }
  if (path == "/v1/logout") {
    *route = Route::kLogout;
    return m == "POST" ? Logout(request) : not_allowed("POST");
  }
  if (path == "/v1/sessions") {
    *route = Route::kSessions;
    if (get) return ListSessions(request);
    if (m == "DELETE") return RevokeOtherSessions(request);
    return not_allowed("GET, HEAD, DELETE");
  }
  constexpr std::string_view kSessionPrefix = "/v1/sessions/";
  if (path.starts_with(kSessionPrefix)) {
    *route = Route::kSessions;
    const std::string_view handle = path.substr(kSessionPrefix.size());
    if (handle.empty() || handle.find('/') != std::string_view::npos) {
      return Error(404, "not_found", "no such resource");
    }
    return m == "DELETE" ? RevokeSession(request, handle) : not_allowed("DELETE");
  }
  if (path == "/v1/users") {
    *route = Route::kUsers;
    if (m != "POST") return not_allowed("POST");
    Register(request, Deferred(request, *route, std::move(respond)));
    return std::nullopt;
  }
  if (path == "/v1/admin/users") {
    *route = Route::kAdmin;
    if (get) return AdminListUsers(request);
    if (m != "POST") return not_allowed("GET, HEAD, POST");
    AdminCreateUser(request, Deferred(request, *route, std::move(respond)));
    return std::nullopt;
  }
  constexpr std::string_view kAdminUserPrefix = "/v1/admin/users/";
  constexpr std::string_view kSessionsSuffix = "/sessions";
  if (path.starts_with(kAdminUserPrefix)) {
    *route = Route::kAdmin;
    std::string_view rest = path.substr(kAdminUserPrefix.size());
    if (!rest.ends_with(kSessionsSuffix) || rest.size() == kSessionsSuffix.size()) {
      return Error(404, "not_found", "no such resource");
    }
    rest.remove_suffix(kSessionsSuffix.size());
    if (get) return AdminUserSessions(request, rest, /*revoke=*/false);
    if (m == "DELETE") return AdminUserSessions(request, rest, /*revoke=*/true);
    return not_allowed("GET, HEAD, DELETE");
  }
  if (path == "/v1/token") {
    *route = Route::kToken;
    return m == "POST" ? TokenEndpoint(request) : not_allowed("POST");
  }
  if (path == "/v1/introspect" || path == "/v1/revoke") {
    *route = Route::kOAuth;
    if (m != "POST") return not_allowed("POST");
    return path == "/v1/introspect" ? Introspect(request) : RevokeToken(request);
  }
  if (path == "/.well-known/jwks.json") {
    *route = Route::kWellKnown;
    return get ? JwksDocument() : not_allowed("GET, HEAD");
  }
  if (path == "/.well-known/openid-configuration" ||
      path == "/.well-known/oauth-authorization-server") {
    *route = Route::kWellKnown;
    return get ? DiscoveryDocument() : not_allowed("GET, HEAD");
  }
  if (get) {
    if (auto page = ServeWebAsset(path)) {
      *route = Route::kWeb;
      return page;
    }
  }
  return Error(404, "not_found", "no such resource");
}

HttpResponse App::Health() { return Json(200, {{"status", "ok"}}); }

HttpResponse App::Ready() {
  Status users = d_.users->Ping();
  auto sessions = d_.sessions->ExternalVersion();
  Status revocations = d_.tokens
                           ? d_.tokens->revocations().Check(SystemClock::Instance().NowSeconds())
                           : Status::Ok();
  const bool ok = users.ok() && sessions && revocations.ok();
  return Json(ok ? 200 : 503, {{"status", ok ? "ok" : "unavailable"},
                               {"users", users.ok() ? "ok" : "unavailable"},
                               {"sessions", sessions ? "ok" : "unavailable"},
                               {"revocations", revocations.ok() ? "ok" : "unavailable"}});
}

std::string App::ClientIp(const HttpRequest& request) const {
  // X-Forwarded-For is believed only from a configured proxy; otherwise anyone could choose the
  // address that throttling and the session list record.
  const auto& trusted = d_.config->server.trusted_proxies;
  bool peer_trusted = false;
  for (const auto& t : trusted) peer_trusted |= IpMatches(request.peer_ip, t);
  if (!peer_trusted) return request.peer_ip;
  std::string_view xff = request.Header("X-Forwarded-For");
  // Walk from the right: the nearest hop not in the trusted set is the client.
  while (!xff.empty()) {
    const size_t comma = xff.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
    xff = comma == std::string_view::npos ? std::string_view() : xff.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    bool hop_trusted = false;
    for (const auto& t : trusted) hop_trusted |= IpMatches(hop, t);
    unsigned char buf[16];
    int bits;
    if (!hop_trusted && ParseIp(hop, buf, &bits)) return std::string(hop);
  }
  return request.peer_ip;
}

std::string App::SessionCookie(const std::string& value, int64_t max_age) const {
  const auto& c = d_.config->cookie;
  std::string s = c.name + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) + "; HttpOnly";
  if (c.secure) s += "; Secure";
  s += c.same_site == SameSite::kStrict ? "; SameSite=Strict"
       : c.same_site == SameSite::kLax  ? "; SameSite=Lax"
                                        : "; SameSite=None";
  return s;
}

Result<std::optional<user::User>> App::FindUser(const std::string& id) {
  const uint64_t generation = d_.session_manager->external_generation();
  {
    std::lock_guard lock(users_mu_);
    if (users_generation_ != generation) {
      users_.clear();
      users_generation_ = generation;
    }
    if (auto it = users_.find(id); it != users_.end()) return std::optional<user::User>(it->second);
  }
  TESSERA_ASSIGN_OR_RETURN(std::optional<user::User> found, d_.users->FindById(id));
  if (found) {
    std::lock_guard lock(users_mu_);
    if (users_generation_ == generation) {
      if (users_.size() >= 100000) users_.clear();
      users_[id] = *found;
    }
  }
  return found;
}

namespace {

// RFC 6750 section 3: a 401 for a bearer request says why in WWW-Authenticate.
HttpResponse BearerError(std::string_view description, bool token_presented) {
  HttpResponse r = Error(401, "invalid_token", description);
  std::string challenge = "Bearer realm=\"tessera\"";
  if (token_presented) {
    challenge += ", error=\"invalid_token\", error_description=\"";
    challenge += description;  // fixed texts from the library, never the token
    challenge += '"';
  }
  r.Set("WWW-Authenticate", std::move(challenge));
  return r;
}

}  // namespace

std::unique_ptr<App::Caller> App::AuthenticateBearer(std::string_view authorization,
                                                     HttpResponse* error) {
  auto token = ParseBearerAuthorization(authorization);
  if (!token) {
    *error = BearerError("malformed Authorization header", true);
    return nullptr;
  }
  if (!d_.verifier) {
    *error = BearerError("bearer tokens are not enabled on this server", true);
    return nullptr;
  }
  token::AccessToken t;
  Status verified = d_.verifier->Verify(*token, SystemClock::Instance().NowSeconds(), &t);
  if (!verified.ok()) {
    if (verified.code() == Code::kUnavailable || verified.code() == Code::kInternal) {
      *error = FromStatus(verified);
    } else {
      // A refresh token (no dots) presented as a bearer lands here too: it is no JWT.
      *error = BearerError(verified.reason() == Reason::kExpired         ? "token expired"
                           : verified.reason() == Reason::kUnknownSession ? "session ended"
                                                                          : "invalid token",
                           true);
    }
    return nullptr;
  }
  auto caller = std::make_unique<Caller>();
  caller->bearer = true;
  caller->session.handle = std::move(t.sid);
  caller->session.user_id = t.sub;
  caller->session.kind = session::SessionKind::kToken;
  caller->user.id = std::move(t.sub);
  caller->user.username = std::move(t.username);
  caller->user.roles = std::move(t.roles);
  caller->expires_at = t.exp;
  return caller;
}

std::unique_ptr<App::Caller> App::Authenticate(const HttpRequest& request, bool state_changing,
                                               HttpResponse* error) {
  // A bearer token, when sent, is the only credential looked at: a request does not get to pick
  // whichever of two identities suits it. Other schemes (an app's own Basic auth behind the
  // proxy) are not tessera's and are ignored. Bearer requests need no CSRF defence: a browser
  // never attaches the header on its own.
  const std::string_view authorization = request.Header("Authorization");
  if (authorization.size() >= 7 && EqualsIgnoreCase(authorization.substr(0, 7), "bearer ")) {
    return AuthenticateBearer(authorization, error);
  }
  const std::string_view secret = CookieValue(request, d_.config->cookie.name);
  if (secret.empty()) {
    *error = BearerError("not signed in", false);
    return nullptr;
  }
  const bool passive = request.Header("Tessera-Passive") == "1";
  auto session = d_.session_manager->Authenticate(secret, passive);
  if (!session) {
    // A cookie that names no live session: the client knows it sent one, so saying the session
    // ended (signed out elsewhere, revoked) tells it nothing new and lets a page explain.
    *error = session.error().reason() == Reason::kUnknownSession
                 ? Error(401, "invalid_token", "session ended")
                 : FromStatus(session.error());
    return nullptr;
  }
  auto user = FindUser(session->user_id);
  if (!user) {
    *error = FromStatus(user.error());
    return nullptr;
  }
  if (!user->has_value()) {  // the account is gone: so is the session
    (void)d_.session_manager->Revoke(secret);
    *error = Error(401, "invalid_token", "not signed in");
    return nullptr;
  }
  if (state_changing) {
    // CSRF: a cross-site page can make the browser send the cookie, but it cannot read the
    // token from the login response, and it cannot forge the Origin header.
    if (!OriginAllowed(request)) {
      *error = Error(403, "csrf_failed", "cross-site request refused");
      return nullptr;
    }
    if (!session::SessionManager::CheckCsrf(*session, request.Header("X-CSRF-Token"))) {
      *error = Error(403, "csrf_failed", "missing or wrong X-CSRF-Token");
      return nullptr;
    }
  }
  auto caller = std::make_unique<Caller>();
  caller->secret = std::string(secret);
  caller->expires_at = d_.session_manager->ExpiresAt(*session);
  caller->session = std::move(*session);
  caller->user = std::move(**user);
  return caller;
}

bool App::OriginAllowed(const HttpRequest& request) const {
  const std::string_view origin = request.Header("Origin");
  for (const auto& o : d_.config->server.allowed_origins) {
    if (origin == o) return true;
  }
  if (origin.empty()) {
    // No Origin: a same-origin GET-like navigation or a non-browser client. A browser that says
    // the request is cross-site is believed (Fetch Metadata), even without an Origin.
    return request.Header("Sec-Fetch-Site") != "cross-site";
  }
  const std::string_view host = request.Header("Host");
  return origin != "null" && !host.empty() && OriginHost(origin) == host;
}

std::optional<HttpResponse> App::CheckUnauthenticatedPost(const HttpRequest& request) const {
  // A form post cannot send application/json without a CORS preflight (which tessera never
  // grants), so requiring it stops login CSRF from plain HTML forms; the Origin check stops
  // the rest (OWASP CSRF cheat sheet; SECURITY.md CS-04, CS-05).
  if (!IsJson(request.Header("Content-Type"))) {
    return Error(415, "invalid_request", "Content-Type must be application/json");
  }
  if (!OriginAllowed(request)) return Error(403, "csrf_failed", "cross-site request refused");
  return std::nullopt;
}

nlohmann::json App::RequestFields(const HttpRequest& request) const {
  return {{"ip", ClientIp(request)},
          {"user_agent", std::string(request.Header("User-Agent").substr(0, 256))}};
}

namespace {

// Reads {"username": string, "password": string, ...} from a request body; on failure returns
// the answer to send.
std::optional<HttpResponse> ParseCredentials(const HttpRequest& request, json* body) {
  auto parsed = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 16});
  if (!parsed || !parsed->is_object()) {
    return Error(400, "invalid_request", "body must be a JSON object");
  }
  const json& b = *parsed;
  if (!b.contains("username") || !b["username"].is_string() || !b.contains("password") ||
      !b["password"].is_string()) {
    return Error(400, "invalid_request", "username and password (strings) are required");
  }
  if (b["password"].get_ref<const std::string&>().size() > crypto::kMaxPasswordBytes) {
    return Error(400, "invalid_request", "password longer than 1024 bytes");
  }
  *body = std::move(*parsed);
  return std::nullopt;
}

HttpResponse Busy() {
  HttpResponse busy = Error(503, "unavailable", "too many sign-ins in progress; retry shortly");
  busy.Set("Retry-After", "1");
  return busy;
}

}  // namespace

void App::Login(const HttpRequest& request, Responder respond) {
  auto invalid = [&](HttpResponse r) {
    metrics_.Login(LoginOutcome::kInvalid);  // refused before any password work
    respond(std::move(r));
  };
  if (auto refused = CheckUnauthenticatedPost(request)) return invalid(std::move(*refused));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return invalid(std::move(*bad));
  std::string mode = "session";
  if (b.contains("mode")) {
    if (!b["mode"].is_string()) return invalid(Error(400, "invalid_request", "mode must be a string"));
    mode = b["mode"].get<std::string>();
  }
  if (mode != "session" && mode != "token") {
    return invalid(Error(400, "invalid_request", "mode must be \"session\" or \"token\""));
  }
  const bool token_mode = mode == "token";
  if (token_mode && !d_.tokens) {
    return invalid(Error(400, "invalid_request", "token mode is not enabled on this server"));
  }
  session::DeviceInfo device{std::string(request.Header("User-Agent")), ClientIp(request)};
  const std::string previous(CookieValue(request, d_.config->cookie.name));
  auto work = [this, username = b["username"].get<std::string>(),
               password = b["password"].get<std::string>(), device = std::move(device), previous,
               token_mode, respond]() mutable {
    // Unknown user, malformed name and wrong password: the same work and the same answer.
    const HttpResponse denied = Error(401, "invalid_credentials", "wrong username or password");
    auto name = user::CanonicalUsername(username);
    // Throttling counts by name whether or not the account exists, so its answers tell nothing
    // about existence either.
    const std::string account = name ? *name : username.substr(0, 256);
    const json who = {{"username", account}, {"ip", device.ip},
                      {"user_agent", device.user_agent.substr(0, 256)}};
    auto unavailable = [&](const Status& s) {
      metrics_.Login(LoginOutcome::kUnavailable);
      respond(FromStatus(s));
    };
    auto wait = d_.throttle->Check(account, device.ip);
    if (!wait) return unavailable(wait.error());
    if (*wait > 0) {
      metrics_.Login(LoginOutcome::kThrottled);
      json e = who;
      e["retry_after"] = *wait;
      d_.audit->Record("login.throttled", std::move(e));
      HttpResponse r = Error(429, "too_many_attempts",
                             "too many attempts; try again in " + std::to_string(*wait) + " s");
      r.Set("Retry-After", std::to_string(*wait));
      return respond(std::move(r));
    }
    auto reject = [&](std::string_view reason) {
      // A failure that cannot be counted must not become a free guess: fail closed.
      Status counted = d_.throttle->RecordFailure(account, device.ip);
      if (!counted.ok()) return unavailable(counted);
      metrics_.Login(LoginOutcome::kFailure);
      json e = who;
      e["reason"] = reason;
      d_.audit->Record("login.failed", std::move(e));
      respond(denied);
    };
    std::optional<user::User> found;
    if (name) {
      auto lookup = d_.users->FindByName(*name);
      if (!lookup) return unavailable(lookup.error());
      found = std::move(*lookup);
    }
    if (!found) {
      d_.hasher->DummyVerify(password);
      return reject("unknown_user");
    }
    auto outcome = d_.hasher->Verify(found->password_hash, password);
    if (!outcome || !outcome->ok) return reject("wrong_password");
    (void)d_.throttle->RecordSuccess(account);
    if (outcome->needs_rehash) {
      // Upgrade an old or imported hash now that the password is known; a failure here only
      // postpones the upgrade to the next login.
      if (auto rehashed = d_.hasher->Hash(password)) {
        if (d_.users->SetPasswordHash(found->id, *rehashed).ok()) {
          d_.audit->Record("password.rehashed", {{"username", found->username}, {"sub", found->id}});
        }
      }
    }
    if (token_mode) return respond(TokenLogin(*found, device, who));
    // A new secret on every login; the session the client came with (if any) ends.
    if (!previous.empty()) (void)d_.session_manager->Revoke(previous);
    auto created = d_.session_manager->Create(found->id, session::SessionKind::kCookie, device);
    if (!created) return respond(LoginRefused(created.error(), who));
    LoginSucceeded(*found, who, created->record, created->evicted, "session");
    const int64_t expires = d_.session_manager->ExpiresAt(created->record);
    HttpResponse r = Json(200, {{"user", UserJson(*found)},
                                {"session", {{"id", created->record.handle}, {"expires_at", expires}}},
                                {"csrf_token", created->csrf_token}});
    r.Set("Set-Cookie",
          SessionCookie(created->secret, d_.session_manager->options().absolute_timeout_seconds));
    r.Set("X-Auth-Expires-At", std::to_string(expires));
    respond(std::move(r));
  };
  if (!d_.password_pool->TrySubmit(work)) {
    metrics_.Login(LoginOutcome::kBusy);
    respond(Busy());
  }
}

HttpResponse App::LoginRefused(const Status& s, const nlohmann::json& who) {
  if (s.code() == Code::kUnavailable) {
    metrics_.Login(LoginOutcome::kUnavailable);
    return FromStatus(s);
  }
  metrics_.Login(LoginOutcome::kFailure);
  json e = who;
  e["reason"] = "session_limit";
  d_.audit->Record("login.failed", std::move(e));
  return FromStatus(s);
}

void App::LoginSucceeded(const user::User& u, const nlohmann::json& who,
                         const session::Session& s, const std::vector<session::Session>& evicted,
                         std::string_view mode) {
  metrics_.Login(LoginOutcome::kSuccess);
  for (const session::Session& gone : evicted) {
    d_.audit->Record("session.revoked", {{"username", u.username},
                                         {"sub", u.id},
                                         {"session", gone.handle},
                                         {"by", "session_limit"}});
  }
  json e = who;
  e["username"] = u.username;
  e["sub"] = u.id;
  e["session"] = s.handle;
  e["mode"] = mode;
  d_.audit->Record("login.succeeded", std::move(e));
}

std::optional<HttpResponse> App::CreateAccount(const std::string& name, const std::string& password,
                                               std::vector<std::string> roles, user::User* out) {
  // Hash first: a taken name costs the same time as a free one.
  auto hash = d_.hasher->Hash(password);
  if (!hash) return FromStatus(hash.error());
  *out = user::User{.id = user::NewUserId(),
                    .username = name,
                    .password_hash = std::move(*hash),
                    .roles = std::move(roles),
                    .created_at = SystemClock::Instance().NowSeconds()};
  Status added = d_.users->Add(*out);
  if (added.code() == Code::kAlreadyExists) {
    return Error(409, "username_taken", "that username is taken");
  }
  if (!added.ok()) return FromStatus(added);
  return std::nullopt;
}

void App::Register(const HttpRequest& request, Responder respond) {
  auto refuse = [&](HttpResponse r) {
    metrics_.Registration(false);
    respond(std::move(r));
  };
  if (!d_.config->users.registration) {
    return refuse(Error(403, "forbidden", "registration is disabled on this server"));
  }
  if (auto refused = CheckUnauthenticatedPost(request)) return refuse(std::move(*refused));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return refuse(std::move(*bad));
  auto name = user::CanonicalUsername(b["username"].get<std::string>());
  if (!name) return refuse(Error(400, "invalid_request", name.error().message()));
  std::string password = b["password"].get<std::string>();
  if (Status policy = crypto::CheckNewPassword(password); !policy.ok()) {
    return refuse(Error(400, "invalid_request", policy.message()));
  }
  const json who = RequestFields(request);
  auto work = [this, name = *name, password = std::move(password), who, respond]() mutable {
    // The per-IP sign-in budget also bounds registrations, so the endpoint cannot be used to
    // test which names exist faster than sign-in could, nor to create accounts in bulk.
    const std::string ip = who["ip"].get<std::string>();
    auto wait = d_.throttle->CheckIp(ip);
    if (!wait) return respond(FromStatus(wait.error()));
    if (*wait == 0) {
      if (Status counted = d_.throttle->RecordIpAttempt(ip); !counted.ok()) {
        return respond(FromStatus(counted));
      }
    }
    if (*wait > 0) {
      metrics_.Registration(false);
      HttpResponse r = Error(429, "too_many_attempts",
                             "too many attempts; try again in " + std::to_string(*wait) + " s");
      r.Set("Retry-After", std::to_string(*wait));
      return respond(std::move(r));
    }
    user::User u;
    if (auto refused = CreateAccount(name, password, {}, &u)) {
      metrics_.Registration(false);
      return respond(std::move(*refused));
    }
    metrics_.Registration(true);
    json e = who;
    e["username"] = u.username;
    e["sub"] = u.id;
    d_.audit->Record("user.registered", std::move(e));
    respond(Json(201, {{"user", UserJson(u)}}));
  };
  if (!d_.password_pool->TrySubmit(work)) refuse(Busy());
}

HttpResponse App::Logout(const HttpRequest& request) {
  const std::string_view authorization = request.Header("Authorization");
  const bool bearer =
      authorization.size() >= 7 && EqualsIgnoreCase(authorization.substr(0, 7), "bearer ");
  // Checked before anything else: even without a live session, a cross-site page must not be
  // able to make the browser drop its cookie (a forced sign-out). A bearer token is never sent by
  // a browser on its own, so a bearer logout needs no such check.
  if (!bearer && !OriginAllowed(request)) {
    return Error(403, "csrf_failed", "cross-site request refused");
  }
  HttpResponse error;
  auto caller = Authenticate(request, /*state_changing=*/true, &error);
  if (bearer && !caller) return error;  // a bearer client learns its token was not accepted
  if (!caller && error.status != 401) return error;  // CSRF failure or store down
  if (caller) {
    // A bearer logout ends the token's session: its refresh family goes with it, and the sid
    // enters the revocation list (SessionManager's on_end, with the session's latest exp), so the
    // access token stops at once. The token in hand stops here first, whatever the store says.
    if (caller->bearer) {
      d_.tokens->revocations().RevokeSession(caller->session.handle, caller->expires_at);
    }
    Status gone = caller->bearer ? d_.session_manager->RevokeHandle(caller->session.handle).status()
                                 : d_.session_manager->Revoke(caller->secret).status();
    if (!gone.ok()) return FromStatus(gone);
    json e = RequestFields(request);
    e["username"] = caller->user.username;
    e["sub"] = caller->user.id;
    e["session"] = caller->session.handle;
    e["auth"] = caller->bearer ? "bearer" : "session";
    d_.audit->Record("logout", std::move(e));
  }
  if (bearer) return NoContent();
  // Logging out twice, or with a dead cookie, still ends with no cookie.
  HttpResponse r = NoContent();
  r.Set("Set-Cookie", SessionCookie("", 0));
  return r;
}

HttpResponse App::Me(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, false, &error);
  if (!caller) return error;
  json j = UserJson(caller->user);
  j["sid"] = caller->session.handle;
  j["auth"] = caller->bearer ? "bearer" : "session";
  if (!caller->bearer) {
    // The page's script cannot read the HttpOnly cookie, so it learns the CSRF token here; a
    // cross-site page cannot read this answer (no CORS).
    j["csrf_token"] = session::SessionManager::CsrfTokenFor(caller->secret);
  }
  HttpResponse r = Json(200, j);
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  return r;
}

HttpResponse App::ListSessions(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, false, &error);
  if (!caller) return error;
  auto list = d_.session_manager->List(caller->user.id);
  if (!list) return FromStatus(list.error());
  json out = json::array();
  for (const auto& s : *list) {
    json j = SessionJson(*d_.session_manager, s);
    j["current"] = s.handle == caller->session.handle;
    out.push_back(std::move(j));
  }
  HttpResponse r = Json(200, out);
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  return r;
}

HttpResponse App::RevokeSession(const HttpRequest& request, std::string_view handle) {
  HttpResponse error;
  auto caller = Authenticate(request, true, &error);
  if (!caller) return error;
  auto gone = d_.session_manager->RevokeByHandle(caller->user.id, handle);
  if (!gone) return FromStatus(gone.error());
  json e = RequestFields(request);
  e["username"] = caller->user.username;
  e["sub"] = caller->user.id;
  e["session"] = gone->handle;
  e["by"] = "user";
  d_.audit->Record("session.revoked", std::move(e));
  HttpResponse r = NoContent();
  if (!caller->bearer && gone->handle == caller->session.handle) {
    r.Set("Set-Cookie", SessionCookie("", 0));
  }
  return r;
}

HttpResponse App::RevokeOtherSessions(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, true, &error);
  if (!caller) return error;
  std::string keep = caller->session.id_hash;
  if (caller->bearer) {
    // The token names its session by handle; the store keeps sessions by id hash.
    auto list = d_.session_manager->List(caller->user.id);
    if (!list) return FromStatus(list.error());
    for (const session::Session& s : *list) {
      if (s.handle == caller->session.handle) keep = s.id_hash;
    }
  }
  auto gone = d_.session_manager->RevokeAll(caller->user.id, keep);
  if (!gone) return FromStatus(gone.error());
  for (const session::Session& s : *gone) {
    json e = RequestFields(request);
    e["username"] = caller->user.username;
    e["sub"] = caller->user.id;
    e["session"] = s.handle;
    e["by"] = "user";
    d_.audit->Record("session.revoked", std::move(e));
  }
  return Json(200, {{"revoked", gone->size()}});
}

HttpResponse App::ForwardAuth(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, false, &error);
  if (!caller) {
    metrics_.AuthCheck(error.status == 503 ? AuthOutcome::kUnavailable : AuthOutcome::kDenied);
    return error;
  }
  metrics_.AuthCheck(AuthOutcome::kAllowed);
  HttpResponse r;
  r.status = 200;
  r.Set("X-Auth-User", caller->user.username);
  r.Set("X-Auth-Subject", caller->user.id);
  r.Set("X-Auth-Roles", JoinRoles(caller->user.roles));
  r.Set("X-Auth-Session", caller->session.handle);
  r.Set("X-Auth-Expires-At", std::to_string(caller->expires_at));
  return r;
}

HttpResponse App::MetricsPage() {
  Metrics::Gauges g;
  auto alive = d_.sessions->CountAlive(SystemClock::Instance().NowSeconds());
  g.active_sessions = alive ? static_cast<int64_t>(*alive) : -1;
  g.password_queue_depth = d_.password_pool->queue_depth();
  g.password_queue_capacity = d_.password_pool->queue_capacity();
  g.password_workers = d_.password_pool->thread_count();
  if (d_.verifier) {
    g.revoked_sessions = static_cast<int64_t>(d_.tokens->revocations().size());
    g.verify_cache_hits = static_cast<int64_t>(d_.verifier->cache_hits());
    g.verify_cache_misses = static_cast<int64_t>(d_.verifier->cache_misses());
  }
  HttpResponse r;
  r.body = metrics_.Render(g);
  r.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

std::unique_ptr<App::Caller> App::AuthenticateAdmin(const HttpRequest& request,
                                                    bool state_changing, HttpResponse* error) {
  auto caller = Authenticate(request, state_changing, error);
  if (!caller) return nullptr;
  const auto& roles = caller->user.roles;
  if (std::find(roles.begin(), roles.end(), "admin") == roles.end()) {
    *error = Error(403, "forbidden", "this needs the admin role");
    return nullptr;
  }
  return caller;
}

namespace {

// Percent-decodes a path segment (RFC 3986 section 2.1); nullopt on a malformed escape or an
// encoded '/' or NUL, which no username contains.
std::optional<std::string> DecodeSegment(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '/' || c == '\0') return std::nullopt;
    out.push_back(c);
    i += 2;
  }
  return out;
}

}  // namespace

void App::AdminCreateUser(const HttpRequest& request, Responder respond) {
  if (!IsJson(request.Header("Content-Type"))) {
    return respond(Error(415, "invalid_request", "Content-Type must be application/json"));
  }
  HttpResponse error;
  auto admin = AuthenticateAdmin(request, /*state_changing=*/true, &error);
  if (!admin) return respond(std::move(error));
  json b;
  if (auto bad = ParseCredentials(request, &b)) return respond(std::move(*bad));
  auto name = user::CanonicalUsername(b["username"].get<std::string>());
  if (!name) return respond(Error(400, "invalid_request", name.error().message()));
  std::vector<std::string> roles;
  if (b.contains("roles")) {
    if (!b["roles"].is_array()) {
      return respond(Error(400, "invalid_request", "roles must be an array of strings"));
    }
    for (const json& r : b["roles"]) {
      if (!r.is_string()) {
        return respond(Error(400, "invalid_request", "roles must be an array of strings"));
      }
      const std::string role = r.get<std::string>();
      if (Status ok = user::CheckRoleName(role); !ok.ok()) {
        return respond(Error(400, "invalid_request", ok.message()));
      }
      if (std::find(roles.begin(), roles.end(), role) == roles.end()) roles.push_back(role);
    }
  }
  std::string password = b["password"].get<std::string>();
  if (Status policy = crypto::CheckNewPassword(password); !policy.ok()) {
    return respond(Error(400, "invalid_request", policy.message()));
  }
  json who = RequestFields(request);
  who["by"] = admin->user.username;
  auto work = [this, name = *name, roles = std::move(roles), password = std::move(password),
               who = std::move(who), respond]() mutable {
    user::User u;
    if (auto refused = CreateAccount(name, password, std::move(roles), &u)) {
      return respond(std::move(*refused));
    }
    json e = who;
    e["username"] = u.username;
    e["sub"] = u.id;
    e["roles"] = u.roles;
    d_.audit->Record("admin.user_created", std::move(e));
    respond(Json(201, {{"user", UserJson(u)}}));
  };
  if (!d_.password_pool->TrySubmit(work)) respond(Busy());
}

HttpResponse App::AdminListUsers(const HttpRequest& request) {
  HttpResponse error;
  auto admin = AuthenticateAdmin(request, false, &error);
  if (!admin) return error;
  auto users = d_.users->List();
  if (!users) return FromStatus(users.error());
  json out = json::array();
  for (const user::User& u : *users) {
    json j = UserJson(u);
    j["created_at"] = u.created_at;
    out.push_back(std::move(j));
  }
  return Json(200, out);
}

HttpResponse App::AdminUserSessions(const HttpRequest& request, std::string_view encoded,
                                    bool revoke) {
  HttpResponse error;
  auto admin = AuthenticateAdmin(request, /*state_changing=*/revoke, &error);
  if (!admin) return error;
  auto raw = DecodeSegment(encoded);
  if (!raw) return Error(400, "invalid_request", "malformed username in the path");
  auto name = user::CanonicalUsername(*raw);
  if (!name) return Error(404, "not_found", "no such user");
  auto target = d_.users->FindByName(*name);
  if (!target) return FromStatus(target.error());
  if (!target->has_value()) return Error(404, "not_found", "no such user");
  const user::User& u = **target;
  if (!revoke) {
    auto list = d_.session_manager->List(u.id);
    if (!list) return FromStatus(list.error());
    json out = json::array();
    for (const auto& s : *list) {
      json j = SessionJson(*d_.session_manager, s);
      j["current"] = s.handle == admin->session.handle;
      out.push_back(std::move(j));
    }
    return Json(200, out);
  }
  // Every session of the user, the admin's own included when they revoke themselves.
  auto gone = d_.session_manager->RevokeAll(u.id, /*keep_id_hash=*/"");
  if (!gone) return FromStatus(gone.error());
  json e = RequestFields(request);
  e["username"] = u.username;
  e["sub"] = u.id;
  e["by"] = admin->user.username;
  e["revoked"] = gone->size();
  json handles = json::array();
  for (const auto& s : *gone) handles.push_back(s.handle);
  e["sessions"] = std::move(handles);
  d_.audit->Record("admin.sessions_revoked", std::move(e));
  HttpResponse r = Json(200, {{"revoked", gone->size()}});
  const bool self = !admin->bearer &&
                    std::any_of(gone->begin(), gone->end(), [&](const session::Session& s) {
                      return s.handle == admin->session.handle;
                    });
  if (self) r.Set("Set-Cookie", SessionCookie("", 0));
  return r;
}

}  // namespace tessera::server
