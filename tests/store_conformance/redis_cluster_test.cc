// Redis Cluster (redis+cluster://): the client's slot map and redirects, the stores' layout of
// groups under hash tags, the outboxes' relay into the one feed, and faults, on real three-primary
// clusters started on loopback (tests/testing/redis_server.h). The conformance suites run on a
// cluster too (store_factory.h, RedisClusterBackend); this file holds what only a cluster has.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "store/redis/client.h"
#include "store_conformance/store_factory.h"
#include "tessera/store/redis.h"
#include "tessera/token/keyset.h"

namespace tessera::store {
namespace {

using session::Session;
using session::SessionKind;
using std::chrono::milliseconds;
using testing::RedisCluster;

std::unique_ptr<redis::Connection> Connect(const std::string& url) {
  auto conn = redis::Connection::Open(*redis::ParseUrl(url), {});
  EXPECT_TRUE(conn) << conn.error().ToString();
  return conn ? std::move(*conn) : nullptr;
}

std::string Str(const Result<redis::Reply>& r) {
  if (!r) return "(" + r.error().ToString() + ")";
  return r->str;
}

// The node of `cluster` that serves `slot`, as CLUSTER SLOTS says.
size_t Owner(RedisCluster& cluster, uint16_t slot) {
  auto conn = Connect(cluster.node(0).url());
  auto map = conn->Command({"CLUSTER", "SLOTS"});
  EXPECT_TRUE(map && map->type == redis::Reply::Type::kArray);
  for (const auto& range : map->elements) {
    if (range.elements[0].integer <= slot && slot <= range.elements[1].integer) {
      const int64_t port = range.elements[2].elements[1].integer;
      for (size_t i = 0; i < cluster.size(); ++i) {
        if (cluster.node(i).port() == port) return i;
      }
    }
  }
  ADD_FAILURE() << "no node serves slot " << slot;
  return 0;
}

// Whether node `i` of `cluster` holds `key`: listed among the keys it has in the key's slot,
// which it answers whatever the slot's state (a command on the key itself may be redirected,
// and an error must fail the test rather than read as "no").
bool Holds(RedisCluster& cluster, size_t i, const std::string& key) {
  auto conn = Connect(cluster.node(i).url());
  auto r = conn->Command({"CLUSTER", "GETKEYSINSLOT", std::to_string(redis::SlotOf(key)), "1000"});
  EXPECT_TRUE(r && r->type == redis::Reply::Type::kArray) << Str(r);
  if (!r) return false;
  for (const auto& k : r->elements) {
    if (k.str == key) return true;
  }
  return false;
}

std::string NodeId(RedisCluster& cluster, size_t i) {
  return Str(Connect(cluster.node(i).url())->Command({"CLUSTER", "MYID"}));
}

// The stores' hash tag of group g (docs/design.md, "Redis Cluster"): the smallest decimal number
// whose slot lies in the g-th sixteenth of the slot space. Computed here on its own, so that a
// change of the layout (which would strand every stored key) fails this file.
std::string GroupTag(size_t g) {
  for (uint64_t n = 0;; ++n) {
    const std::string tag = std::to_string(n);
    if (redis::SlotOf(tag) * 16 / 16384 == g) return tag;
  }
}

Session NewSession(const std::string& id, const std::string& user, int64_t now) {
  return Session{.id_hash = "id-" + id,
                 .handle = "h-" + id,
                 .user_id = user,
                 .csrf_hash = "",
                 .kind = SessionKind::kCookie,
                 .created_at = now,
                 .last_seen_at = now,
                 .expires_at = now + 3600,
                 .tokens_until = now + 600,
                 .user_agent = "UA",
                 .ip = "::1"};
}

// Get, asked every 100 ms until the store answers (a node coming back, a replica taking over),
// at most `attempts` times: the last result.
Result<std::optional<Session>> GetOnceAnswered(session::SessionStore& store,
                                               const std::string& id_hash, int attempts) {
  Result<std::optional<Session>> got = std::optional<Session>();
  for (int attempt = 0; attempt < attempts; ++attempt) {
    got = store.Get(id_hash);
    if (got) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return got;
}

std::string UniquePrefix() {
  return "cl-" + std::to_string(::getpid()) + "-" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
}

// A new reader of the feed, at `head`, finds a gap: the feed has a new identity, and it reloads.
void ExpectReaderReloads(RedisCluster& cluster, const std::string& prefix,
                         const session::FeedPosition& head) {
  auto reader = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(reader) << reader.error().ToString();
  auto batch = (*reader)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_TRUE(batch->gap);
  EXPECT_NE(batch->next.feed, head.feed);
}

TEST(RedisClusterUrl, ParsesSeedsAndRefusesAnotherDatabase) {
  auto e = redis::ParseUrl("redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2,[::1]:7002");
  ASSERT_TRUE(e) << e.error().ToString();
  ASSERT_EQ(e->cluster_seeds.size(), 3u);
  EXPECT_EQ(e->cluster_seeds[0], (redis::HostPort{"10.0.0.1", 7000}));
  EXPECT_EQ(e->cluster_seeds[1], (redis::HostPort{"10.0.0.2", 6379}));
  EXPECT_EQ(e->cluster_seeds[2], (redis::HostPort{"::1", 7002}));
  EXPECT_EQ(e->host, "10.0.0.1");
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "s3cret");
  EXPECT_FALSE(e->tls);
  e = redis::ParseUrl("rediss+cluster://h:7000/0?ca_file=/etc/ca.pem&wait_replicas=1");
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->ca_file, "/etc/ca.pem");
  EXPECT_EQ(e->wait_replicas, 1);
  auto db = redis::ParseUrl("redis+cluster://:pw@h:7000/1");
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().message().find("only database 0"), std::string::npos);
  EXPECT_EQ(db.error().message().find("pw"), std::string::npos);
  EXPECT_FALSE(redis::ParseUrl("redis+cluster://h:7000?sentinel_user=x"));
}

