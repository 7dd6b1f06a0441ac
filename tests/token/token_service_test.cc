#include "tessera/token/token_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "store_conformance/store_factory.h"
#include "tessera/jose/base64url.h"
#include "tessera/jose/jwt.h"

namespace tessera::token {
namespace {

using session::RefreshOutcome;
using session::Revocation;
using session::Session;
using session::SessionKind;
using session::SessionManager;
using session::SessionOptions;
using session::SessionStore;

constexpr int64_t kT0 = 1'800'000'000;
constexpr int64_t kAccessTtl = 900;
constexpr int64_t kRefreshTtl = 3 * 3600;  // the family's absolute lifetime
constexpr int64_t kIdle = 3600;
constexpr int64_t kGrace = 10;
constexpr int64_t kLeeway = 60;
constexpr char kIssuer[] = "https://auth.example.com";
constexpr char kAudience[] = "api";

enum class Backend { kMemory, kSqlite, kRedis };

const char* NameOf(Backend b) {
  return b == Backend::kMemory ? "Memory" : b == Backend::kSqlite ? "Sqlite" : "Redis";
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) { return NameOf(info.param); }

void PrintTo(Backend b, std::ostream* os) { *os << NameOf(b); }

bool HasRevocation(const std::vector<Revocation>& list, std::string_view handle, int64_t until) {
  return std::any_of(list.begin(), list.end(),
                     [&](const Revocation& r) { return r.handle == handle && r.until >= until; });
}

class TokenServiceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto keyset = Keyset::LoadOrCreate(
        dir_.path(), {.access_ttl_seconds = kAccessTtl, .leeway_seconds = kLeeway}, kT0);
    ASSERT_TRUE(keyset) << keyset.error().ToString();
    keyset_ = std::move(*keyset);
    if (GetParam() == Backend::kMemory) {
      store_ = store::NewMemorySessionStore();
    } else if (GetParam() == Backend::kRedis) {
      store_ = testing::RedisBackend::Sessions(dir_.path());
    } else {
      auto s = store::OpenSqliteSessionStore(dir_.path() + "/tessera.db");
      ASSERT_TRUE(s) << s.error().ToString();
      store_ = std::move(*s);
    }
    Build({});
    key_source_ = std::make_unique<KeysetKeySource>(keyset_.get());
    AccessVerifierOptions vo;
    vo.issuer = kIssuer;
    vo.audience = kAudience;
    vo.leeway_seconds = kLeeway;
    verifier_ = std::make_unique<AccessVerifier>(key_source_.get(), &revocations_, vo);
  }

  // (Re)builds the manager and the service with this per-user limit.
  void Build(session::LimitPolicy limit) {
    SessionOptions o;
    o.idle_timeout_seconds = kIdle;
    o.limit = limit;
    manager_ = std::make_unique<SessionManager>(store_.get(), o, &clock_);
    // The bridge as the server wires it: every session the manager ends revokes its sid.
    manager_->set_on_end([this](const Session& s) {
      ended_.push_back(s);
      revocations_.RevokeSession(s.handle, s.tokens_until);
    });
    TokenServiceOptions to;
    to.issuer = kIssuer;
    to.audience = kAudience;
    to.access_ttl_seconds = kAccessTtl;
    to.refresh_ttl_seconds = kRefreshTtl;
    to.refresh_reuse_grace_ms = kGrace * 1000;
    service_ = std::make_unique<TokenService>(keyset_.get(), manager_.get(), store_.get(),
                                              &revocations_, to, &clock_);
  }

  IssuedTokens Login(const Subject& who = {"user-1", "alice", {"admin", "dev"}}) {
    auto issued = service_->Login(who, {"curl/8", "10.0.0.1"});
    EXPECT_TRUE(issued) << issued.error().ToString();
    return issued ? std::move(*issued) : IssuedTokens{};
  }

  RefreshAnswer Refresh(std::string_view rt) {
    auto answer = service_->Refresh(rt);
    EXPECT_TRUE(answer) << answer.error().ToString();
    return answer ? std::move(*answer) : RefreshAnswer{};
  }

  Status Verify(std::string_view token, AccessToken* out = nullptr) {
    AccessToken t;
    return verifier_->Verify(token, clock_.NowSeconds(), out ? out : &t);
  }

  std::vector<Revocation> StoreRevocations() {
    auto list = store_->ListRevocations(clock_.NowSeconds());
    EXPECT_TRUE(list) << list.error().ToString();
    return list ? *list : std::vector<Revocation>{};
  }

  size_t StoredSessions(std::string_view user = "user-1") {
    auto list = store_->ListByUser(user);
    EXPECT_TRUE(list);
    return list ? list->size() : 0;
  }

