#include "token/keyset_format.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

namespace tessera::token {
namespace {

using jose::Alg;
using nlohmann::json;

constexpr int64_t kT0 = 1800000000;

KeyRecord Record(Alg alg, int64_t created, int64_t activates, int64_t retired) {
  auto key = jose::Jwk::Generate(alg);
  EXPECT_TRUE(key);
  return KeyRecord{.key = *key,
                   .alg = alg,
                   .created_at = created,
                   .activates_at = activates,
                   .retired_at = retired};
}

// A retired key and the one that took over from it.
std::vector<KeyRecord> TwoKeys() {
  return {Record(Alg::kES256, kT0, kT0, kT0 + 310), Record(Alg::kEdDSA, kT0 + 10, kT0 + 310, 0)};
}

TEST(KeysetFormat, SerializedKeysetParsesBackToTheSameRecords) {
  const auto records = TwoKeys();
  auto parsed = ParseKeyset(SerializeKeyset(records));
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const KeyRecord& a = records[i];
    const KeyRecord& b = (*parsed)[i];
    EXPECT_EQ(b.kid(), a.kid());
    EXPECT_EQ(b.alg, a.alg);
    EXPECT_EQ(b.created_at, a.created_at);
    EXPECT_EQ(b.activates_at, a.activates_at);
    EXPECT_EQ(b.retired_at, a.retired_at);
    EXPECT_TRUE(b.key.is_private());
    EXPECT_EQ(b.key.ToJson(true), a.key.ToJson(true));
  }
  // The same records always give the same bytes: every process serves the same JWKS (KM-04).
  EXPECT_EQ(SerializeKeyset(*parsed), SerializeKeyset(records));
}

TEST(KeysetFormat, EveryDeviationIsACorruptFile) {
  const std::string valid = SerializeKeyset(TwoKeys());
  const json doc = json::parse(valid);
  auto edit = [&](const std::function<void(json&)>& f) {
    json d = doc;
    f(d);
    return d.dump();
  };
  auto hs = jose::Jwk::Generate(Alg::kHS256);
  auto other = jose::Jwk::Generate(Alg::kES256);
  ASSERT_TRUE(hs && other);
  const std::string private_d = doc["keys"][0]["jwk"]["d"].get<std::string>();
  // nlohmann cannot hold a duplicate member: write one into the text.
  std::string duplicate_in_key = valid;
  duplicate_in_key.insert(valid.find("\"created_at\""), "\"created_at\": 1, ");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"truncated", valid.substr(0, valid.size() / 2)},
      {"not json", "signing keys"},
      {"not an object", "[]"},
      {"duplicate member", R"({"version":1,"version":1,"keys":[]})"},
      {"duplicate member in a key", duplicate_in_key},
      {"unknown member", edit([](json& d) { d["extra"] = 1; })},
      {"unknown key member", edit([](json& d) { d["keys"][0]["note"] = "x"; })},
      {"no version", edit([](json& d) { d.erase("version"); })},
      {"version 2", edit([](json& d) { d["version"] = 2; })},
      {"version string", edit([](json& d) { d["version"] = "1"; })},
      {"no keys", edit([](json& d) { d["keys"] = json::array(); })},
      {"keys not array", edit([](json& d) { d["keys"] = json::object(); })},
      {"key not an object", edit([](json& d) { d["keys"][0] = "key"; })},
      {"jwk not an object", edit([](json& d) { d["keys"][0]["jwk"] = "key"; })},
      {"public key only", edit([](json& d) { d["keys"][0]["jwk"].erase("d"); })},
      {"secret key among asymmetric ones",
       edit([&](json& d) {
         json k = json::parse(hs->ToJson(true));
         k["use"] = "sig";
         k["alg"] = "HS256";
         k["kid"] = hs->Thumbprint();
         d["keys"][1]["jwk"] = k;
       })},
      {"use enc", edit([](json& d) { d["keys"][0]["jwk"]["use"] = "enc"; })},
      {"no use", edit([](json& d) { d["keys"][0]["jwk"].erase("use"); })},
      {"no alg", edit([](json& d) { d["keys"][0]["jwk"].erase("alg"); })},
      {"alg of another curve", edit([](json& d) { d["keys"][0]["jwk"]["alg"] = "ES384"; })},
      {"point off the curve",
       edit([](json& d) { d["keys"][0]["jwk"]["y"] = d["keys"][0]["jwk"]["x"]; })},
      {"kid not the thumbprint", edit([](json& d) { d["keys"][0]["jwk"]["kid"] = "mine"; })},
      {"kid names another key", edit([&](json& d) { d["keys"][0]["jwk"]["kid"] = other->kid(); })},
      {"same key twice", edit([](json& d) { d["keys"][1] = d["keys"][0]; })},
      {"negative time", edit([](json& d) { d["keys"][0]["created_at"] = -1; })},
      {"float time", edit([](json& d) { d["keys"][0]["created_at"] = 1.5; })},
      {"string time", edit([](json& d) { d["keys"][0]["created_at"] = "1800000000"; })},
      {"huge time", edit([](json& d) { d["keys"][0]["retired_at"] = uint64_t{1} << 63; })},
      {"after year 9999", edit([](json& d) { d["keys"][1]["activates_at"] = 253402300800; })},
      {"activates before created", edit([](json& d) { d["keys"][1]["activates_at"] = kT0; })},
      {"retires before it activates", edit([](json& d) { d["keys"][0]["retired_at"] = 1; })},
      {"newest has a retired_at", edit([](json& d) { d["keys"][1]["retired_at"] = kT0 + 999; })},
      {"older has none", edit([](json& d) { d["keys"][0]["retired_at"] = 0; })},
      {"out of order", edit([](json& d) { std::swap(d["keys"][0], d["keys"][1]); })},
      {"missing member", edit([](json& d) { d["keys"][0].erase("retired_at"); })},
  };
  for (const auto& [name, text] : cases) {
    auto parsed = ParseKeyset(text);
    ASSERT_FALSE(parsed) << name;
    EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument) << name;
    EXPECT_EQ(parsed.error().message().find(private_d), std::string::npos) << name;
  }
}

TEST(KeysetFormat, FileIsBoundedInSize) {
  std::string big = SerializeKeyset(TwoKeys());
  big.insert(big.size() - 2, std::string(kMaxKeysetFileBytes, ' '));
  auto parsed = ParseKeyset(big);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().reason(), Reason::kTooLarge);
}

}  // namespace
}  // namespace tessera::token