// The examples of the cluster specification, and its hash tag rules.
TEST(RedisSlot, MatchesTheClusterSpecification) {
  EXPECT_EQ(redis::SlotOf("123456789"), 0x31C3 % 16384);  // CRC16 XMODEM check value
  EXPECT_EQ(redis::SlotOf("{user1000}.following"), redis::SlotOf("{user1000}.followers"));
  EXPECT_EQ(redis::SlotOf("{user1000}.following"), redis::SlotOf("user1000"));
  EXPECT_EQ(redis::SlotOf("foo{}{bar}"), redis::SlotOf("foo{}{bar}"));
  EXPECT_NE(redis::SlotOf("foo{}{bar}"), redis::SlotOf("bar"));  // an empty tag: the whole key
  EXPECT_EQ(redis::SlotOf("foo{{bar}}zap"), redis::SlotOf("{bar"));
  EXPECT_EQ(redis::SlotOf("foo{bar}{zap}"), redis::SlotOf("bar"));
  EXPECT_EQ(redis::SlotOf(""), 0);
  // The stores' groups cover every sixteenth of the slot space once.
  std::set<uint16_t> sixteenths;
  for (size_t g = 0; g < 16; ++g) sixteenths.insert(redis::SlotOf(GroupTag(g)) / 1024);
  EXPECT_EQ(sixteenths.size(), 16u);
}

// Moves `slot` from node `src` to node `dst` of `cluster` in the steps `redis-cli --cluster
// reshard` takes; `between` runs after the first `keys_first` keys of the slot have moved (the
// slot then has keys on both nodes), before the rest do and the slot is handed over.
void Migrate(RedisCluster& cluster, uint16_t slot, size_t src, size_t dst, size_t keys_first,
             const std::function<void()>& between) {
  const std::string src_id = NodeId(cluster, src), dst_id = NodeId(cluster, dst);
  auto from = Connect(cluster.node(src).url()), to = Connect(cluster.node(dst).url());
  const std::string s = std::to_string(slot), port = std::to_string(cluster.node(dst).port());
  ASSERT_EQ(Str(to->Command({"CLUSTER", "SETSLOT", s, "IMPORTING", src_id})), "OK");
  ASSERT_EQ(Str(from->Command({"CLUSTER", "SETSLOT", s, "MIGRATING", dst_id})), "OK");
  auto move = [&](size_t n) {
    auto keys = from->Command({"CLUSTER", "GETKEYSINSLOT", s, std::to_string(n)});
    ASSERT_TRUE(keys && keys->type == redis::Reply::Type::kArray);
    for (const auto& k : keys->elements) {
      ASSERT_EQ(Str(from->Command({"MIGRATE", "127.0.0.1", port, k.str, "0", "5000"})), "OK");
    }
  };
  move(keys_first);
  between();
  move(100000);
  for (size_t i = 0; i < cluster.size(); ++i) {
    auto conn = Connect(cluster.node(i).url());
    ASSERT_EQ(Str(conn->Command({"CLUSTER", "SETSLOT", s, "NODE", dst_id})), "OK");
  }
}

