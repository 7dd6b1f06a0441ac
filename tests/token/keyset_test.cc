#include "tessera/token/keyset.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tessera/jose/jwt.h"

namespace tessera::token {
namespace {

namespace fs = std::filesystem;
using jose::Alg;
using nlohmann::json;

constexpr int64_t kT0 = 1800000000;
constexpr int64_t kTtl = 900;
constexpr int64_t kLeeway = 60;
constexpr int64_t kLead = 300;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> PublishedKids(const Keyset& ks, int64_t now) {
  std::set<std::string> kids;
  for (const auto& k : ks.Published(now)->jwks->keys()) kids.insert(k.kid());
  return kids;
}

class KeysetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tessera-keyset-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.access_ttl_seconds = kTtl;
    options_.leeway_seconds = kLeeway;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Keyset> Open(int64_t now = kT0) {
    auto ks = Keyset::LoadOrCreate(dir_, options_, now);
    EXPECT_TRUE(ks) << ks.error().ToString();
    return ks ? std::move(*ks) : nullptr;
  }

  fs::path File() const { return dir_ / std::string(Keyset::kFileName); }

  mode_t ModeOf(const fs::path& p) const {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
  KeysetOptions options_;
};

TEST_F(KeysetTest, FirstStartCreatesOneCurrentKeyOwnerOnly) {
  const mode_t old = ::umask(0);  // a careless umask must not widen the key file
  auto ks = Open();
  ::umask(old);
  ASSERT_TRUE(ks);
  auto list = ks->List(kT0);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, KeyState::kCurrent);
  EXPECT_EQ(list[0].alg, Alg::kES256);
  EXPECT_EQ(list[0].created_at, kT0);
  EXPECT_EQ(list[0].activates_at, kT0);  // no token exists yet: it signs at once
  EXPECT_EQ(list[0].retired_at, 0);
  EXPECT_EQ(list[0].expires_at, 0);
  EXPECT_EQ(ks->Current(kT0)->record.kid(), list[0].kid);
  EXPECT_EQ(ks->Current(kT0)->record.kid(), ks->Current(kT0)->record.key.Thumbprint());
  EXPECT_EQ(PublishedKids(*ks, kT0), std::set<std::string>{list[0].kid});
  EXPECT_EQ(ModeOf(File()), 0600u);
  EXPECT_EQ(ModeOf(dir_ / std::string(Keyset::kLockName)), 0600u);
  EXPECT_FALSE(fs::exists(File().string() + ".tmp"));

  // A second start loads the same key instead of making another.
  auto again = Open(kT0 + 5000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Current(kT0 + 5000)->record.kid(), list[0].kid);
}

TEST_F(KeysetTest, LoadWithoutAKeysetIsNotFoundAndCreatesNothing) {
  auto ks = Keyset::Load(dir_, options_);
  ASSERT_FALSE(ks);
  EXPECT_EQ(ks.error().code(), Code::kNotFound);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(KeysetTest, RotationPublishesBeforeSigningAndUnpublishesAfterTheLastTokenExpired) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string old_kid = ks->Current(kT0)->record.kid();
  const int64_t t = kT0 + 100;
  auto r = ks->Rotate(t, {.publish_lead_seconds = kLead});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->created);
  const std::string new_kid = r->key.kid();
  EXPECT_NE(new_kid, old_kid);
  EXPECT_EQ(r->key.created_at, t);
  EXPECT_EQ(r->key.activates_at, t + kLead);

  // Published at once, signing only after the lead.
  EXPECT_EQ(PublishedKids(*ks, t), (std::set<std::string>{old_kid, new_kid}));
  EXPECT_EQ(ks->Current(t)->record.kid(), old_kid);
  EXPECT_EQ(ks->Current(t + kLead - 1)->record.kid(), old_kid);
  EXPECT_EQ(ks->Current(t + kLead)->record.kid(), new_kid);
  auto list = ks->List(t);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].state, KeyState::kCurrent);
  EXPECT_EQ(list[0].retired_at, t + kLead);
  EXPECT_EQ(list[1].state, KeyState::kNext);

  // The old key stays published until its last token has expired, leeway included.
  const int64_t retired = t + kLead;
  const int64_t gone = retired + kTtl + kLeeway;
  list = ks->List(retired);
  EXPECT_EQ(list[0].state, KeyState::kRetired);
  EXPECT_EQ(list[0].expires_at, gone);
  EXPECT_EQ(list[1].state, KeyState::kCurrent);
  EXPECT_EQ(PublishedKids(*ks, gone - 1), (std::set<std::string>{old_kid, new_kid}));
  EXPECT_EQ(ks->Published(gone - 1)->valid_until, gone);
  EXPECT_EQ(PublishedKids(*ks, gone), std::set<std::string>{new_kid});
  EXPECT_EQ(ks->List(gone)[0].state, KeyState::kExpired);

  // An expired key leaves the file with the next write.
  EXPECT_NE(Slurp(File()).find(old_kid), std::string::npos);
  ASSERT_TRUE(ks->Rotate(gone, {.publish_lead_seconds = kLead}));
  EXPECT_EQ(Slurp(File()).find(old_kid), std::string::npos);
  EXPECT_EQ(ks->List(gone).size(), 2u);
}

