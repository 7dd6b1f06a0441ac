// What the Redis stores add to the conformance suite: the client (URLs, AUTH, SELECT, TLS,
// scripts reloaded after a flush), several instances on one Redis, and faults: a frozen server,
// a killed and restarted one, a hostile one that sends what is not RESP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "store/redis/client.h"
#include "store_conformance/store_factory.h"
#include "tessera/store/redis.h"
#include "tessera/token/keyset.h"

namespace tessera::store {
namespace {

using session::FirstRefreshToken;
using session::RefreshOutcome;
using session::Session;
using session::SessionKind;
using std::chrono::milliseconds;
using testing::RedisServer;

Session TokenSession(const std::string& id, int64_t created, int64_t expires) {
  return Session{.id_hash = "id-" + id,
                 .handle = "h-" + id,
                 .user_id = "u-" + id,
                 .csrf_hash = "",
                 .kind = SessionKind::kToken,
                 .created_at = created,
                 .last_seen_at = created,
                 .expires_at = expires,
                 .tokens_until = 0,
                 .user_agent = "UA",
                 .ip = "::1"};
}

TEST(RedisUrl, ParsesEveryPart) {
  auto e = redis::ParseUrl("redis://127.0.0.1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
  EXPECT_FALSE(e->tls);
  e = redis::ParseUrl("rediss://app:p%40ss:w@cache.internal:6380/3?ca_file=/etc/ca.pem");
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "p@ss:w");
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 3);
  EXPECT_EQ(e->ca_file, "/etc/ca.pem");
  e = redis::ParseUrl("redis://:only-password@[::1]:7000/1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->user, "");
  EXPECT_EQ(e->password, "only-password");
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  e = redis::ParseUrl("redis://:pa/ss?w#rd@h:7001/2");
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->password, "pa/ss?w#rd");
  EXPECT_EQ(e->host, "h");
  EXPECT_EQ(e->port, 7001);
  EXPECT_EQ(e->db, 2);
  e = redis::ParseUrl("redis://bare-password@h");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->password, "bare-password");  // as redis-cli -u reads it
}

TEST(RedisUrl, ParsesSentinelGroups) {
  auto e = redis::ParseUrl("redis+sentinel://10.0.0.5,10.0.0.6:26380,[::1]:26381/mymaster");
  ASSERT_TRUE(e) << e.error().ToString();
  ASSERT_EQ(e->sentinels.size(), 3u);
  EXPECT_EQ(e->sentinels[0], (redis::HostPort{"10.0.0.5", 26379}));
  EXPECT_EQ(e->sentinels[1], (redis::HostPort{"10.0.0.6", 26380}));
  EXPECT_EQ(e->sentinels[2], (redis::HostPort{"::1", 26381}));
  EXPECT_EQ(e->master, "mymaster");
  EXPECT_EQ(e->db, 0);
  EXPECT_TRUE(e->host.empty());  // found through the sentinels
  EXPECT_FALSE(e->tls);
  e = redis::ParseUrl(
      "rediss+sentinel://app:s%2Fecret@s1:5000/my%20group/4?sentinel_user=watch&"
      "sentinel_password=p%26w&ca_file=/etc/ca.pem");
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "s/ecret");
  EXPECT_EQ(e->master, "my group");
  EXPECT_EQ(e->db, 4);
  EXPECT_EQ(e->sentinel_user, "watch");
  EXPECT_EQ(e->sentinel_password, "p&w");
  EXPECT_EQ(e->ca_file, "/etc/ca.pem");
  EXPECT_EQ(e->wait_replicas, 0);
  e = redis::ParseUrl("redis://h/1?wait_replicas=2");
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->wait_replicas, 2);
}