  testing::TempDir dir_;
  FakeClock clock_{kT0};
  std::unique_ptr<Keyset> keyset_;
  std::unique_ptr<SessionStore> store_;
  LocalRevocationList revocations_{kLeeway};
  std::unique_ptr<SessionManager> manager_;
  std::unique_ptr<TokenService> service_;
  std::unique_ptr<KeysetKeySource> key_source_;
  std::unique_ptr<AccessVerifier> verifier_;
  std::vector<Session> ended_;
};

TEST_P(TokenServiceTest, LoginIssuesAVerifiableAccessTokenAndARefreshToken) {
  const IssuedTokens issued = Login();
  AccessToken t;
  Status s = Verify(issued.access_token, &t);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.sub, "user-1");
  EXPECT_EQ(t.sid, issued.session.handle);
  EXPECT_EQ(t.username, "alice");
  EXPECT_EQ(t.roles, (std::vector<std::string>{"admin", "dev"}));
  EXPECT_EQ(t.iat, kT0);
  EXPECT_EQ(t.exp, kT0 + kAccessTtl);
  EXPECT_EQ(issued.access_expires_at, kT0 + kAccessTtl);
  EXPECT_EQ(t.kid, keyset_->Current(kT0)->record.kid());
  EXPECT_FALSE(t.jti.empty());
  // The header says at+jwt (RFC 9068).
  auto decoded = jose::DecodeUnverified(issued.access_token);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(nlohmann::json::parse(decoded->header_json).value("typ", ""), "at+jwt");

  // base64url(family id (128 bits) || generation (48 bits) || 256 random bits).
  EXPECT_EQ(issued.refresh_token.size(), 72u);
  EXPECT_TRUE(TokenService::WellFormedRefreshToken(issued.refresh_token));
  EXPECT_EQ(jose::Base64UrlDecode(issued.refresh_token)->size(), 54u);
  EXPECT_EQ(jose::Base64UrlDecode(issued.refresh_token)->substr(16, 6), std::string(6, '\0'));
  EXPECT_EQ(issued.issued_at, kT0);
  // Unused, it dies by the idle timeout, which comes before the absolute lifetime here.
  EXPECT_EQ(issued.refresh_expires_at, kT0 + kIdle);
  EXPECT_EQ(issued.session.expires_at, kT0 + kRefreshTtl);
  EXPECT_TRUE(issued.evicted.empty());

  // One token session in the registry, covering the access token for revocation.
  auto listed = manager_->List("user-1");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].kind, SessionKind::kToken);
  EXPECT_EQ((*listed)[0].handle, issued.session.handle);
  EXPECT_GE((*listed)[0].tokens_until, t.exp);
  EXPECT_EQ((*listed)[0].user_agent, "curl/8");

  // Two logins never share a refresh token, a sid or a jti.
  const IssuedTokens other = Login();
  AccessToken t2;
  ASSERT_TRUE(Verify(other.access_token, &t2).ok());
  EXPECT_NE(other.refresh_token, issued.refresh_token);
  EXPECT_NE(t2.sid, t.sid);
  EXPECT_NE(t2.jti, t.jti);
}

TEST_P(TokenServiceTest, TheServersVerifierCachesTokensOfTheKeyset) {
  const IssuedTokens issued = Login();
  ASSERT_TRUE(Verify(issued.access_token).ok());
  clock_.Advance(1);
  ASSERT_TRUE(Verify(issued.access_token).ok());
  // KeysetKeySource hands out the same set while it is unchanged, so the cache is used.
  EXPECT_EQ(verifier_->cache_hits(), 1u);
}

