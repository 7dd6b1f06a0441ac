#include "app.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "tessera/user/user.h"

namespace tessera::server {
namespace {

using nlohmann::json;

constexpr char kJsonType[] = "application/json; charset=utf-8";

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  r.Set("Content-Type", kJsonType);
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view description) {
  return Json(status, {{"error", code}, {"error_description", description}});
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

// The one place a library Status becomes an HTTP answer. The client gets a generic code; the
// detailed reason is for logs and metrics.
HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
      return Error(503, "unavailable", "a store cannot answer right now; retry shortly");
    case Code::kUnauthenticated:
      return Error(401, "invalid_token",
                   s.reason() == Reason::kSessionExpired ? "session expired" : "not signed in");
    case Code::kNotFound: return Error(404, "not_found", "no such resource");
    case Code::kInvalidArgument: return Error(400, "invalid_request", s.message());
    case Code::kPermissionDenied: return Error(403, "forbidden", "not allowed");
    case Code::kResourceExhausted:
      if (s.reason() == Reason::kSessionLimit) {
        return Error(403, "forbidden", "session limit reached; sign out elsewhere first");
      }
      return Error(413, "invalid_request", "too large");
    default: return Error(500, "server_error", "internal error");
  }
}

bool IsJson(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return EqualsIgnoreCase(media, "application/json");
}

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

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

}  // namespace

struct App::Caller {
  std::string secret;
  session::Session session;
  user::User user;
};

namespace {

// Every answer: no sniffing, never cached (they carry identities and tokens), no referrer.
void AddCommonHeaders(HttpResponse& r) {
  r.Set("X-Content-Type-Options", "nosniff");
  r.Set("Cache-Control", "no-store");
  r.Set("Referrer-Policy", "no-referrer");
}

}  // namespace

void App::Handle(HttpRequest request, Responder respond) {
  const std::string_view path = request.Path();
  const std::string& m = request.method;
  const bool get = m == "GET" || m == "HEAD";
  auto finish = [&](HttpResponse r) {
    AddCommonHeaders(r);
    respond(std::move(r));
  };
  auto not_allowed = [&](const char* allow) {
    HttpResponse r = Error(405, "invalid_request", "method not allowed");
    r.Set("Allow", allow);
    finish(std::move(r));
  };

  if (path == "/healthz") return get ? finish(Health()) : not_allowed("GET, HEAD");
  if (path == "/readyz") return get ? finish(Ready()) : not_allowed("GET, HEAD");
  if (path == "/v1/auth") return get ? finish(ForwardAuth(request)) : not_allowed("GET, HEAD");
  if (path == "/v1/me") return get ? finish(Me(request)) : not_allowed("GET, HEAD");
  if (path == "/v1/login") {
    if (m != "POST") return not_allowed("POST");
    // Login answers later, from the password pool.
    auto wrapped = [finish_respond = std::move(respond)](HttpResponse r) mutable {
      AddCommonHeaders(r);
      finish_respond(std::move(r));
    };
    return Login(request, std::move(wrapped));
  }
  if (path == "/v1/logout") return m == "POST" ? finish(Logout(request)) : not_allowed("POST");
  if (path == "/v1/sessions") {
    if (get) return finish(ListSessions(request));
    if (m == "DELETE") return finish(RevokeOtherSessions(request));
    return not_allowed("GET, HEAD, DELETE");
  }
  constexpr std::string_view kSessionPrefix = "/v1/sessions/";
  if (path.substr(0, kSessionPrefix.size()) == kSessionPrefix) {
    const std::string_view handle = path.substr(kSessionPrefix.size());
    if (handle.empty() || handle.find('/') != std::string_view::npos) {
      return finish(Error(404, "not_found", "no such resource"));
    }
    return m == "DELETE" ? finish(RevokeSession(request, handle)) : not_allowed("DELETE");
  }
  finish(Error(404, "not_found", "no such resource"));
}

HttpResponse App::Health() { return Json(200, {{"status", "ok"}}); }

