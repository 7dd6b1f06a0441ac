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
  void SetUp() override { ASSERT_NE(store_, nullptr) << "the store could not be opened"; }
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

// ---- The second factor ----------------------------------------------------------------------

Totp Factor(bool confirmed) {
  return Totp{.sealed_secret = "c2VhbGVkLXNlY3JldA",
              .confirmed = confirmed,
              .last_step = 1000,
              .recovery_hashes = {"r1", "r2", "r3"},
              .created_at = 1700000000};
}

TYPED_TEST(UserStoreTest, TotpIsStoredReplacedAndRemoved) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  EXPECT_FALSE(this->store_->GetTotp("id-alice")->has_value());
  Status none = this->store_->PutTotp("id-nobody", Factor(false));
  EXPECT_EQ(none.code(), Code::kNotFound);
  EXPECT_EQ(none.reason(), Reason::kUnknownUser);
  ASSERT_TRUE(this->store_->PutTotp("id-alice", Factor(false)).ok());
  EXPECT_EQ(this->store_->GetTotp("id-alice")->value(), Factor(false));
  Totp confirmed = Factor(true);
  confirmed.last_step = 57;
  confirmed.recovery_hashes = {"only"};
  ASSERT_TRUE(this->store_->PutTotp("id-alice", confirmed).ok());
  EXPECT_EQ(this->store_->GetTotp("id-alice")->value(), confirmed);
  EXPECT_TRUE(this->store_->RemoveTotp("id-alice").value());
  EXPECT_FALSE(this->store_->GetTotp("id-alice")->has_value());
  EXPECT_FALSE(this->store_->RemoveTotp("id-alice").value());
}

// An enrolment never replaces a factor that is on, and only the enrolment a code was checked
// against turns on: whatever happens in between (another start, a confirm, a removal) wins.
TYPED_TEST(UserStoreTest, StartAndConfirmAreConditional) {
  UserStore& s = *this->store_;
  ASSERT_TRUE(s.Add(Make("alice")).ok());
  Totp pending = Factor(false);
  pending.recovery_hashes.clear();
  pending.sealed_secret = "first";
  auto none = s.StartTotp("id-nobody", pending);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().reason(), Reason::kUnknownUser);
  EXPECT_TRUE(s.StartTotp("id-alice", pending).value());
  pending.sealed_secret = "second";
  EXPECT_TRUE(s.StartTotp("id-alice", pending).value());  // a waiting one is replaced
  // The code was checked against "first": that enrolment is gone.
  EXPECT_FALSE(s.ConfirmTotp("id-alice", "first", 7, {"h"}, 1800).value());
  EXPECT_FALSE(s.GetTotp("id-alice")->value().confirmed);
  EXPECT_TRUE(s.ConfirmTotp("id-alice", "second", 7, {"h1", "h2"}, 1800).value());
  const Totp on = s.GetTotp("id-alice")->value();
  EXPECT_TRUE(on.confirmed);
  EXPECT_EQ(on.sealed_secret, "second");
  EXPECT_EQ(on.last_step, 7);
  EXPECT_EQ(on.recovery_hashes, (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(on.created_at, 1800);
  EXPECT_EQ(on.ticket_hash, "");
  // On: a second confirm and a new start change nothing.
  EXPECT_FALSE(s.ConfirmTotp("id-alice", "second", 9, {"x"}, 1900).value());
  pending.sealed_secret = "third";
  EXPECT_FALSE(s.StartTotp("id-alice", pending).value());
  EXPECT_EQ(s.GetTotp("id-alice")->value(), on);
  // Removed (an administrator's reset): a late confirm does not bring it back.
  ASSERT_TRUE(s.RemoveTotp("id-alice").value());
  EXPECT_FALSE(s.ConfirmTotp("id-alice", "second", 9, {"x"}, 1900).value());
  EXPECT_FALSE(s.GetTotp("id-alice")->has_value());
}

TYPED_TEST(UserStoreTest, RemovingTheAccountRemovesItsFactor) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  ASSERT_TRUE(this->store_->PutTotp("id-alice", Factor(true)).ok());
  ASSERT_TRUE(this->store_->Remove("alice").ok());
  // A new account under the old id (ids are never reused in practice; the store must not rely
  // on it) starts without the factor.
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  EXPECT_FALSE(this->store_->GetTotp("id-alice")->has_value());
}

TYPED_TEST(UserStoreTest, TicketsOpenOnlyOnAConfirmedFactor) {
  ASSERT_TRUE(this->store_->Add(Make("alice")).ok());
  EXPECT_FALSE(this->store_->SetMfaTicket("id-alice", "t1", 2000).value());  // no factor
  ASSERT_TRUE(this->store_->PutTotp("id-alice", Factor(false)).ok());
  EXPECT_FALSE(this->store_->SetMfaTicket("id-alice", "t1", 2000).value());  // not confirmed
  ASSERT_TRUE(this->store_->PutTotp("id-alice", Factor(true)).ok());
  EXPECT_TRUE(this->store_->SetMfaTicket("id-alice", "t1", 2000).value());
  Totp t = this->store_->GetTotp("id-alice")->value();
  EXPECT_EQ(t.ticket_hash, "t1");
  EXPECT_EQ(t.ticket_expires_at, 2000);
  // A second sign-in replaces the ticket of the first.
  EXPECT_TRUE(this->store_->SetMfaTicket("id-alice", "t2", 2100).value());
  EXPECT_EQ(this->store_->GetTotp("id-alice")->value().ticket_hash, "t2");
}

