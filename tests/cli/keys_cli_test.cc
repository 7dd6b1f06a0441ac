// `tessera keys list | rotate | revoke` on a data directory, through the real binary: output,
// exit codes, the key file's mode, the audit trail, and no private key material anywhere.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_harness.h"
#include "testing/redis_server.h"

namespace tessera {
namespace {

using nlohmann::json;

class KeysCli : public Cli {
 protected:
  std::string Data() const { return (dir_ / "data").string(); }
  fs::path KeyFile() const { return dir_ / "data" / "signing-keys.json"; }

  Outcome Keys(std::vector<std::string> args) {
    args.insert(args.begin(), "keys");
    args.push_back("--data");
    args.push_back(Data());
    Outcome r = Tessera(args);
    seen_ += r.out + r.err;
    return r;
  }

  // The rows of `keys list`, as (kid, alg, state).
  std::vector<std::vector<std::string>> Rows() {
    Outcome r = Keys({"list"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::vector<std::string>> rows;
    std::istringstream lines(r.out);
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line.rfind("KID", 0), 0u) << line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string kid, alg, state;
      words >> kid >> alg >> state;
      rows.push_back({kid, alg, state});
    }
    return rows;
  }

  std::string KidOfState(const std::string& state) {
    for (const auto& row : Rows()) {
      if (row[2] == state) return row[0];
    }
    return "";
  }

  // Every private member value in the key file, and that none of them was ever printed or
  // audited.
  void ExpectNoPrivateMaterialShown() {
    const json doc = json::parse(Slurp(KeyFile()));
    const std::string audit = Slurp(dir_ / "data" / "audit.log");
    int checked = 0;
    for (const json& key : doc["keys"]) {
      for (const char* m : {"d", "p", "q", "dp", "dq", "qi"}) {
        if (!key["jwk"].contains(m)) continue;
        const std::string secret = key["jwk"][m].get<std::string>();
        EXPECT_EQ(seen_.find(secret), std::string::npos) << m;
        EXPECT_EQ(audit.find(secret), std::string::npos) << m;
        ++checked;
      }
    }
    EXPECT_GT(checked, 0);
  }

  std::vector<json> AuditEvents(const std::string& event) {
    std::vector<json> out;
    std::istringstream lines(Slurp(dir_ / "data" / "audit.log"));
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line);
      if (j.value("event", "") == event) out.push_back(j);
    }
    return out;
  }

  std::string seen_;  // everything the commands printed
};