TEST_F(KeysetTest, PendingRotationIsNotDuplicated) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  auto first = ks->Rotate(kT0 + 10);
  ASSERT_TRUE(first);
  auto second = ks->Rotate(kT0 + 20);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->key.kid(), first->key.kid());
  EXPECT_EQ(second->key.activates_at, first->key.activates_at);  // no postponement either
  EXPECT_EQ(ks->List(kT0 + 20).size(), 2u);
  // Once it signs, the next rotation makes a new key.
  auto third = ks->Rotate(first->key.activates_at);
  ASSERT_TRUE(third);
  EXPECT_TRUE(third->created);
  EXPECT_EQ(ks->List(first->key.activates_at).size(), 3u);
}

TEST_F(KeysetTest, ImmediateRotationSignsAtOnceAndKeepsTheOldKeyPublished) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string old_kid = ks->Current(kT0)->record.kid();
  const int64_t t = kT0 + 10;
  auto r = ks->Rotate(t, {.immediate = true});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->key.activates_at, t);
  EXPECT_EQ(ks->Current(t)->record.kid(), r->key.kid());
  auto list = ks->List(t);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].state, KeyState::kRetired);
  EXPECT_EQ(list[0].retired_at, t);
  EXPECT_TRUE(PublishedKids(*ks, t + kTtl + kLeeway - 1).count(old_kid));
  EXPECT_FALSE(PublishedKids(*ks, t + kTtl + kLeeway).count(old_kid));
}

TEST_F(KeysetTest, ImmediateRotationInTheSecondOfCreationStillTakesOver) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  auto r = ks->Rotate(kT0, {.immediate = true});
  ASSERT_TRUE(r);
  EXPECT_EQ(ks->Current(kT0)->record.kid(), r->key.kid());
}

TEST_F(KeysetTest, ImmediateRotationDiscardsAPendingKey) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  auto pending = ks->Rotate(kT0 + 10);
  ASSERT_TRUE(pending);
  auto now = ks->Rotate(kT0 + 20, {.immediate = true});
  ASSERT_TRUE(now);
  EXPECT_TRUE(now->created);
  EXPECT_NE(now->key.kid(), pending->key.kid());
  EXPECT_FALSE(PublishedKids(*ks, kT0 + 20).count(pending->key.kid()));
  // The pending key would otherwise have taken over later.
  EXPECT_EQ(ks->Current(kT0 + 10000)->record.kid(), now->key.kid());
  EXPECT_EQ(ks->List(kT0 + 20).size(), 2u);
}

TEST_F(KeysetTest, RevokeCurrentKeyUnpublishesItAndReplacesItAtOnce) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string old_kid = ks->Current(kT0)->record.kid();
  const int64_t t = kT0 + 50;
  auto r = ks->Revoke(old_kid, t);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->revoked.kid(), old_kid);
  ASSERT_TRUE(r->replacement);
  EXPECT_EQ(r->replacement->activates_at, t);
  EXPECT_EQ(ks->Current(t)->record.kid(), r->replacement->kid());
  EXPECT_EQ(PublishedKids(*ks, t), std::set<std::string>{r->replacement->kid()});
  // The private key is gone from the disk, not merely hidden.
  EXPECT_EQ(Slurp(File()).find(old_kid), std::string::npos);
  EXPECT_EQ(ModeOf(File()), 0600u);
}

