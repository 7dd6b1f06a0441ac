#include "tessera/user/throttle.h"

#include <gtest/gtest.h>

#include "store_conformance/store_factory.h"

namespace tessera::user {
namespace {

constexpr int64_t kT0 = 1'800'000'000;

template <typename Backend>
class ThrottleTest : public ::testing::Test {
 protected:
  LoginThrottle Throttle(ThrottleLimit account, ThrottleLimit ip, int ipv6_prefix = 64) {
    return LoginThrottle(store_.get(), account, ip, &clock_, ipv6_prefix);
  }
  testing::TempDir dir_;
  std::unique_ptr<ThrottleStore> store_ = Backend::Throttle(dir_.path());
  FakeClock clock_{kT0};
};
TYPED_TEST_SUITE(ThrottleTest, testing::Backends);

TYPED_TEST(ThrottleTest, StoreUpdatesAtomicallyAndForgets) {
  auto r = this->store_->Update("k", [](ThrottleRecord& x) { x.failures += 2; x.strikes = 1; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->failures, 2u);
  EXPECT_EQ(this->store_->Get("k")->failures, 2u);
  EXPECT_EQ(*this->store_->Get("other"), ThrottleRecord{});
  ASSERT_TRUE(this->store_->Remove("k").ok());
  EXPECT_EQ(this->store_->Get("k")->failures, 0u);
  ASSERT_TRUE(this->store_->Update("old", [](ThrottleRecord& x) { x.window_start = 10; }));
  ASSERT_TRUE(this->store_->Update("new", [](ThrottleRecord& x) { x.window_start = 100; }));
  EXPECT_EQ(this->store_->RemoveStale(50).value(), 1u);
  EXPECT_EQ(this->store_->Get("new")->window_start, 100);
}

TYPED_TEST(ThrottleTest, BlocksAfterTheLimitThenLetsGo) {
  auto t = this->Throttle({3, 5}, {100, 60});
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(t.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(t.Check("alice", "10.0.0.1").value(), 0);
  ASSERT_TRUE(t.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(t.Check("alice", "10.0.0.9").value(), 5);  // per account, whatever the IP
  EXPECT_EQ(t.Check("bob", "10.0.0.1").value(), 0);    // other accounts unaffected
  this->clock_.Advance(4);
  EXPECT_EQ(t.Check("alice", "10.0.0.1").value(), 1);
  this->clock_.Advance(1);
  EXPECT_EQ(t.Check("alice", "10.0.0.1").value(), 0);  // never permanent
}

// The defect: per-IP counters keyed on the full address gave every address of one IPv6 /64 (one
// subscriber's network) a fresh budget. Addresses of one /64 now share one.
TYPED_TEST(ThrottleTest, IPv6ClientsShareTheBudgetOfTheirPrefix) {
  auto t = this->Throttle({1000, 60}, {3, 60});
  ASSERT_TRUE(t.RecordIpAttempt("2001:db8:1:2::1").ok());
  ASSERT_TRUE(t.RecordIpAttempt("2001:db8:1:2:aaaa::7").ok());
  ASSERT_TRUE(t.RecordIpAttempt("2001:DB8:1:2:ffff:ffff:ffff:ffff").ok());
  EXPECT_EQ(t.CheckIp("2001:db8:1:2::1234").value(), 60);
  EXPECT_EQ(t.Check("anyone", "2001:db8:1:2::99").value(), 60);
  EXPECT_EQ(t.CheckIp("2001:db8:1:3::1").value(), 0);  // the next /64 is someone else
  // IPv4 (and IPv4-mapped) addresses count alone.
  ASSERT_TRUE(t.RecordIpAttempt("192.0.2.1").ok());
  EXPECT_EQ(t.CheckIp("192.0.2.2").value(), 0);
  EXPECT_EQ(t.IpKey("::ffff:192.0.2.1"), "ip:::ffff:192.0.2.1");
  EXPECT_EQ(t.IpKey("2001:db8:1:2:3:4:5:6"), "ip:2001:db8:1:2::/64");
  EXPECT_EQ(this->Throttle({1, 1}, {1, 1}, 48).IpKey("2001:db8:1:2::1"), "ip:2001:db8:1::/48");
}

TYPED_TEST(ThrottleTest, AddressBudgetsAreSeparate) {
  auto t = this->Throttle({1000, 60}, {2, 60});
  ASSERT_TRUE(t.RecordIpAttempt("192.0.2.1", IpBudget::kClientAuth).ok());
  ASSERT_TRUE(t.RecordIpAttempt("192.0.2.1", IpBudget::kClientAuth).ok());
  EXPECT_EQ(t.CheckIp("192.0.2.1", IpBudget::kClientAuth).value(), 60);
  EXPECT_EQ(t.CheckIp("192.0.2.1").value(), 0);
  EXPECT_EQ(t.CheckIp("192.0.2.1", IpBudget::kRefresh).value(), 0);
  EXPECT_EQ(t.Check("alice", "192.0.2.1").value(), 0);
  // The refresh budget is ten times the sign-in one.
  for (int i = 0; i < 19; ++i) ASSERT_TRUE(t.RecordIpAttempt("192.0.2.2", IpBudget::kRefresh).ok());
  EXPECT_EQ(t.CheckIp("192.0.2.2", IpBudget::kRefresh).value(), 0);
  ASSERT_TRUE(t.RecordIpAttempt("192.0.2.2", IpBudget::kRefresh).ok());
  EXPECT_EQ(t.CheckIp("192.0.2.2", IpBudget::kRefresh).value(), 60);
}

TYPED_TEST(ThrottleTest, RepeatedBlocksGrowButStayBounded) {
  auto t = this->Throttle({2, 60}, {1000, 60});
  int64_t last = 0;
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
    ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
    const int64_t wait = t.Check("alice", "ip").value();
    EXPECT_GE(wait, last) << round;
    EXPECT_LE(wait, LoginThrottle::kMaxBlockSeconds);
    last = wait;
    this->clock_.Advance(wait);
  }
  EXPECT_EQ(last, LoginThrottle::kMaxBlockSeconds);
}

TYPED_TEST(ThrottleTest, FailuresOutsideTheWindowDoNotAccumulate) {
  auto t = this->Throttle({3, 10}, {1000, 60});
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
    this->clock_.Advance(6);  // two failures per 10 s window at most
  }
  EXPECT_EQ(t.Check("alice", "ip").value(), 0);
}

TYPED_TEST(ThrottleTest, SuccessClearsTheAccountNotTheIp) {
  auto t = this->Throttle({3, 60}, {4, 60});
  ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
  ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
  ASSERT_TRUE(t.RecordSuccess("alice").ok());
  ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
  ASSERT_TRUE(t.RecordFailure("alice", "ip").ok());
  EXPECT_EQ(t.Check("alice", "other-ip").value(), 0);  // account count restarted
  EXPECT_GT(t.Check("carol", "ip").value(), 0);        // the IP reached 4
}

TYPED_TEST(ThrottleTest, PasswordSprayFromOneIpIsBlocked) {
  auto t = this->Throttle({5, 60}, {10, 60});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.RecordFailure("user" + std::to_string(i), "ip").ok());
  EXPECT_GT(t.Check("fresh-name", "ip").value(), 0);
  EXPECT_EQ(t.Check("fresh-name", "elsewhere").value(), 0);
}

TYPED_TEST(ThrottleTest, IpAttemptsShareTheIpBudgetOnly) {
  auto t = this->Throttle({5, 60}, {3, 60});
  EXPECT_EQ(t.CheckIp("ip").value(), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(t.RecordIpAttempt("ip").ok());
  EXPECT_EQ(t.CheckIp("ip").value(), 60);
  EXPECT_EQ(t.Check("anyone", "ip").value(), 60);  // sign-ins from that address wait too
  EXPECT_EQ(t.CheckIp("other").value(), 0);
  EXPECT_EQ(t.Check("anyone", "other").value(), 0);  // no account was charged
}

// Two processes with two connections share one count (docs/security.md BF-07, on SQLite).
TEST(ThrottleSqlite, InstancesShareCounters) {
  testing::TempDir dir;
  FakeClock clock(kT0);
  auto a_store = testing::SqliteBackend::Throttle(dir.path());
  auto b_store = testing::SqliteBackend::Throttle(dir.path());
  LoginThrottle a(a_store.get(), {4, 60}, {100, 60}, &clock);
  LoginThrottle b(b_store.get(), {4, 60}, {100, 60}, &clock);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(a.RecordFailure("alice", "ip").ok());
    ASSERT_TRUE(b.RecordFailure("alice", "ip").ok());
  }
  EXPECT_GT(a.Check("alice", "ip").value(), 0);
  EXPECT_GT(b.Check("alice", "ip").value(), 0);
}

}  // namespace
}  // namespace tessera::user