HttpResponse App::Ready() {
  Status users = d_.users->Ping();
  auto sessions = d_.sessions->ExternalVersion();
  if (!users.ok() || !sessions) {
    return Json(503, {{"status", "unavailable"},
                      {"users", users.ok() ? "ok" : "unavailable"},
                      {"sessions", sessions ? "ok" : "unavailable"}});
  }
  return Json(200, {{"status", "ok"}, {"users", "ok"}, {"sessions", "ok"}});
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

std::unique_ptr<App::Caller> App::Authenticate(const HttpRequest& request, bool state_changing,
                                               HttpResponse* error) {
  const std::string_view secret = CookieValue(request, d_.config->cookie.name);
  if (secret.empty()) {
    *error = Error(401, "invalid_token", "not signed in");
    return nullptr;
  }
  const bool passive = request.Header("Tessera-Passive") == "1";
  auto session = d_.session_manager->Authenticate(secret, passive);
  if (!session) {
    *error = FromStatus(session.error());
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
    const std::string_view origin = request.Header("Origin");
    if (!origin.empty()) {
      bool allowed = origin != "null" && OriginHost(origin) == request.Header("Host") &&
                     !request.Header("Host").empty();
      for (const auto& o : d_.config->server.allowed_origins) allowed |= origin == o;
      if (!allowed) {
        *error = Error(403, "csrf_failed", "cross-site request refused");
        return nullptr;
      }
    }
    if (!session::SessionManager::CheckCsrf(*session, request.Header("X-CSRF-Token"))) {
      *error = Error(403, "csrf_failed", "missing or wrong X-CSRF-Token");
      return nullptr;
    }
  }
  auto caller = std::make_unique<Caller>();
  caller->secret = std::string(secret);
  caller->session = std::move(*session);
  caller->user = std::move(**user);
  return caller;
}

void App::Login(const HttpRequest& request, Responder respond) {
  // A form post cannot send application/json without a CORS preflight, so requiring it stops
  // login CSRF (signing a victim into the attacker's account) from plain HTML forms.
  if (!IsJson(request.Header("Content-Type"))) {
    return respond(Error(400, "invalid_request", "Content-Type must be application/json"));
  }
  auto body = tessera::json::ParseStrict(request.body, {.max_bytes = 64 * 1024, .max_depth = 16});
  if (!body || !body->is_object()) {
    return respond(Error(400, "invalid_request", "body must be a JSON object"));
  }
  const json& b = *body;
  if (!b.contains("username") || !b["username"].is_string() || !b.contains("password") ||
      !b["password"].is_string()) {
    return respond(Error(400, "invalid_request", "username and password (strings) are required"));
  }
  std::string mode = "session";
  if (b.contains("mode")) {
    if (!b["mode"].is_string()) return respond(Error(400, "invalid_request", "mode must be a string"));
    mode = b["mode"].get<std::string>();
  }
  if (mode != "session") {
    return respond(Error(400, "invalid_request", "mode must be \"session\" (\"token\" is not "
                                                 "available in this version)"));
  }
  std::string password = b["password"].get<std::string>();
  if (password.size() > crypto::kMaxPasswordBytes) {
    return respond(Error(400, "invalid_request", "password longer than 1024 bytes"));
  }
  session::DeviceInfo device{std::string(request.Header("User-Agent")), ClientIp(request)};
  const std::string previous(CookieValue(request, d_.config->cookie.name));
  auto work = [this, username = b["username"].get<std::string>(), password = std::move(password),
               device = std::move(device), previous, respond]() mutable {
    // Unknown user, malformed name and wrong password: the same work and the same answer.
    const HttpResponse denied =
        Error(401, "invalid_credentials", "wrong username or password");
    auto name = user::CanonicalUsername(username);
    // Throttling counts by name whether or not the account exists, so its answers tell nothing
    // about existence either.
    const std::string account = name ? *name : username.substr(0, 256);
    auto wait = d_.throttle->Check(account, device.ip);
    if (!wait) return respond(FromStatus(wait.error()));
    if (*wait > 0) {
      HttpResponse r = Error(429, "too_many_attempts",
                             "too many attempts; try again in " + std::to_string(*wait) + " s");
      r.Set("Retry-After", std::to_string(*wait));
      return respond(std::move(r));
    }
    auto reject = [&]() {
      // A failure that cannot be counted must not become a free guess: fail closed.
      Status counted = d_.throttle->RecordFailure(account, device.ip);
      respond(counted.ok() ? denied : FromStatus(counted));
    };
    std::optional<user::User> found;
    if (name) {
      auto lookup = d_.users->FindByName(*name);
      if (!lookup) return respond(FromStatus(lookup.error()));
      found = std::move(*lookup);
    }
    if (!found) {
      d_.hasher->DummyVerify(password);
      return reject();
    }
    auto outcome = d_.hasher->Verify(found->password_hash, password);
    if (!outcome || !outcome->ok) return reject();
    (void)d_.throttle->RecordSuccess(account);
    if (outcome->needs_rehash) {
      // Upgrade an old or imported hash now that the password is known; a failure here only
      // postpones the upgrade to the next login.
      if (auto rehashed = d_.hasher->Hash(password)) {
        (void)d_.users->SetPasswordHash(found->id, *rehashed);
      }
    }
    // A new secret on every login; the session the client came with (if any) ends.
    if (!previous.empty()) (void)d_.session_manager->Revoke(previous);
    auto created = d_.session_manager->Create(found->id, session::SessionKind::kCookie, device);
    if (!created) return respond(FromStatus(created.error()));
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
    HttpResponse busy = Error(503, "unavailable", "too many sign-ins in progress; retry shortly");
    busy.Set("Retry-After", "1");
    respond(std::move(busy));
  }
}

HttpResponse App::Logout(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, /*state_changing=*/true, &error);
  if (!caller && error.status != 401) return error;  // CSRF failure or store down
  if (caller) {
    auto gone = d_.session_manager->Revoke(caller->secret);
    if (!gone) return FromStatus(gone.error());
  }
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
  j["auth"] = "session";
  HttpResponse r = Json(200, j);
  r.Set("X-Auth-Expires-At", std::to_string(d_.session_manager->ExpiresAt(caller->session)));
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
    out.push_back({{"id", s.handle},
                   {"created_at", s.created_at},
                   {"last_seen_at", s.last_seen_at},
                   {"expires_at", d_.session_manager->ExpiresAt(s)},
                   {"user_agent", s.user_agent},
                   {"ip", s.ip},
                   {"kind", s.kind == session::SessionKind::kCookie ? "session" : "token"},
                   {"current", s.id_hash == caller->session.id_hash}});
  }
  HttpResponse r = Json(200, out);
  r.Set("X-Auth-Expires-At", std::to_string(d_.session_manager->ExpiresAt(caller->session)));
  return r;
}