TEST(RedisUrl, RefusesMalformedSentinelUrlsWithoutSayingAPassword) {
  for (const char* bad :
       {"redis+sentinel://h1,h2", "redis+sentinel://h1,h2/", "redis+sentinel://h1,,h2/m",
        "redis+sentinel://:hunter2-secret@h1:0/m", "redis+sentinel://:hunter2-secret@h1/m/16",
        "redis+sentinel://h1/m?sentinel_password=hunter2%zz", "redis://h?sentinel_password=hunter2",
        "redis+sentinel://h1/m?ca_file=/x", "redis+sentinel://h1/m?hunter2=1",
        "redis://h?wait_replicas=-1", "redis://h?wait_replicas=x"}) {
    auto e = redis::ParseUrl(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(e.error().message().find("hunter2"), std::string::npos) << e.error().message();
  }
}

TEST(RedisUrl, RefusesMalformedUrlsWithoutSayingThePassword) {
  for (const char* bad :
       {"http://h", "redis://", "redis://:hunter2-secret@", "redis://:hunter2-secret@h:0",
        "redis://:hunter2-secret@h:99999", "redis://:hunter2-secret@h:6379/16",
        "redis://:hunter2-secret@h/x", "redis://:hunter2-secret@[::1", "redis://h?ca_file=/x",
        "rediss://h?verify=no", "redis://:bad%zzescape@h",
        // A password with '?', '/' or '#' unescaped stays the password; nothing of it is echoed.
        "redis://:hunter2?secret@h:0", "redis://hunter2/secret@h?x", "redis://:hunter2#x@h?@"}) {
    auto e = redis::ParseUrl(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(e.error().message().find("hunter2"), std::string::npos) << e.error().message();
  }
}

TEST(RedisClient, AuthenticatesAndSaysNothingOfAWrongPassword) {
  RedisServer server({"--requirepass", "correct-redis-pw"});
  const std::string where = "127.0.0.1:" + std::to_string(server.port());
  EXPECT_TRUE(OpenRedisSessionStore("redis://:correct-redis-pw@" + where));
  EXPECT_TRUE(OpenRedisSessionStore("redis://default:correct-redis-pw@" + where));
  const std::vector<std::string> refused = {"redis://:wrong-redis-pw@" + where, "redis://" + where};
  for (const std::string& url : refused) {
    auto store = OpenRedisSessionStore(url);
    ASSERT_FALSE(store) << url;
    EXPECT_EQ(store.error().code(), Code::kUnavailable);
    EXPECT_EQ(store.error().message().find("wrong-redis-pw"), std::string::npos)
        << store.error().message();
  }
}

// A server that may evict keys may evict a revocation: refused at open, saying why.
TEST(RedisClient, RefusesAServerThatMayEvictKeys) {
  RedisServer server({"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"});
  auto store = OpenRedisSessionStore(server.url());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), Code::kInvalidArgument);
  EXPECT_NE(store.error().message().find("noeviction"), std::string::npos)
      << store.error().message();
}

TEST(RedisClient, UsesTheDatabaseTheUrlNames) {
  RedisServer& server = RedisServer::Shared();
  auto store = OpenRedisSessionStore(server.url() + "/5", {.prefix = "dbtest:"});
  ASSERT_TRUE(store);
  const Status created = (*store)->Create(TokenSession("a", 100, 1000), {}, 100, nullptr);
  ASSERT_TRUE(created.ok()) << created.ToString();
  auto conn = redis::Connection::Open(*redis::ParseUrl(server.url() + "/5"), {});
  ASSERT_TRUE(conn);
  EXPECT_EQ((*conn)->Command({"EXISTS", "dbtest:s:69642d61"})->integer, 1);  // hex of "id-a"
  auto db0 = redis::Connection::Open(*redis::ParseUrl(server.url()), {});
  ASSERT_TRUE(db0);
  EXPECT_EQ((*db0)->Command({"EXISTS", "dbtest:s:69642d61"})->integer, 0);
}

TEST(RedisClient, SpeaksTlsAndVerifiesTheServer) {
  RedisServer server({}, /*tls=*/true);
  const std::string where = "127.0.0.1:" + std::to_string(server.port());
  auto store = OpenRedisSessionStore(
      "rediss://" + where + "/0?ca_file=" + server.dir() + "/cert.pem", {.prefix = "tls:"});
  ASSERT_TRUE(store) << store.error().ToString();
  ASSERT_TRUE((*store)->Create(TokenSession("a", 100, 1000), {}, 100, nullptr).ok());
  EXPECT_TRUE((*store)->Get("id-a")->has_value());
  // The system's CAs do not know the self-signed certificate: refused, not trusted anyway.
  auto untrusted =
      OpenRedisSessionStore("rediss://" + where, {.connect_timeout = milliseconds(2000)});
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code(), Code::kUnavailable);
  EXPECT_NE(untrusted.error().message().find("certificate"), std::string::npos)
      << untrusted.error().message();
  // Plain text to a TLS port gets no answer that passes for one.
  auto plain = OpenRedisSessionStore("redis://" + where, {.connect_timeout = milliseconds(500),
                                                          .command_timeout = milliseconds(500)});
  EXPECT_FALSE(plain);
}