TYPED_TEST(UserStoreTest, UseMfaConsumesTicketAndStepOnce) {
  UserStore& s = *this->store_;
  ASSERT_TRUE(s.Add(Make("alice")).ok());
  ASSERT_TRUE(s.PutTotp("id-alice", Factor(true)).ok());  // last_step 1000
  ASSERT_TRUE(s.SetMfaTicket("id-alice", "t1", 2000).value());
  using Use = UserStore::MfaUse;
  // Refused, and nothing changes: another ticket, an expired one, a step not after the last.
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t0", .now = 1500, .step = 1001}).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 2000, .step = 1001}).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 1500, .step = 1000}).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "", .now = 1500, .step = 1001}).value());
  EXPECT_FALSE(s.UseMfa("id-nobody", Use{.ticket_hash = "t1", .now = 1500, .step = 1001}).value());
  EXPECT_EQ(s.GetTotp("id-alice")->value().ticket_hash, "t1");
  // Accepted once: the step moves, the ticket is gone.
  EXPECT_TRUE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 1500, .step = 1002}).value());
  Totp after = s.GetTotp("id-alice")->value();
  EXPECT_EQ(after.last_step, 1002);
  EXPECT_EQ(after.ticket_hash, "");
  EXPECT_EQ(after.recovery_hashes.size(), 3u);
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 1500, .step = 1003}).value());
  // With a new ticket, a code of the step just used is a replay.
  ASSERT_TRUE(s.SetMfaTicket("id-alice", "t2", 2000).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t2", .now = 1500, .step = 1002}).value());
  EXPECT_TRUE(s.UseMfa("id-alice", Use{.ticket_hash = "t2", .now = 1500, .step = 1003}).value());
}

TYPED_TEST(UserStoreTest, RecoveryCodesAreSingleUse) {
  UserStore& s = *this->store_;
  ASSERT_TRUE(s.Add(Make("alice")).ok());
  ASSERT_TRUE(s.PutTotp("id-alice", Factor(true)).ok());
  using Use = UserStore::MfaUse;
  ASSERT_TRUE(s.SetMfaTicket("id-alice", "t1", 2000).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 1500, .recovery_hash = "rX"})
                   .value());
  EXPECT_TRUE(s.UseMfa("id-alice", Use{.ticket_hash = "t1", .now = 1500, .recovery_hash = "r2"})
                  .value());
  Totp after = s.GetTotp("id-alice")->value();
  EXPECT_EQ(after.recovery_hashes, (std::vector<std::string>{"r1", "r3"}));
  EXPECT_EQ(after.last_step, 1000);  // a recovery code leaves the step alone
  ASSERT_TRUE(s.SetMfaTicket("id-alice", "t2", 2000).value());
  EXPECT_FALSE(s.UseMfa("id-alice", Use{.ticket_hash = "t2", .now = 1500, .recovery_hash = "r2"})
                   .value());
  EXPECT_TRUE(s.UseMfa("id-alice", Use{.ticket_hash = "t2", .now = 1500, .recovery_hash = "r1"})
                  .value());
}

// Of many sign-ins completing with one ticket at once, from two stores on one database where the
// backend is shared (as two instances are), exactly one succeeds.
TYPED_TEST(UserStoreTest, ConcurrentUsesOfOneTicketLetExactlyOneWin) {
  std::unique_ptr<UserStore> other =
      TypeParam::kShared ? TypeParam::Users(this->dir_.path()) : nullptr;
  UserStore* stores[2] = {this->store_.get(), other ? other.get() : this->store_.get()};
  ASSERT_TRUE(stores[0]->Add(Make("alice")).ok());
  ASSERT_TRUE(stores[0]->PutTotp("id-alice", Factor(true)).ok());
  for (int round = 0; round < 5; ++round) {
    const std::string ticket = "ticket" + std::to_string(round);
    ASSERT_TRUE(stores[0]->SetMfaTicket("id-alice", ticket, 5000).value());
    std::atomic<int> won{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i) {
      threads.emplace_back([&, i] {
        // Half present the next step's code, half a recovery code: still one winner.
        UserStore::MfaUse use{.ticket_hash = ticket, .now = 1500};
        if (i % 2 == 0) {
          use.step = 2000 + round;
        } else {
          use.recovery_hash = "r1";
        }
        auto used = stores[i % 2]->UseMfa("id-alice", use);
        ASSERT_TRUE(used) << used.error().ToString();
        if (*used) ++won;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << ticket;
  }
}

}  // namespace
}  // namespace tessera::user
