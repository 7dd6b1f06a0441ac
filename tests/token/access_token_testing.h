// Helpers of the AccessVerifier tests (access_token_test.cc, access_token_adversarial_test.cc): a
// KeySource the test controls, claims and signers for tessera-shaped access tokens, and a fixture
// with two ES256 keys made once per binary.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"
#include "tessera/token/access_token.h"
#include "tessera/token/revocation.h"

namespace tessera::token::testing {

using jose::Alg;
using jose::Jwk;
using jose::Jwks;
using nlohmann::json;

inline constexpr int64_t kT0 = 1'800'000'000;
inline constexpr int64_t kTtl = 900;
inline constexpr int64_t kLeeway = 60;
inline constexpr char kIssuer[] = "https://auth.example.com";
inline constexpr char kAudience[] = "orders-api";

inline std::shared_ptr<const Jwks> SetOf(std::vector<Jwk> keys) {
  std::vector<Jwk> pub;
  for (const Jwk& k : keys) pub.push_back(k.is_symmetric() ? k : k.PublicKey());
  auto set = Jwks::FromKeys(std::move(pub));
  EXPECT_TRUE(set) << set.error().ToString();
  return std::make_shared<const Jwks>(std::move(set).value());
}

// A KeySource over keys the test controls: it counts RefreshForUnknownKid calls, and a refresh
// installs the set staged with StageForRefresh (if any), like a JWKS refetch that finds new keys.
class TestKeySource final : public KeySource {
 public:
  explicit TestKeySource(std::shared_ptr<const Jwks> keys) : keys_(std::move(keys)) {}

  std::shared_ptr<const Jwks> Keys(int64_t) override {
    std::lock_guard lock(mu_);
    return keys_;
  }
  bool RefreshForUnknownKid(std::string_view kid, int64_t) override {
    std::lock_guard lock(mu_);
    ++refreshes_;
    last_kid_ = std::string(kid);
    if (!staged_) return false;
    keys_ = std::move(staged_);
    staged_.reset();
    return true;
  }

  // Replaces the set at once (a key revoked or rotated elsewhere, noticed by a reload).
  void Swap(std::shared_ptr<const Jwks> keys) {
    std::lock_guard lock(mu_);
    keys_ = std::move(keys);
  }
  void StageForRefresh(std::shared_ptr<const Jwks> keys) {
    std::lock_guard lock(mu_);
    staged_ = std::move(keys);
  }
  int refreshes() {
    std::lock_guard lock(mu_);
    return refreshes_;
  }
  std::string last_kid() {
    std::lock_guard lock(mu_);
    return last_kid_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const Jwks> keys_;
  std::shared_ptr<const Jwks> staged_;
  int refreshes_ = 0;
  std::string last_kid_;
};

inline json Claims(std::string sid = "sid-1", std::string jti = "jti-1") {
  return json{{"iss", kIssuer},
              {"sub", "user-42"},
              {"aud", kAudience},
              {"iat", kT0},
              {"exp", kT0 + kTtl},
              {"jti", std::move(jti)},
              {"sid", std::move(sid)},
              {"roles", {"admin", "billing"}},
              {"preferred_username", "alice"}};
}

inline json Header(const Jwk& key, std::string alg = "ES256", std::string typ = "at+jwt") {
  return json{{"alg", std::move(alg)}, {"typ", std::move(typ)}, {"kid", key.kid()}};
}

inline std::string Sign(const Jwk& key, const json& claims, std::string_view typ = "at+jwt") {
  auto signer = jose::JwtSigner::Create(key, Alg::kES256, typ);
  EXPECT_TRUE(signer) << signer.error().ToString();
  auto token = signer->Sign(claims.dump());
  EXPECT_TRUE(token) << token.error().ToString();
  return *token;
}

// Splits a compact JWS into its three segments.
inline std::array<std::string, 3> Segments(const std::string& token) {
  const size_t a = token.find('.'), b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

class AccessVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key1_ = new Jwk(*Jwk::Generate(Alg::kES256));
    key2_ = new Jwk(*Jwk::Generate(Alg::kES256));
  }
  static void TearDownTestSuite() {
    delete key1_;
    delete key2_;
  }

  AccessVerifierOptions Options(size_t capacity = 1024) const {
    AccessVerifierOptions o;
    o.issuer = kIssuer;
    o.audience = kAudience;
    o.leeway_seconds = kLeeway;
    o.cache_capacity = capacity;
    return o;
  }

  const Jwk& key1() const { return *key1_; }
  const Jwk& key2() const { return *key2_; }

  static inline Jwk* key1_ = nullptr;
  static inline Jwk* key2_ = nullptr;
  TestKeySource keys_{SetOf({*key1_})};
  LocalRevocationList revocations_{kLeeway};
};

}  // namespace tessera::token::testing
