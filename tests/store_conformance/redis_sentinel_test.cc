// Redis behind Sentinel (redis+sentinel://): the stores find the primary through the sentinels,
// follow a failover (ordered, after a SIGKILL, after a SIGSTOP) without a restart, answer
// kUnavailable (never a wrong answer) while there is no primary, and keep what was replicated.
// A real group on loopback: a primary, a replica and three redis-sentinel processes.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/redis/client.h"
#include "tessera/store/redis.h"
#include "testing/redis_server.h"

namespace tessera::store {
namespace {

using session::Session;
using session::SessionKind;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::RedisServer;

constexpr char kMaster[] = "tessera-group";

Session CookieSession(const std::string& id) {
  return Session{.id_hash = "id-" + id,
                 .handle = "h-" + id,
                 .user_id = "u-" + id,
                 .csrf_hash = "c",
                 .kind = SessionKind::kCookie,
                 .created_at = 100,
                 .last_seen_at = 100,
                 .expires_at = 4'000'000'000,
                 .tokens_until = 0,
                 .user_agent = "UA",
                 .ip = "::1"};
}

Result<redis::Reply> Ask(int port, const std::vector<std::string_view>& argv) {
  redis::Endpoint e;
  e.host = "127.0.0.1";
  e.port = static_cast<uint16_t>(port);
  TESSERA_ASSIGN_OR_RETURN(auto conn, redis::Connection::Open(e, {}));
  return conn->Command(argv);
}

// "master" or "slave", from ROLE; empty when the server does not answer.
std::string Role(int port) {
  auto r = Ask(port, {"ROLE"});
  if (!r || r->type != redis::Reply::Type::kArray || r->elements.empty()) return "";
  return r->elements[0].str;
}

template <typename F>
bool Eventually(F&& done, std::chrono::seconds within) {
  const auto deadline = steady_clock::now() + within;
  while (steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return done();
}

// A primary, one replica, three sentinels (quorum 2), all on loopback; ready when the replica is
// in sync and every sentinel knows the replica and the two other sentinels (which a failover
// after a crash needs: they must agree that the primary is down and elect a leader).
class SentinelGroup : public ::testing::Test {
 protected:
  void SetUp() override {
    // A replica re-synchronises at once (Redis 7 waits 5 s by default, for others to join).
    const std::vector<std::string> sync = {"--repl-diskless-sync-delay", "0"};
    primary_ = std::make_unique<RedisServer>(sync);
    std::vector<std::string> replica_args = sync;
    replica_args.insert(replica_args.end(),
                        {"--replicaof", "127.0.0.1", std::to_string(primary_->port())});
    replica_ = std::make_unique<RedisServer>(replica_args);
    for (int i = 0; i < 3; ++i) {
      sentinels_.push_back(RedisServer::Sentinel(primary_->port(), kMaster, 2));
    }
    ASSERT_TRUE(Eventually(
        [&] {
          auto info = Ask(replica_->port(), {"INFO", "replication"});
          if (!info || info->str.find("master_link_status:up") == std::string::npos) return false;
          for (const auto& s : sentinels_) {
            auto replicas = Ask(s->port(), {"SENTINEL", "replicas", kMaster});
            auto peers = Ask(s->port(), {"SENTINEL", "sentinels", kMaster});
            if (!replicas || replicas->elements.size() != 1 || !peers ||
                peers->elements.size() != 2) {
              return false;
            }
          }
          return true;
        },
        std::chrono::seconds(30)))
        << "the sentinel group did not form; logs in " << sentinels_[0]->dir();
  }

  std::string Url() const {
    std::string url = "redis+sentinel://";
    for (size_t i = 0; i < sentinels_.size(); ++i) {
      if (i) url += ",";
      url += "127.0.0.1:" + std::to_string(sentinels_[i]->port());
    }
    return url + "/" + kMaster;
  }

  static RedisOptions Options() {
    return {.prefix = "group:",
            .pool_size = 4,
            .connect_timeout = milliseconds(500),
            .command_timeout = milliseconds(500)};
  }

  // The address the sentinels give for the group now.
  int PrimaryPort() const {
    auto r = Ask(sentinels_[0]->port(), {"SENTINEL", "get-master-addr-by-name", kMaster});
    if (!r || r->elements.size() != 2) return 0;
    return std::stoi(r->elements[1].str);
  }

  // The replica has everything the primary acknowledged so far.
  void WaitReplicated() {
    auto r = Ask(primary_->port(), {"WAIT", "1", "2000"});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->integer, 1);
  }

  std::unique_ptr<RedisServer> primary_, replica_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

// With wait_replicas=1 a write is answered only once a replica has it. After the switch the new
// primary has no replica until the sentinels demote the old one (some ten seconds later) and it
// has re-synchronised; until then the store says kUnavailable rather than acknowledge a write
// that a second failover could lose. (Without wait_replicas, a client still connected to the old
// primary in that window writes to it, and its demotion discards those writes.)
TEST_F(SentinelGroup, FindsThePrimaryAndFollowsAnOrderedFailover) {
  auto store = OpenRedisSessionStore(Url() + "?wait_replicas=1", Options());
  ASSERT_TRUE(store) << store.error().ToString();
  ASSERT_TRUE((*store)->Create(CookieSession("before"), {}, 100, nullptr).ok());
  // Written to the primary, not the replica (which would have refused it).
  auto on_primary = Ask(primary_->port(), {"EXISTS", "group:s:" + redis::Hex("id-before")});
  ASSERT_TRUE(on_primary);
  EXPECT_EQ(on_primary->integer, 1);
  auto head = (*store)->FeedHead();
  ASSERT_TRUE(head);
  WaitReplicated();

  auto failover = Ask(sentinels_[1]->port(), {"SENTINEL", "FAILOVER", kMaster});
  ASSERT_TRUE(failover && !failover->is_error()) << (failover ? failover->str : "");
  ASSERT_TRUE(
      Eventually([&] { return Role(replica_->port()) == "master"; }, std::chrono::seconds(20)));
  // The store follows by itself: writes land on the new primary, acknowledged once the old one
  // has become its replica (wait_replicas). Attempts answered kUnavailable meanwhile may or may
  // not have been written; each try uses a new id.
  Status last;
  std::string acknowledged;
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string id =
            "after-" + std::to_string(steady_clock::now().time_since_epoch().count());
        last = (*store)->Create(CookieSession(id), {}, 100, nullptr);
        if (!last.ok()) {
          EXPECT_EQ(last.code(), Code::kUnavailable) << last.ToString();
          return false;
        }
        acknowledged = "id-" + id;
        return true;
      },
      std::chrono::seconds(20)))
      << last.ToString() << "; old primary: " << Role(primary_->port());
  auto on_new = Ask(replica_->port(), {"EXISTS", "group:s:" + redis::Hex(acknowledged)});
  ASSERT_TRUE(on_new);
  EXPECT_EQ(on_new->integer, 1);
  auto on_old = Ask(primary_->port(), {"EXISTS", "group:s:" + redis::Hex(acknowledged)});
  ASSERT_TRUE(on_old);
  EXPECT_EQ(on_old->integer, 1) << "acknowledged, yet not on the replica";
  auto before = (*store)->Get("id-before");
  ASSERT_TRUE(before) << before.error().ToString();
  EXPECT_TRUE(before->has_value());
  // Another server means another feed: a follower's cursor reads as a gap, and it reloads.
  auto changes = (*store)->ReadChanges(*head, 10, milliseconds(0));
  ASSERT_TRUE(changes) << changes.error().ToString();
  EXPECT_TRUE(changes->gap);
}

