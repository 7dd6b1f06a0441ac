// `tessera user` and `tessera sessions` on a real data directory, checked against the SQLite file
// the server would read.
#include <gtest/gtest.h>

#include "cli/cli_harness.h"
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
  Outcome r = Sessions({"revoke-all", "alice"});
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("revoked 1 session(s)"), std::string::npos);
  EXPECT_EQ(SessionCount(alice), 0u);
  EXPECT_EQ(SessionCount(bob), 1u);
  EXPECT_EQ(Sessions({"revoke-all", "nobody"}).code, 1);
}

}  // namespace
}  // namespace tessera