// While a slot migrates, its keys are on both nodes: one command on one key follows ASK to the
// node that has it (or will); a script does not (it may compute keys that are on either side) and
// answers kUnavailable until the slot has moved; once it has, the old node answers MOVED and the
// client learns the new map.
TEST(RedisClusterClient, FollowsAskForOneKeyAndMovedForAll) {
  RedisCluster cluster;
  redis::Router router(*redis::ParseUrl(cluster.url()), {.command_timeout = milliseconds(300)}, 2);
  ASSERT_TRUE(router.cluster());
  const std::string k1 = "{migrating}one", k2 = "{migrating}two", k3 = "{migrating}three";
  const uint16_t slot = redis::SlotOf(k1);
  ASSERT_EQ(Str(router.Command(k1, {"SET", k1, "v1"}, false)), "OK");
  ASSERT_EQ(Str(router.Command(k3, {"SET", k3, "v3"}, false)), "OK");
  const size_t src = Owner(cluster, slot), dst = (src + 1) % cluster.size();
  const redis::Script script("return redis.call('GET', KEYS[1])", false);
  // One of the two keys moves first.
  Migrate(cluster, slot, src, dst, 1, [&] {
    const bool one_moved = Holds(cluster, dst, k1);
    ASSERT_NE(one_moved, Holds(cluster, dst, k3)) << "one key, not both or none, moved first";
    const std::string moved = one_moved ? k1 : k3, stayed = one_moved ? k3 : k1;
    EXPECT_EQ(Str(router.Command(moved, {"GET", moved}, true)), one_moved ? "v1" : "v3");
    EXPECT_EQ(Str(router.Command(stayed, {"GET", stayed}, true)), one_moved ? "v3" : "v1");
    // A new key goes to the node the slot is moving to.
    EXPECT_EQ(Str(router.Command(k2, {"SET", k2, "v2"}, false)), "OK");
    EXPECT_FALSE(Holds(cluster, src, k2));
    EXPECT_TRUE(Holds(cluster, dst, k2));
    // A script waits for the end of the migration, here longer than its timeout.
    auto r = router.Run(moved, [&](redis::Connection& c) { return script.Run(c, {moved}, {}); });
    ASSERT_FALSE(r) << Str(r);
    EXPECT_EQ(r.error().code(), Code::kUnavailable);
    EXPECT_NE(r.error().message().find("being migrated"), std::string::npos);
  });
  EXPECT_EQ(Str(router.Command(k1, {"GET", k1}, true)), "v1");  // MOVED, then the new map
  EXPECT_EQ(Str(router.Command(k2, {"GET", k2}, true)), "v2");
  EXPECT_EQ(Owner(cluster, slot), dst);
  EXPECT_FALSE(Holds(cluster, src, k1));
  EXPECT_TRUE(Holds(cluster, dst, k1));
  auto r = router.Run(k1, [&](redis::Connection& c) { return script.Run(c, {k1}, {}); });
  EXPECT_EQ(Str(r), "v1");
}