TEST_F(KeysetTest, RevokeCurrentKeyAlsoDropsAPendingKey) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string old_kid = ks->Current(kT0)->record.kid();
  auto pending = ks->Rotate(kT0 + 10);
  ASSERT_TRUE(pending);
  auto r = ks->Revoke(old_kid, kT0 + 20);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->replacement);
  EXPECT_EQ(PublishedKids(*ks, kT0 + 20), std::set<std::string>{r->replacement->kid()});
  EXPECT_EQ(ks->Current(kT0 + 10000)->record.kid(), r->replacement->kid());
}

TEST_F(KeysetTest, RevokeRetiredKeyUnpublishesItAtOnceAndKeepsTheCurrentOne) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string old_kid = ks->Current(kT0)->record.kid();
  auto r = ks->Rotate(kT0 + 10, {.immediate = true});
  ASSERT_TRUE(r);
  ASSERT_TRUE(PublishedKids(*ks, kT0 + 20).count(old_kid));
  auto gone = ks->Revoke(old_kid, kT0 + 20);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->replacement);
  EXPECT_EQ(PublishedKids(*ks, kT0 + 20), std::set<std::string>{r->key.kid()});
  EXPECT_EQ(ks->Current(kT0 + 20)->record.kid(), r->key.kid());
  EXPECT_EQ(Slurp(File()).find(old_kid), std::string::npos);
}

TEST_F(KeysetTest, RevokePendingKeyLeavesTheCurrentKeySigning) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string cur = ks->Current(kT0)->record.kid();
  auto pending = ks->Rotate(kT0 + 10);
  ASSERT_TRUE(pending);
  auto r = ks->Revoke(pending->key.kid(), kT0 + 20);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->replacement);
  auto list = ks->List(kT0 + 20);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].kid, cur);
  EXPECT_EQ(list[0].retired_at, 0);  // no successor scheduled any more
  EXPECT_EQ(ks->Current(kT0 + 100000)->record.kid(), cur);
  // And a new rotation can be made.
  auto again = ks->Rotate(kT0 + 30);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->created);
}

TEST_F(KeysetTest, RevokeUnknownKidIsNotFoundAndWritesNothing) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string before = Slurp(File());
  auto r = ks->Revoke("no-such-kid", kT0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(Slurp(File()), before);
}

TEST_F(KeysetTest, ConcurrentRotationsByManyInstancesMakeExactlyOneKey) {
  auto setup = Open();
  ASSERT_TRUE(setup);
  constexpr int kInstances = 6;
  std::vector<std::unique_ptr<Keyset>> instances;
  for (int i = 0; i < kInstances; ++i) instances.push_back(Open());
  // Three rounds, as SuperTokens' AccessTokenSigningKeyRaceConditionTest does.
  int64_t now = kT0 + 10;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::optional<Result<RotateResult>>> results(kInstances);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kInstances; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kInstances) std::this_thread::yield();
        results[i].emplace(instances[i]->Rotate(now));
      });
    }
    for (auto& t : threads) t.join();
    int created = 0;
    std::set<std::string> kids;
    for (auto& r : results) {
      ASSERT_TRUE(r && *r) << round;
      created += (*r)->created;
      kids.insert((*r)->key.kid());
    }
    EXPECT_EQ(created, 1) << round;
    EXPECT_EQ(kids.size(), 1u) << round;
    // Every instance signs with the same key and serves the same bytes (KM-04).
    now += kLead;
    for (auto& ks : instances) ASSERT_TRUE(ks->ReloadIfChanged());
    for (auto& ks : instances) {
      EXPECT_EQ(ks->Current(now)->record.kid(), *kids.begin());
      EXPECT_EQ(ks->Published(now)->json, instances[0]->Published(now)->json);
    }
  }
  EXPECT_EQ(setup->List(now).size(), 1u);  // setup has not reloaded: its view is older
  ASSERT_TRUE(setup->ReloadIfChanged());
  EXPECT_EQ(setup->List(now).size(), 4u);
}

// Separate processes, each with its own Keyset, released at once through a pipe. Each reports
// "<created> <kid>\n" on its own pipe.
std::vector<std::string> InChildren(int n, const std::function<std::string()>& work) {
  int go[2];
  if (::pipe(go) != 0) return {};
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < n; ++i) {
    int out[2];
    if (::pipe(out) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      ::close(out[0]);
      char c;
      (void)!::read(go[0], &c, 1);  // returns at EOF, when the parent closes its end
      const std::string line = work();
      (void)!::write(out[1], line.data(), line.size());
      ::_exit(0);
    }
    ::close(out[1]);
    children.emplace_back(pid, out[0]);
  }
  ::close(go[0]);
  ::close(go[1]);
  std::vector<std::string> lines;
  for (auto [pid, fd] : children) {
    std::string line;
    char buf[256];
    for (ssize_t k; (k = ::read(fd, buf, sizeof buf)) > 0;)
      line.append(buf, static_cast<size_t>(k));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    lines.push_back(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? line : "crashed");
  }
  return lines;
}

