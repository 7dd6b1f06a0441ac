// The second factor through the HTTP API (issue 17): enrolment, sign-in with a TOTP code or a
// recovery code in both modes, replay, tickets (wrong, expired, used, for the other mode),
// throttling of codes, removal by the owner and by an administrator, what sessions and tokens say
// about it (amr, X-Auth-AMR, /v1/auth?require=mfa), and an audit trail without secrets. The clock
// is the runtime's injected FakeClock: codes are computed for the time it shows.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "crypto/totp.h"
#include "server/handlers_fixture.h"
#include "tessera/jose/base64url.h"

namespace tessera::server {
namespace {

using nlohmann::json;

// "abcd-efgh-ijkl-mnop": four groups of four base32 characters (80 bits).
bool IsGroupedCode(const std::string& c) {
  if (c.size() != 19) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    const bool dash = i % 5 == 4;
    if (dash != (c[i] == '-')) return false;
    if (!dash && !((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '2' && c[i] <= '7'))) return false;
  }
  return true;
}

class MfaTest : public HandlersTest {
 protected:
  struct SignedIn {
    std::string cookie;
    std::string csrf;
  };

  SignedIn SignIn(const std::string& name) {
    SignedIn s;
    s.cookie = CookieLogin(name);
    HttpResponse me = Send("GET", "/v1/me", {{"Cookie", s.cookie}});
    EXPECT_EQ(me.status, 200) << me.body;
    s.csrf = json::parse(me.body)["csrf_token"];
    return s;
  }

  HttpResponse Post(const SignedIn& who, const std::string& target, const json& body,
                    const std::string& method = "POST") {
    return Send(method, target,
                {{"Cookie", who.cookie},
                 {"X-CSRF-Token", who.csrf},
                 {"Content-Type", "application/json"}},
                body.dump());
  }

  // The code an authenticator app shows now for `secret`, `steps_ahead` steps from now.
  std::string Code(const std::string& secret, int steps_ahead = 0) {
    return crypto::HotpCode(secret, crypto::TotpStep(clock_.NowSeconds()) + steps_ahead,
                            crypto::TotpHash::kSha1, 6);
  }

  struct Enabled {
    std::string secret;  // raw bytes
    std::vector<std::string> recovery_codes;
  };
  // Enrols and confirms a TOTP factor for the signed-in `who`, then moves to the next step (the
  // confirming code's step is spent).
  Enabled EnableTotp(const SignedIn& who) {
    Enabled out;
    HttpResponse begun = Post(who, "/v1/me/totp", json::object());
    EXPECT_EQ(begun.status, 200) << begun.body;
    const json b = json::parse(begun.body);
    auto secret = crypto::Base32Decode(b["secret"].get<std::string>());
    EXPECT_TRUE(secret);
    if (!secret) return out;
    out.secret = *secret;
    HttpResponse confirmed = Post(who, "/v1/me/totp/confirm", {{"code", Code(out.secret)}});
    EXPECT_EQ(confirmed.status, 200) << confirmed.body;
    const json answer = json::parse(confirmed.body);
    for (const auto& c : answer["recovery_codes"]) out.recovery_codes.push_back(c);
    Advance(30);
    return out;
  }

  HttpResponse LoginStep2(const std::string& ticket, const json& extra,
                          std::string peer = "192.0.2.10") {
    json body = extra;
    body["mfa_ticket"] = ticket;
    return Send("POST", "/v1/login/mfa", {{"Content-Type", "application/json"}}, body.dump(),
                std::move(peer));
  }

  // The ticket of a first step that must ask for the second factor.
  std::string Ticket(const std::string& name, const std::string& mode = "session") {
    HttpResponse r = Login(name, kPassword, mode);
    EXPECT_EQ(r.status, 401) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["error"], "mfa_required");
    EXPECT_EQ(j["methods"], json({"totp", "recovery_code"}));
    EXPECT_EQ(Header(r, "Set-Cookie"), "");
    return j.value("mfa_ticket", "");
  }

