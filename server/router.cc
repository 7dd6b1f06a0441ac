#include "router.h"

#include "handlers/handlers.h"

namespace tessera::server {
namespace {

// Matches `path` against a pattern with at most one "{}" standing for one non-empty segment, or
// ending in "{...}" standing for the rest of the path (any number of segments, possibly none).
bool MatchPattern(std::string_view pattern, std::string_view path, std::string_view* param) {
  if (pattern.ends_with("{...}")) {
    const std::string_view before = pattern.substr(0, pattern.size() - 5);
    if (!path.starts_with(before)) return false;
    *param = path.substr(before.size());
    return true;
  }
  const size_t hole = pattern.find("{}");
  if (hole == std::string_view::npos) return pattern == path;
  const std::string_view before = pattern.substr(0, hole), after = pattern.substr(hole + 2);
  if (path.size() <= before.size() + after.size() || !path.starts_with(before) ||
      !path.ends_with(after)) {
    return false;
  }
  const std::string_view segment =
      path.substr(before.size(), path.size() - before.size() - after.size());
  if (segment.find('/') != std::string_view::npos) return false;
  *param = segment;
  return true;
}

}  // namespace

Router::Router(std::vector<RouteSpec> routes) : routes_(std::move(routes)) {}

std::optional<Router::Match> Router::Find(std::string_view method, std::string_view path) const {
  for (const RouteSpec& spec : routes_) {
    Match m;
    if (!MatchPattern(spec.pattern, path, &m.param)) continue;
    m.spec = &spec;
    const std::string_view want = method == "HEAD" ? "GET" : method;
    for (const MethodHandler& h : spec.methods) {
      if (h.method == want) m.handler = &h;
    }
    return m;
  }
  return std::nullopt;
}

std::string Router::Allow(const RouteSpec& spec) {
  std::string allow;
  for (const MethodHandler& h : spec.methods) {
    if (!allow.empty()) allow += ", ";
    allow += h.method;
    if (h.method == "GET") allow += ", HEAD";
  }
  return allow;
}

Router DefaultRouter() {
  namespace h = handlers;
  using R = const HttpRequest&;
  using P = std::string_view;
  // Captureless lambdas adapt each handler to the table's two signatures.
  const SyncHandler auth_path_form = [](Context& c, R r, P) {
    return h::ForwardAuthPathForm(c, r);
  };
  return Router({
      {"/v1/auth", Route::kAuth,
       {{"GET", [](Context& c, R r, P) { return h::ForwardAuth(c, r); }, nullptr,
         Runs::kCacheFirst}}},
      // Envoy's ext_authz asks with the protected request's own method and path.
      {"/v1/auth/{...}", Route::kAuth,
       {{"GET", auth_path_form, nullptr, Runs::kCacheFirst},
        {"POST", auth_path_form, nullptr, Runs::kCacheFirst},
        {"PUT", auth_path_form, nullptr, Runs::kCacheFirst},
        {"PATCH", auth_path_form, nullptr, Runs::kCacheFirst},
        {"DELETE", auth_path_form, nullptr, Runs::kCacheFirst},
        {"OPTIONS", auth_path_form, nullptr, Runs::kCacheFirst}}},
      {"/healthz", Route::kHealth,
       {{"GET", [](Context& c, R, P) { return h::Health(c); }, nullptr, Runs::kInline}}},
      {"/readyz", Route::kHealth, {{"GET", [](Context& c, R, P) { return h::Ready(c); }}}},
      {"/metrics", Route::kMetrics,
       {{"GET", [](Context& c, R r, P) { return h::MetricsPage(c, r); }, nullptr,
         Runs::kInline}}},
      {"/v1/me", Route::kMe,
       {{"GET", [](Context& c, R r, P) { return h::Me(c, r); }, nullptr, Runs::kCacheFirst}}},
      {"/v1/me/password", Route::kMe,
       {{"POST", nullptr,
         [](Context& c, R r, P, Responder respond) {
           h::ChangePassword(c, r, std::move(respond));
         }}}},
      {"/v1/me/totp", Route::kMe,
       {{"GET", [](Context& c, R r, P) { return h::TotpStatus(c, r); }},
        {"POST", [](Context& c, R r, P) { return h::BeginTotp(c, r); }},
        {"DELETE", nullptr,
         [](Context& c, R r, P, Responder respond) { h::RemoveTotp(c, r, std::move(respond)); }}}},
      {"/v1/me/totp/confirm", Route::kMe,
       {{"POST", nullptr,
         [](Context& c, R r, P, Responder respond) { h::ConfirmTotp(c, r, std::move(respond)); }}}},
      {"/v1/login", Route::kLogin,
       {{"POST", nullptr,
         [](Context& c, R r, P, Responder respond) { h::Login(c, r, std::move(respond)); }}}},
      {"/v1/login/mfa", Route::kLogin,
       {{"POST", [](Context& c, R r, P) { return h::LoginMfa(c, r); }}}},
      {"/v1/logout", Route::kLogout,
       {{"POST", [](Context& c, R r, P) { return h::Logout(c, r); }}}},
      {"/v1/sessions", Route::kSessions,
       {{"GET", [](Context& c, R r, P) { return h::ListSessions(c, r); }},
        {"DELETE", [](Context& c, R r, P) { return h::RevokeOtherSessions(c, r); }}}},
      {"/v1/sessions/{}", Route::kSessions,
       {{"DELETE", [](Context& c, R r, P id) { return h::RevokeSession(c, r, id); }}}},
      {"/v1/users", Route::kUsers,
       {{"POST", nullptr,
         [](Context& c, R r, P, Responder respond) { h::Register(c, r, std::move(respond)); }}}},
      {"/v1/admin/users", Route::kAdmin,
       {{"GET", [](Context& c, R r, P) { return h::AdminListUsers(c, r); }},
        {"POST", nullptr,
         [](Context& c, R r, P, Responder respond) {
           h::AdminCreateUser(c, r, std::move(respond));
         }}}},
      {"/v1/admin/users/{}", Route::kAdmin,
       {{"PATCH", [](Context& c, R r, P name) { return h::AdminUpdateUser(c, r, name); }},
        {"DELETE", [](Context& c, R r, P name) { return h::AdminDeleteUser(c, r, name); }}}},
      {"/v1/admin/users/{}/password", Route::kAdmin,
       {{"POST", nullptr,
         [](Context& c, R r, P name, Responder respond) {
           h::AdminResetPassword(c, r, name, std::move(respond));
         }}}},
      {"/v1/admin/users/{}/mfa", Route::kAdmin,
       {{"DELETE", [](Context& c, R r, P name) { return h::AdminResetMfa(c, r, name); }}}},
      {"/v1/admin/users/{}/sessions", Route::kAdmin,
       {{"GET", [](Context& c, R r, P name) { return h::AdminUserSessions(c, r, name, false); }},
        {"DELETE",
         [](Context& c, R r, P name) { return h::AdminUserSessions(c, r, name, true); }}}},
      {"/v1/token", Route::kToken,
       {{"POST", [](Context& c, R r, P) { return h::TokenEndpoint(c, r); }}}},
      {"/v1/introspect", Route::kOAuth,
       {{"POST", [](Context& c, R r, P) { return h::Introspect(c, r); }}}},
      {"/v1/revoke", Route::kOAuth,
       {{"POST", [](Context& c, R r, P) { return h::RevokeToken(c, r); }}}},
      {"/v1/revocations", Route::kOAuth,
       {{"GET", nullptr,
         [](Context& c, R r, P, Responder respond) { h::Revocations(c, r, std::move(respond)); }}}},
      {"/.well-known/jwks.json", Route::kWellKnown,
       {{"GET", [](Context& c, R, P) { return h::Jwks(c); }, nullptr, Runs::kInline}}},
      {"/.well-known/openid-configuration", Route::kWellKnown,
       {{"GET", [](Context& c, R, P) { return h::Discovery(c); }, nullptr, Runs::kInline}}},
      {"/.well-known/oauth-authorization-server", Route::kWellKnown,
       {{"GET", [](Context& c, R, P) { return h::Discovery(c); }, nullptr, Runs::kInline}}},
  });
}

}  // namespace tessera::server
