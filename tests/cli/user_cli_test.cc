// `tessera user` and `tessera sessions` on a real data directory, checked against the SQLite file
// the server would read.
#include <argon2.h>
#include <crypt.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cli/cli_harness.h"
#include "crypto/password.h"
#include "tessera/session/session_manager.h"
#include "tessera/store/sqlite.h"

namespace tessera {
namespace {

class UserCli : public Cli {
 protected:
  std::string Data() const { return dir_ / "data"; }
  Outcome User(std::vector<std::string> args, const std::string& password = "") {
    args.insert(args.begin(), "user");
    args.push_back("--data");
    args.push_back(Data());
    return Tessera(args, password);
  }
  Outcome Sessions(std::vector<std::string> args) {
    args.insert(args.begin(), "sessions");
    args.push_back("--data");
    args.push_back(Data());
    return Tessera(args);
  }
  std::unique_ptr<user::UserStore> Users() {
    return std::move(store::OpenSqliteUserStore(Data() + "/tessera.db")).value();
  }
  // Logs the user in twice, as the server would, through the same database.
  std::vector<session::NewSession> Login(const std::string& user_id, int n) {
    auto store = std::move(store::OpenSqliteSessionStore(Data() + "/tessera.db")).value();
    session::SessionManager m(store.get(), {}, &SystemClock::Instance());
    std::vector<session::NewSession> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(*m.Create(user_id, session::SessionKind::kCookie, {"curl/8", "127.0.0.1"}));
    }
    return out;
  }
  size_t SessionCount(const std::string& user_id) {
    auto store = std::move(store::OpenSqliteSessionStore(Data() + "/tessera.db")).value();
    return store->ListByUser(user_id)->size();
  }
};

TEST_F(UserCli, AddStoresACanonicalNameAndAnArgon2idHash) {
  Outcome r = User({"add", "Alice", "--role", "admin", "--role", "ops", "--password-stdin"},
                   "correct horse battery\n");
  ASSERT_EQ(r.code, 0) << r.err;
  auto u = Users()->FindByName("alice");
  ASSERT_TRUE(u && u->has_value());
  EXPECT_EQ((*u)->roles, (std::vector<std::string>{"admin", "ops"}));
  EXPECT_EQ((*u)->password_hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u)
      << (*u)->password_hash;
  EXPECT_EQ(r.out.find("correct horse"), std::string::npos);
  Outcome list = User({"list"});
  ASSERT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("alice"), std::string::npos);
  EXPECT_NE(list.out.find("admin,ops"), std::string::npos);
  EXPECT_EQ(list.out.find("argon2"), std::string::npos);  // hashes are never printed
}

TEST_F(UserCli, NamesAreUniqueWhateverTheCase) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  Outcome dup = User({"add", "ALICE", "--password-stdin"}, "correct horse battery\n");
  EXPECT_EQ(dup.code, 1);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos);
}

TEST_F(UserCli, BadInputIsAUsageError) {
  EXPECT_EQ(User({"add", "bob", "--password-stdin"}, "short\n").code, 2);
  EXPECT_EQ(User({"add", "bob", "--password-stdin"}, std::string(1025, 'x') + "\n").code, 2);
  EXPECT_EQ(User({"add", " bob", "--password-stdin"}, "correct horse battery\n").code, 2);
  EXPECT_EQ(User({"add", "bob", "--role", "Admin!", "--password-stdin"}, "long enough pw\n").code,
            2);
  // No terminal and no --password-stdin: say how to pass it, do not read stdin silently.
  Outcome no_tty = Tessera({"user", "add", "bob", "--data", Data()});
  EXPECT_EQ(no_tty.code, 2);
  EXPECT_NE(no_tty.err.find("--password-stdin"), std::string::npos);
  EXPECT_FALSE(Users()->FindByName("bob")->has_value());
}

TEST_F(UserCli, ConfigurationErrorsNameTheKey) {
  const std::string toml = Write("bad.toml", "[session]\nidle_timeout = \"5x\"\n");
  Outcome r = Tessera({"user", "list", "--config", toml, "--data", Data()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("session.idle_timeout"), std::string::npos) << r.err;
}

TEST_F(UserCli, SetPasswordReplacesTheHashAndEndsSessions) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  const user::User before = Users()->FindByName("alice")->value();
  Login(before.id, 2);
  ASSERT_EQ(SessionCount(before.id), 2u);
  Outcome r = User({"set-password", "alice", "--password-stdin"}, "a brand new password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ended 2 session(s)"), std::string::npos) << r.out;
  EXPECT_NE(Users()->FindByName("alice")->value().password_hash, before.password_hash);
  EXPECT_EQ(SessionCount(before.id), 0u);
  EXPECT_EQ(User({"set-password", "nobody", "--password-stdin"}, "a brand new password\n").code, 1);
}