  static std::string CookieOf(const HttpResponse& r) {
    for (const auto& [n, v] : r.headers) {
      if (EqualsIgnoreCase(n, "Set-Cookie") && v.find("session") != std::string::npos) {
        return v.substr(0, v.find(';'));
      }
    }
    return "";
  }

  // The raw secret of an enrolment's answer.
  static std::string SecretOf(const HttpResponse& begun) {
    const json b = json::parse(begun.body);
    auto secret = crypto::Base32Decode(b.value("secret", ""));
    return secret ? *secret : std::string();
  }

  static json Payload(const std::string& jwt) {
    const size_t a = jwt.find('.'), b = jwt.find('.', a + 1);
    return json::parse(jose::Base64UrlDecode(jwt.substr(a + 1, b - a - 1)).value());
  }
};

TEST_F(MfaTest, EnrolmentHandsOutASecretOnceAndConfirmingEndsOtherSessions) {
  AddUser("alice");
  const SignedIn phone = SignIn("alice");
  const SignedIn laptop = SignIn("alice");
  HttpResponse begun = Post(laptop, "/v1/me/totp", json::object());
  ASSERT_EQ(begun.status, 200) << begun.body;
  EXPECT_EQ(Header(begun, "Cache-Control"), "no-store");
  const json b = json::parse(begun.body);
  auto secret = crypto::Base32Decode(b["secret"].get<std::string>());
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->size(), 20u);  // 160 bits
  const std::string uri = b["otpauth_uri"];
  EXPECT_EQ(uri.rfind("otpauth://totp/", 0), 0u) << uri;
  EXPECT_NE(uri.find("secret=" + b["secret"].get<std::string>()), std::string::npos);
  EXPECT_NE(uri.find(":alice?"), std::string::npos) << uri;
  EXPECT_NE(b["qr_svg"].get<std::string>().find("<svg"), std::string::npos);
  // Not on until confirmed: the password alone still signs in.
  EXPECT_EQ(Login("alice", kPassword, "session").status, 200);
  // A wrong code confirms nothing, and ends nothing: the other session lives on.
  HttpResponse wrong = Post(laptop, "/v1/me/totp/confirm", {{"code", Code(*secret, 5)}});
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(json::parse(wrong.body)["error"], "invalid_code");
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", phone.cookie}}).status, 200);
  HttpResponse confirmed = Post(laptop, "/v1/me/totp/confirm", {{"code", Code(*secret)}});
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_EQ(Header(confirmed, "Cache-Control"), "no-store");
  const json codes = json::parse(confirmed.body)["recovery_codes"];
  ASSERT_EQ(codes.size(), 10u);
  std::set<std::string> distinct;
  for (const auto& c : codes) {
    EXPECT_TRUE(IsGroupedCode(c.get<std::string>())) << c;
    distinct.insert(c.get<std::string>());
  }
  EXPECT_EQ(distinct.size(), 10u);
  // The caller's session stays; the others signed in without the factor and end.
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", laptop.cookie}}).status, 200);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", phone.cookie}}).status, 401);
  // Once on, a second enrolment is refused until it is removed, and so is a second confirm.
  EXPECT_EQ(Post(laptop, "/v1/me/totp", json::object()).status, 409);
  EXPECT_EQ(Post(laptop, "/v1/me/totp/confirm", {{"code", Code(*secret)}}).status, 409);
}

