// RFC 7662 introspection, RFC 7009 revocation and the revocation feed (GET /v1/revocations), for
// the confidential clients of token.clients.
#include <nlohmann/json.hpp>

#include <charconv>
#include <memory>

#include "../forms.h"
#include "../responses.h"
#include "../revocation_feed.h"
#include "handlers.h"
#include "oauth_request.h"

namespace tessera::server::handlers {

using nlohmann::json;

HttpResponse Introspect(Context& c, const HttpRequest& request) {
  HttpResponse error;
  if (!AuthenticateClient(c, request, &error)) return error;
  if (!c.d.tokens) return NoStore(Json(200, {{"active", false}}));
  OAuthParams params;
  if (auto bad = ReadOAuthRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7662 section 2.2: anything not active now is exactly {"active": false}, with no hint of
  // why (unknown, expired, revoked, malformed).
  const HttpResponse inactive = NoStore(Json(200, {{"active", false}}));
  const std::string& t = token->second;
  const int64_t now = c.Now();
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto found = c.d.tokens->FindLiveRefresh(t);
    if (!found) return NoStore(FromStatus(found.error()));
    if (!found->has_value()) return inactive;
    const auto& [record, s] = **found;
    auto user = c.auth.FindUser(s.user_id);
    if (!user) return NoStore(FromStatus(user.error()));
    if (!user->has_value()) return inactive;
    // RFC 7662's token_type is an access-token type (RFC 6749 section 5.1), which a refresh
    // token has none of; token_use (as ORY Hydra names it) tells the two apart.
    return NoStore(Json(200, {{"active", true},
                              {"token_use", "refresh_token"},
                              {"sub", s.user_id},
                              {"username", (*user)->username},
                              {"sid", s.handle},
                              {"iat", record.issued_at},
                              {"exp", c.d.session_manager->ExpiresAt(s)},
                              {"iss", c.d.config->token.issuer}}));
  }
  token::AccessToken a;
  Status verified = c.d.verifier->Verify(t, now, &a);
  if (verified.code() == Code::kUnavailable) return NoStore(FromStatus(verified));
  if (!verified.ok()) return inactive;
  // The verifier allows clock skew past exp, for services whose clocks differ from tessera's.
  // tessera judging a token it issued itself has no skew to allow: at exp it is inactive.
  if (now >= a.exp) return inactive;
  return NoStore(Json(200, {{"active", true},
                            {"token_type", "Bearer"},
                            {"token_use", "access_token"},
                            {"sub", a.sub},
                            {"username", a.username},
                            {"roles", a.roles},
                            {"sid", a.sid},
                            {"jti", a.jti},
                            {"iat", a.iat},
                            {"exp", a.exp},
                            {"iss", c.d.config->token.issuer},
                            {"aud", c.d.config->token.audience}}));
}

HttpResponse RevokeToken(Context& c, const HttpRequest& request) {
  HttpResponse error;
  auto client = AuthenticateClient(c, request, &error);
  if (!client) return error;
  OAuthParams params;
  if (auto bad = ReadOAuthRequest(request, &params, /*allow_json=*/false)) return NoStore(*bad);
  auto token = params.find("token");
  if (token == params.end()) return NoStore(Error(400, "invalid_request", "token is missing"));
  // RFC 7009 section 2.2: 200 whether or not the token was valid, so the endpoint is no oracle.
  // token_type_hint is only a hint: the shape of the token says what it is.
  HttpResponse done;
  done.status = 200;
  if (!c.d.tokens) return NoStore(std::move(done));
  const std::string& t = token->second;
  json e = c.RequestFields(request);
  e["client"] = *client;
  if (token::TokenService::WellFormedRefreshToken(t)) {
    auto gone = c.d.tokens->RevokeRefreshToken(t);
    if (!gone) return NoStore(FromStatus(gone.error()));
    if (gone->has_value()) {
      e["kind"] = "refresh_token";
      e["sub"] = (*gone)->user_id;
      e["session"] = (*gone)->handle;
      c.d.audit->Record("token.revoked", std::move(e));
    }
    return NoStore(std::move(done));
  }
  token::AccessToken a;
  Status verified = c.d.verifier->Verify(t, c.Now(), &a);
  if (verified.ok()) {
    if (Status revoked = c.d.tokens->RevokeAccessToken(a); !revoked.ok()) {
      // Refused here already; the store could not record it for other processes or a restart.
      return NoStore(FromStatus(revoked));
    }
    e["kind"] = "access_token";
    e["sub"] = a.sub;
    e["session"] = a.sid;
    e["jti"] = a.jti;
    c.d.audit->Record("token.revoked", std::move(e));
  }
  return NoStore(std::move(done));
}


// ---- GET /v1/revocations -------------------------------------------------------------------

namespace {

constexpr int64_t kMaxWaitSeconds = 30;

json EntryJson(const session::Revocation& r) {
  json e;
  if (auto jti = token::TokenIdOfRevocationKey(r.handle)) {
    e["jti"] = std::string(*jti);
  } else {
    e["sid"] = r.handle;
  }
  e["until"] = r.until;
  return e;
}

// The list can only be vouched for while it is current (the store's change feed is read): a
// client told "nothing new" by an instance that cannot know would accept revoked tokens.
std::optional<HttpResponse> Stale(Context& c) {
  if (Status s = c.d.revocations->Check(c.Now()); !s.ok()) return NoStore(FromStatus(s));
  return std::nullopt;
}

HttpResponse PageJson(Context& c, const RevocationFeed::Page& page) {
  if (auto stale = Stale(c)) return *stale;
  if (page.reset) {
    return NoStore(Error(410, "cursor_unknown",
                         "this cursor cannot be continued (another feed, or too old): load the "
                         "snapshot again (GET /v1/revocations without after)"));
  }
  json entries = json::array();
  for (const auto& e : page.entries) {
    json j = EntryJson(e.revocation);
    j["seq"] = e.seq;
    entries.push_back(std::move(j));
  }
  return NoStore(Json(200, {{"cursor", page.cursor}, {"revocations", std::move(entries)}}));
}

// After the client is known: the snapshot, or what follows `after` (waiting up to `wait`).
void ServeRevocations(Context& c, const HttpRequest& request, const Responder& respond) {
  const std::string_view target = request.target;
  const size_t q = target.find('?');
  auto params = ParseForm(q == std::string_view::npos ? "" : target.substr(q + 1), 4);
  if (!params) return respond(NoStore(Error(400, "invalid_request", "malformed query")));
  for (const auto& [name, value] : *params) {
    if (name != "after" && name != "wait") {
      // The name is the client's: at most 64 bytes of it go back (JSON-escaped by Error).
      return respond(NoStore(
          Error(400, "invalid_request", "unknown parameter " + name.substr(0, 64))));
    }
  }
  auto after = params->find("after");
  if (after == params->end()) {
    if (params->contains("wait")) {
      return respond(NoStore(Error(400, "invalid_request", "wait needs after")));
    }
    if (auto stale = Stale(c)) return respond(std::move(*stale));
    // The cursor first: an entry applied between the two reads is then in both (harmless),
    // never in neither.
    const std::string cursor = c.d.revocation_feed->Cursor();
    json entries = json::array();
    for (const auto& r : c.d.revocations->Snapshot()) entries.push_back(EntryJson(r));
    return respond(NoStore(Json(200, {{"cursor", cursor}, {"revocations", std::move(entries)}})));
  }
  int64_t wait = 0;
  if (auto w = params->find("wait"); w != params->end()) {
    std::string_view text = w->second;
    if (text.ends_with('s')) text.remove_suffix(1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), wait);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || wait < 0 ||
        wait > kMaxWaitSeconds) {
      return respond(NoStore(Error(400, "invalid_request", "wait must be 0 to 30 seconds")));
    }
  }
  RevocationFeed& feed = *c.d.revocation_feed;
  RevocationFeed::Page page = feed.Since(after->second);
  if (page.reset) {
    // Older than this instance keeps (it restarted, or the cursor came from another instance):
    // the store's feed still has it, for an hour or 100,000 entries. (This runs on the store
    // pool: see Revocations.)
    if (auto from = feed.Resolve(after->second)) {
      auto batch = c.d.sessions->ReadChanges(*from, 1000, std::chrono::milliseconds(0));
      if (!batch) return respond(NoStore(FromStatus(batch.error())));
      if (!batch->gap) {
        RevocationFeed::Page read{.cursor = feed.CursorAt(batch->next.seq), .entries = {},
                                  .reset = false};
        for (const session::Change& change : batch->changes) {
          if (RevocationFeed::Revokes(change)) {
            read.entries.push_back(
                {.seq = change.seq, .revocation = {.handle = change.handle, .until = change.until}});
          }
        }
        return respond(PageJson(c, read));
      }
    }
  }
  if (wait == 0 || page.reset || !page.entries.empty()) return respond(PageJson(c, page));
  // The answer comes when an entry arrives (from the change follower's thread) or when the wait
  // ends (the maintenance loop), whichever is first.
  const bool waiting = feed.Wait(
      after->second, c.d.clock->NowMillis() + wait * 1000,
      [&c, respond](RevocationFeed::Page page) { respond(PageJson(c, page)); });
  if (!waiting) {
    HttpResponse busy = Error(503, "unavailable", "too many clients are waiting; retry shortly");
    busy.Set("Retry-After", "1");
    respond(NoStore(std::move(busy)));
  }
}

}  // namespace

void Revocations(Context& c, const HttpRequest& request, Responder respond) {
  if (!c.d.revocation_feed || !c.d.revocations) {
    return respond(Error(404, "not_found", "token mode is off"));
  }
  // Checking the client may count a failure in the throttle store: not on an I/O thread.
  auto owned = std::make_shared<HttpRequest>(request);
  auto work = [&c, owned, respond] {
    HttpResponse error;
    if (!AuthenticateClient(c, *owned, &error)) return respond(std::move(error));
    ServeRevocations(c, *owned, respond);
  };
  if (!c.d.store_pool) return work();
  if (!c.d.store_pool->TrySubmit(work)) {
    HttpResponse busy = Error(503, "unavailable", "the server is overloaded; retry shortly");
    busy.Set("Retry-After", "1");
    respond(NoStore(std::move(busy)));
  }
}

}  // namespace tessera::server::handlers