// A group whose slot is migrated with some of its keys already moved: a logout (a script) neither
// misses the session (which the old node no longer holds) nor half-ends it; it fails closed, and
// once the slot has moved it ends the session, records its revocation and reaches the feed.
TEST(RedisClusterStores, AGroupBeingMigratedFailsClosedAndLosesNothing) {
  RedisCluster cluster;
  const std::string prefix = "migrate:";
  auto store = OpenRedisSessionStore(cluster.url(),
                                     {.prefix = prefix, .command_timeout = milliseconds(300)});
  ASSERT_TRUE(store) << store.error().ToString();
  const Session s = NewSession("m", "user-m", 1000);
  ASSERT_TRUE((*store)->Create(s, {}, 1000, nullptr).ok());
  const session::FeedPosition head = (*store)->FeedHead().value();
  // The session's group: the one whose prefix holds its hash key.
  const std::string id_hex = redis::Hex(s.id_hash);
  std::string gp;
  for (size_t g = 0; g < 16 && gp.empty(); ++g) {
    const std::string candidate = prefix + "{" + GroupTag(g) + "}";
    auto conn = Connect(cluster.node(Owner(cluster, redis::SlotOf(candidate))).url());
    auto held = conn->Command({"EXISTS", candidate + "s:" + id_hex});
    ASSERT_TRUE(held && held->type == redis::Reply::Type::kInteger);
    if (held->integer == 1) gp = candidate;
  }
  ASSERT_FALSE(gp.empty());
  const uint16_t slot = redis::SlotOf(gp);
  const size_t src = Owner(cluster, slot), dst = (src + 1) % cluster.size();
  auto from = Connect(cluster.node(src).url());
  // Move the session's own hash first, so that the old node lacks it.
  const std::string session_key = gp + "s:" + id_hex;
  Migrate(cluster, slot, src, dst, 0, [&] {
    const std::string port = std::to_string(cluster.node(dst).port());
    ASSERT_EQ(Str(from->Command({"MIGRATE", "127.0.0.1", port, session_key, "0", "5000"})), "OK");
    auto ended = (*store)->Remove(s.id_hash);
    ASSERT_FALSE(ended) << "a logout during the migration answered as if it had run";
    EXPECT_EQ(ended.error().code(), Code::kUnavailable);
    // A read of the session's one key follows it to the new node.
    auto got = (*store)->Get(s.id_hash);
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_TRUE(got->has_value());
  });
  auto ended = (*store)->Remove(s.id_hash);
  ASSERT_TRUE(ended) << ended.error().ToString();
  ASSERT_TRUE(ended->has_value()) << "the session was lost in the migration";
  EXPECT_FALSE((*store)->Get(s.id_hash).value().has_value());
  auto revoked = (*store)->ListRevocations(1000);
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->size(), 1u);
  EXPECT_EQ((*revoked)[0].handle, s.handle);
  auto batch = (*store)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->changes.size(), 1u);
  EXPECT_EQ(batch->changes[0].kind, session::ChangeKind::kSessionEnded);
  EXPECT_EQ(batch->changes[0].id_hash, s.id_hash);
}

// Every group of the layout is on some primary, and a cluster of three holds some on each.
TEST(RedisClusterStores, SessionsSpreadOverEveryPrimary) {
  RedisCluster& cluster = RedisCluster::Shared();
  const std::string prefix = UniquePrefix();
  auto store = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(store) << store.error().ToString();
  for (int i = 0; i < 64; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE((*store)->Create(NewSession(n, "user-" + n, 1000), {}, 1000, nullptr).ok());
  }
  std::map<size_t, int> per_node;
  for (size_t g = 0; g < 16; ++g) {
    ++per_node[Owner(cluster, redis::SlotOf(prefix + "{" + GroupTag(g) + "}"))];
  }
  EXPECT_EQ(per_node.size(), cluster.size());
  for (size_t i = 0; i < cluster.size(); ++i) {
    auto conn = Connect(cluster.node(i).url());
    auto keys = conn->Command({"KEYS", prefix + "{*}s:*"});
    ASSERT_TRUE(keys);
    EXPECT_GT(keys->elements.size(), 0u) << "node " << i << " holds no session";
  }
  auto all = (*store)->ListAll(1000);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 64u);
  EXPECT_EQ((*store)->CountAlive(1000).value(), 64u);
}