TEST_F(MfaTest, CookieSignInWithACodeAndTheAmrItCarries) {
  AddUser("alice");
  const SignedIn first = SignIn("alice");
  const Enabled f = EnableTotp(first);
  // A password-only session says so.
  HttpResponse me = Send("GET", "/v1/me", {{"Cookie", first.cookie}});
  EXPECT_EQ(json::parse(me.body)["amr"], json({"pwd"}));
  HttpResponse auth = Send("GET", "/v1/auth", {{"Cookie", first.cookie}});
  EXPECT_EQ(auth.status, 200);
  EXPECT_EQ(Header(auth, "X-Auth-AMR"), "pwd");
  HttpResponse step_up = Send("GET", "/v1/auth?require=mfa", {{"Cookie", first.cookie}});
  EXPECT_EQ(step_up.status, 403);
  EXPECT_EQ(json::parse(step_up.body)["error"], "mfa_required");

  const std::string ticket = Ticket("alice");
  HttpResponse wrong = LoginStep2(ticket, {{"code", Code(f.secret, 3)}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"], "invalid_credentials");
  EXPECT_EQ(CookieOf(wrong), "");
  // The ticket survives a wrong code; the right one completes the sign-in.
  HttpResponse done = LoginStep2(ticket, {{"code", Code(f.secret)}});
  ASSERT_EQ(done.status, 200) << done.body;
  const std::string cookie = CookieOf(done);
  ASSERT_FALSE(cookie.empty());
  EXPECT_EQ(json::parse(done.body)["user"]["username"], "alice");
  me = Send("GET", "/v1/me", {{"Cookie", cookie}});
  EXPECT_EQ(json::parse(me.body)["amr"], json({"pwd", "otp"}));
  auth = Send("GET", "/v1/auth?require=mfa", {{"Cookie", cookie}});
  EXPECT_EQ(auth.status, 200);
  EXPECT_EQ(Header(auth, "X-Auth-AMR"), "pwd,otp");
  EXPECT_EQ(Header(auth, "X-Auth-User"), "alice");

  // A ticket is used once, and a code too (replay within its window).
  EXPECT_EQ(LoginStep2(ticket, {{"code", Code(f.secret, 1)}}).status, 401);
  const std::string again = Ticket("alice");
  EXPECT_EQ(LoginStep2(again, {{"code", Code(f.secret)}}).status, 401);
  // The next step's code (one step of drift allowed) is new.
  EXPECT_EQ(LoginStep2(again, {{"code", Code(f.secret, 1)}}).status, 200);
}

TEST_F(MfaTest, UnknownRequirementsOfTheForwardAuthEndpointAreRefused) {
  AddUser("alice");
  const SignedIn s = SignIn("alice");
  // A requirement tessera does not know (a typo in a proxy's configuration) fails closed.
  EXPECT_EQ(Send("GET", "/v1/auth?require=otp", {{"Cookie", s.cookie}}).status, 400);
  EXPECT_EQ(Send("GET", "/v1/auth?x=1&require=", {{"Cookie", s.cookie}}).status, 400);
  EXPECT_EQ(Send("GET", "/v1/auth?require", {{"Cookie", s.cookie}}).status, 400);
  // Other parameters are not the endpoint's: ignored, the requirement still applies.
  EXPECT_EQ(Send("GET", "/v1/auth?x=1&require=mfa", {{"Cookie", s.cookie}}).status, 403);
  EXPECT_EQ(Send("GET", "/v1/auth?x=1", {{"Cookie", s.cookie}}).status, 200);
  EXPECT_EQ(Send("GET", "/v1/auth?", {{"Cookie", s.cookie}}).status, 200);
  // Asking for the second factor never lets in what the plain check refuses.
  EXPECT_EQ(Send("GET", "/v1/auth?require=mfa").status, 401);
}

TEST_F(MfaTest, TokenSignInCarriesAmrThroughRefreshAndTicketsKeepTheirMode) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  const std::string ticket = Ticket("alice", "token");
  // The mode was chosen with the password.
  HttpResponse other = LoginStep2(ticket, {{"code", Code(f.secret)}, {"mode", "session"}});
  EXPECT_EQ(other.status, 401);
  EXPECT_EQ(json::parse(other.body)["error"], "invalid_ticket");
  HttpResponse done = LoginStep2(ticket, {{"code", Code(f.secret)}});
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(CookieOf(done), "");
  const json pair = json::parse(done.body);
  const std::string access = pair["access_token"];
  EXPECT_EQ(Payload(access)["amr"], json({"pwd", "otp"}));
  HttpResponse auth = Send("GET", "/v1/auth?require=mfa", {{"Authorization", "Bearer " + access}});
  EXPECT_EQ(auth.status, 200) << auth.body;
  EXPECT_EQ(Header(auth, "X-Auth-AMR"), "pwd,otp");
  HttpResponse refreshed =
      Send("POST", "/v1/token", {{"Content-Type", "application/x-www-form-urlencoded"}},
           "grant_type=refresh_token&refresh_token=" + pair["refresh_token"].get<std::string>());
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(Payload(json::parse(refreshed.body)["access_token"])["amr"], json({"pwd", "otp"}));
  // A password-only token says so, and step-up refuses it.
  AddUser("bob");
  const auto [bob_access, bob_refresh] = TokenLogin("bob");
  EXPECT_EQ(Payload(bob_access)["amr"], json({"pwd"}));
  EXPECT_EQ(Send("GET", "/v1/auth?require=mfa", {{"Authorization", "Bearer " + bob_access}}).status,
            403);
}

TEST_F(MfaTest, TicketsExpireAndCannotBeForged) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  const std::string ticket = Ticket("alice");
  Advance(301);
  HttpResponse late = LoginStep2(ticket, {{"code", Code(f.secret)}});
  EXPECT_EQ(late.status, 401);
  EXPECT_EQ(json::parse(late.body)["error"], "invalid_ticket");
  // Altered or made up: refused before any code is looked at.
  std::string altered = Ticket("alice");
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(LoginStep2(altered, {{"code", Code(f.secret)}}).status, 401);
  EXPECT_EQ(LoginStep2("", {{"code", Code(f.secret)}}).status, 401);
  EXPECT_EQ(LoginStep2(std::string(600, 'A'), {{"code", Code(f.secret)}}).status, 401);
  // Malformed requests.
  EXPECT_EQ(LoginStep2("x", json::object()).status, 400);
  EXPECT_EQ(LoginStep2("x", {{"code", "1"}, {"recovery_code", "2"}}).status, 400);
  EXPECT_EQ(LoginStep2("x", {{"code", 123456}}).status, 400);
  EXPECT_EQ(Send("POST", "/v1/login/mfa", {{"Content-Type", "text/plain"}}, "{}").status, 415);
}

