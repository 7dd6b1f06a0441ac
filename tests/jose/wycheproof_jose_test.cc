// Wycheproof's JOSE files (json_web_signature_test.json, json_web_key_test.json) through the public
// API only: Jwks::Parse of the group's key, then VerifyJws with an empty allow-list, so that each
// key's own binding decides. A token counts as accepted iff the set parses and VerifyJws is OK.
//
// tessera must agree with every vector except those named in the tables below, and each table
// entry is checked to still be what the table says it is, so that no table can go stale:
//  - StricterThanWycheproof: "valid" vectors tessera rejects on purpose, each with its rule;
//  - SelfContradictoryVectors: "invalid" vectors that are byte for byte a "valid" vector of the
//    same group (a Wycheproof data defect; no verifier can satisfy both);
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tessera/jose/base64url.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jws.h"
#include "testing/testdata.h"

namespace tessera::jose {
namespace {

using nlohmann::json;

constexpr char kJwsFile[] = "json_web_signature_test.json";
constexpr char kJwkFile[] = "json_web_key_test.json";

json LoadWycheproof(const std::string& file) {
  return json::parse(
      tessera::testing::ReadTestFile(tessera::testing::TestdataDir() + "/wycheproof/" + file));
}

// json_web_signature_test.json vectors Wycheproof marks "valid" that tessera rejects on purpose.
const std::map<int, std::string>& StricterThanWycheproof() {
  static const auto* table = new std::map<int, std::string>{
      // RFC 7520 figure 20 (PS384) verified with a key whose "alg" is PS256. RFC 7517 section 4.4
      // and RFC 8725 section 3.1: a key that names an algorithm is for that algorithm only;
      // letting the token choose another is the algorithm-substitution attack.
      {346, "key alg PS256, token alg PS384 (RFC 7517 4.4, RFC 8725 3.1)"},
      {350, "key alg PS256, token alg PS384 (RFC 7517 4.4, RFC 8725 3.1)"},
      // RFC 7520 figure 27 (ES512) with a key whose "alg" is "ES521", which is not a registered
      // JWS algorithm (RFC 7518 section 3.1 registers ES512). A key for an algorithm tessera does
      // not know is unusable; guessing what was meant would trust the key over the RFC.
      {347, "key alg ES521 is not a JWS algorithm (RFC 7518 3.1)"},
      {351, "key alg ES521 is not a JWS algorithm (RFC 7518 3.1)"},
      // A '?' inside a base64url segment. RFC 7515 section 2 and RFC 4648 section 3.3: characters
      // outside the alphabet must be rejected, and DESIGN requires strict base64url so that every
      // token has exactly one encoding. (Wycheproof's MAC covers the segments without the '?',
      // so 373, whose bad segment is the payload, already fails at the MAC over the bytes as
      // received; its payload would fail to decode next.)
      {372, "'?' inside the header segment (RFC 7515 2, RFC 4648 3.3)"},
      {373, "'?' inside the payload segment (RFC 7515 2, RFC 4648 3.3)"},
  };
  return *table;
}

// json_web_signature_test.json vectors marked "invalid" whose token is byte for byte the token of
// a "valid" vector of the same group, with the same key: tcId -> that valid twin. Upstream
// (C2SP/wycheproof testvectors_v1) has the same data; the names ("invalidBase64Padding",
// "invalidBase64PaddingInPayload") suggest the generator meant to add '=' padding and lost it.
// tessera gives them their twin's verdict, which is the only consistent one.
const std::map<int, int>& SelfContradictoryVectors() {
  static const auto* table = new std::map<int, int>{{367, 357}, {370, 357}};
  return *table;
}

// What tessera did with one vector.
struct Verdict {
  bool accepted = false;
  std::string detail;  // skipped keys, and why the token was rejected
};

// Verifies `jws` (a compact string, or a JSON serialization passed as its text, which must fail)
// against `key`, one JWK or a JWK set.
Verdict Verify(const json& key, const json& jws) {
  Verdict v;
  auto set = Jwks::Parse(key.dump());
  if (!set) {
    v.detail = "Jwks::Parse: " + set.error().ToString();
    return v;
  }
  for (const SkippedKey& s : set->skipped()) {
    v.detail += "skipped key " + std::to_string(s.index) + ": " + s.status.ToString() + "; ";
  }
  const std::string token = jws.is_string() ? jws.get<std::string>() : jws.dump();
  JwsHeader header;
  std::string payload;
  const Status status = VerifyJws(token, *set, AlgSet{}, JwsLimits{}, &header, &payload);
  v.accepted = status.ok();
  if (!status.ok()) v.detail += "VerifyJws: " + status.ToString();
  return v;
}

// The group's key as the tests use it: "public" when present, else "private".
const json& GroupKey(const json& group) {
  return group.contains("public") ? group["public"] : group["private"];
}

std::string Label(const std::string& file, const json& group, const json& t) {
  std::ostringstream s;
  s << file << " tcId " << t["tcId"].get<int>() << " (group \"" << group.value("comment", "")
    << "\", " << t["comment"].get<std::string>() << ")";
  return s.str();
}

struct Exceptions {
  std::map<int, std::string> stricter;
  std::map<int, int> contradictory;
};

// Runs every vector of `file` and checks it against Wycheproof or against its table entry.
// Returns the number of vectors run.
int RunFile(const std::string& file, const Exceptions& ex) {
  const json doc = LoadWycheproof(file);
  int total = 0;
  std::set<int> listed_seen;
  for (const auto& group : doc["testGroups"]) {
    // tcId -> test, for finding a contradictory vector's twin; and each token's results.
    std::map<int, const json*> by_id;
    std::map<std::string, std::set<std::string>> results_by_token;
    for (const auto& t : group["tests"]) {
      by_id[t["tcId"].get<int>()] = &t;
      results_by_token[t["jws"].dump()].insert(t["result"].get<std::string>());
    }
    for (const auto& t : group["tests"]) {
      ++total;
      const int id = t["tcId"].get<int>();
      const std::string result = t["result"].get<std::string>();
      const Verdict v = Verify(GroupKey(group), t["jws"]);
      const std::string label = Label(file, group, t);
      // A token with two results in one group must be a table entry or its valid twin, and
      // vice versa.
      bool listed_contradictory = ex.contradictory.count(id) > 0;
      for (const auto& [invalid_id, twin_id] : ex.contradictory) {
        listed_contradictory |= twin_id == id;
      }
      EXPECT_EQ(results_by_token[t["jws"].dump()].size() > 1, listed_contradictory)
          << label << ": self-contradictory vectors and the table differ";

      if (auto it = ex.stricter.find(id); it != ex.stricter.end()) {
        listed_seen.insert(id);
        EXPECT_EQ(result, "valid") << label << ": stricter-table entry is not a valid vector";
        EXPECT_FALSE(v.accepted) << label << ": stricter-table entry (" << it->second
                                 << ") is accepted now; remove it from the table";
      } else if (auto c = ex.contradictory.find(id); c != ex.contradictory.end()) {
        listed_seen.insert(id);
        if (!by_id.count(c->second)) {
          ADD_FAILURE() << label << ": twin tcId " << c->second << " is not in the group";
          continue;
        }
        const json& twin = *by_id[c->second];
        EXPECT_EQ(twin["jws"], t["jws"]) << label << ": not identical to tcId " << c->second;
        EXPECT_EQ(twin["result"], "valid") << label << ": twin is not a valid vector";
        EXPECT_EQ(result, "invalid") << label;
        EXPECT_TRUE(v.accepted) << label
                                << ": the twin of a valid vector is rejected: " << v.detail;
      } else if (result == "valid") {
        EXPECT_TRUE(v.accepted) << label << ": valid vector rejected. " << v.detail;
      } else if (result == "invalid") {
        EXPECT_FALSE(v.accepted) << label << ": invalid vector accepted. " << v.detail;
      } else {
        ADD_FAILURE() << label << ": unexpected result \"" << result << "\"";
      }
    }
  }
  EXPECT_EQ(total, doc["numberOfTests"].get<int>()) << file << ": vectors skipped or repeated";
  EXPECT_EQ(listed_seen.size(), ex.stricter.size() + ex.contradictory.size())
      << file << ": a table names a tcId the file does not contain";
  return total;
}

TEST(WycheproofJws, EveryVectorMatchesExceptDocumentedTables) {
  const int n = RunFile(kJwsFile, {.stricter = StricterThanWycheproof(),
                                   .contradictory = SelfContradictoryVectors()});
  RecordProperty("vectors", n);
}

TEST(WycheproofJwk, EveryVectorMatchesExceptDocumentedTables) {
  const int n =
      RunFile(kJwkFile, {.stricter = {}, .contradictory = {}});
  RecordProperty("vectors", n);
}

// Finds tcId `id` in `doc`; fills its group and test.
void FindVector(const json& doc, int id, json* group, json* test) {
  for (const auto& g : doc["testGroups"]) {
    for (const auto& t : g["tests"]) {
      if (t["tcId"].get<int>() == id) {
        *group = g;
        *test = t;
        return;
      }
    }
  }
  FAIL() << "tcId " << id << " not found";
}

// The stricter table cannot go stale, and each entry is rejected for the rule it cites rather
// than by accident (a key that failed to parse for some other reason, say).
TEST(WycheproofJws, StricterEntriesAreRejectedForTheRuleTheyCite) {
  const json doc = LoadWycheproof(kJwsFile);
  for (const auto& [id, why] : StricterThanWycheproof()) {
    json group, t;
    FindVector(doc, id, &group, &t);
    SCOPED_TRACE("tcId " + std::to_string(id) + " (" + why + ")");
    EXPECT_EQ(t["result"], "valid");
    const Verdict v = Verify(GroupKey(group), t["jws"]);
    EXPECT_FALSE(v.accepted);
    if (id == 346 || id == 350) {
      // The key parses and is bound to PS256; the token's PS384 does not fit it.
      EXPECT_NE(v.detail.find("alg_key_mismatch"), std::string::npos) << v.detail;
      EXPECT_EQ(GroupKey(group)["alg"], "PS256");
    } else if (id == 347 || id == 351) {
      // The key is skipped for its unknown "alg", leaving no key.
      EXPECT_NE(v.detail.find("alg_unsupported"), std::string::npos) << v.detail;
      EXPECT_EQ(GroupKey(group)["alg"], "ES521");
    } else {
      // The segment holding the '?' is not strict base64url.
      const std::string token = t["jws"].get<std::string>();
      const size_t dot1 = token.find('.'), dot2 = token.find('.', dot1 + 1);
      const std::string segment =
          id == 372 ? token.substr(0, dot1) : token.substr(dot1 + 1, dot2 - dot1 - 1);
      ASSERT_NE(segment.find('?'), std::string::npos);
      EXPECT_FALSE(Base64UrlDecode(segment));
      if (id == 372) {
        EXPECT_NE(v.detail.find("bad_base64"), std::string::npos) << v.detail;
      }
    }
  }
}

// tcId 349 verifies RFC 7520 figure 13 with the group's "public" key, whose "key_ops" is
// ["verify"], so it is valid and tessera accepts it (it is not a deviation). The group's
// "private" key has "key_ops": ["sign, verify"]: one unknown operation string, neither "sign" nor
// "verify" (RFC 7517 section 4.3), so that key must not verify anything.
TEST(WycheproofJws, KeyOpsWithCommaJoinedOperationsIsNotForVerifying) {
  const json doc = LoadWycheproof(kJwsFile);
  json group, t;
  FindVector(doc, 349, &group, &t);
  ASSERT_EQ(group["private"]["key_ops"], json::array({"sign, verify"}));
  ASSERT_EQ(group["public"]["key_ops"], json::array({"verify"}));
  EXPECT_TRUE(Verify(group["public"], t["jws"]).accepted);
  const Verdict with_private = Verify(group["private"], t["jws"]);
  EXPECT_FALSE(with_private.accepted);
  EXPECT_NE(with_private.detail.find("key_use_mismatch"), std::string::npos) << with_private.detail;
}

}  // namespace
}  // namespace tessera::jose