TEST_F(UserCli, SetRolesReplacesThemAndClearingIsExplicit) {
  ASSERT_EQ(User({"add", "alice", "--role", "admin", "--password-stdin"}, "correct horse battery\n")
                .code,
            0);
  const user::User before = Users()->FindByName("alice")->value();
  Login(before.id, 1);
  Outcome r = User({"set-roles", "ALICE", "--role", "ops", "--role", "billing"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("roles of alice: ops,billing"), std::string::npos) << r.out;
  EXPECT_EQ(Users()->FindByName("alice")->value().roles,
            (std::vector<std::string>{"ops", "billing"}));
  EXPECT_EQ(SessionCount(before.id), 1u);  // a role change ends no session
  // No role given is a usage error, not "remove them all"; --none says so.
  Outcome nothing = User({"set-roles", "alice"});
  EXPECT_EQ(nothing.code, 2);
  EXPECT_NE(nothing.err.find("--none"), std::string::npos) << nothing.err;
  EXPECT_EQ(User({"set-roles", "alice", "--none", "--role", "ops"}).code, 2);
  EXPECT_EQ(User({"set-roles", "alice", "--role", "Bad Role"}).code, 2);
  EXPECT_EQ(Users()->FindByName("alice")->value().roles.size(), 2u);
  ASSERT_EQ(User({"set-roles", "alice", "--none"}).code, 0);
  EXPECT_TRUE(Users()->FindByName("alice")->value().roles.empty());
  EXPECT_EQ(User({"set-roles", "nobody", "--role", "ops"}).code, 1);
}

TEST_F(UserCli, DisableEndsSessionsAndEnableAllowsSignInAgain) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  ASSERT_EQ(User({"add", "bob", "--password-stdin"}, "correct horse battery\n").code, 0);
  const user::User alice = Users()->FindByName("alice")->value();
  const user::User bob = Users()->FindByName("bob")->value();
  Login(alice.id, 2);
  Login(bob.id, 1);
  Outcome r = User({"disable", "alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("disabled alice and ended 2 session(s)"), std::string::npos) << r.out;
  EXPECT_TRUE(Users()->FindByName("alice")->value().disabled);
  EXPECT_EQ(SessionCount(alice.id), 0u);
  EXPECT_EQ(SessionCount(bob.id), 1u);
  Outcome list = User({"list"});
  ASSERT_EQ(list.code, 0);
  std::istringstream lines(list.out);
  std::map<std::string, std::string> state;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string name, id, created, st;
    f >> name >> id >> created >> st;
    state[name] = st;
  }
  EXPECT_EQ(state["alice"], "disabled") << list.out;
  EXPECT_EQ(state["bob"], "active") << list.out;
  Outcome enabled = User({"enable", "alice"});
  ASSERT_EQ(enabled.code, 0) << enabled.err;
  EXPECT_NE(enabled.out.find("enabled alice"), std::string::npos);
  EXPECT_FALSE(Users()->FindByName("alice")->value().disabled);
  EXPECT_EQ(User({"disable", "nobody"}).code, 1);
  // The audit trail names who did it.
  std::ifstream audit(Data() + "/audit.log");
  std::string all((std::istreambuf_iterator<char>(audit)), {});
  EXPECT_NE(all.find("\"admin.user_disabled\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"admin.user_enabled\""), std::string::npos) << all;
}

// Someone who lost both the authenticator and the recovery codes: an operator removes the second
// factor, and every session of the account ends (whoever signed in with it may hold the phone).
TEST_F(UserCli, ResetMfaRemovesTheFactorAndEndsSessions) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  const user::User alice = Users()->FindByName("alice")->value();
  ASSERT_TRUE(Users()
                  ->PutTotp(alice.id, user::Totp{.sealed_secret = "c2VhbGVk",
                                                 .confirmed = true,
                                                 .last_step = 1,
                                                 .recovery_hashes = {"h1"},
                                                 .created_at = 1})
                  .ok());
  Login(alice.id, 2);
  Outcome r = User({"reset-mfa", "alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("removed the second factor of alice and ended 2 session(s)"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(Users()->GetTotp(alice.id)->has_value());
  EXPECT_EQ(SessionCount(alice.id), 0u);
  Outcome again = User({"reset-mfa", "ALICE"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("no second factor on alice"), std::string::npos) << again.out;
  EXPECT_EQ(User({"reset-mfa", "nobody"}).code, 1);
  std::ifstream audit(Data() + "/audit.log");
  std::string all((std::istreambuf_iterator<char>(audit)), {});
  EXPECT_NE(all.find("\"admin.mfa_reset\""), std::string::npos) << all;
  EXPECT_EQ(all.find("c2VhbGVk"), std::string::npos) << all;
}

// NIST SP 800-63B rev. 4 §3.1.1.2 (docs/security.md PW-05): add and set-password screen the new
// password against the common-password list, the account's name, the service name and trivial
// patterns; the message says which, never the password, and nothing is stored or ended.
TEST_F(UserCli, AddAndSetPasswordScreenTheNewPassword) {
  const struct {
    std::string password;
    std::string reason;
  } refused[] = {
      {"PassWord1234", "this password is in a list of common or breached passwords"},
      {"Trustno1", "this password is in a list of common or breached passwords"},
      {"I am Alice in wonderland", "the password must not contain the username"},
      {"ecila spelled backwards", "the password must not contain the username"},
      {"my Tessera login, 2031", "the password must not contain the service name"},
      {"aaaaaaaaaaaa", "the password is a repetition or sequence"},
      {"123456789012", "the password is a repetition or sequence"},
      {"qwertyuiopasdf", "the password is a repetition or sequence"},
  };
  for (const auto& c : refused) {
    Outcome r = User({"add", "Alice", "--password-stdin"}, c.password + "\n");
    EXPECT_EQ(r.code, 2) << c.password;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(c.password), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find(c.password), std::string::npos) << r.out;
  }
  EXPECT_FALSE(Users()->FindByName("alice")->has_value());

  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  const user::User before = Users()->FindByName("alice")->value();
  Login(before.id, 1);
  for (const auto& c : refused) {
    Outcome r = User({"set-password", "ALICE", "--password-stdin"}, c.password + "\n");
    EXPECT_EQ(r.code, 2) << c.password;
    EXPECT_NE(r.err.find(c.reason), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(c.password), std::string::npos) << r.err;
  }
  EXPECT_EQ(Users()->FindByName("alice")->value().password_hash, before.password_hash);
  EXPECT_EQ(SessionCount(before.id), 1u);
  // The username rule is per account: what alice may not use, bob may.
  EXPECT_EQ(User({"add", "bob", "--password-stdin"}, "I am Alice in wonderland\n").code, 0);
}

TEST_F(UserCli, RemoveEndsSessionsToo) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  const std::string id = Users()->FindByName("alice")->value().id;
  Login(id, 3);
  Outcome r = User({"remove", "Alice"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(Users()->FindByName("alice")->has_value());
  EXPECT_EQ(SessionCount(id), 0u);
  EXPECT_EQ(User({"remove", "alice"}).code, 1);
}

TEST_F(UserCli, SessionsListShowsHandlesNeverSecrets) {
  ASSERT_EQ(User({"add", "alice", "--password-stdin"}, "correct horse battery\n").code, 0);
  ASSERT_EQ(User({"add", "bob", "--password-stdin"}, "correct horse battery\n").code, 0);
  const std::string alice = Users()->FindByName("alice")->value().id;
  const std::string bob = Users()->FindByName("bob")->value().id;
  auto mine = Login(alice, 2);
  auto theirs = Login(bob, 1);
  Outcome all = Sessions({"list"});
  ASSERT_EQ(all.code, 0) << all.err;
  for (const auto& s : mine) {
    EXPECT_NE(all.out.find(s.record.handle), std::string::npos);
    EXPECT_EQ(all.out.find(s.secret), std::string::npos);
  }
  EXPECT_NE(all.out.find(theirs[0].record.handle), std::string::npos);
  Outcome only_bob = Sessions({"list", "--user", "bob"});
  EXPECT_EQ(only_bob.out.find(mine[0].record.handle), std::string::npos);
  EXPECT_NE(only_bob.out.find(theirs[0].record.handle), std::string::npos);
  EXPECT_NE(only_bob.out.find("curl/8"), std::string::npos);

  ASSERT_EQ(Sessions({"revoke", mine[0].record.handle}).code, 0);
  EXPECT_EQ(SessionCount(alice), 1u);
  EXPECT_EQ(Sessions({"revoke", mine[0].record.handle}).code, 1);
  EXPECT_EQ(Sessions({"revoke", mine[0].secret}).code, 1);  // a secret is not a session id
  // Session IDs are base64url: one that begins with '-' is an ID, not an unknown option.
  Outcome dashed = Sessions({"revoke", "-" + std::string(mine[1].record.handle.size() - 1, 'A')});
  EXPECT_EQ(dashed.code, 1) << dashed.err;  // well formed, and no such session
  EXPECT_EQ(dashed.err.find("not expected"), std::string::npos) << dashed.err;
  EXPECT_EQ(Sessions({"revoke"}).code, 2);
  Outcome r = Sessions({"revoke-all", "alice"});
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("revoked 1 session(s)"), std::string::npos);
  EXPECT_EQ(SessionCount(alice), 0u);
  EXPECT_EQ(SessionCount(bob), 1u);
  EXPECT_EQ(Sessions({"revoke-all", "nobody"}).code, 1);
}

// ---- tessera user import ----------------------------------------------------------------------

// Hashes made at test time with the libraries an operator's old system would have used: libargon2
// (any variant and version, tiny costs) and libxcrypt (bcrypt at cost 4).
std::string Argon2Hash(argon2_type type, uint32_t version, uint32_t p, const std::string& pw) {
  const std::string salt = "import-salt-" + std::to_string(type) + std::to_string(version);
  char encoded[256];
  const int rc = argon2_hash(/*t=*/1, /*m=*/64 * p, p, pw.data(), pw.size(), salt.data(),
                             salt.size(), nullptr, 32, encoded, sizeof encoded, type, version);
  EXPECT_EQ(rc, ARGON2_OK) << argon2_error_message(rc);
  return encoded;
}

std::string BcryptHash(const char* prefix, const std::string& pw) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(crypt_gensalt_rn(prefix, 4, nullptr, 0, setting, sizeof setting), nullptr) << prefix;
  crypt_data data{};
  const char* out = crypt_rn(pw.c_str(), setting, &data, sizeof data);
  EXPECT_NE(out, nullptr) << prefix;
  return out == nullptr ? "" : out;
}

std::string Line(const std::string& name, const std::string& hash,
                 const std::vector<std::string>& roles = {}) {
  std::string line = "{\"username\":\"" + name + "\",\"password_hash\":\"" + hash + "\"";
  if (!roles.empty()) {
    line += ",\"roles\":[";
    for (size_t i = 0; i < roles.size(); ++i) line += (i ? ",\"" : "\"") + roles[i] + "\"";
    line += "]";
  }
  return line + "}";
}

class UserImport : public UserCli {
 protected:
  crypto::PasswordHasher& Hasher() {
    static crypto::PasswordHasher* hasher =
        new crypto::PasswordHasher(std::move(crypto::PasswordHasher::Create()).value());
    return *hasher;
  }
  // No hash of `hashes`, whole or its last 16 characters (salt and checksum), is in `output`.
  void ExpectNoHashIn(const std::vector<std::string>& hashes, const std::string& output) {
    for (const auto& h : hashes) {
      ASSERT_GT(h.size(), 30u);
      const std::string tail = h.substr(h.size() - 16);
      EXPECT_EQ(output.find(tail), std::string::npos) << output;
      EXPECT_EQ(output.find(h), std::string::npos) << output;
    }
  }
  size_t UserCount() { return Users()->List()->size(); }
};

TEST_F(UserImport, ImportsArgon2AndBcryptHashesWithRoles) {
  const std::string pw = "an imported password";
  struct Case {
    std::string name, hash;
    std::vector<std::string> roles;
    bool needs_rehash;
  };
  const std::vector<Case> cases = {
      {"tessera-argon2id", *Hasher().Hash(pw), {"admin", "ops"}, false},
      {"argon2id-p2", Argon2Hash(Argon2_id, ARGON2_VERSION_13, 2, pw), {"ops"}, true},
      {"argon2i", Argon2Hash(Argon2_i, ARGON2_VERSION_13, 1, pw), {}, true},
      {"argon2d", Argon2Hash(Argon2_d, ARGON2_VERSION_13, 1, pw), {"a.b:c-d_e"}, true},
      {"argon2id-v16", Argon2Hash(Argon2_id, ARGON2_VERSION_10, 1, pw), {}, true},
      {"bcrypt-2a", BcryptHash("$2a$", pw), {"reader"}, true},
      {"bcrypt-2b", BcryptHash("$2b$", pw), {}, true},
      {"bcrypt-2y", BcryptHash("$2y$", pw), {"writer", "reader"}, true},
  };
  std::string file;
  std::vector<std::string> hashes;
  for (const auto& c : cases) {
    file += Line(c.name, c.hash, c.roles) + "\n";
    hashes.push_back(c.hash);
  }
  ASSERT_TRUE(cases[1].hash.starts_with("$argon2id$v=19$m=128,t=1,p=2$")) << cases[1].hash;
  ASSERT_TRUE(cases[4].hash.starts_with("$argon2id$v=16$")) << cases[4].hash;
  Outcome r = User({"import", Write("users.jsonl", file)});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 8 users\n");
  ExpectNoHashIn(hashes, r.out + r.err);

  for (const auto& c : cases) {
    auto u = Users()->FindByName(c.name);
    ASSERT_TRUE(u && u->has_value()) << c.name;
    EXPECT_EQ((*u)->password_hash, c.hash) << c.name;  // stored exactly as given
    EXPECT_EQ((*u)->roles, c.roles) << c.name;
    EXPECT_FALSE((*u)->id.empty());
    EXPECT_GT((*u)->created_at, 0);
    // What the server will do at login: the password verifies, and all but tessera's own
    // Argon2id ask to be rehashed.
    auto right = Hasher().Verify((*u)->password_hash, pw);
    ASSERT_TRUE(right) << c.name << ": " << right.error().ToString();
    EXPECT_TRUE(right->ok) << c.name;
    EXPECT_EQ(right->needs_rehash, c.needs_rehash) << c.name;
    auto wrong = Hasher().Verify((*u)->password_hash, pw + "!");
    ASSERT_TRUE(wrong) << c.name;
    EXPECT_FALSE(wrong->ok) << c.name;
  }
  Outcome list = User({"list"});
  ASSERT_EQ(list.code, 0) << list.err;
  std::map<std::string, std::string> listed;  // username -> roles column
  std::istringstream lines(list.out);
  for (std::string l; std::getline(lines, l);) {
    std::istringstream fields(l);
    std::string name, id, created, state, roles;
    fields >> name >> id >> created >> state >> roles;
    listed[name] = roles;
  }
  for (const auto& c : cases) {
    std::string roles;
    for (const auto& role : c.roles) roles += (roles.empty() ? "" : ",") + role;
    ASSERT_TRUE(listed.contains(c.name)) << list.out;
    EXPECT_EQ(listed[c.name], roles) << c.name;
  }
  ExpectNoHashIn(hashes, list.out);
}

TEST_F(UserImport, ReadsStandardInputSkippingBlankLines) {
  const std::string hash = BcryptHash("$2b$", "correct horse battery");
  const std::string input =
      "\n" + Line("Alice", hash, {"admin"}) + "\r\n   \n\t\n" + Line("bob", hash) + "\n\n";
  Outcome r = User({"import", "-"}, input);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "imported 2 users\n");
  EXPECT_TRUE(Users()->FindByName("alice")->has_value());  // canonical form, as `user add`
  EXPECT_TRUE(Users()->FindByName("bob")->has_value());
}