TEST_F(MfaTest, RecoveryCodesWorkOnceInAnySpelling) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  ASSERT_EQ(f.recovery_codes.size(), 10u);
  HttpResponse done = LoginStep2(Ticket("alice"), {{"recovery_code", f.recovery_codes[0]}});
  ASSERT_EQ(done.status, 200) << done.body;
  HttpResponse me = Send("GET", "/v1/me", {{"Cookie", CookieOf(done)}});
  EXPECT_EQ(json::parse(me.body)["amr"], json({"pwd", "otp"}));
  EXPECT_EQ(LoginStep2(Ticket("alice"), {{"recovery_code", f.recovery_codes[0]}}).status, 401);
  // Upper case, spaces instead of dashes: the same code.
  std::string typed = f.recovery_codes[1];
  for (char& ch : typed) ch = ch == '-' ? ' ' : static_cast<char>(std::toupper(ch));
  EXPECT_EQ(LoginStep2(Ticket("alice"), {{"recovery_code", typed}}).status, 200);
  EXPECT_EQ(LoginStep2(Ticket("alice"), {{"recovery_code", "aaaa-bbbb-cccc-dddd"}}).status, 401);
}

TEST_F(MfaTest, WrongCodesCountAgainstTheSignInThrottle) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  const std::string ticket = Ticket("alice");
  int refused = 0, throttled = 0;
  for (int i = 0; i < 10; ++i) {
    const int status = LoginStep2(ticket, {{"code", Code(f.secret, 4 + i)}}).status;
    refused += status == 401;
    throttled += status == 429;
  }
  EXPECT_GE(throttled, 1);
  EXPECT_LE(refused, 5);  // login_per_user: 5 a minute
  // While throttled, even the right code is not looked at; a right password does not reset it.
  EXPECT_EQ(LoginStep2(ticket, {{"code", Code(f.secret)}}).status, 429);
  EXPECT_EQ(Login("alice", kPassword, "session").status, 429);
}