TEST_F(KeysetTest, ConcurrentProcessesCreateOneKeysetAndRotateOnce) {
  constexpr int kProcesses = 4;
  const std::string dir = dir_;
  const KeysetOptions options = options_;
  // First start of several servers at once: one first key.
  auto started = InChildren(kProcesses, [&] {
    auto ks = Keyset::LoadOrCreate(dir, options, kT0);
    return ks ? (*ks)->Current(kT0)->record.kid() : "error " + ks.error().ToString();
  });
  ASSERT_EQ(started.size(), size_t{kProcesses});
  EXPECT_EQ(std::set<std::string>(started.begin(), started.end()).size(), 1u) << started[0];
  // Rotation by several processes at once: one new key.
  auto rotated = InChildren(kProcesses, [&] {
    auto ks = Keyset::LoadOrCreate(dir, options, kT0 + 10);
    if (!ks) return "error " + ks.error().ToString();
    auto r = (*ks)->Rotate(kT0 + 10);
    return r ? std::to_string(r->created) + " " + r->key.kid() : "error " + r.error().ToString();
  });
  ASSERT_EQ(rotated.size(), size_t{kProcesses});
  std::sort(rotated.begin(), rotated.end());
  EXPECT_EQ(rotated[0].substr(0, 2), "0 ") << rotated[0];
  EXPECT_EQ(rotated[kProcesses - 1].substr(0, 2), "1 ") << rotated[kProcesses - 1];
  EXPECT_EQ(rotated[kProcesses - 2].substr(0, 2), "0 ") << rotated[kProcesses - 2];
  std::set<std::string> kids;
  for (const auto& line : rotated) kids.insert(line.substr(2));
  EXPECT_EQ(kids.size(), 1u);
  auto ks = Open();
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->List(kT0 + 10).size(), 2u);
}

// Every kind of corruption is covered in keyset_format_test.cc; here, that the keyset reports it
// and leaves the file as it found it.
TEST_F(KeysetTest, CorruptFileIsAnErrorAndIsLeftUntouched) {
  std::string valid;
  {
    auto ks = Open();
    ASSERT_TRUE(ks);
    ASSERT_TRUE(ks->Rotate(kT0 + 10));
    valid = Slurp(File());
  }
  json doc = json::parse(valid);
  const std::string private_d = doc["keys"][0]["jwk"]["d"].get<std::string>();
  doc["keys"][0]["jwk"]["kid"] = "mine";
  for (const std::string& text : {std::string(), valid.substr(0, valid.size() / 2), doc.dump()}) {
    {
      std::ofstream out(File(), std::ios::trunc);
      out << text;
    }
    auto ks = Keyset::LoadOrCreate(dir_, options_, kT0 + 20);
    ASSERT_FALSE(ks) << text;
    EXPECT_EQ(ks.error().code(), Code::kInvalidArgument) << ks.error().ToString();
    EXPECT_NE(ks.error().message().find(Keyset::kFileName), std::string::npos);
    EXPECT_EQ(ks.error().message().find(private_d), std::string::npos);
    EXPECT_EQ(Slurp(File()), text);  // never repaired by new keys
    EXPECT_EQ(ModeOf(File()), 0600u);
  }
}

