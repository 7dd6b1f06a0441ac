// A program built against an installed tessera (tests/install/run builds it with find_package and
// with pkg-config, shared and static): it signs and verifies a JWS, refuses a tampered one and
// runs a session through the in-memory store. Prints "ok" and exits 0 when all of that works.
#include <cstdio>
#include <string>

#include "tessera/clock.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jws.h"
#include "tessera/session/session_manager.h"
#include "tessera/store/memory.h"

namespace {

int Fail(const char* what, const std::string& why) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, why.c_str());
  return 1;
}

}  // namespace

int main() {
  using namespace tessera;
  auto key = jose::Jwk::Generate(jose::Alg::kEdDSA, "consumer-key");
  if (!key) return Fail("generate", key.error().ToString());
  auto token = jose::SignJws(*key, jose::Alg::kEdDSA, R"({"sub":"alice"})", "JWT");
  if (!token) return Fail("sign", token.error().ToString());
  auto keys = jose::Jwks::FromKeys({key->PublicKey()});
  if (!keys) return Fail("jwks", keys.error().ToString());

  jose::JwsHeader header;
  std::string payload;
  Status good = jose::VerifyJws(*token, *keys, {jose::Alg::kEdDSA}, {}, &header, &payload);
  if (!good.ok() || payload != R"({"sub":"alice"})" || header.kid != "consumer-key") {
    return Fail("verify", good.ToString());
  }
  std::string tampered = *token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  if (jose::VerifyJws(tampered, *keys, {jose::Alg::kEdDSA}, {}, &header, &payload).ok()) {
    return Fail("tampered", "a changed token verified");
  }

  auto store = store::NewMemorySessionStore();
  session::SessionManager sessions(store.get(), {}, &SystemClock::Instance());
  auto created = sessions.Create("user-1", session::SessionKind::kCookie, {});
  if (!created) return Fail("session", created.error().ToString());
  auto found = sessions.Authenticate(created->secret, false);
  if (!found || found->user_id != "user-1") return Fail("authenticate", "the session was not found");
  if (!sessions.Revoke(created->secret)) return Fail("revoke", "failed");
  if (sessions.Authenticate(created->secret, false)) return Fail("revoked", "still authenticates");

  std::puts("ok");
  return 0;
}
