#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store_conformance/store_factory.h"
#include "tessera/user/user_store.h"

namespace tessera::user {
namespace {

using testing::TempDir;

User Make(const std::string& name) {
  return User{.id = "id-" + name,
              .username = name,
              .password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
              .roles = {"admin", "ops"},
              .created_at = 1700000000};
}

template <typename Backend>
class UserStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::unique_ptr<UserStore> store_ = Backend::Users(dir_.path());
};
TYPED_TEST_SUITE(UserStoreTest, testing::UserBackends);

TYPED_TEST(UserStoreTest, AddFindListRemove) {
  ASSERT_TRUE(this->store_->Add(Make("bob")).ok());
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  auto alice = this->store_->FindByName("alice");
  ASSERT_TRUE(alice && alice->has_value());
  EXPECT_EQ((*alice)->id, "id-alice");
  EXPECT_EQ((*alice)->roles, (std::vector<std::string>{"admin", "ops"}));
  EXPECT_EQ((*alice)->password_hash, Make("alice").password_hash);
  EXPECT_EQ(this->store_->FindById("id-bob")->value().username, "bob");
  EXPECT_FALSE(this->store_->FindByName("carol")->has_value());
  EXPECT_FALSE(this->store_->FindById("id-carol")->has_value());
  auto all = this->store_->List();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].username, "alice");
  ASSERT_TRUE(this->store_->Remove("alice").ok());
  EXPECT_FALSE(this->store_->FindByName("alice")->has_value());
  Status again = this->store_->Remove("alice");
  EXPECT_EQ(again.code(), Code::kNotFound);
  EXPECT_EQ(again.reason(), Reason::kUnknownUser);
}

TYPED_TEST(UserStoreTest, NamesAndIdsAreUnique) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  Status dup = this->store_->Add(Make("alice"));
  EXPECT_EQ(dup.code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.reason(), Reason::kUserExists);
  User same_id = Make("other");
  same_id.id = "id-alice";
  EXPECT_EQ(this->store_->Add(same_id).code(), Code::kAlreadyExists);
}

TYPED_TEST(UserStoreTest, SetPasswordHash) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  ASSERT_TRUE(this->store_->SetPasswordHash("id-alice", "$argon2id$new").ok());
  EXPECT_EQ(this->store_->FindByName("alice")->value().password_hash, "$argon2id$new");
  EXPECT_EQ(this->store_->SetPasswordHash("id-nobody", "x").code(), Code::kNotFound);
}

TYPED_TEST(UserStoreTest, SetRolesReplacesThemInOrder) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  ASSERT_TRUE(this->store_->SetRoles("id-alice", {"ops", "billing:read"}).ok());
  EXPECT_EQ(this->store_->FindByName("alice")->value().roles,
            (std::vector<std::string>{"ops", "billing:read"}));
  EXPECT_EQ(this->store_->FindById("id-alice")->value().roles,
            (std::vector<std::string>{"ops", "billing:read"}));
  ASSERT_TRUE(this->store_->SetRoles("id-alice", {}).ok());
  EXPECT_TRUE(this->store_->FindByName("alice")->value().roles.empty());
  ASSERT_TRUE(this->store_->SetRoles("id-alice", {}).ok());  // idempotent
  Status missing = this->store_->SetRoles("id-nobody", {"admin"});
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_EQ(missing.reason(), Reason::kUnknownUser);
}

TYPED_TEST(UserStoreTest, DisabledFlagIsStoredAndListed) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  ASSERT_TRUE(this->store_->Add(Make("bob")).ok());
  EXPECT_FALSE(this->store_->FindByName("alice")->value().disabled);
  ASSERT_TRUE(this->store_->SetDisabled("id-alice", true).ok());
  ASSERT_TRUE(this->store_->SetDisabled("id-alice", true).ok());  // idempotent
  EXPECT_TRUE(this->store_->FindByName("alice")->value().disabled);
  EXPECT_TRUE(this->store_->FindById("id-alice")->value().disabled);
  EXPECT_FALSE(this->store_->FindByName("bob")->value().disabled);  // only that row
  auto all = this->store_->List();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE((*all)[0].disabled);
  EXPECT_FALSE((*all)[1].disabled);
  // Nothing else about the account changes.
  EXPECT_EQ(this->store_->FindByName("alice")->value().password_hash, Make("alice").password_hash);
  ASSERT_TRUE(this->store_->SetDisabled("id-alice", false).ok());
  EXPECT_FALSE(this->store_->FindByName("alice")->value().disabled);
  EXPECT_EQ(this->store_->SetDisabled("id-nobody", true).code(), Code::kNotFound);
  // An account may be added disabled (import of a disabled account).
  User carol = Make("carol");
  carol.disabled = true;
  ASSERT_TRUE(this->store_->Add(carol).ok());
  EXPECT_TRUE(this->store_->FindByName("carol")->value().disabled);
}

// Names are unique whoever adds them: of several writers adding one name at once (two stores on
// one database where the backend is shared, as two instances are), exactly one wins and the rest
// are told the name is taken.
TYPED_TEST(UserStoreTest, ConcurrentAddsOfOneNameLetExactlyOneWin) {
  std::unique_ptr<UserStore> other =
      TypeParam::kShared ? TypeParam::Users(this->dir_.path()) : nullptr;
  UserStore* stores[2] = {this->store_.get(), other ? other.get() : this->store_.get()};
  for (int round = 0; round < 10; ++round) {
    const std::string name = "racer" + std::to_string(round);
    std::atomic<int> won{0}, lost{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i) {
      threads.emplace_back([&, i] {
        User u = Make(name);
        u.id = name + "-" + std::to_string(i);  // distinct ids: only the name collides
        Status st = stores[i % 2]->Add(u);
        if (st.ok()) {
          ++won;
        } else {
          EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.ToString();
          EXPECT_EQ(st.reason(), Reason::kUserExists);
          ++lost;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << name;
    EXPECT_EQ(lost.load(), 5) << name;
  }
  EXPECT_EQ(stores[1]->List()->size(), 10u);
}

// The store compares names byte for byte: folding case is CanonicalUsername's work, before a name
// reaches it (AccountService), so the canonical "alice" is one account however it was typed.
TYPED_TEST(UserStoreTest, NamesAreComparedAsTheCanonicalBytesTheyAre) {
  auto folded = CanonicalUsername("ALICE");
  ASSERT_TRUE(folded);
  ASSERT_TRUE(this->store_->Add(Make(*folded)).ok());
  EXPECT_EQ(this->store_->Add(Make(*CanonicalUsername("Alice"))).code(), Code::kAlreadyExists);
  EXPECT_TRUE(this->store_->FindByName(*CanonicalUsername("aLiCe"))->has_value());
  // Composed and decomposed "José" are one canonical name too.
  User jose = Make(*CanonicalUsername("Jos\xc3\xa9"));
  jose.id = "id-jose";
  ASSERT_TRUE(this->store_->Add(jose).ok());
  EXPECT_TRUE(this->store_->FindByName(*CanonicalUsername("Jose\xcc\x81"))->has_value());
}

TYPED_TEST(UserStoreTest, UserWithoutRoles) {
  User u = Make("plain");
  u.roles.clear();
  ASSERT_TRUE(this->store_->Add(u).ok());
  EXPECT_TRUE(this->store_->FindByName("plain")->value().roles.empty());
  EXPECT_TRUE(this->store_->Ping().ok());
}

}  // namespace
}  // namespace tessera::user