TEST_F(KeysetTest, KeyFileOthersCanReadIsRefused) {
  ASSERT_TRUE(Open());
  const std::string before = Slurp(File());
  fs::permissions(File(), fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  auto ks = Keyset::LoadOrCreate(dir_, options_, kT0);
  ASSERT_FALSE(ks);
  EXPECT_EQ(ks.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(Slurp(File()), before);
}

TEST_F(KeysetTest, HmacKeysVerifyInProcessButAreNeverPublished) {
  for (Alg alg : {Alg::kHS256, Alg::kHS384, Alg::kHS512}) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.alg = alg;
    auto ks = Keyset::LoadOrCreate(dir_, options_, kT0);
    ASSERT_TRUE(ks) << ks.error().ToString();
    auto published = (*ks)->Published(kT0);
    EXPECT_EQ(published->json, R"({"keys":[]})") << "an HMAC secret must never be published";
    std::string token;
    ASSERT_TRUE((*ks)->Current(kT0)->signer.SignTrusted(R"({"exp":2000000000})", &token).ok());
    jose::JwtVerifier v(published->jwks, {});
    EXPECT_TRUE(v.Verify(token, kT0));
    // Reloaded from the file, the secret is the same.
    auto again = Keyset::Load(dir_, options_);
    ASSERT_TRUE(again);
    EXPECT_TRUE(jose::JwtVerifier((*again)->Published(kT0)->jwks, {}).Verify(token, kT0));
  }
}

TEST_F(KeysetTest, HmacAndAsymmetricKeysNeverShareAKeyset) {
  options_.alg = Alg::kHS256;
  auto ks = Keyset::LoadOrCreate(dir_, options_, kT0);
  ASSERT_TRUE(ks);
  const std::string before = Slurp(File());
  KeysetOptions es = options_;
  es.alg = Alg::kES256;
  auto other = Keyset::Load(dir_, es);
  ASSERT_TRUE(other);
  auto rotated = (*other)->Rotate(kT0 + 10);
  ASSERT_FALSE(rotated);
  EXPECT_NE(rotated.error().message().find("cannot join a keyset of HMAC secrets"),
            std::string::npos);
  EXPECT_EQ(Slurp(File()), before);
  // Revoking the only HMAC key leaves none behind: its asymmetric replacement mixes with nothing.
  auto revoked = (*other)->Revoke((*ks)->Current(kT0)->record.kid(), kT0 + 10);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  ASSERT_TRUE(revoked->replacement);
  const auto keys = (*other)->List(kT0 + 10);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].alg, Alg::kES256);
}

TEST_F(KeysetTest, PublishedSetHasPublicMembersOnlyAndVerifiesWhatCurrentSigns) {
  for (Alg alg : {Alg::kES256, Alg::kES384, Alg::kES512, Alg::kRS256, Alg::kRS384, Alg::kRS512,
                  Alg::kPS256, Alg::kPS384, Alg::kPS512, Alg::kEdDSA}) {
    const std::string name(jose::AlgName(alg));
    fs::remove_all(dir_);
    fs::create_directory(dir_);
    options_.alg = alg;
    auto ks = Open();
    ASSERT_TRUE(ks) << name;
    ASSERT_TRUE(ks->Rotate(kT0 + 1)) << name;  // a next key is published too
    auto published = ks->Published(kT0 + 1);
    const json set = json::parse(published->json);
    ASSERT_EQ(set["keys"].size(), 2u) << name;
    for (const json& key : set["keys"]) {
      for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}) {
        EXPECT_FALSE(key.contains(member)) << name << " publishes " << member;
      }
      EXPECT_EQ(key.value("use", ""), "sig") << name;
      EXPECT_EQ(key.value("alg", ""), name);
      EXPECT_FALSE(key.value("kid", "").empty()) << name;
    }
    for (const auto& k : published->jwks->keys()) EXPECT_FALSE(k.is_private()) << name;

    auto current = ks->Current(kT0 + 1);
    EXPECT_EQ(current->record.alg, alg);
    std::string token;
    ASSERT_TRUE(
        current->signer.SignTrusted(R"({"sub":"alice","aud":"tessera","exp":1800001000})", &token)
            .ok())
        << name;
    jose::JwtVerifier verifier(published->jwks, {.audiences = {"tessera"}, .typ = "at+jwt"});
    auto claims = verifier.Verify(token, kT0 + 2);
    ASSERT_TRUE(claims) << name << claims.error().ToString();
    EXPECT_EQ(claims->kid, current->record.kid());
    EXPECT_EQ(claims->alg, alg);
  }
}