TEST_F(MfaTest, TheOwnerRemovesTheFactorWithThePassword) {
  AddUser("alice");
  const SignedIn first = SignIn("alice");
  EnableTotp(first);
  const std::string ticket = Ticket("alice");
  HttpResponse wrong = Post(first, "/v1/me/totp", {{"password", "not it"}}, "DELETE");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"], "invalid_credentials");
  EXPECT_EQ(Post(first, "/v1/me/totp", json::object(), "DELETE").status, 400);
  EXPECT_EQ(Post(first, "/v1/me/totp", {{"password", kPassword}}, "DELETE").status, 204);
  EXPECT_EQ(Post(first, "/v1/me/totp", {{"password", kPassword}}, "DELETE").status, 404);
  EXPECT_EQ(Login("alice", kPassword, "session").status, 200);
  // A ticket from before the removal completes nothing.
  EXPECT_EQ(LoginStep2(ticket, {{"recovery_code", "aaaa-bbbb-cccc-dddd"}}).status, 401);
}

TEST_F(MfaTest, AnAdministratorResetsTheFactorAndEveryOtherSessionEnds) {
  AddUser("root", {"admin"});
  AddUser("alice");
  const SignedIn admin = SignIn("root");
  const SignedIn alice = SignIn("alice");
  const Enabled f = EnableTotp(alice);
  const std::string ticket = Ticket("alice");
  EXPECT_EQ(Post(alice, "/v1/admin/users/alice/mfa", json::object(), "DELETE").status, 403);
  EXPECT_EQ(Post(admin, "/v1/admin/users/nobody/mfa", json::object(), "DELETE").status, 404);
  EXPECT_EQ(Post(admin, "/v1/admin/users/alice/mfa", json::object(), "DELETE").status, 204);
  EXPECT_EQ(Send("GET", "/v1/me", {{"Cookie", alice.cookie}}).status, 401);
  EXPECT_EQ(LoginStep2(ticket, {{"code", Code(f.secret)}}).status, 401);
  EXPECT_EQ(Login("alice", kPassword, "session").status, 200);
  // Idempotent.
  EXPECT_EQ(Post(admin, "/v1/admin/users/alice/mfa", json::object(), "DELETE").status, 204);
}