HttpResponse App::RevokeSession(const HttpRequest& request, std::string_view handle) {
  HttpResponse error;
  auto caller = Authenticate(request, true, &error);
  if (!caller) return error;
  auto gone = d_.session_manager->RevokeByHandle(caller->user.id, handle);
  if (!gone) return FromStatus(gone.error());
  HttpResponse r = NoContent();
  if (gone->id_hash == caller->session.id_hash) r.Set("Set-Cookie", SessionCookie("", 0));
  return r;
}

HttpResponse App::RevokeOtherSessions(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, true, &error);
  if (!caller) return error;
  auto gone = d_.session_manager->RevokeAll(caller->user.id, caller->session.id_hash);
  if (!gone) return FromStatus(gone.error());
  return Json(200, {{"revoked", gone->size()}});
}

HttpResponse App::ForwardAuth(const HttpRequest& request) {
  HttpResponse error;
  auto caller = Authenticate(request, false, &error);
  if (!caller) return error;
  HttpResponse r;
  r.status = 200;
  r.Set("X-Auth-User", caller->user.username);
  r.Set("X-Auth-Subject", caller->user.id);
  r.Set("X-Auth-Roles", JoinRoles(caller->user.roles));
  r.Set("X-Auth-Session", caller->session.handle);
  r.Set("X-Auth-Expires-At", std::to_string(d_.session_manager->ExpiresAt(caller->session)));
  return r;
}

}  // namespace tessera::server
