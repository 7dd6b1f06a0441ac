// One suite, every SessionStore backend (Chromium's cookie_store_unittest.h pattern).
#include <gtest/gtest.h>

#include "store_conformance/store_factory.h"
#include "tessera/session/session_store.h"

namespace tessera::session {
namespace {

using testing::TempDir;

Session Make(const std::string& id, const std::string& user, int64_t created, int64_t expires) {
  return Session{.id_hash = std::string(32, id[0]) + id,
                 .handle = "h-" + id,
                 .user_id = user,
                 .csrf_hash = std::string(32, 'c'),
                 .kind = SessionKind::kCookie,
                 .created_at = created,
                 .last_seen_at = created,
                 .expires_at = expires,
                 .user_agent = "UA " + id,
                 .ip = "127.0.0.1"};
}

template <typename Backend>
class SessionStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::unique_ptr<SessionStore> store_ = Backend::Sessions(dir_.path());
};
TYPED_TEST_SUITE(SessionStoreTest, testing::Backends);

TYPED_TEST(SessionStoreTest, CreateThenGetReturnsTheSameRecord) {
  const Session s = Make("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->Create(s, {}, 100, nullptr).ok());
  auto got = this->store_->Get(s.id_hash);
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, s);
  auto missing = this->store_->Get(std::string(33, 'z'));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
}

TYPED_TEST(SessionStoreTest, DuplicateIdOrHandleIsRefused) {
  const Session s = Make("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->Create(s, {}, 100, nullptr).ok());
  EXPECT_EQ(this->store_->Create(s, {}, 100, nullptr).code(), Code::kAlreadyExists);
  Session same_handle = Make("b", "u1", 100, 1000);
  same_handle.handle = s.handle;
  EXPECT_EQ(this->store_->Create(same_handle, {}, 100, nullptr).code(), Code::kAlreadyExists);
}

TYPED_TEST(SessionStoreTest, ListByUserIsOldestFirstAndPerUser) {
  ASSERT_TRUE(this->store_->Create(Make("b", "u1", 200, 1000), {}, 200, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("a", "u1", 100, 1000), {}, 200, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("c", "u2", 150, 1000), {}, 200, nullptr).ok());
  auto list = this->store_->ListByUser("u1");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].handle, "h-a");
  EXPECT_EQ((*list)[1].handle, "h-b");
  EXPECT_TRUE(this->store_->ListByUser("nobody")->empty());
}

TYPED_TEST(SessionStoreTest, ListAllAndRemoveByHandle) {
  ASSERT_TRUE(this->store_->Create(Make("b", "u1", 200, 1000), {}, 200, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("a", "u2", 100, 1000), {}, 200, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("c", "u3", 300, 1000), {}, 200, nullptr).ok());
  auto all = this->store_->ListAll(10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].handle, "h-a");
  EXPECT_EQ(this->store_->ListAll(2)->size(), 2u);
  auto gone = this->store_->RemoveByHandle("h-b");
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_EQ((*gone)->user_id, "u1");
  EXPECT_FALSE(this->store_->RemoveByHandle("h-b")->has_value());
  EXPECT_EQ(this->store_->ListAll(10)->size(), 2u);
}

TYPED_TEST(SessionStoreTest, TouchUpdatesLastSeenAndIgnoresMissing) {
  const Session s = Make("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->Create(s, {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->Touch(s.id_hash, 150).ok());
  EXPECT_EQ(this->store_->Get(s.id_hash)->value().last_seen_at, 150);
  EXPECT_TRUE(this->store_->Touch(std::string(33, 'q'), 150).ok());
}

TYPED_TEST(SessionStoreTest, RemoveReturnsTheRecordOnce) {
  const Session s = Make("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->Create(s, {}, 100, nullptr).ok());
  auto gone = this->store_->Remove(s.id_hash);
  ASSERT_TRUE(gone);
  ASSERT_TRUE(gone->has_value());
  EXPECT_EQ(**gone, s);
  auto again = this->store_->Remove(s.id_hash);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(this->store_->Get(s.id_hash)->has_value());
}

TYPED_TEST(SessionStoreTest, RemoveByUserKeepsOne) {
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(this->store_->Create(Make(id, "u1", 100, 1000), {}, 100, nullptr).ok());
  }
  ASSERT_TRUE(this->store_->Create(Make("d", "u2", 100, 1000), {}, 100, nullptr).ok());
  const std::string keep = Make("b", "u1", 0, 0).id_hash;
  auto gone = this->store_->RemoveByUser("u1", keep);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->size(), 2u);
  auto left = this->store_->ListByUser("u1");
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id_hash, keep);
  EXPECT_EQ(this->store_->ListByUser("u2")->size(), 1u);
  EXPECT_EQ(this->store_->RemoveByUser("u1", "")->size(), 1u);
}