TEST_F(MfaTest, ADisabledAccountCannotFinishASignIn) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  const std::string ticket = Ticket("alice");
  ASSERT_TRUE(runtime_->accounts().SetDisabled("alice", true));
  HttpResponse r = LoginStep2(ticket, {{"code", Code(f.secret)}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"], "invalid_ticket");
}

// Turning the factor on locks out whoever lacks it: a session that signed in more than ten
// minutes ago must give the password too (a stolen cookie must not become a locked-out owner).
TEST_F(MfaTest, AnOldSessionGivesThePasswordToTurnTheFactorOn) {
  AddUser("alice");
  const SignedIn s = SignIn("alice");
  Advance(601);
  HttpResponse begun = Post(s, "/v1/me/totp", json::object());
  ASSERT_EQ(begun.status, 200);
  const std::string secret = SecretOf(begun);
  HttpResponse bare = Post(s, "/v1/me/totp/confirm", {{"code", Code(secret)}});
  EXPECT_EQ(bare.status, 401);
  EXPECT_EQ(json::parse(bare.body)["error"], "reauthentication_required");
  HttpResponse wrong =
      Post(s, "/v1/me/totp/confirm", {{"code", Code(secret)}, {"password", "not it"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body)["error"], "invalid_credentials");
  EXPECT_FALSE(runtime_->mfa().Enabled(runtime_->users().FindByName("alice")->value().id).value());
  HttpResponse ok = Post(s, "/v1/me/totp/confirm", {{"code", Code(secret)}, {"password", kPassword}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// Whatever happens between the start of an enrolment and its confirmation wins over it: a newer
// start (the QR code shown elsewhere) and a removal by an administrator.
TEST_F(MfaTest, AConfirmationOfAReplacedOrRemovedEnrolmentTurnsNothingOn) {
  AddUser("root", {"admin"});
  AddUser("alice");
  const SignedIn s = SignIn("alice");
  const SignedIn admin = SignIn("root");
  const std::string first = SecretOf(Post(s, "/v1/me/totp", json::object()));
  ASSERT_EQ(Post(s, "/v1/me/totp", json::object()).status, 200);  // replaces it
  HttpResponse stale = Post(s, "/v1/me/totp/confirm", {{"code", Code(first)}});
  EXPECT_EQ(stale.status, 400) << stale.body;  // checked against the current secret: wrong
  const std::string third = SecretOf(Post(s, "/v1/me/totp", json::object()));
  ASSERT_EQ(Post(admin, "/v1/admin/users/alice/mfa", json::object(), "DELETE").status, 204);
  const SignedIn again = SignIn("alice");  // the reset ended alice's sessions
  EXPECT_EQ(Post(again, "/v1/me/totp/confirm", {{"code", Code(third)}}).status, 409);
  EXPECT_EQ(Login("alice", kPassword, "session").status, 200);
}

// A ticket that a newer sign-in replaced is refused as a ticket, and costs the owner no strike.
TEST_F(MfaTest, AReplacedTicketIsNoWrongCode) {
  AddUser("alice");
  const Enabled f = EnableTotp(SignIn("alice"));
  const std::string old_ticket = Ticket("alice");
  const std::string new_ticket = Ticket("alice");
  for (int i = 0; i < 8; ++i) {
    HttpResponse r = LoginStep2(old_ticket, {{"code", Code(f.secret)}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(json::parse(r.body)["error"], "invalid_ticket");
  }
  // Eight refusals, and the throttle (5 a minute) counted none of them.
  EXPECT_EQ(LoginStep2(new_ticket, {{"code", Code(f.secret)}}).status, 200);
}

TEST_F(MfaTest, TheAuditTrailNamesEventsButNoSecretOrCode) {
  AddUser("alice");
  const SignedIn s = SignIn("alice");
  HttpResponse begun = Post(s, "/v1/me/totp", json::object());
  ASSERT_EQ(begun.status, 200);
  const std::string secret32 = json::parse(begun.body)["secret"];
  const std::string secret = crypto::Base32Decode(secret32).value();
  HttpResponse confirmed = Post(s, "/v1/me/totp/confirm", {{"code", Code(secret)}});
  ASSERT_EQ(confirmed.status, 200);
  const json codes = json::parse(confirmed.body)["recovery_codes"];
  Advance(30);
  const std::string ticket = Ticket("alice");
  ASSERT_EQ(LoginStep2(ticket, {{"code", Code(secret, 2)}}).status, 401);
  ASSERT_EQ(LoginStep2(ticket, {{"recovery_code", codes[3]}}).status, 200);
  std::set<std::string> names;
  std::ifstream in(dir_.path() + "/audit.log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const json& e : AuditEvents()) names.insert(e["event"].get<std::string>());
  for (const char* want : {"mfa.enrolment_started", "mfa.enabled", "login.mfa_required",
                           "login.failed", "mfa.recovery_code_used", "login.succeeded"}) {
    EXPECT_TRUE(names.count(want)) << want;
  }
  EXPECT_EQ(all.find(secret32), std::string::npos);
  EXPECT_EQ(all.find(ticket), std::string::npos);
  EXPECT_EQ(all.find(codes[3].get<std::string>()), std::string::npos);
  // No event carries a code, whatever its name (a 6-digit code could also be part of a time).
  for (const json& e : AuditEvents()) {
    for (const char* field : {"code", "recovery_code", "secret", "mfa_ticket"}) {
      EXPECT_FALSE(e.contains(field)) << e.dump();
    }
  }
}

}  // namespace
}  // namespace tessera::server