// An instance that ended a session and stopped before relaying its group's outbox (here: the
// entry written into the outbox by hand, as such a script leaves it) loses nothing: the next
// reader relays it into the feed.
TEST(RedisClusterStores, AnOutboxLeftUnrelayedIsRelayedByTheNextReader) {
  RedisCluster& cluster = RedisCluster::Shared();
  const std::string prefix = UniquePrefix();
  auto store = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(store);
  const session::FeedPosition head = (*store)->FeedHead().value();
  const std::string gp = prefix + "{" + GroupTag(5) + "}";
  redis::Router router(*redis::ParseUrl(cluster.url()), {}, 1);
  auto seq = router.Command(gp, {"INCR", gp + "outbox:seq"}, false);
  ASSERT_TRUE(seq);
  auto added = router.Command(gp,
                              {"XADD", gp + "outbox", "0-" + std::to_string(seq->integer), "k", "2",
                               "i", "", "h", "left-behind", "u", "", "t", "4000000000"},
                              false);
  ASSERT_TRUE(added && !added->is_error()) << Str(added);

  auto reader = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(reader);
  auto batch = (*reader)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_FALSE(batch->gap);
  ASSERT_EQ(batch->changes.size(), 1u);
  EXPECT_EQ(batch->changes[0].kind, session::ChangeKind::kTokenRevoked);
  EXPECT_EQ(batch->changes[0].handle, "left-behind");
  // Relayed once: another reader finds nothing more.
  auto again = (*store)->ReadChanges(batch->next, 100, milliseconds(0));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->changes.empty());
  EXPECT_FALSE(again->gap);
}

// An outbox replaced under the relay (its node lost its data) may have lost entries no reader
// saw: the feed gets a new identity, and every reader reloads.
TEST(RedisClusterStores, ALostOutboxMakesEveryReaderReload) {
  RedisCluster& cluster = RedisCluster::Shared();
  const std::string prefix = UniquePrefix();
  auto store = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(store);
  const Session s = NewSession("lost", "user-lost", 1000);
  ASSERT_TRUE((*store)->Create(s, {}, 1000, nullptr).ok());
  ASSERT_TRUE((*store)->Remove(s.id_hash));
  const session::FeedPosition head = (*store)->FeedHead().value();
  ASSERT_GE(head.seq, 1u);
  // The group's outbox is gone, as after a restart without its data.
  redis::Router router(*redis::ParseUrl(cluster.url()), {}, 1);
  for (size_t g = 0; g < 16; ++g) {
    const std::string gp = prefix + "{" + GroupTag(g) + "}";
    ASSERT_TRUE(
        router.Command(gp, {"DEL", gp + "outbox", gp + "outbox:seq", gp + "outbox:id"}, false));
  }
  ExpectReaderReloads(cluster, prefix, head);
}