TYPED_TEST(SessionStoreTest, LimitEvictsTheOldestAtomically) {
  const LimitPolicy limit{.max_per_user = 2, .on_limit = OnLimit::kEvictOldest};
  ASSERT_TRUE(this->store_->Create(Make("a", "u1", 100, 1000), limit, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("b", "u1", 200, 1000), limit, 200, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(Make("x", "u2", 250, 1000), limit, 250, nullptr).ok());
  std::vector<Session> evicted;
  ASSERT_TRUE(this->store_->Create(Make("c", "u1", 300, 1000), limit, 300, &evicted).ok());
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].handle, "h-a");
  auto left = this->store_->ListByUser("u1");
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].handle, "h-b");
  EXPECT_EQ((*left)[1].handle, "h-c");
  EXPECT_EQ(this->store_->ListByUser("u2")->size(), 1u);
}

TYPED_TEST(SessionStoreTest, LimitRejectStoresNothing) {
  const LimitPolicy limit{.max_per_user = 1, .on_limit = OnLimit::kReject};
  ASSERT_TRUE(this->store_->Create(Make("a", "u1", 100, 1000), limit, 100, nullptr).ok());
  Status s = this->store_->Create(Make("b", "u1", 200, 1000), limit, 200, nullptr);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(s.reason(), Reason::kSessionLimit);
  EXPECT_EQ(this->store_->ListByUser("u1")->size(), 1u);
}

TYPED_TEST(SessionStoreTest, LimitCountsOnlyLiveSessions) {
  const LimitPolicy limit{.max_per_user = 1, .on_limit = OnLimit::kReject};
  ASSERT_TRUE(this->store_->Create(Make("a", "u1", 100, 150), limit, 100, nullptr).ok());
  EXPECT_TRUE(this->store_->Create(Make("b", "u1", 200, 1000), limit, 200, nullptr).ok());
}

TYPED_TEST(SessionStoreTest, RemoveExpiredByDeadlineAndIdleness) {
  ASSERT_TRUE(this->store_->Create(Make("a", "u1", 100, 500), {}, 100, nullptr).ok());   // dead
  ASSERT_TRUE(this->store_->Create(Make("b", "u1", 100, 5000), {}, 100, nullptr).ok());  // idle
  Session fresh = Make("c", "u1", 100, 5000);
  fresh.last_seen_at = 900;
  ASSERT_TRUE(this->store_->Create(fresh, {}, 100, nullptr).ok());
  EXPECT_EQ(this->store_->CountAlive(1000).value(), 2u);
  auto n = this->store_->RemoveExpired(/*now=*/1000, /*idle_cutoff=*/800);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  auto left = this->store_->ListByUser("u1");
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].handle, "h-c");
}

TYPED_TEST(SessionStoreTest, BinaryAndUnicodeFieldsRoundTrip) {
  Session s = Make("a", "u1", 100, 1000);
  s.id_hash = std::string("\0\xff\x01 binary", 10) + std::string(22, '\0');
  s.user_agent = "Mozilla/5.0 (📱; ü)";
  ASSERT_TRUE(this->store_->Create(s, {}, 100, nullptr).ok());
  EXPECT_EQ(this->store_->Get(s.id_hash)->value(), s);
}

}  // namespace
}  // namespace tessera::session