TEST_P(TokenServiceTest, RefreshRotatesAndReuseAfterTheGraceIsTheft) {
  const IssuedTokens issued = Login();
  const std::string sid = issued.session.handle;
  clock_.Advance(5);
  const RefreshAnswer rotated = Refresh(issued.refresh_token);
  ASSERT_EQ(rotated.outcome, RefreshOutcome::kRotated);
  const std::string rt2 = rotated.refresh_token;
  EXPECT_NE(rt2, issued.refresh_token);
  EXPECT_TRUE(TokenService::WellFormedRefreshToken(rt2));
  EXPECT_EQ(rotated.session.handle, sid);
  EXPECT_EQ(rotated.access_expires_at, kT0 + 5 + kAccessTtl);
  EXPECT_GE(rotated.session.tokens_until, rotated.access_expires_at);
  EXPECT_EQ(rotated.issued_at, kT0 + 5);
  EXPECT_EQ(rotated.refresh_expires_at, kT0 + 5 + kIdle);  // a refresh is activity
  auto at2 = service_->SignAccessToken({"user-1", "alice", {}}, rotated.session, rotated.issued_at,
                                       rotated.access_expires_at);
  ASSERT_TRUE(at2);
  AccessToken t2;
  ASSERT_TRUE(Verify(*at2, &t2).ok());
  EXPECT_EQ(t2.sid, sid);
  EXPECT_EQ(t2.exp, kT0 + 5 + kAccessTtl);

  // The old token again, after the grace window: theft.
  clock_.Advance(kGrace + 1);
  const RefreshAnswer stolen = Refresh(issued.refresh_token);
  ASSERT_EQ(stolen.outcome, RefreshOutcome::kReuseDetected);
  EXPECT_EQ(stolen.session.handle, sid);
  EXPECT_TRUE(stolen.refresh_token.empty());
  // Every access token of the session stops at once, including the one from the refresh...
  EXPECT_TRUE(revocations_.IsRevoked(sid, "", clock_.NowSeconds()));
  EXPECT_EQ(Verify(issued.access_token).reason(), Reason::kUnknownSession);
  EXPECT_EQ(Verify(*at2).reason(), Reason::kUnknownSession);
  // ...for as long as it could be accepted.
  EXPECT_TRUE(revocations_.IsRevoked(sid, "", t2.exp + kLeeway - 1));
  // The session and its family are gone; the store remembers the sid for other processes.
  EXPECT_EQ(StoredSessions(), 0u);
  EXPECT_TRUE(HasRevocation(StoreRevocations(), sid, t2.exp));
  EXPECT_EQ(Refresh(rt2).outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, ReplayInsideTheGraceWindowGetsTheSameSuccessor) {
  const IssuedTokens issued = Login();
  const RefreshAnswer first = Refresh(issued.refresh_token);
  ASSERT_EQ(first.outcome, RefreshOutcome::kRotated);
  // A second tab presents the same token, up to the last millisecond of the grace window.
  clock_.AdvanceMillis(kGrace * 1000 - 1);
  const RefreshAnswer replay = Refresh(issued.refresh_token);
  ASSERT_EQ(replay.outcome, RefreshOutcome::kGraceReplay);
  EXPECT_EQ(replay.refresh_token, first.refresh_token);
  EXPECT_EQ(replay.session.handle, issued.session.handle);
  EXPECT_EQ(replay.access_expires_at, kT0 + kGrace - 1 + kAccessTtl);
  EXPECT_GE(replay.session.tokens_until, replay.access_expires_at);
  EXPECT_FALSE(revocations_.IsRevoked(issued.session.handle, "", clock_.NowSeconds()));
  // The shared successor is the one live token: it rotates normally.
  const RefreshAnswer next = Refresh(first.refresh_token);
  ASSERT_EQ(next.outcome, RefreshOutcome::kRotated);
  // Its successor was used, so the grandparent is now theft even inside the window.
  const RefreshAnswer late = Refresh(issued.refresh_token);
  EXPECT_EQ(late.outcome, RefreshOutcome::kReuseDetected);
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", clock_.NowSeconds()));
}

TEST_P(TokenServiceTest, ReplayOneSecondAfterTheGraceWindowIsTheft) {
  const IssuedTokens issued = Login();
  ASSERT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kRotated);
  clock_.Advance(kGrace + 1);
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kReuseDetected);
}

// Hardening (part 2): the grace is measured with the injected clock in milliseconds and ends
// exclusively: with a 2 s grace a replay 2.05 s after the rotation is theft, not a second chance.
TEST_P(TokenServiceTest, GraceWindowIsMeasuredInMilliseconds) {
  TokenServiceOptions to = service_->options();
  to.refresh_reuse_grace_ms = 2000;
  TokenService service(keyset_.get(), manager_.get(), store_.get(), &revocations_, to, &clock_);
  for (const int64_t after_ms : {int64_t{1950}, int64_t{2050}}) {
    SCOPED_TRACE(after_ms);
    clock_.SetMillis(kT0 * 1000 + 400);
    auto issued = service.Login({"user-1", "alice", {}}, {});
    ASSERT_TRUE(issued);
    auto rotated = service.Refresh(issued->refresh_token);
    ASSERT_TRUE(rotated && rotated->outcome == RefreshOutcome::kRotated);
    clock_.AdvanceMillis(after_ms);  // the whole second is kT0 + 2 either way
    auto again = service.Refresh(issued->refresh_token);
    ASSERT_TRUE(again);
    if (after_ms < 2000) {
      EXPECT_EQ(again->outcome, RefreshOutcome::kGraceReplay);
      EXPECT_EQ(again->refresh_token, rotated->refresh_token);
    } else {
      EXPECT_EQ(again->outcome, RefreshOutcome::kReuseDetected);
      EXPECT_TRUE(revocations_.IsRevoked(issued->session.handle, "", clock_.NowSeconds()));
    }
  }
}