TEST_F(UserImport, EveryBadLineIsReportedWithItsNumberAndNothingIsImported) {
  ASSERT_EQ(User({"add", "taken", "--password-stdin"}, "correct horse battery\n").code, 0);
  const std::string good = BcryptHash("$2b$", "pw for the import");
  const std::string argon = *Hasher().Hash("pw for the import");
  // bcrypt's 22nd salt character has 4 unused bits; crypt() writes them as zero.
  std::string loose_salt = good;
  loose_salt[28] = loose_salt[28] == '.' ? '/' : static_cast<char>(loose_salt[28] + 1);
  std::string loose_tail = good;
  loose_tail.back() = loose_tail.back() == '.' ? '/' : static_cast<char>(loose_tail.back() + 1);
  const std::string body = good.substr(7);
  const std::vector<std::pair<std::string, std::string>> lines = {
      // line text, what the report for it must say (empty: a good line)
      {Line("ok1", good, {"admin"}), ""},
      {"{\"username\":\"x\",", "invalid JSON"},
      {"[\"username\",\"password_hash\"]", "expected a JSON object"},
      {"{\"username\":\"dup1\",\"username\":\"dup2\",\"password_hash\":\"" + good + "\"}",
       "duplicate"},
      {"{\"username\":\"u4\",\"password_hash\":\"" + good + "\",\"role\":[\"admin\"]}",
       "unknown field \"role\""},
      {"{\"password_hash\":\"" + good + "\"}", "\"username\" must be a string"},
      {"{\"username\":7,\"password_hash\":\"" + good + "\"}", "\"username\" must be a string"},
      {Line(" spaced", good), "username"},
      {"{\"username\":\"u8\"}", "\"password_hash\" must be a string"},
      {Line("u9", "$6$saltsalt$" + std::string(86, 'a')), "unsupported scheme"},
      {Line("u10", "$argon2id$v=19$m=19456,t=0,p=1$" + argon.substr(31)), "password hash"},
      {Line("u11", "$2x$04$" + body), "unsupported scheme"},
      {Line("u12", "$2b$31$" + body), "bcrypt cost out of range"},
      {Line("u13", loose_salt), "bcrypt salt not canonical"},
      {Line("u14", loose_tail), "bcrypt hash not canonical"},
      {Line("u15", "correct horse battery"), "unsupported scheme"},
      {Line("u16", good, {"Admin!"}), "role may contain only"},
      {"{\"username\":\"u17\",\"password_hash\":\"" + good + "\",\"roles\":\"admin\"}",
       "\"roles\" must be an array of strings"},
      {Line("u18", good, {"ops", "ops"}), "role ops listed twice"},
      {Line("OK1", argon), "user ok1 already appears on line 1"},
      {Line("Taken", argon), "user taken already exists"},
      {Line("ok2", argon), ""},
  };
  std::string file;
  for (const auto& [text, _] : lines) file += text + "\n";
  Outcome r = User({"import", Write("bad.jsonl", file)});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string prefix = "tessera: line " + std::to_string(i + 1) + ": ";
    const size_t at = r.err.find(prefix);
    if (lines[i].second.empty()) {
      EXPECT_EQ(at, std::string::npos) << "line " << i + 1 << " is good:\n" << r.err;
      continue;
    }
    ASSERT_NE(at, std::string::npos) << "line " << i + 1 << " not reported:\n" << r.err;
    const std::string report = r.err.substr(at, r.err.find('\n', at) - at);
    EXPECT_NE(report.find(lines[i].second), std::string::npos) << report;
  }
  EXPECT_NE(r.err.find("nothing imported: 20 bad line(s)"), std::string::npos) << r.err;
  ExpectNoHashIn({good, argon, loose_salt, loose_tail, "$2b$31$" + body}, r.err);
  EXPECT_EQ(r.err.find("correct horse"), std::string::npos);
  EXPECT_EQ(UserCount(), 1u);  // only the account that was there before
}