TEST_F(SentinelGroup, AKilledPrimaryIsReplacedWithoutLosingWhatWasReplicated) {
  auto store = OpenRedisSessionStore(Url(), Options());
  ASSERT_TRUE(store) << store.error().ToString();
  ASSERT_TRUE((*store)->Create(CookieSession("kept"), {}, 100, nullptr).ok());
  ASSERT_TRUE((*store)->Remove("id-kept"));
  ASSERT_TRUE((*store)->Create(CookieSession("alive"), {}, 100, nullptr).ok());
  WaitReplicated();

  primary_->Kill();
  // Until the sentinels promote the replica, nothing can be known: never "no such session".
  bool failed_closed = false;
  bool recovered = Eventually(
      [&] {
        auto got = (*store)->Get("id-alive");
        if (!got) {
          EXPECT_EQ(got.error().code(), Code::kUnavailable) << got.error().ToString();
          failed_closed = true;
          return false;
        }
        EXPECT_TRUE(got->has_value()) << "a live session read as absent during a failover";
        return got->has_value();
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(recovered) << "no new primary; see " << sentinels_[0]->dir() << "/redis.log";
  EXPECT_TRUE(failed_closed);
  EXPECT_EQ(PrimaryPort(), replica_->port());
  // What was ended before the crash stays ended on the new primary.
  auto ended = (*store)->Get("id-kept");
  ASSERT_TRUE(ended);
  EXPECT_FALSE(ended->has_value());
  EXPECT_TRUE((*store)->Create(CookieSession("new"), {}, 100, nullptr).ok());
}

// A frozen primary keeps its connections open: the store must not wait on them once the
// sentinels have moved on. The watcher's +switch-master retires every pooled connection of the
// old primary, so the first call after the switch goes to the new one.
TEST_F(SentinelGroup, AFrozenPrimaryIsLeftBehindAtTheSwitch) {
  auto store = OpenRedisSessionStore(Url(), Options());
  ASSERT_TRUE(store) << store.error().ToString();
  // Several pooled connections to the primary, idle and healthy.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      EXPECT_TRUE(
          (*store)->Create(CookieSession("frozen-" + std::to_string(i)), {}, 100, nullptr).ok());
    });
  }
  for (auto& t : threads) t.join();
  WaitReplicated();

  primary_->Stop();
  auto frozen = (*store)->Get("id-frozen-0");
  ASSERT_FALSE(frozen);
  EXPECT_EQ(frozen.error().code(), Code::kUnavailable);
  ASSERT_TRUE(
      Eventually([&] { return PrimaryPort() == replica_->port(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(
      Eventually([&] { return Role(replica_->port()) == "master"; }, std::chrono::seconds(10)));
  // Give the watcher its message, then every call is answered by the new primary at once,
  // though the old primary's idle connections still look alive.
  std::this_thread::sleep_for(milliseconds(300));
  for (int i = 0; i < 4; ++i) {
    const auto t0 = steady_clock::now();
    auto got = (*store)->Get("id-frozen-" + std::to_string(i));
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_TRUE(got->has_value());
    EXPECT_LT(steady_clock::now() - t0, milliseconds(400)) << "waited on the frozen primary";
  }
  // The old primary comes back as a replica; the store stays on the new primary.
  primary_->Continue();
  ASSERT_TRUE(
      Eventually([&] { return Role(primary_->port()) == "slave"; }, std::chrono::seconds(20)));
  EXPECT_TRUE((*store)->Create(CookieSession("later"), {}, 100, nullptr).ok());
}

TEST(RedisWaitReplicas, AWriteNoReplicaConfirmedIsNotAcknowledged) {
  RedisServer alone;
  auto store = OpenRedisSessionStore(alone.url() + "?wait_replicas=1",
                                     {.prefix = "wait:", .command_timeout = milliseconds(300)});
  ASSERT_TRUE(store) << store.error().ToString();
  const Status s = (*store)->Create(CookieSession("unconfirmed"), {}, 100, nullptr);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("0 of 1 replicas"), std::string::npos) << s.ToString();
  // Reads need no replica.
  EXPECT_TRUE((*store)->ListByUser("u-unconfirmed"));
}

TEST_F(SentinelGroup, AGroupNoSentinelKnowsIsRefusedAtOpen) {
  std::string url = Url();
  url.replace(url.rfind('/') + 1, std::string::npos, "no-such-group");
  auto store = OpenRedisSessionStore(url, Options());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), Code::kUnavailable);
  EXPECT_NE(store.error().message().find("no primary named no-such-group"), std::string::npos)
      << store.error().ToString();
}

}  // namespace
}  // namespace tessera::store