TEST_F(KeysetTest, TokensOfARetiredKeyVerifyUntilItIsUnpublished) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  std::string old_token;
  ASSERT_TRUE(ks->Current(kT0)->signer.SignTrusted(R"({"exp":1900000000})", &old_token).ok());
  auto r = ks->Rotate(kT0, {.publish_lead_seconds = kLead});
  ASSERT_TRUE(r);
  const int64_t switched = kT0 + kLead;
  std::string new_token;
  ASSERT_TRUE(ks->Current(switched)->signer.SignTrusted(R"({"exp":1900000000})", &new_token).ok());
  auto verify = [&](const std::string& token, int64_t now) {
    jose::JwtVerifier v(ks->Published(now)->jwks, {});
    return v.Verify(token, now).status();
  };
  EXPECT_TRUE(verify(old_token, switched).ok());
  EXPECT_TRUE(verify(new_token, switched).ok());
  const int64_t gone = switched + kTtl + kLeeway;
  EXPECT_TRUE(verify(old_token, gone - 1).ok());
  EXPECT_EQ(verify(old_token, gone).reason(), Reason::kNoKey);
  EXPECT_TRUE(verify(new_token, gone).ok());
}

TEST_F(KeysetTest, ChangingTheAlgorithmTakesEffectWithTheNextRotation) {
  ASSERT_TRUE(Open());
  options_.alg = Alg::kEdDSA;
  auto ks = Open();
  ASSERT_TRUE(ks);
  EXPECT_EQ(ks->Current(kT0)->record.alg, Alg::kES256);
  auto r = ks->Rotate(kT0, {.immediate = true});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->key.alg, Alg::kEdDSA);
  EXPECT_EQ(ks->Published(kT0)->jwks->keys().size(), 2u);  // both algorithms, both public
}

TEST_F(KeysetTest, ReloadPicksUpAChangeMadeByAnotherInstance) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  auto unchanged = a->ReloadIfChanged();
  ASSERT_TRUE(unchanged);
  EXPECT_FALSE(*unchanged);

  auto r = b->Rotate(kT0 + 10);
  ASSERT_TRUE(r);
  EXPECT_FALSE(PublishedKids(*a, kT0 + 10).count(r->key.kid()));
  auto reloaded = a->ReloadIfChanged();
  ASSERT_TRUE(reloaded);
  EXPECT_TRUE(*reloaded);
  EXPECT_TRUE(PublishedKids(*a, kT0 + 10).count(r->key.kid()));
  EXPECT_EQ(a->Published(kT0 + 10)->json, b->Published(kT0 + 10)->json);
  EXPECT_FALSE(*a->ReloadIfChanged());
  EXPECT_FALSE(*b->ReloadIfChanged());  // its own write needs no reload

  // An emergency revocation elsewhere reaches this instance with its next reload.
  const std::string victim = a->Current(kT0 + 10)->record.kid();
  auto revoked = b->Revoke(victim, kT0 + 20);
  ASSERT_TRUE(revoked && revoked->replacement);
  ASSERT_TRUE(*a->ReloadIfChanged());
  EXPECT_FALSE(PublishedKids(*a, kT0 + 20).count(victim));
  EXPECT_EQ(a->Current(kT0 + 20)->record.kid(), revoked->replacement->kid());
}

TEST_F(KeysetTest, ReloadKeepsTheKeysItHasWhenTheFileTurnsBad) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  const std::string kid = ks->Current(kT0)->record.kid();
  fs::remove(File());
  {
    std::ofstream out(File());
    out << "{}";
  }
  fs::permissions(File(), fs::perms::owner_read | fs::perms::owner_write);
  auto r = ks->ReloadIfChanged();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ks->Current(kT0)->record.kid(), kid);
  EXPECT_EQ(PublishedKids(*ks, kT0), std::set<std::string>{kid});
  // A rotation never writes over a corrupt file either.
  EXPECT_FALSE(ks->Rotate(kT0 + 1));
  EXPECT_EQ(Slurp(File()), "{}");
  fs::remove(File());
  EXPECT_FALSE(ks->ReloadIfChanged());
  EXPECT_FALSE(ks->Rotate(kT0 + 1));  // nor recreates a keyset that vanished
  EXPECT_FALSE(fs::exists(File()));
  EXPECT_EQ(ks->Current(kT0)->record.kid(), kid);
}

TEST_F(KeysetTest, ReadsAreSafeWhileAnotherThreadRotates) {
  auto ks = Open();
  ASSERT_TRUE(ks);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      auto cur = ks->Current(kT0 + 1000000);
      auto pub = ks->Published(kT0 + 1000000);
      ASSERT_TRUE(cur && pub);
      ASSERT_TRUE(pub->jwks->keys().size() >= 1);
    }
  });
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ks->Rotate(kT0 + 1000 * i, {.immediate = true}));
  stop = true;
  reader.join();
}

}  // namespace
}  // namespace tessera::token
