// The endpoints of the HTTP contract (docs/design.md), one file per group. Each is a function of
// the Context and the request: no sockets, so tests call them directly (or through App::Handle).
// Synchronous handlers run on an I/O thread and never wait on a network; handlers that hash a
// password hand their work to the password pool and answer through `respond` from there.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../context.h"
#include "../http.h"

namespace tessera::server::handlers {

// health.cc: liveness, readiness, Prometheus metrics.
HttpResponse Health(Context& c);
HttpResponse Ready(Context& c);
HttpResponse MetricsPage(Context& c, const HttpRequest& r);

// login.cc: sign-in (both modes) and its second step, self-registration, a signed-in user's
// password change.
void Login(Context& c, const HttpRequest& r, Responder respond);
HttpResponse LoginMfa(Context& c, const HttpRequest& r);
void Register(Context& c, const HttpRequest& r, Responder respond);
void ChangePassword(Context& c, const HttpRequest& r, Responder respond);

// mfa.cc: the caller's second factor: status, enrol, confirm, remove.
HttpResponse TotpStatus(Context& c, const HttpRequest& r);
HttpResponse BeginTotp(Context& c, const HttpRequest& r);
void ConfirmTotp(Context& c, const HttpRequest& r, Responder respond);
void RemoveTotp(Context& c, const HttpRequest& r, Responder respond);

// sessions.cc: the caller's own session(s) and forward-auth.
HttpResponse Logout(Context& c, const HttpRequest& r);
HttpResponse Me(Context& c, const HttpRequest& r);
HttpResponse ListSessions(Context& c, const HttpRequest& r);
HttpResponse RevokeSession(Context& c, const HttpRequest& r, std::string_view handle);
HttpResponse RevokeOtherSessions(Context& c, const HttpRequest& r);
// GET /v1/auth: the requirement is the query's require=mfa.
HttpResponse ForwardAuth(Context& c, const HttpRequest& r);
// GET /v1/auth/{...}: the form for proxies that append the protected request's path and query to
// the address (Envoy ext_authz in HTTP mode). That query is the app's and is never read; the
// requirement is the header X-Tessera-Require (none or mfa), which the proxy must set.
HttpResponse ForwardAuthPathForm(Context& c, const HttpRequest& r);

// tokens.cc: POST /v1/token (refresh rotation).
HttpResponse TokenEndpoint(Context& c, const HttpRequest& r);

// oauth.cc: RFC 7662 introspection and RFC 7009 revocation, for confidential clients.
HttpResponse Introspect(Context& c, const HttpRequest& r);
HttpResponse RevokeToken(Context& c, const HttpRequest& r);
// GET /v1/revocations: the revocation list with a cursor, then what follows it (long poll).
void Revocations(Context& c, const HttpRequest& r, Responder respond);

// well_known.cc: the published key set and the discovery document.
HttpResponse Jwks(Context& c);
HttpResponse Discovery(Context& c);

// admin.cc: role admin.
void AdminCreateUser(Context& c, const HttpRequest& r, Responder respond);
HttpResponse AdminListUsers(Context& c, const HttpRequest& r);
HttpResponse AdminUpdateUser(Context& c, const HttpRequest& request, std::string_view encoded);
void AdminResetPassword(Context& c, const HttpRequest& request, std::string_view encoded,
                        Responder respond);
HttpResponse AdminDeleteUser(Context& c, const HttpRequest& request, std::string_view encoded);
HttpResponse AdminResetMfa(Context& c, const HttpRequest& request, std::string_view encoded);
HttpResponse AdminUserSessions(Context& c, const HttpRequest& r, std::string_view encoded_name,
                               bool revoke);

// ---- Shared by several groups (common.cc) -------------------------------------------------

nlohmann::json UserJson(const user::User& u);
// The sessions of a listing, each marked "current" when it is the one with `current_handle`.
nlohmann::json SessionListJson(const session::SessionManager& m,
                               const std::vector<session::Session>& list,
                               std::string_view current_handle);
// 429 with Retry-After.
HttpResponse TooManyAttempts(int64_t wait_seconds);
// 503 when the password pool is full.
HttpResponse Busy();
// RFC 6749 section 5.1: token answers are never stored, not even by HTTP/1.0 caches.
HttpResponse NoStore(HttpResponse r);
// Reads {"username": string, "password": string, ...}; on failure returns the answer to send.
std::optional<HttpResponse> ParseCredentials(const HttpRequest& r, nlohmann::json* body);
// What every unauthenticated state-changing JSON endpoint (login, registration) needs: a JSON
// body (a cross-site form cannot send one without a CORS preflight) and, when the browser says
// where the request comes from, an allowed origin. Returns the error to send.
std::optional<HttpResponse> CheckUnauthenticatedPost(const Context& c, const HttpRequest& r);
// Hashes `password` (call on the password pool) and adds the account; *out is the new user.
// On failure returns the answer to send (409 when the name is taken).
std::optional<HttpResponse> CreateAccount(Context& c, const std::string& name,
                                          const std::string& password,
                                          std::vector<std::string> roles, user::User* out);
// The caller gives their password again (a password change, turning the second factor on or
// off): checked against the stored account, not a cached copy, under the sign-in throttle's
// budgets, so a stolen session cannot guess it faster than a sign-in could. A wrong password
// counts as a failed sign-in; audited as `<event>_failed` (`<event>_throttled` when the budget
// refuses). Call on the password pool. Returns the answer to send on failure; otherwise
// *account is the account as stored.
std::optional<HttpResponse> Reauthenticate(Context& c, const Caller& caller,
                                           std::string_view password, const std::string& ip,
                                           const nlohmann::json& who, std::string_view event,
                                           user::User* account);
// The id hash of the caller's own session, for "end every session but the caller's" (a bearer
// caller's is looked up by its handle; "-", which keeps none, when it is gone).
Result<std::string> OwnSessionIdHash(Context& c, const Caller& caller);
// Metrics and audit of a login whose session could not be created (store down, or the per-user
// limit refuses); returns the answer.
HttpResponse LoginRefused(Context& c, const Status& s, const nlohmann::json& who);
// Metrics and audit of a login that created session `s` (and evicted `evicted`).
void LoginSucceeded(Context& c, const user::User& u, const nlohmann::json& who,
                    const session::Session& s, const std::vector<session::Session>& evicted,
                    std::string_view mode);
// The answer to a token-mode login of `u` whose password was just verified (tokens.cc).
HttpResponse TokenLogin(Context& c, const user::User& u, const session::DeviceInfo& device,
                        const nlohmann::json& who);

}  // namespace tessera::server::handlers