TEST(RedisClient, ScriptsComeBackAfterTheServerForgetsThem) {
  auto store = OpenRedisSessionStore(RedisServer::Shared().url(), {.prefix = "flush:"});
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Create(TokenSession("a", 100, 1000), {}, 100, nullptr).ok());
  auto conn = redis::Connection::Open(*redis::ParseUrl(RedisServer::Shared().url()), {});
  ASSERT_TRUE(conn);
  ASSERT_EQ((*conn)->Command({"SCRIPT", "FLUSH"})->str, "OK");
  // Every pooled connection sees NOSCRIPT now; the store loads the script and carries on.
  auto gone = (*store)->Remove("id-a");
  ASSERT_TRUE(gone) << gone.error().ToString();
  EXPECT_TRUE(gone->has_value());
}

// Several instances on one Redis are one store: what one writes the other reads, and a refresh
// token presented to both at once yields one successor.
TEST(RedisStores, TwoInstancesAgreeAndRotateATokenOnce) {
  testing::TempDir dir;
  auto a = testing::RedisBackend::Sessions(dir.path());
  auto b = testing::RedisBackend::Sessions(dir.path());
  const Session s = TokenSession("shared", 100, 100000);
  ASSERT_TRUE(a->CreateTokenSession(s, FirstRefreshToken{.hash = "rt0"}, {}, 100, nullptr).ok());
  auto seen = b->Get(s.id_hash);
  ASSERT_TRUE(seen && seen->has_value());
  EXPECT_EQ(**seen, s);
  std::atomic<int> rotated{0}, reuse{0}, unknown{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      session::SessionStore& store = i % 2 ? *a : *b;
      auto r = store.RotateRefresh({.presented_hash = "rt0",
                                    .successor_hash = "rt1-" + std::to_string(i),
                                    .now_ms = 200'000});
      if (!r) {
        ++failed;
      } else if (r->outcome == RefreshOutcome::kRotated) {
        ++rotated;
      } else if (r->outcome == RefreshOutcome::kReuseDetected) {
        ++reuse;
      } else if (r->outcome == RefreshOutcome::kUnknown) {
        ++unknown;
      }
    });
  }
  for (auto& t : threads) t.join();
  // The first rotates; the second is a replay (no grace window) and ends the family; the rest
  // find nothing.
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(reuse, 1);
  EXPECT_EQ(unknown, 14);
  EXPECT_FALSE(b->Get(s.id_hash)->has_value());  // reuse ended the family for everyone
}

// Redis keeps what a failing script wrote before it failed, so a script checks everything first:
// a session record it cannot read ends nothing, rather than losing its keys and its revocation.
TEST(RedisStores, ARecordThatCannotBeReadEndsNothing) {
  testing::TempDir dir;
  auto store = testing::RedisBackend::Sessions(dir.path());
  const Session s = TokenSession("broken", 100, 100000);
  ASSERT_TRUE(store->CreateTokenSession(s, FirstRefreshToken{.hash = "rt"}, {}, 100, nullptr).ok());
  ASSERT_TRUE(store->ExtendTokensUntil(s.id_hash, 900).ok());
  auto conn = redis::Connection::Open(*redis::ParseUrl(RedisServer::Shared().url()), {});
  ASSERT_TRUE(conn);
  const std::string key = testing::RedisBackend::Prefix(dir.path()) + "s:" + redis::Hex(s.id_hash);
  ASSERT_TRUE((*conn)->Command({"HSET", key, "tu", "not a number"}));
  auto removed = store->Remove(s.id_hash);
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), Code::kUnavailable);
  EXPECT_EQ((*conn)->Command({"EXISTS", key})->integer, 1);
  const std::string record = testing::RedisBackend::Prefix(dir.path()) + "r:" + redis::Hex("rt");
  EXPECT_EQ((*conn)->Command({"EXISTS", record})->integer, 1);
  // Repaired, it ends as any session does, its revocation recorded.
  ASSERT_TRUE((*conn)->Command({"HSET", key, "tu", "900"}));
  auto ended = store->Remove(s.id_hash);
  ASSERT_TRUE(ended && ended->has_value()) << (ended ? "" : ended.error().ToString());
  EXPECT_EQ(store->ListRevocations(100).value(),
            (std::vector<session::Revocation>{{s.handle, 900}}));
}

TEST(RedisStores, ThrottleCountersAreAtomicAcrossInstances) {
  testing::TempDir dir;
  auto a = testing::RedisBackend::Throttle(dir.path());
  auto b = testing::RedisBackend::Throttle(dir.path());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 25; ++n) {
        auto r =
            (i % 2 ? *a : *b).Update("user:alice", [](user::ThrottleRecord& x) { ++x.failures; });
        EXPECT_TRUE(r) << r.error().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a->Get("user:alice")->failures, 200u);
}