// Tokens of one family share its secret id and count their generation; each has 256 fresh bits.
TEST_P(TokenServiceTest, RefreshTokensNameTheirFamilyAndGeneration) {
  const IssuedTokens issued = Login();
  const IssuedTokens other = Login();
  std::vector<std::string> raw = {*jose::Base64UrlDecode(issued.refresh_token)};
  std::string rt = issued.refresh_token;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1);
    const RefreshAnswer a = Refresh(rt);
    ASSERT_EQ(a.outcome, RefreshOutcome::kRotated);
    rt = a.refresh_token;
    EXPECT_EQ(rt.size(), 72u);
    raw.push_back(*jose::Base64UrlDecode(rt));
  }
  for (size_t g = 0; g < raw.size(); ++g) {
    EXPECT_EQ(raw[g].substr(0, 16), raw[0].substr(0, 16)) << g;  // the family id
    EXPECT_EQ(raw[g].substr(16, 6), std::string(5, '\0') + static_cast<char>(g)) << g;
    for (size_t h = 0; h < g; ++h) EXPECT_NE(raw[g].substr(22), raw[h].substr(22));
  }
  EXPECT_NE(jose::Base64UrlDecode(other.refresh_token)->substr(0, 16), raw[0].substr(0, 16));
}

// A family rotating for its whole life keeps two records in the store, and every ancestor stays
// theft: the first token, one from the middle, and the one before last once its grace is over.
TEST_P(TokenServiceTest, EveryAncestorIsTheftThoughTheFamilyKeepsTwoRecords) {
  constexpr int kRotations = 200;
  std::vector<IssuedTokens> logins = {Login(), Login(), Login()};
  std::vector<std::vector<std::string>> lineage(3);
  for (size_t f = 0; f < 3; ++f) lineage[f].push_back(logins[f].refresh_token);
  for (int i = 0; i < kRotations; ++i) {
    clock_.Advance(1);
    for (size_t f = 0; f < 3; ++f) {
      const RefreshAnswer a = Refresh(lineage[f].back());
      ASSERT_EQ(a.outcome, RefreshOutcome::kRotated) << f << " " << i;
      lineage[f].push_back(a.refresh_token);
    }
  }
  // Only the live token and its predecessor are stored.
  for (size_t f = 0; f < 3; ++f) {
    for (size_t g = 0; g + 2 < lineage[f].size(); ++g) {
      ASSERT_FALSE(store_->FindRefresh(crypto::Sha256(lineage[f][g])).value().has_value()) << g;
    }
    EXPECT_TRUE(store_->FindRefresh(crypto::Sha256(lineage[f][kRotations - 1]))->has_value());
    EXPECT_TRUE(store_->FindRefresh(crypto::Sha256(lineage[f][kRotations]))->has_value());
  }
  clock_.Advance(kGrace);
  const std::vector<std::string> ancestors = {lineage[0][0], lineage[1][kRotations / 2],
                                              lineage[2][kRotations - 1]};
  for (size_t f = 0; f < 3; ++f) {
    SCOPED_TRACE(f);
    const RefreshAnswer stolen = Refresh(ancestors[f]);
    EXPECT_EQ(stolen.outcome, RefreshOutcome::kReuseDetected);
    EXPECT_EQ(stolen.session.handle, logins[f].session.handle);
    EXPECT_TRUE(revocations_.IsRevoked(logins[f].session.handle, "", clock_.NowSeconds()));
    EXPECT_EQ(Refresh(lineage[f].back()).outcome, RefreshOutcome::kUnknown);
  }
  EXPECT_EQ(StoredSessions(), 0u);
}

// Without the family's secret id nobody can end it: made-up tokens, even carrying the real sid,
// change nothing; with it, a generation that is not older than the live one changes nothing.
TEST_P(TokenServiceTest, AForgedRefreshTokenEndsNoFamily) {
  const IssuedTokens issued = Login();
  clock_.Advance(1);
  const RefreshAnswer a = Refresh(issued.refresh_token);
  ASSERT_EQ(a.outcome, RefreshOutcome::kRotated);
  clock_.Advance(100);
  std::string family_id = jose::Base64UrlDecode(a.refresh_token)->substr(0, 16);
  std::string handle_bytes = issued.session.handle.substr(0, 16);
  auto forge = [](const std::string& family, int generation) {
    return jose::Base64UrlEncode(family + std::string(5, '\0') + static_cast<char>(generation) +
                                 std::string(32, 'x'));
  };
  for (const std::string& forged :
       {forge(std::string(16, '\0'), 0), forge(handle_bytes, 0), forge(family_id, 1),
        forge(family_id, 2)}) {
    EXPECT_EQ(Refresh(forged).outcome, RefreshOutcome::kUnknown);
    auto revoked = service_->RevokeRefreshToken(forged);
    ASSERT_TRUE(revoked);
    EXPECT_FALSE(revoked->has_value());
  }
  EXPECT_EQ(StoredSessions(), 1u);
  EXPECT_FALSE(revocations_.IsRevoked(issued.session.handle, "", clock_.NowSeconds()));
  EXPECT_EQ(Refresh(a.refresh_token).outcome, RefreshOutcome::kRotated);
}