// Instances ending sessions at once all relay the same outboxes: every ending reaches the feed
// exactly once, in the order of its group, and no race is taken for a loss (which would make
// every reader reload).
TEST(RedisClusterStores, ConcurrentRelaysMoveEveryEntryOnce) {
  RedisCluster& cluster = RedisCluster::Shared();
  const std::string prefix = UniquePrefix();
  constexpr int kThreads = 4, kEach = 40;
  std::vector<std::unique_ptr<session::SessionStore>> stores;
  for (int i = 0; i < kThreads; ++i) {
    auto s = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
    ASSERT_TRUE(s) << s.error().ToString();
    stores.push_back(std::move(*s));
  }
  const session::FeedPosition head = stores[0]->FeedHead().value();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kEach; ++j) {
        // Four users: the threads share their groups' outboxes.
        const Session s = NewSession(std::to_string(i) + "-" + std::to_string(j),
                                     "user-" + std::to_string(j % 4), 1000);
        if (!stores[i]->Create(s, {}, 1000, nullptr).ok()) ++failures;
        auto gone = stores[i]->Remove(s.id_hash);
        if (!gone || !*gone) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  std::set<std::string> ended;
  session::FeedPosition at = head;
  for (int reads = 0; reads < 100; ++reads) {
    auto batch = stores[1]->ReadChanges(at, 50, milliseconds(0));
    ASSERT_TRUE(batch) << batch.error().ToString();
    ASSERT_FALSE(batch->gap) << "a race between relays was taken for a loss";
    if (batch->changes.empty()) break;
    for (const auto& c : batch->changes) {
      EXPECT_EQ(c.kind, session::ChangeKind::kSessionEnded);
      EXPECT_TRUE(ended.insert(c.id_hash).second) << "an entry relayed twice";
    }
    at = batch->next;
  }
  EXPECT_EQ(ended.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(at.seq, head.seq + kThreads * kEach);
}

// An outbox that went back and numbered an entry again (a failover to a replica that was behind
// the relay, with the outbox's id unchanged): the entry at the relay mark says something else
// now, so the relay takes it for a loss and every reader reloads.
TEST(RedisClusterStores, AnOutboxThatWentBackMakesEveryReaderReload) {
  RedisCluster& cluster = RedisCluster::Shared();
  const std::string prefix = UniquePrefix();
  auto store = OpenRedisSessionStore(cluster.url(), {.prefix = prefix});
  ASSERT_TRUE(store);
  const Session s = NewSession("back", "user-back", 1000);
  ASSERT_TRUE((*store)->Create(s, {}, 1000, nullptr).ok());
  ASSERT_TRUE((*store)->Remove(s.id_hash));  // entry 1 of its group's outbox, relayed
  const session::FeedPosition head = (*store)->FeedHead().value();
  redis::Router router(*redis::ParseUrl(cluster.url()), {}, 1);
  bool rewritten = false;
  for (size_t g = 0; g < 16; ++g) {
    const std::string gp = prefix + "{" + GroupTag(g) + "}";
    auto n = router.Command(gp, {"XLEN", gp + "outbox"}, true);
    ASSERT_TRUE(n);
    if (n->integer != 1) continue;
    // The same number, another entry; the id of the outbox stays.
    ASSERT_TRUE(router.Command(gp, {"DEL", gp + "outbox"}, false));
    auto added = router.Command(gp,
                                {"XADD", gp + "outbox", "0-1", "k", "2", "i", "", "h", "renumbered",
                                 "u", "", "t", "4000000000"},
                                false);
    ASSERT_TRUE(added && !added->is_error()) << Str(added);
    rewritten = true;
  }
  ASSERT_TRUE(rewritten);
  ExpectReaderReloads(cluster, prefix, head);
}

// One primary frozen (SIGSTOP): what lives on it answers kUnavailable within the command timeout,
// never a stale or empty answer; the feed's reader is not current (it cannot look at that node's
// outboxes); everything works again once it continues.
TEST(RedisClusterFaults, AFrozenPrimaryFailsClosedAndRecovers) {
  // The other nodes call the frozen one failed (and the cluster down) only after 10 s: the
  // lookups below all happen before.
  RedisCluster cluster(/*node_timeout_ms=*/10000);
  const RedisOptions options{.prefix = "fault:",
                             .connect_timeout = milliseconds(300),
                             .command_timeout = milliseconds(300)};
  auto store = OpenRedisSessionStore(cluster.url(), options);
  ASSERT_TRUE(store) << store.error().ToString();
  std::vector<Session> sessions;
  for (int i = 0; i < 12; ++i) {
    sessions.push_back(NewSession(std::to_string(i), "user-" + std::to_string(i), 1000));
    ASSERT_TRUE((*store)->Create(sessions.back(), {}, 1000, nullptr).ok());
  }
  const session::FeedPosition head = (*store)->FeedHead().value();
  cluster.node(2).Stop();
  int unavailable = 0, found = 0;
  for (const Session& s : sessions) {
    auto got = (*store)->Get(s.id_hash);
    if (got) {
      ASSERT_TRUE(got->has_value()) << "a live session read as absent";
      ++found;
    } else {
      EXPECT_EQ(got.error().code(), Code::kUnavailable);
      ++unavailable;
    }
  }
  EXPECT_GT(unavailable, 0);  // the directory or the session on the frozen node
  EXPECT_GT(found, 0);        // the others still answer (before the cluster calls the node down)
  auto batch = (*store)->ReadChanges(head, 100, milliseconds(0));
  EXPECT_FALSE(batch);
  cluster.node(2).Continue();
  cluster.WaitUntilOk();
  // Back: every session answers again (asked until it does, for a loaded machine).
  for (const Session& s : sessions) {
    const auto got = GetOnceAnswered(**store, s.id_hash, 20);
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_TRUE(got->has_value());
  }
  auto after = (*store)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(after) << after.error().ToString();
  EXPECT_FALSE(after->gap);
}

// A primary killed (SIGKILL) under a cluster with a replica of each, the store on
// ?wait_replicas=1: its replica takes over, the client finds it (the old primary's connections
// fail, and the map is asked for again), and nothing acknowledged is lost: live sessions live,
// ended ones stay ended with their revocations, and the feed goes on without a gap (the outboxes
// and their relay marks came over intact).
TEST(RedisClusterFaults, AKilledPrimaryFailsOverAndLosesNothingAcknowledged) {
  RedisCluster cluster(/*node_timeout_ms=*/1000, /*replicas=*/1);
  const std::string prefix = "failover:";
  auto store = OpenRedisSessionStore(cluster.url() + "?wait_replicas=1",
                                     {.prefix = prefix,
                                      .connect_timeout = milliseconds(500),
                                      .command_timeout = milliseconds(1000)});
  ASSERT_TRUE(store) << store.error().ToString();
  const session::FeedPosition head = (*store)->FeedHead().value();
  std::vector<Session> live, ended;
  for (int i = 0; i < 24; ++i) {
    const Session s = NewSession(std::to_string(i), "user-" + std::to_string(i), 1000);
    const Status created = (*store)->Create(s, {}, 1000, nullptr);
    ASSERT_TRUE(created.ok()) << created.ToString();
    (i % 3 == 0 ? ended : live).push_back(s);
  }
  for (const Session& s : ended) ASSERT_TRUE((*store)->Remove(s.id_hash).value().has_value());

  // A primary holding sessions, other than the one of group 0 (the feed's).
  const size_t feed_owner = Owner(cluster, redis::SlotOf(prefix + "{" + GroupTag(0) + "}"));
  size_t victim = cluster.size();
  for (size_t i = 0; i < cluster.size() && victim == cluster.size(); ++i) {
    auto conn = Connect(cluster.node(i).url());
    auto role = conn->Command({"ROLE"});
    ASSERT_TRUE(role && role->type == redis::Reply::Type::kArray);
    if (i == feed_owner || role->elements[0].str != "master") continue;
    auto keys = conn->Command({"KEYS", prefix + "{*}s:*"});
    ASSERT_TRUE(keys);
    if (!keys->elements.empty()) victim = i;
  }
  ASSERT_LT(victim, cluster.size()) << "no primary besides the feed's holds a session";
  cluster.node(victim).Kill();
  cluster.WaitUntilOk();

  // Every live session again, once the client has found the promoted replica.
  for (const Session& s : live) {
    const auto got = GetOnceAnswered(**store, s.id_hash, 100);
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_TRUE(got->has_value()) << "a live session was lost in the failover";
  }
  for (const Session& s : ended) {
    auto got = (*store)->Get(s.id_hash);
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_FALSE(got->has_value()) << "an ended session came back";
  }
  auto revoked = (*store)->ListRevocations(1000);
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_EQ(revoked->size(), ended.size());
  auto batch = (*store)->ReadChanges(head, 100, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_FALSE(batch->gap);
  EXPECT_EQ(batch->changes.size(), ended.size());
  // The promoted replica has no replica of its own: a write there is not acknowledged (it could
  // not survive another failover), never answered as done.
  for (int i = 100; i < 103; ++i) {
    const Status created = (*store)->Create(
        NewSession(std::to_string(i), "user-" + std::to_string(i), 1000), {}, 1000, nullptr);
    EXPECT_TRUE(created.ok() || created.code() == Code::kUnavailable) << created.ToString();
  }
  // The old primary comes back as its replica, and writes go on everywhere.
  cluster.node(victim).Start();
  cluster.WaitUntilOk();
  for (int i = 200; i < 208; ++i) {
    const Session s = NewSession(std::to_string(i), "user-" + std::to_string(i), 1000);
    Status created;
    for (int attempt = 0; attempt < 50; ++attempt) {
      created = (*store)->Create(s, {}, 1000, nullptr);
      if (created.ok()) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(created.ok()) << created.ToString();
    ASSERT_TRUE((*store)->Remove(s.id_hash).value().has_value());
  }
}

}  // namespace
}  // namespace tessera::store