TEST_F(UserImport, ExistingAccountsFailTheImportUnlessSkipped) {
  ASSERT_EQ(
      User({"add", "alice", "--role", "admin", "--password-stdin"}, "correct horse battery\n").code,
      0);
  const user::User before = Users()->FindByName("alice")->value();
  const std::string hash = BcryptHash("$2y$", "another password");
  const std::string file = Write("u.jsonl", Line("ALICE", hash) + "\n" + Line("bob", hash) + "\n");
  Outcome refused = User({"import", file});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("line 1: user alice already exists"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(Users()->FindByName("bob")->has_value());

  Outcome skipped = User({"import", "--skip-existing", file});
  ASSERT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_EQ(skipped.out, "imported 1 users (skipped 1 that already exist)\n");
  const user::User after = Users()->FindByName("alice")->value();
  EXPECT_EQ(after.password_hash, before.password_hash);  // left unchanged
  EXPECT_EQ(after.roles, before.roles);
  EXPECT_EQ(Users()->FindByName("bob")->value().password_hash, hash);
  // Running it again changes nothing and succeeds.
  Outcome again = User({"import", "--skip-existing", file});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, "imported 0 users (skipped 2 that already exist)\n");
}

TEST_F(UserImport, UsageErrorsExitTwo) {
  Outcome missing = User({"import", (dir_ / "no-such-file.jsonl").string()});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no-such-file.jsonl"), std::string::npos) << missing.err;
  EXPECT_EQ(Tessera({"user", "import", "--data", Data()}).code, 2);  // FILE is required
  Outcome help = Tessera({"user", "import", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--skip-existing"), std::string::npos);
  EXPECT_NE(help.out.find("All or nothing"), std::string::npos);
  Outcome empty = User({"import", Write("empty.jsonl", "\n\n")});
  EXPECT_EQ(empty.code, 0) << empty.err;
  EXPECT_EQ(empty.out, "imported 0 users\n");
}

}  // namespace
}  // namespace tessera