TEST_F(KeysCli, ListOnAFreshDataDirShowsNoKeysAndCreatesNone) {
  Outcome r = Keys({"list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("KID", 0), 0u);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);  // the header only
  EXPECT_NE(r.err.find("no signing keys"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(KeyFile()));
}

TEST_F(KeysCli, RotateThenListShowsNextAndCurrent) {
  Outcome r = Keys({"rotate"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("new key "), std::string::npos) << r.out;
  auto rows = Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "ES256");
  EXPECT_EQ(rows[0][2], "current");
  EXPECT_EQ(rows[1][2], "next");
  EXPECT_NE(r.out.find(rows[1][0]), std::string::npos);  // rotate named the new kid
  struct stat st {};
  ASSERT_EQ(::stat(KeyFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto events = AuditEvents("key.rotated");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["kid"], rows[1][0]);
  EXPECT_EQ(events[0]["alg"], "ES256");
  EXPECT_EQ(events[0]["by"], "cli");
  EXPECT_TRUE(events[0]["activates_at"].is_number_integer());

  // A second rotation while one is pending adds nothing and names the pending key (KM-04).
  Outcome again = Keys({"rotate"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("already pending"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find(rows[1][0]), std::string::npos);
  EXPECT_EQ(Rows().size(), 2u);
  EXPECT_EQ(AuditEvents("key.rotated").size(), 1u);
  ExpectNoPrivateMaterialShown();
}

TEST_F(KeysCli, ImmediateRotationSignsAtOnce) {
  ASSERT_EQ(Keys({"rotate"}).code, 0);  // creates the first key, and a pending one
  const std::string pending = KidOfState("next");
  Outcome r = Keys({"rotate", "--immediate"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = Rows();
  ASSERT_EQ(rows.size(), 2u);  // the pending key, which never signed, is gone
  EXPECT_EQ(rows[0][2], "retired");
  EXPECT_EQ(rows[1][2], "current");
  EXPECT_NE(rows[1][0], pending);
  EXPECT_NE(r.out.find(rows[1][0]), std::string::npos);
  ExpectNoPrivateMaterialShown();
}

TEST_F(KeysCli, RevokeUnpublishesAKeyAtOnceAndReplacesASigningKey) {
  ASSERT_EQ(Keys({"rotate"}).code, 0);
  const std::string current = KidOfState("current");
  Outcome r = Keys({"revoke", current});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("revoked key " + current), std::string::npos) << r.out;
  auto rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][2], "current");
  EXPECT_NE(rows[0][0], current);
  EXPECT_EQ(Slurp(KeyFile()).find(current), std::string::npos);
  auto events = AuditEvents("key.revoked");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["kid"], current);
  EXPECT_EQ(events[0]["replacement"], rows[0][0]);

  Outcome unknown = Keys({"revoke", current});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("no key"), std::string::npos) << unknown.err;
  EXPECT_EQ(Keys({"revoke"}).code, 2);
  ExpectNoPrivateMaterialShown();
}

// A kid is base64url: one in 64 begins with '-' (and a few of those with "-h"). Each must reach the
// keyset as a kid (unknown here: exit 1), not fail as an unknown option or print help (exit 2/0).
TEST_F(KeysCli, RevokeTakesAKidThatBeginsWithADash) {
  ASSERT_EQ(Keys({"rotate"}).code, 0);
  const auto before = Rows();
  for (const char* kid : {"-abc", "--abc", "-h_x", "-_"}) {
    Outcome r = Keys({"revoke", kid});
    EXPECT_EQ(r.code, 1) << kid << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("no key ") + kid), std::string::npos) << r.err;
  }
  Outcome after_dashes = Tessera({"keys", "revoke", "--data", Data(), "--", "-abc"});
  EXPECT_EQ(after_dashes.code, 1) << after_dashes.err;
  EXPECT_EQ(Keys({"revoke", "-abc", "-def"}).code, 2);
  EXPECT_EQ(Keys({"revoke", "--unknown-option", "kid"}).code, 2);
  EXPECT_EQ(Keys({"revoke", "--help"}).code, 0);
  EXPECT_EQ(Rows(), before);
}

TEST_F(KeysCli, RevokeOnAFreshDataDirIsDenied) {
  EXPECT_EQ(Keys({"revoke", "some-kid"}).code, 1);
  EXPECT_FALSE(fs::exists(KeyFile()));
}

TEST_F(KeysCli, CorruptOrExposedKeyFileIsAConfigurationErrorAndLeftAlone) {
  ASSERT_EQ(Keys({"rotate"}).code, 0);
  const std::string good = Slurp(KeyFile());
  {
    std::ofstream out(KeyFile(), std::ios::trunc);
    out << good.substr(0, good.size() - 10);
  }
  EXPECT_EQ(Keys({"list"}).code, 2);
  EXPECT_EQ(Keys({"rotate"}).code, 2);
  EXPECT_EQ(Slurp(KeyFile()), good.substr(0, good.size() - 10));

  {
    std::ofstream out(KeyFile(), std::ios::trunc);
    out << good;
  }
  ASSERT_EQ(::chmod(KeyFile().c_str(), 0644), 0);
  Outcome r = Keys({"list"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
}

TEST_F(KeysCli, NewKeysFollowTokenAlg) {
  const std::string config = Write("tessera.toml", "[token]\nalg = \"EdDSA\"\n");
  Outcome r = Keys({"rotate", "--config", config});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(EdDSA)"), std::string::npos) << r.out;
  for (const auto& row : Rows()) EXPECT_EQ(row[1], "EdDSA");
  ExpectNoPrivateMaterialShown();
}

// With token.keyset_secret_file the keyset lives in Redis: `keys` run against two data
// directories that share nothing but the Redis see one keyset (a new instance needs no copied
// files), the second rotation finds the first pending, and no key file is written.
TEST_F(KeysCli, AKeysetInRedisIsOneKeysetForDataDirectoriesThatShareNothing) {
  testing::RedisServer redis;
  const std::string secret = Write("keyset.secret", std::string(48, 'k'));
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  const std::string config =
      Write("redis.toml", "[session]\nstore = \"" + redis.url() + "\"\n[token]\nkeyset_secret_file = \"" +
                              secret + "\"\n");
  auto keys = [&](const std::string& data, std::vector<std::string> args) {
    args.insert(args.begin(), "keys");
    for (const std::string& a : {std::string("--config"), config, std::string("--data"), data}) {
      args.push_back(a);
    }
    return Tessera(args);
  };
  const std::string one = (dir_ / "one").string(), two = (dir_ / "two").string();
  Outcome first = keys(one, {"rotate"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find("new key"), std::string::npos) << first.out;
  Outcome second = keys(two, {"rotate"});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.out.find("already pending"), std::string::npos) << second.out;
  Outcome a = keys(one, {"list"}), b = keys(two, {"list"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 3) << a.out;  // header, current, next
  EXPECT_FALSE(fs::exists(dir_ / "one" / "signing-keys.json"));
  EXPECT_FALSE(fs::exists(dir_ / "two" / "signing-keys.json"));
  // The secret is required where the keys are: without a Redis session store it is refused.
  const std::string bad = Write("bad.toml", "[token]\nkeyset_secret_file = \"" + secret + "\"\n");
  Outcome refused = Tessera({"keys", "list", "--config", bad, "--data", one});
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("keyset_secret_file"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace tessera
