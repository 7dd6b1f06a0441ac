// AccountService against the memory and SQLite stores: what each lifecycle step does to the
// account and to its sessions.
#include "user/account_service.h"

#include <gtest/gtest.h>

#include <chrono>

#include "store_conformance/store_factory.h"

namespace tessera::user {
namespace {

using testing::TempDir;

constexpr int64_t kT0 = 1'800'000'000;
constexpr const char* kPassword = "lantern quiet orbit 4417";

template <typename Backend>
class AccountServiceTest : public ::testing::Test {
 protected:
  // The OWASP floor point with the least memory keeps the tests quick.
  static const crypto::PasswordHasher& Hasher() {
    static const crypto::PasswordHasher hasher =
        std::move(crypto::PasswordHasher::Create({.memory_kib = 7168, .iterations = 5})).value();
    return hasher;
  }

  TempDir dir_;
  FakeClock clock_{kT0};
  std::unique_ptr<session::SessionStore> session_store_ = Backend::Sessions(dir_.path());
  std::unique_ptr<UserStore> users_ = Backend::Users(dir_.path());
  session::SessionManager sessions_{session_store_.get(), {}, &clock_};
  AccountService accounts_{users_.get(), &sessions_, &Hasher(), &clock_};

  std::string SignIn(const User& u) {
    auto s = sessions_.Create(u.id, session::SessionKind::kCookie, {"UA", "10.0.0.1"});
    EXPECT_TRUE(s) << s.error().ToString();
    return s->secret;
  }
};
TYPED_TEST_SUITE(AccountServiceTest, testing::Backends);

TYPED_TEST(AccountServiceTest, CreateScreensHashesAndRefusesATakenName) {
  auto weak = this->accounts_.Create("alice", "password1", {});
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().reason(), Reason::kBadPassword);
  auto alice = this->accounts_.Create("alice", kPassword, {"admin"});
  ASSERT_TRUE(alice) << alice.error().ToString();
  EXPECT_EQ(alice->created_at, kT0);
  EXPECT_FALSE(alice->disabled);
  auto stored = this->users_->FindByName("alice")->value();
  EXPECT_TRUE(this->Hasher().Verify(stored.password_hash, kPassword)->ok);
  EXPECT_EQ(this->accounts_.Create("alice", kPassword, {}).error().code(), Code::kAlreadyExists);
}

// Every change of a stored account is announced on the session store's feed, so that every
// server drops its cached copy. With Redis sessions this is the only announcement (no SQLite
// trigger sees the accounts' database); it is checked on every backend.
TYPED_TEST(AccountServiceTest, EveryAccountChangeIsAnnouncedOnTheFeed) {
  auto alice = this->accounts_.Create("alice", kPassword, {});
  ASSERT_TRUE(alice);
  auto count = [&](const session::FeedPosition& from) {
    size_t n = 0;
    auto batch = this->session_store_->ReadChanges(from, 1000, std::chrono::milliseconds(0));
    EXPECT_TRUE(batch && !batch->gap);
    for (const auto& c : batch->changes) {
      n += c.kind == session::ChangeKind::kUserChanged && c.user_id == alice->id;
    }
    return n;
  };
  auto head = this->session_store_->FeedHead().value();
  ASSERT_TRUE(this->accounts_.SetRoles("alice", {"ops"}));
  EXPECT_GE(count(head), 1u) << "set-roles";
  head = this->session_store_->FeedHead().value();
  ASSERT_TRUE(this->accounts_.SetDisabled("alice", true));
  EXPECT_GE(count(head), 1u) << "disable";
  head = this->session_store_->FeedHead().value();
  ASSERT_TRUE(this->accounts_.SetDisabled("alice", false));
  EXPECT_GE(count(head), 1u) << "enable";
  head = this->session_store_->FeedHead().value();
  ASSERT_TRUE(this->accounts_.SetPassword(*alice, "staple orbit lantern quill", ""));
  EXPECT_GE(count(head), 1u) << "set-password";
  head = this->session_store_->FeedHead().value();
  ASSERT_TRUE(this->accounts_.Remove("alice"));
  EXPECT_GE(count(head), 1u) << "remove";
}

TYPED_TEST(AccountServiceTest, SetRolesValidatesDeduplicatesAndKeepsSessions) {
  auto alice = this->accounts_.Create("alice", kPassword, {"admin"});
  ASSERT_TRUE(alice);
  const std::string secret = this->SignIn(*alice);
  auto bad = this->accounts_.SetRoles("alice", {"ops", "Not A Role"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(this->users_->FindByName("alice")->value().roles,
            (std::vector<std::string>{"admin"}));  // nothing half-applied
  auto changed = this->accounts_.SetRoles("alice", {"ops", "billing", "ops"});
  ASSERT_TRUE(changed) << changed.error().ToString();
  EXPECT_EQ(changed->roles, (std::vector<std::string>{"ops", "billing"}));
  EXPECT_EQ(this->users_->FindById(alice->id)->value().roles,
            (std::vector<std::string>{"ops", "billing"}));
  EXPECT_TRUE(this->sessions_.Authenticate(secret, false));  // a role change ends no session
  auto missing = this->accounts_.SetRoles("nobody", {});
  EXPECT_EQ(missing.error().reason(), Reason::kUnknownUser);
}

TYPED_TEST(AccountServiceTest, DisablingEndsEverySessionAndEnablingRestoresNone) {
  auto alice = this->accounts_.Create("alice", kPassword, {});
  auto bob = this->accounts_.Create("bob", kPassword, {});
  ASSERT_TRUE(alice && bob);
  const std::string a1 = this->SignIn(*alice), a2 = this->SignIn(*alice);
  const std::string b1 = this->SignIn(*bob);
  auto disabled = this->accounts_.SetDisabled("alice", true);
  ASSERT_TRUE(disabled) << disabled.error().ToString();
  EXPECT_TRUE(disabled->user.disabled);
  EXPECT_EQ(disabled->ended.size(), 2u);
  EXPECT_TRUE(this->users_->FindByName("alice")->value().disabled);
  EXPECT_EQ(this->sessions_.Authenticate(a1, false).error().reason(), Reason::kUnknownSession);
  EXPECT_EQ(this->sessions_.Authenticate(a2, false).error().reason(), Reason::kUnknownSession);
  EXPECT_TRUE(this->sessions_.Authenticate(b1, false));  // another account is untouched
  // Idempotent, and enabling brings no session back.
  ASSERT_TRUE(this->accounts_.SetDisabled("alice", true));
  auto enabled = this->accounts_.SetDisabled("alice", false);
  ASSERT_TRUE(enabled);
  EXPECT_FALSE(enabled->user.disabled);
  EXPECT_TRUE(enabled->ended.empty());
  EXPECT_FALSE(this->users_->FindByName("alice")->value().disabled);
  EXPECT_FALSE(this->sessions_.Authenticate(a1, false));
  EXPECT_EQ(this->accounts_.SetDisabled("nobody", true).error().code(), Code::kNotFound);
}

TYPED_TEST(AccountServiceTest, SetPasswordKeepsOnlyTheNamedSession) {
  auto alice = this->accounts_.Create("alice", kPassword, {});
  ASSERT_TRUE(alice);
  const std::string keep = this->SignIn(*alice), other = this->SignIn(*alice);
  auto ended = this->accounts_.SetPassword(*alice, "a different long passphrase",
                                           session::SessionManager::HashSecret(keep));
  ASSERT_TRUE(ended) << ended.error().ToString();
  EXPECT_EQ(ended->size(), 1u);
  EXPECT_TRUE(this->sessions_.Authenticate(keep, false));
  EXPECT_FALSE(this->sessions_.Authenticate(other, false));
  const auto stored = this->users_->FindByName("alice")->value();
  EXPECT_TRUE(this->Hasher().Verify(stored.password_hash, "a different long passphrase")->ok);
  EXPECT_FALSE(this->Hasher().Verify(stored.password_hash, kPassword)->ok);
}

TYPED_TEST(AccountServiceTest, RemoveEndsSessionsAndTheAccount) {
  auto alice = this->accounts_.Create("alice", kPassword, {});
  ASSERT_TRUE(alice);
  const std::string secret = this->SignIn(*alice);
  auto removed = this->accounts_.Remove("alice");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->ended.size(), 1u);
  EXPECT_FALSE(this->users_->FindByName("alice")->has_value());
  EXPECT_FALSE(this->sessions_.Authenticate(secret, false));
  EXPECT_EQ(this->accounts_.Remove("alice").error().reason(), Reason::kUnknownUser);
}

}  // namespace
}  // namespace tessera::user