// Fail closed, recover by itself: a frozen server answers nothing within the command timeout,
// and a killed one that comes back is used again without restarting anything.
TEST(RedisFaults, FrozenKilledAndRestartedServers) {
  RedisServer server;
  auto store = OpenRedisSessionStore(server.url(), {.prefix = "fault:",
                                                    .connect_timeout = milliseconds(500),
                                                    .command_timeout = milliseconds(500)});
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Create(TokenSession("a", 100, 100000), {}, 100, nullptr).ok());

  server.Stop();
  const auto t0 = std::chrono::steady_clock::now();
  auto frozen = (*store)->Get("id-a");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(frozen);
  EXPECT_EQ(frozen.error().code(), Code::kUnavailable);
  // One command timeout, not two: a read that timed out is not retried on a fresh connection
  // (which the kernel would accept for the frozen server, only to time out again).
  // The kernel's socket timeout may end a fraction of a millisecond early (seen: 499.7 ms).
  EXPECT_GE(waited, milliseconds(450));
  EXPECT_LT(waited, milliseconds(950));
  server.Continue();
  auto again = (*store)->Get("id-a");
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->has_value());

  server.Kill();
  auto down = (*store)->Create(TokenSession("b", 100, 100000), {}, 100, nullptr);
  EXPECT_EQ(down.code(), Code::kUnavailable);
  server.Start();  // no persistence: the data is gone, the store must work again at once
  EXPECT_TRUE((*store)->Create(TokenSession("b", 100, 100000), {}, 100, nullptr).ok());
  EXPECT_TRUE((*store)->Get("id-b")->has_value());
}

// A loopback server that answers every connection with fixed bytes: what a hostile or broken
// server (or something else on the port) could send.
class FakeServer {
 public:
  explicit FakeServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 4);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)::recv(c, buf, sizeof buf, 0);
      size_t sent = 0;
      while (sent < answer_.size()) {
        const ssize_t n = ::send(c, answer_.data() + sent, answer_.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::close(c);
    });
  }
  ~FakeServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A replica after a failover, or a server loading its data: the answer is an error, and the
// connection is dropped so that the pool's next one can reach the new primary.
TEST(RedisFaults, AReadOnlyReplicaBreaksTheConnection) {
  FakeServer fake("-READONLY You can't write against a read only replica.\r\n");
  redis::Endpoint e{.host = "127.0.0.1", .port = static_cast<uint16_t>(fake.port())};
  auto conn = redis::Connection::Open(e, {});
  ASSERT_TRUE(conn);
  auto r = (*conn)->Command({"SET", "k", "v"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error_kind(), "READONLY");
  EXPECT_TRUE((*conn)->broken());
}

TEST(RedisFaults, AHostileServerIsUnavailableNotACrash) {
  const struct {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"not RESP", "HTTP/1.1 200 OK\r\n\r\n"},
      {"nested too deep",
       [] {
         std::string s;
         for (int i = 0; i < 50; ++i) s += "*1\r\n";
         return s;
       }()},
      {"a bulk string larger than the limit", "$100000000\r\n" + std::string(size_t{2} << 20, 'x')},
      {"a closed connection", ""},
      // hiredis would allocate 2^31 pointers for this header alone; the element budget refuses it.
      {"an array announcing 2^31 elements", "*2147483647\r\n:1\r\n"},
      {"more elements than the bytes allow",
       [] {
         std::string s = "*200000\r\n";
         for (int i = 0; i < 200000; ++i) s += ":1\r\n";
         return s;
       }()},
  };
  for (const auto& c : cases) {
    FakeServer fake(c.bytes);
    SCOPED_TRACE(c.what);
    redis::Endpoint e{.host = "127.0.0.1", .port = static_cast<uint16_t>(fake.port())};
    auto conn = redis::Connection::Open(e, {.connect_timeout = milliseconds(500),
                                            .command_timeout = milliseconds(1000),
                                            .max_reply_bytes = size_t{1} << 20});
    ASSERT_TRUE(conn) << c.what;
    auto r = (*conn)->Command({"PING"});
    ASSERT_FALSE(r) << c.what;
    EXPECT_EQ(r.error().code(), Code::kUnavailable) << c.what;
    EXPECT_TRUE((*conn)->broken()) << c.what;
  }
}

