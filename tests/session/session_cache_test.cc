// The packed session cache (src/session/session_cache.h): what goes in comes out (less the user
// agent and IP address), a full cache makes room one record at a time, never all at once.
#include "session/session_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "crypto/hash.h"

namespace tessera::session {
namespace {

Session Record(int i, std::string user = "user-1") {
  Session s;
  s.id_hash = crypto::Sha256("secret-" + std::to_string(i));
  s.handle = "0123456789abcdef0123456789abcd" + std::to_string(10 + i % 90);
  s.user_id = std::move(user);
  s.csrf_hash = crypto::Sha256("csrf-" + std::to_string(i));
  s.kind = i % 2 ? SessionKind::kToken : SessionKind::kCookie;
  s.created_at = 1'800'000'000 + i;
  s.last_seen_at = 1'800'000'100 + i;
  s.expires_at = 1'800'100'000 + i;
  s.tokens_until = i % 3 ? 1'800'000'900 : 0;
  s.user_agent = "Firefox";
  s.ip = "203.0.113.7";
  s.mfa = i % 4 == 0;
  return s;
}

TEST(SessionCache, GivesBackWhatWasPutLessUserAgentAndIp) {
  SessionCache cache(10);
  for (int i = 0; i < 8; ++i) cache.Put(Record(i));
  EXPECT_EQ(cache.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    Session want = Record(i);
    want.user_agent.clear();
    want.ip.clear();
    std::optional<Session> got = cache.Find(want.id_hash);
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(*got, want) << i;
  }
  EXPECT_FALSE(cache.Find(crypto::Sha256("never")).has_value());
  EXPECT_FALSE(cache.Find("short").has_value());
}

TEST(SessionCache, PutReplacesAndSetLastSeenUpdates) {
  SessionCache cache(10);
  Session s = Record(1);
  cache.Put(s);
  s.tokens_until = 1'900'000'000;
  s.mfa = true;
  cache.Put(s);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.Find(s.id_hash)->tokens_until, 1'900'000'000);
  EXPECT_TRUE(cache.Find(s.id_hash)->mfa);
  cache.SetLastSeen(s.id_hash, 1'800'000'555);
  EXPECT_EQ(cache.Find(s.id_hash)->last_seen_at, 1'800'000'555);
  cache.SetLastSeen(crypto::Sha256("never"), 1);  // nothing to update, nothing added
  EXPECT_EQ(cache.size(), 1u);
  cache.Erase(s.id_hash);
  EXPECT_FALSE(cache.Find(s.id_hash).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

// The attack the old cache had: it emptied itself when full, so whoever made sessions fast
// enough sent everybody's next check to the store. Now each new record pushes out one.
TEST(SessionCache, AFullCacheMakesRoomOneRecordAtATime) {
  constexpr int kCapacity = 1000;
  SessionCache cache(kCapacity);
  for (int i = 0; i < kCapacity; ++i) cache.Put(Record(i));
  ASSERT_EQ(cache.size(), static_cast<size_t>(kCapacity));
  // An attacker's 100 new sessions.
  for (int i = kCapacity; i < kCapacity + 100; ++i) {
    cache.Put(Record(i, "attacker"));
    ASSERT_EQ(cache.size(), static_cast<size_t>(kCapacity));
    ASSERT_TRUE(cache.Find(Record(i).id_hash).has_value());  // the newest is always kept
  }
  // Each new record pushed out one other at most (sometimes one of the attacker's own).
  int kept = 0;
  for (int i = 0; i < kCapacity; ++i) kept += cache.Find(Record(i).id_hash).has_value();
  EXPECT_GE(kept, kCapacity - 100);
  EXPECT_LT(kept, kCapacity);
}

TEST(SessionCache, EraseUserKeepsOnlyTheOneAskedFor) {
  SessionCache cache(100);
  for (int i = 0; i < 10; ++i) cache.Put(Record(i, i < 6 ? "alice" : "bob"));
  cache.EraseUser("alice", Record(2).id_hash);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(cache.Find(Record(i).id_hash).has_value(), i == 2 || i >= 6) << i;
  }
  cache.EraseUser("bob", "");
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SessionCache, RecordsThatDoNotPackAndAZeroCapacityAreNotKept) {
  SessionCache none(0);
  none.Put(Record(1));
  EXPECT_EQ(none.size(), 0u);

  SessionCache cache(10);
  Session odd = Record(1);
  odd.id_hash = "not a sha-256";
  cache.Put(odd);
  Session long_user = Record(2);
  long_user.user_id = std::string(300, 'u');
  cache.Put(long_user);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace tessera::session