// RFC 7009: revoking an ancestor whose record was pruned still ends its grant.
TEST_P(TokenServiceTest, RevokingAPrunedAncestorEndsItsGrant) {
  const IssuedTokens issued = Login();
  std::string rt = issued.refresh_token;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1);
    const RefreshAnswer a = Refresh(rt);
    ASSERT_EQ(a.outcome, RefreshOutcome::kRotated);
    rt = a.refresh_token;
  }
  ASSERT_FALSE(store_->FindRefresh(crypto::Sha256(issued.refresh_token)).value().has_value());
  auto gone = service_->RevokeRefreshToken(issued.refresh_token);
  ASSERT_TRUE(gone) << gone.error().ToString();
  ASSERT_TRUE(gone->has_value());
  EXPECT_EQ((*gone)->handle, issued.session.handle);
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", clock_.NowSeconds()));
  EXPECT_EQ(Refresh(rt).outcome, RefreshOutcome::kUnknown);
}

// A 43-character token issued before refresh families (a database of the previous version)
// still refreshes; its successor starts a family, and the old token stays recognisable.
TEST_P(TokenServiceTest, ATokenIssuedBeforeFamiliesStillRefreshes) {
  const std::string legacy = jose::Base64UrlEncode(std::string(32, '\x5a'));
  ASSERT_TRUE(TokenService::WellFormedRefreshToken(legacy));
  Session s{.id_hash = crypto::Sha256("legacy session"),
            .handle = "legacy-handle",
            .user_id = "user-1",
            .kind = SessionKind::kToken,
            .created_at = kT0,
            .last_seen_at = kT0,
            .expires_at = kT0 + kRefreshTtl};
  ASSERT_TRUE(store_->CreateTokenSession(s, crypto::Sha256(legacy), {}, kT0, nullptr).ok());
  clock_.Advance(1);
  const RefreshAnswer first = Refresh(legacy);
  ASSERT_EQ(first.outcome, RefreshOutcome::kRotated);
  ASSERT_EQ(first.refresh_token.size(), 72u);
  EXPECT_EQ(jose::Base64UrlDecode(first.refresh_token)->substr(16, 6),
            std::string(5, '\0') + '\1');
  std::string rt = first.refresh_token;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1);
    const RefreshAnswer a = Refresh(rt);
    ASSERT_EQ(a.outcome, RefreshOutcome::kRotated);
    rt = a.refresh_token;
  }
  clock_.Advance(kGrace);
  EXPECT_EQ(Refresh(legacy).outcome, RefreshOutcome::kReuseDetected);
  EXPECT_EQ(Refresh(rt).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, AStaleAncestorOfTheLineageIsTheft) {
  const IssuedTokens issued = Login();
  const std::string rt1 = issued.refresh_token;
  clock_.Advance(100);
  const RefreshAnswer a = Refresh(rt1);
  ASSERT_EQ(a.outcome, RefreshOutcome::kRotated);
  clock_.Advance(100);
  const RefreshAnswer b = Refresh(a.refresh_token);
  ASSERT_EQ(b.outcome, RefreshOutcome::kRotated);
  const std::string rt3 = b.refresh_token;
  EXPECT_NE(rt3, a.refresh_token);
  EXPECT_NE(rt3, rt1);
  clock_.Advance(100);
  const RefreshAnswer stale = Refresh(rt1);
  ASSERT_EQ(stale.outcome, RefreshOutcome::kReuseDetected);
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", clock_.NowSeconds()));
  EXPECT_EQ(Refresh(rt3).outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(Refresh(a.refresh_token).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, MalformedRefreshTokenIsInvalidArgumentWithoutAStoreLookup) {
  const IssuedTokens issued = Login();
  std::string plus = issued.refresh_token;
  plus[3] = '+';
  std::string padded = issued.refresh_token + "=";
  for (const std::string& bad :
       {std::string(), std::string("short"), plus, padded, issued.refresh_token.substr(1),
        std::string(43, '.'), issued.refresh_token + "A", std::string(42, 'A') + '\0'}) {
    auto r = service_->Refresh(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad;
    EXPECT_FALSE(TokenService::WellFormedRefreshToken(bad)) << bad;
  }
  // None of that touched the real token.
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kRotated);
  // A well-formed token nobody issued is simply unknown.
  EXPECT_EQ(Refresh(std::string(43, 'A')).outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(Refresh(std::string(72, 'A')).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, RefreshAfterTheIdleTimeoutIsUnknown) {
  const IssuedTokens a = Login();
  const IssuedTokens b = Login();
  clock_.Set(kT0 + kIdle - 1);
  const RefreshAnswer kept = Refresh(a.refresh_token);  // activity: its idle clock restarts
  ASSERT_EQ(kept.outcome, RefreshOutcome::kRotated);
  clock_.Set(kT0 + kIdle + 1);
  EXPECT_EQ(Refresh(b.refresh_token).outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(Refresh(kept.refresh_token).outcome, RefreshOutcome::kRotated);
}

// Regression (found writing this test): the manager says a session is over when
// now >= last_seen_at + idle_timeout (SessionManager::ExpiresAt, used by FindLiveRefresh, by
// IssuedTokens::refresh_expires_at and for cookie sessions), but TokenService::Refresh passes
// idle_cutoff = now - idle_timeout to the store, which refuses only last_seen_at < idle_cutoff,
// i.e. now > last_seen_at + idle_timeout. At exactly the announced refresh_expires_at,
// introspection calls the refresh token dead while a refresh with it still succeeds and revives
// the session.
TEST_P(TokenServiceTest, RefreshAtTheExactIdleDeadlineAgreesWithFindLiveRefresh) {
  const IssuedTokens issued = Login();
  ASSERT_EQ(issued.refresh_expires_at, kT0 + kIdle);
  clock_.Set(issued.refresh_expires_at);
  auto live = service_->FindLiveRefresh(issued.refresh_token);
  ASSERT_TRUE(live);
  ASSERT_FALSE(live->has_value());  // the manager's view: over
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, RefreshAfterTheAbsoluteLifetimeIsUnknown) {
  const IssuedTokens issued = Login();
  std::string rt = issued.refresh_token;
  // Active all along (never idle), the family still ends refresh_ttl after login.
  for (int64_t t = 3000; t < kRefreshTtl; t += 3000) {
    clock_.Set(kT0 + t);
    const RefreshAnswer a = Refresh(rt);
    ASSERT_EQ(a.outcome, RefreshOutcome::kRotated) << t;
    rt = a.refresh_token;
  }
  clock_.Set(kT0 + kRefreshTtl - 1);
  const RefreshAnswer last = Refresh(rt);
  ASSERT_EQ(last.outcome, RefreshOutcome::kRotated);
  // Neither token outlives the session's absolute deadline.
  EXPECT_EQ(last.access_expires_at, kT0 + kRefreshTtl);
  EXPECT_EQ(last.refresh_expires_at, kT0 + kRefreshTtl);
  EXPECT_EQ(last.session.expires_at, kT0 + kRefreshTtl);
  clock_.Set(kT0 + kRefreshTtl);
  auto live = service_->FindLiveRefresh(last.refresh_token);
  ASSERT_TRUE(live);
  EXPECT_FALSE(live->has_value());
  EXPECT_EQ(Refresh(last.refresh_token).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, LoginCapsTheAccessTokenAtTheSessionDeadline) {
  TokenServiceOptions to = service_->options();
  to.refresh_ttl_seconds = 100;  // shorter than access_ttl
  TokenService short_lived(keyset_.get(), manager_.get(), store_.get(), &revocations_, to, &clock_);
  auto issued = short_lived.Login({"user-1", "alice", {}}, {});
  ASSERT_TRUE(issued);
  EXPECT_EQ(issued->refresh_expires_at, kT0 + 100);
  EXPECT_EQ(issued->access_expires_at, kT0 + 100);
  AccessToken t;
  ASSERT_TRUE(Verify(issued->access_token, &t).ok());
  EXPECT_EQ(t.exp, kT0 + 100);
}

TEST_P(TokenServiceTest, RevokeRefreshTokenEndsTheSessionAndRevokesItsSid) {
  const IssuedTokens issued = Login();
  const IssuedTokens bystander = Login();
  ASSERT_TRUE(Verify(issued.access_token).ok());  // cached: the revocation must beat the cache
  auto gone = service_->RevokeRefreshToken(issued.refresh_token);
  ASSERT_TRUE(gone) << gone.error().ToString();
  ASSERT_TRUE(gone->has_value());
  EXPECT_EQ((*gone)->handle, issued.session.handle);
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", kT0));
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", kT0 + kAccessTtl + kLeeway - 1));
  EXPECT_EQ(Verify(issued.access_token).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(HasRevocation(StoreRevocations(), issued.session.handle, kT0 + kAccessTtl));
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(StoredSessions(), 1u);
  EXPECT_TRUE(Verify(bystander.access_token).ok());
  // Revoking again, or something that is no token at all, finds nothing (RFC 7009: still 200).
  auto again = service_->RevokeRefreshToken(issued.refresh_token);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  auto junk = service_->RevokeRefreshToken("junk");
  ASSERT_TRUE(junk);
  EXPECT_FALSE(junk->has_value());
}

TEST_P(TokenServiceTest, RevokingARotatedRefreshTokenStillEndsItsGrant) {
  const IssuedTokens issued = Login();
  const RefreshAnswer rotated = Refresh(issued.refresh_token);
  ASSERT_EQ(rotated.outcome, RefreshOutcome::kRotated);
  auto gone = service_->RevokeRefreshToken(issued.refresh_token);
  ASSERT_TRUE(gone);
  ASSERT_TRUE(gone->has_value());
  EXPECT_TRUE(revocations_.IsRevoked(issued.session.handle, "", kT0));
  EXPECT_EQ(Refresh(rotated.refresh_token).outcome, RefreshOutcome::kUnknown);
}

TEST_P(TokenServiceTest, RevokeAccessTokenRevokesThatJtiOnly) {
  const IssuedTokens issued = Login();
  auto sibling = service_->SignAccessToken({"user-1", "alice", {}}, issued.session,
                                           issued.issued_at, issued.access_expires_at);
  ASSERT_TRUE(sibling);
  AccessToken t;
  ASSERT_TRUE(Verify(issued.access_token, &t).ok());
  ASSERT_TRUE(service_->RevokeAccessToken(t).ok());
  EXPECT_EQ(Verify(issued.access_token).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(Verify(*sibling).ok());  // same session, other jti: untouched
  EXPECT_FALSE(revocations_.IsRevoked(issued.session.handle, "", kT0));
  EXPECT_EQ(Refresh(issued.refresh_token).outcome, RefreshOutcome::kRotated);
  // Persisted as a token id, never as a handle, for the other processes and a restart.
  const auto stored = StoreRevocations();
  EXPECT_TRUE(HasRevocation(stored, TokenIdRevocationKey(t.jti), t.exp));
  EXPECT_FALSE(HasRevocation(stored, t.jti, 0));
  EXPECT_FALSE(HasRevocation(stored, issued.session.handle, 0));
  LocalRevocationList restarted(kLeeway);
  ASSERT_TRUE(restarted.Load(*store_, kT0).ok());
  EXPECT_TRUE(restarted.IsRevoked("", t.jti, kT0));
  EXPECT_FALSE(restarted.IsRevoked(issued.session.handle, "", kT0));
}

TEST_P(TokenServiceTest, FindLiveRefreshSeesOnlyTheLiveToken) {
  const IssuedTokens issued = Login();
  auto live = service_->FindLiveRefresh(issued.refresh_token);
  ASSERT_TRUE(live) << live.error().ToString();
  ASSERT_TRUE(live->has_value());
  EXPECT_EQ((*live)->second.handle, issued.session.handle);
  EXPECT_EQ((*live)->first.rotated_at_ms, 0);
  EXPECT_EQ((*live)->second.user_id, "user-1");

  clock_.Advance(1);
  const RefreshAnswer rotated = Refresh(issued.refresh_token);
  ASSERT_EQ(rotated.outcome, RefreshOutcome::kRotated);
  auto old = service_->FindLiveRefresh(issued.refresh_token);
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->has_value());
  auto fresh = service_->FindLiveRefresh(rotated.refresh_token);
  ASSERT_TRUE(fresh);
  ASSERT_TRUE(fresh->has_value());
  EXPECT_EQ((*fresh)->second.handle, issued.session.handle);

  const std::string never_issued(43, 'Q');
  for (std::string_view unknown :
       {std::string_view(never_issued), std::string_view("x"), std::string_view("")}) {
    auto none = service_->FindLiveRefresh(unknown);
    ASSERT_TRUE(none) << unknown;
    EXPECT_FALSE(none->has_value()) << unknown;
  }
  // Introspection changes nothing: the token still rotates.
  EXPECT_EQ(Refresh(rotated.refresh_token).outcome, RefreshOutcome::kRotated);
}

TEST_P(TokenServiceTest, PerUserLimitEvictionEndsTheOldestThroughOnEnd) {
  Build({.max_per_user = 2, .on_limit = session::OnLimit::kEvictOldest});
  const IssuedTokens first = Login();
  clock_.Advance(1);
  const IssuedTokens second = Login();
  clock_.Advance(1);
  ASSERT_TRUE(Verify(first.access_token).ok());
  EXPECT_TRUE(ended_.empty());
  const IssuedTokens third = Login();
  ASSERT_EQ(third.evicted.size(), 1u);
  EXPECT_EQ(third.evicted[0].handle, first.session.handle);
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].handle, first.session.handle);
  EXPECT_GE(ended_[0].tokens_until, kT0 + kAccessTtl);
  // Through on_end the evicted session's tokens stop at once, here and (store) elsewhere.
  EXPECT_EQ(Verify(first.access_token).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(HasRevocation(StoreRevocations(), first.session.handle, kT0 + kAccessTtl));
  EXPECT_EQ(Refresh(first.refresh_token).outcome, RefreshOutcome::kUnknown);
  EXPECT_TRUE(Verify(second.access_token).ok());
  EXPECT_TRUE(Verify(third.access_token).ok());
  EXPECT_EQ(StoredSessions(), 2u);
}

TEST_P(TokenServiceTest, PerUserLimitRejectIssuesNothing) {
  Build({.max_per_user = 1, .on_limit = session::OnLimit::kReject});
  Login();
  auto refused = service_->Login({"user-1", "alice", {}}, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(StoredSessions(), 1u);
  EXPECT_TRUE(ended_.empty());
}

TEST_P(TokenServiceTest, ManagerRevocationsCallOnEndAndStopAccessTokens) {
  const IssuedTokens by_handle = Login();
  const IssuedTokens by_user_handle = Login();
  auto cookie = manager_->Create("user-1", SessionKind::kCookie, {});
  ASSERT_TRUE(cookie);

  // An administrator ends one session by handle.
  auto a = manager_->RevokeHandle(by_handle.session.handle);
  ASSERT_TRUE(a && a->has_value());
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_.back().handle, by_handle.session.handle);
  EXPECT_EQ(Verify(by_handle.access_token).reason(), Reason::kUnknownSession);

  // The user ends one of their own sessions by handle.
  auto b = manager_->RevokeByHandle("user-1", by_user_handle.session.handle);
  ASSERT_TRUE(b) << b.error().ToString();
  ASSERT_EQ(ended_.size(), 2u);
  EXPECT_EQ(ended_.back().handle, by_user_handle.session.handle);
  EXPECT_EQ(Verify(by_user_handle.access_token).reason(), Reason::kUnknownSession);

  // A cookie logout.
  auto c = manager_->Revoke(cookie->secret);
  ASSERT_TRUE(c && c->has_value());
  ASSERT_EQ(ended_.size(), 3u);
  EXPECT_EQ(ended_.back().handle, cookie->record.handle);

  // "Sign out everywhere".
  const IssuedTokens x = Login();
  const IssuedTokens y = Login();
  const IssuedTokens other_user = Login({"user-2", "bob", {}});
  auto all = manager_->RevokeAll("user-1", "");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
  ASSERT_EQ(ended_.size(), 5u);
  std::vector<std::string> handles = {ended_[3].handle, ended_[4].handle};
  std::sort(handles.begin(), handles.end());
  std::vector<std::string> expected = {x.session.handle, y.session.handle};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(handles, expected);
  EXPECT_EQ(Verify(x.access_token).reason(), Reason::kUnknownSession);
  EXPECT_EQ(Verify(y.access_token).reason(), Reason::kUnknownSession);
  EXPECT_TRUE(Verify(other_user.access_token).ok());

  // Nothing left to end: no callback.
  auto none = manager_->RevokeHandle(by_handle.session.handle);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(ended_.size(), 5u);
}

TEST_P(TokenServiceTest, ExpiryFoundOnUseCallsOnEnd) {
  auto cookie = manager_->Create("user-1", SessionKind::kCookie, {});
  ASSERT_TRUE(cookie);
  clock_.Advance(kIdle);
  auto expired = manager_->Authenticate(cookie->secret, false);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().reason(), Reason::kSessionExpired);
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].handle, cookie->record.handle);
}

TEST_P(TokenServiceTest, KeysetKeySourceReloadsForAKidRotatedInElsewhere) {
  const IssuedTokens before = Login();
  ASSERT_TRUE(Verify(before.access_token).ok());
  // Another process (`tessera keys rotate --immediate`) rotates the same keyset file.
  auto other = Keyset::Load(dir_.path(), keyset_->options());
  ASSERT_TRUE(other) << other.error().ToString();
  clock_.Advance(1);
  const int64_t now = clock_.NowSeconds();
  auto rotated = (*other)->Rotate(now, {.immediate = true});
  ASSERT_TRUE(rotated) << rotated.error().ToString();
  const std::string new_kid = rotated->key.kid();
  ASSERT_NE(new_kid, keyset_->Current(now)->record.kid());

  const nlohmann::json claims = {{"iss", kIssuer},
                                 {"sub", "user-1"},
                                 {"aud", kAudience},
                                 {"exp", now + kAccessTtl},
                                 {"iat", now},
                                 {"jti", "j-new"},
                                 {"sid", before.session.handle}};
  std::string token;
  ASSERT_TRUE((*other)->Current(now)->signer.SignTrusted(claims.dump(), &token).ok());
  AccessToken t;
  Status s = Verify(token, &t);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(t.kid, new_kid);
  // The old key stays published for its tokens.
  EXPECT_TRUE(Verify(before.access_token).ok());

  // At most one reload a second, however many unknown kids arrive.
  KeysetKeySource source(keyset_.get());
  ASSERT_TRUE((*other)->Rotate(now, {.immediate = true}));
  EXPECT_TRUE(source.RefreshForUnknownKid("k1", now));
  ASSERT_TRUE((*other)->Rotate(now, {.immediate = true}));
  EXPECT_FALSE(source.RefreshForUnknownKid("k2", now));  // changed, but not this second
  EXPECT_TRUE(source.RefreshForUnknownKid("k3", now + 1));
  EXPECT_FALSE(source.RefreshForUnknownKid("k4", now + 2));  // allowed, but nothing changed
}

INSTANTIATE_TEST_SUITE_P(Backends, TokenServiceTest,
                         ::testing::Values(Backend::kMemory, Backend::kSqlite, Backend::kRedis),
                         BackendName);

}  // namespace
}  // namespace tessera::token