// The signing keyset in Redis (token.keyset_secret_file): instances that share no data directory
// share their keys. Two processes creating and rotating at once make one keyset and one new key;
// every write is announced on the feed; what Redis holds is sealed. On one server and on a Redis
// Cluster (the parameter), where the keyset is in the layout's group 0.
class RedisKeysetTest : public ::testing::TestWithParam<bool> {
 protected:
  static constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef-keyset-secret";
  static std::string Url() {
    return GetParam() ? testing::RedisCluster::Shared().url() : RedisServer::Shared().url();
  }
  // The shared servers start on this (the main) thread: a server started from one of a test's
  // threads would die with that thread (its parent-death signal follows the thread).
  void SetUp() override { (void)Url(); }
  // The key the keyset is stored under (docs/design.md, "Redis Cluster": group 0's tag is the
  // smallest number whose slot is in the first sixteenth of the slot space).
  std::string KeysetKey() const {
    if (!GetParam()) return prefix_ + "keyset";
    uint64_t n = 0;
    while (redis::SlotOf(std::to_string(n)) >= 1024) ++n;
    return prefix_ + "{" + std::to_string(n) + "}keyset";
  }
  std::unique_ptr<token::Keyset> Open(std::string_view secret = kSecret) {
    auto storage = OpenRedisKeysetStorage(Url(), std::string(secret), {.prefix = prefix_});
    EXPECT_TRUE(storage) << storage.error().ToString();
    auto keys = token::Keyset::LoadOrCreate(std::move(*storage), {}, now_);
    EXPECT_TRUE(keys) << keys.error().ToString();
    return keys ? std::move(*keys) : nullptr;
  }
  // The test's name without the parameter's "/0": no '/' nor braces in a key prefix.
  const std::string prefix_ =
      "keyset-" + std::to_string(::getpid()) + "-" +
      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
          .substr(0, std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
                         .find('/')) +
      (GetParam() ? "-cluster:" : ":");
  const int64_t now_ = 1'800'000'000;
};

INSTANTIATE_TEST_SUITE_P(OneServerAndCluster, RedisKeysetTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Cluster" : "OneServer"; });

TEST_P(RedisKeysetTest, InstancesStartingTogetherAgreeOnOneKeyset) {
  std::vector<std::unique_ptr<token::Keyset>> sets(4);
  std::vector<std::thread> threads;
  for (auto& k : sets) threads.emplace_back([&] { k = Open(); });
  for (auto& t : threads) t.join();
  for (const auto& k : sets) ASSERT_NE(k, nullptr);
  const std::string kid = sets[0]->Current(now_)->record.kid();
  for (const auto& k : sets) {
    EXPECT_EQ(k->Current(now_)->record.kid(), kid);
    EXPECT_EQ(k->Published(now_)->json, sets[0]->Published(now_)->json);
  }
}

TEST_P(RedisKeysetTest, ConcurrentRotationsMakeOneKeyAndEveryInstanceSeesIt) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  auto feed = OpenRedisSessionStore(Url(), {.prefix = prefix_});
  ASSERT_TRUE(feed);
  const session::FeedPosition head = (*feed)->FeedHead().value();
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto r = (i % 2 ? a : b)->Rotate(now_);
      ASSERT_TRUE(r) << r.error().ToString();
      created += r->created;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1) << "one rotation, the others found it pending";
  ASSERT_TRUE(a->ReloadIfChanged());
  ASSERT_TRUE(b->ReloadIfChanged());
  EXPECT_EQ(a->List(now_).size(), 2u);
  EXPECT_EQ(a->Published(now_)->json, b->Published(now_)->json);
  // The write was announced, so instances reload at once rather than at their next poll.
  auto batch = (*feed)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->changes.size(), 1u);
  EXPECT_EQ(batch->changes[0].kind, session::ChangeKind::kKeysetChanged);
}

TEST_P(RedisKeysetTest, RedisHoldsNoUsableKeyAndAnotherSecretOpensNothing) {
  auto a = Open();
  ASSERT_TRUE(a);
  redis::Router router(*redis::ParseUrl(Url()), {}, 1);
  auto doc = router.Command(KeysetKey(), {"HGET", KeysetKey(), "doc"}, true);
  ASSERT_TRUE(doc && doc->type == redis::Reply::Type::kString);
  const std::string d = a->Current(now_)->record.key.ToJson(/*include_private=*/true);
  EXPECT_NE(d.find("\"d\""), std::string::npos);
  EXPECT_EQ(doc->str.find("\"d\""), std::string::npos) << "the private member is sealed";
  EXPECT_EQ(doc->str.find(a->Current(now_)->record.kid()), std::string::npos);
  auto storage = OpenRedisKeysetStorage(Url(), "another secret of at least thirty-two bytes",
                                        {.prefix = prefix_});
  ASSERT_TRUE(storage);
  auto other = token::Keyset::Load(std::move(*storage), {});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(OpenRedisKeysetStorage(Url(), "short").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::store
