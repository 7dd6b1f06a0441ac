// One suite, every SessionStore backend (Chromium's cookie_store_unittest.h pattern).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <latch>
#include <thread>
#include <type_traits>

#include <sqlite3.h>

#include "crypto/hash.h"
#include "store/redis/client.h"
#include "store_conformance/store_factory.h"
#include "tessera/session/session_store.h"
#include "tessera/store/memory.h"

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

// A token session: no CSRF token, its secret is the refresh family.
Session MakeToken(const std::string& id, const std::string& user, int64_t created,
                  int64_t expires) {
  Session s = Make(id, user, created, expires);
  s.kind = SessionKind::kToken;
  s.csrf_hash.clear();
  return s;
}

// The stored form of the refresh token called `name`: binary SHA-256, as the token layer keeps it.
std::string Rt(const std::string& name) { return crypto::Sha256("refresh token " + name); }

// Presents `presented` at `now` (seconds), offering `successor` to replace it; `grace` in
// seconds. The tokens name no family (as tokens from before families).
RefreshRotation Present(const std::string& presented, const std::string& successor, int64_t now,
                        int64_t grace = 10) {
  return RefreshRotation{.presented_hash = Rt(presented),
                         .successor_hash = Rt(successor),
                         .sealed_successor = "sealed(" + successor + ")",
                         .now_ms = now * 1000,
                         .grace_ms = grace * 1000};
}

// The key of the family called `name`, as the token layer derives it from the family id.
std::string Family(const std::string& name) { return crypto::Sha256("family " + name); }

// The token of family `family` at `generation`, as the token layer names tokens: the family's
// tokens are "<family>/<generation>".
std::string Token(const std::string& family, int64_t generation) {
  return family + "/" + std::to_string(generation);
}

// Presents the token of `family` at `generation` at `now_ms`, offering the next generation.
RefreshRotation PresentInFamily(const std::string& family, int64_t generation, int64_t now_ms,
                                int64_t grace_ms = 10'000) {
  const std::string successor = Token(family, generation + 1);
  return RefreshRotation{.presented_hash = Rt(Token(family, generation)),
                         .successor_hash = Rt(successor),
                         .sealed_successor = "sealed(" + successor + ")",
                         .family = Family(family),
                         .generation = generation,
                         .now_ms = now_ms,
                         .grace_ms = grace_ms};
}


template <typename Backend>
class SessionStoreTest : public ::testing::Test {
 protected:
  // The outcome of a rotation that must not fail.
  RefreshOutcome Outcome(const RefreshRotation& r) {
    auto got = store_->RotateRefresh(r);
    EXPECT_TRUE(got) << got.error().ToString();
    return got ? got->outcome : RefreshOutcome::kUnknown;
  }
  std::vector<Revocation> Revocations(int64_t now) {
    auto got = store_->ListRevocations(now);
    EXPECT_TRUE(got) << got.error().ToString();
    std::vector<Revocation> out = got ? *got : std::vector<Revocation>();
    std::sort(out.begin(), out.end(),
              [](const Revocation& a, const Revocation& b) { return a.handle < b.handle; });
    return out;
  }

  // Starts a token session `id` whose first token is generation 0 of family `family`.
  Session StartFamily(const std::string& id, const std::string& family, int64_t created,
                      int64_t expires) {
    const Session s = MakeToken(id, "u-" + id, created, expires);
    const std::string first = Rt(Token(family, 0)), key = Family(family);
    const Status st = store_->CreateTokenSession(s, FirstRefreshToken{.hash = first, .family = key},
                                                 {}, created, nullptr);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }

  // How many refresh-token records the store holds for the session: rows of the SQLite file,
  // entries of the memory store.
  size_t RefreshRows(const Session& s) {
    if constexpr (std::is_same_v<Backend, testing::SqliteBackend>) {
      sqlite3* db = nullptr;
      EXPECT_EQ(sqlite3_open((dir_.path() + "/tessera.db").c_str(), &db), SQLITE_OK);
      sqlite3_stmt* q = nullptr;
      EXPECT_EQ(sqlite3_prepare_v2(db,
                                   "SELECT count(*) FROM refresh_tokens WHERE session_id_hash = ?1",
                                   -1, &q, nullptr),
                SQLITE_OK);
      sqlite3_bind_blob(q, 1, s.id_hash.data(), static_cast<int>(s.id_hash.size()),
                        SQLITE_TRANSIENT);
      EXPECT_EQ(sqlite3_step(q), SQLITE_ROW);
      const auto n = static_cast<size_t>(sqlite3_column_int64(q, 0));
      sqlite3_finalize(q);
      sqlite3_close(db);
      return n;
    } else if constexpr (std::is_same_v<Backend, testing::RedisBackend> ||
                         std::is_same_v<Backend, testing::RedisClusterBackend>) {
      // Every record key of the session, indexed or not (a record the index forgot is a leak),
      // on every node.
      constexpr bool kCluster = std::is_same_v<Backend, testing::RedisClusterBackend>;
      std::vector<std::string> urls;
      if constexpr (kCluster) {
        for (size_t i = 0; i < testing::RedisCluster::Shared().size(); ++i) {
          urls.push_back(testing::RedisCluster::Shared().node(i).url());
        }
      } else {
        urls.push_back(testing::RedisServer::Shared().url());
      }
      // In a cluster, every key of a group is under its hash tag: <prefix>{<tag>}r:<hash>.
      const std::string pattern = Backend::Prefix(dir_.path()) + (kCluster ? "{*}r:*" : "r:*");
      size_t n = 0;
      for (const std::string& url : urls) {
        auto conn = store::redis::Connection::Open(*store::redis::ParseUrl(url), {});
        EXPECT_TRUE(conn) << conn.error().ToString();
        if (!conn) continue;
        std::string cursor = "0";
        do {
          auto page = (*conn)->Command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
          EXPECT_TRUE(page && page->elements.size() == 2);
          if (!page || page->elements.size() != 2) break;
          cursor = page->elements[0].str;
          for (const auto& key : page->elements[1].elements) {
            auto sid = (*conn)->Command({"HGET", key.str, "sid"});
            n += sid && sid->str == store::redis::Hex(s.id_hash);
          }
        } while (cursor != "0");
      }
      return n;
    } else {
      return store::MemoryRefreshRecordCountForTesting(*store_, s.id_hash);
    }
  }

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

TYPED_TEST(SessionStoreTest, TouchManyMovesLastSeenForwardOnly) {
  const Session a = Make("a", "u1", 100, 1000), b = Make("b", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->Create(a, {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(b, {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->TouchMany({}).ok());
  ASSERT_TRUE(
      this->store_->TouchMany({{a.id_hash, 170}, {b.id_hash, 160}, {std::string(33, 'q'), 150}})
          .ok());
  EXPECT_EQ(this->store_->Get(a.id_hash)->value().last_seen_at, 170);
  EXPECT_EQ(this->store_->Get(b.id_hash)->value().last_seen_at, 160);
  EXPECT_FALSE(this->store_->Get(std::string(33, 'q'))->has_value());  // never created
  ASSERT_TRUE(this->store_->TouchMany({{a.id_hash, 120}}).ok());
  EXPECT_EQ(this->store_->Get(a.id_hash)->value().last_seen_at, 170);
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

// Regression (found by the multi-instance suite): sign-ins within one second got the same
// created_at, and Redis (and the memory store) broke the tie by the random id, so the limit
// evicted a random one of them instead of the oldest. They are kept in the order they were stored.
TYPED_TEST(SessionStoreTest, SessionsOfOneSecondAreKeptInTheOrderTheyCame) {
  const LimitPolicy limit{.max_per_user = 2, .on_limit = OnLimit::kEvictOldest};
  // Ids whose order is the reverse of their creation, so that sorting by id is caught.
  const std::vector<std::string> ids = {"z", "y", "x", "w", "v"};
  for (const std::string& id : ids) {
    ASSERT_TRUE(this->store_->Create(Make(id, "u1", 100, 1000), {}, 100, nullptr).ok());
  }
  auto all = this->store_->ListByUser("u1");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ((*all)[i].handle, "h-" + ids[i]);
  auto listed = this->store_->ListAll(10);
  ASSERT_TRUE(listed && listed->size() == ids.size());
  EXPECT_EQ(listed->front().handle, "h-z");
  std::vector<Session> evicted;
  ASSERT_TRUE(this->store_->Create(Make("u", "u1", 100, 1000), limit, 100, &evicted).ok());
  ASSERT_EQ(evicted.size(), 4u);
  for (size_t i = 0; i < evicted.size(); ++i) EXPECT_EQ(evicted[i].handle, "h-" + ids[i]);
  auto left = this->store_->ListByUser("u1");
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].handle, "h-v");
  EXPECT_EQ((*left)[1].handle, "h-u");
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

// Whether the sign-in passed a second factor is kept, read back by every way of reading a
// session, and kept through a refresh rotation.
TYPED_TEST(SessionStoreTest, TheSecondFactorFlagRoundTrips) {
  Session with = Make("a", "u1", 100, 1000);
  with.mfa = true;
  const Session without = Make("b", "u1", 101, 1000);
  ASSERT_TRUE(this->store_->Create(with, {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->Create(without, {}, 101, nullptr).ok());
  EXPECT_TRUE(this->store_->Get(with.id_hash)->value().mfa);
  EXPECT_FALSE(this->store_->Get(without.id_hash)->value().mfa);
  auto listed = this->store_->ListByUser("u1");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0], with);
  EXPECT_EQ((*listed)[1], without);
  Session token = MakeToken("c", "u2", 100, 1000);
  token.mfa = true;
  ASSERT_TRUE(this->store_->CreateTokenSession(token, Rt("1"), {}, 100, nullptr).ok());
  auto rotated = this->store_->RotateRefresh(Present("1", "2", 150));
  ASSERT_TRUE(rotated) << rotated.error().ToString();
  EXPECT_TRUE(rotated->session.mfa);
  auto removed = this->store_->Remove(with.id_hash);
  ASSERT_TRUE(removed && removed->has_value());
  EXPECT_TRUE((*removed)->mfa);
}

// Token sessions (issue 4): refresh-token families, rotation, reuse detection, revocations.

TYPED_TEST(SessionStoreTest, TokenSessionRotatesItsLiveToken) {
  const Session s = MakeToken("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  EXPECT_EQ(this->store_->Get(s.id_hash)->value(), s);
  RefreshRotation r = Present("1", "2", 150);
  r.access_expires_at = 1050;
  auto got = this->store_->RotateRefresh(r);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->outcome, RefreshOutcome::kRotated);
  EXPECT_EQ(got->presented, (RefreshRecord{.hash = Rt("1"),
                                           .session_id_hash = s.id_hash,
                                           .issued_at = 100,
                                           .rotated_at_ms = 150'000,
                                           .successor_hash = Rt("2"),
                                           .sealed_successor = "sealed(2)"}));
  Session updated = s;
  updated.last_seen_at = 150;  // a refresh is activity
  updated.tokens_until = 1050;
  EXPECT_EQ(got->session, updated);
  EXPECT_EQ(this->store_->Get(s.id_hash)->value(), updated);
  // The successor is live, issued at the rotation.
  auto next = this->store_->RotateRefresh(Present("2", "3", 200));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->outcome, RefreshOutcome::kRotated);
  EXPECT_EQ(next->presented.issued_at, 150);
  EXPECT_EQ(next->session.tokens_until, 1050);  // never lowered
}

TYPED_TEST(SessionStoreTest, CreateTokenSessionRefusesWhatItCannotKeep) {
  EXPECT_EQ(this->store_->CreateTokenSession(Make("c", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
                .code(),
            Code::kInvalidArgument);  // a cookie session has no family
  EXPECT_EQ(this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), "", {}, 100, nullptr)
                .code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  // Another login whose first token collides stores nothing at all.
  const Session b = MakeToken("b", "u1", 100, 1000);
  EXPECT_EQ(this->store_->CreateTokenSession(b, Rt("1"), {}, 100, nullptr).code(),
            Code::kAlreadyExists);
  EXPECT_FALSE(this->store_->Get(b.id_hash)->has_value());
  EXPECT_EQ(this->store_->ListByUser("u1")->size(), 1u);
  EXPECT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);
}

TYPED_TEST(SessionStoreTest, UnknownTokenChangesNothing) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  auto got = this->store_->RotateRefresh(Present("forged", "2", 150));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->outcome, RefreshOutcome::kUnknown);
  EXPECT_EQ(got->presented, RefreshRecord{});
  EXPECT_EQ(got->session, Session{});
  EXPECT_EQ(this->Outcome(Present("2", "3", 150)), RefreshOutcome::kUnknown);  // not stored
  EXPECT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);
}

TYPED_TEST(SessionStoreTest, RotateRefusesMalformedRequests) {
  RefreshRotation r = Present("1", "2", 150);
  r.presented_hash.clear();
  EXPECT_EQ(this->store_->RotateRefresh(r).error().code(), Code::kInvalidArgument);
  r = Present("1", "2", 150);
  r.successor_hash.clear();
  EXPECT_EQ(this->store_->RotateRefresh(r).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(this->store_->RotateRefresh(Present("1", "2", 0)).error().code(),
            Code::kInvalidArgument);  // rotated_at_ms 0 would read as live
}

// Two tabs refresh with one token: the second gets the first one's successor, not a second one.
TYPED_TEST(SessionStoreTest, ReplayInsideGraceReturnsTheSameSuccessor) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 200)), RefreshOutcome::kRotated);
  RefreshRotation replay = Present("1", "x", 210);
  replay.now_ms -= 1;  // the last millisecond of the window
  replay.access_expires_at = 1100;
  auto got = this->store_->RotateRefresh(replay);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->outcome, RefreshOutcome::kGraceReplay);
  EXPECT_EQ(got->presented.successor_hash, Rt("2"));
  EXPECT_EQ(got->presented.sealed_successor, "sealed(2)");
  EXPECT_EQ(got->presented.rotated_at_ms, 200'000);
  EXPECT_EQ(got->session.handle, "h-a");
  EXPECT_EQ(got->session.tokens_until, 1100);  // the access token issued with the replay
  EXPECT_EQ(this->store_->Get(got->session.id_hash)->value().tokens_until, 1100);
  EXPECT_EQ(this->Outcome(Present("x", "y", 211)), RefreshOutcome::kUnknown);  // never stored
  EXPECT_EQ(this->Outcome(Present("2", "3", 211)), RefreshOutcome::kRotated);
}

TYPED_TEST(SessionStoreTest, ReplayAfterTheGraceWindowIsTheft) {
  const Session s = MakeToken("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  RefreshRotation r = Present("1", "2", 200);
  r.access_expires_at = 1100;
  ASSERT_EQ(this->Outcome(r), RefreshOutcome::kRotated);
  auto got = this->store_->RotateRefresh(Present("1", "x", 210));  // the window is over
  ASSERT_TRUE(got);
  EXPECT_EQ(got->outcome, RefreshOutcome::kReuseDetected);
  EXPECT_EQ(got->presented.hash, Rt("1"));
  EXPECT_EQ(got->presented.successor_hash, Rt("2"));
  EXPECT_EQ(got->session.handle, "h-a");
  EXPECT_EQ(got->session.tokens_until, 1100);
  // The session and the live successor the thief (or the victim) holds are gone.
  EXPECT_FALSE(this->store_->Get(s.id_hash)->has_value());
  EXPECT_EQ(this->Outcome(Present("2", "3", 212)), RefreshOutcome::kUnknown);
  EXPECT_EQ(this->Outcome(Present("1", "3", 212)), RefreshOutcome::kUnknown);
  EXPECT_EQ(this->Revocations(211), (std::vector<Revocation>{{"h-a", 1100}}));
}

TYPED_TEST(SessionStoreTest, ReplayOfAnAncestorIsTheftEvenInsideGrace) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 200)), RefreshOutcome::kRotated);
  ASSERT_EQ(this->Outcome(Present("2", "3", 201)), RefreshOutcome::kRotated);
  // Token 1's successor was used already: no tab can still be waiting for it.
  EXPECT_EQ(this->Outcome(Present("1", "x", 202)), RefreshOutcome::kReuseDetected);
  EXPECT_EQ(this->Outcome(Present("3", "4", 202)), RefreshOutcome::kUnknown);
}

TYPED_TEST(SessionStoreTest, WithoutGraceEveryReuseIsTheft) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 200, /*grace=*/0)), RefreshOutcome::kRotated);
  EXPECT_EQ(this->Outcome(Present("1", "x", 200, /*grace=*/0)), RefreshOutcome::kReuseDetected);
  EXPECT_TRUE(this->store_->ListByUser("u1")->empty());
}

TYPED_TEST(SessionStoreTest, FamilyEndsWithItsSessionsDeadlines) {
  Session s = MakeToken("a", "u1", 100, 1000);
  s.last_seen_at = 500;
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  EXPECT_EQ(this->Outcome(Present("1", "2", 1000)), RefreshOutcome::kUnknown);  // absolute
  RefreshRotation idle = Present("1", "2", 900);
  idle.idle_cutoff = 501;  // last seen at 500: one second past the idle timeout
  EXPECT_EQ(this->Outcome(idle), RefreshOutcome::kUnknown);
  // Neither refusal changed anything: one second earlier each, the token is still live.
  idle.idle_cutoff = 500;
  idle.now_ms = 999'999;
  EXPECT_EQ(this->Outcome(idle), RefreshOutcome::kRotated);
  EXPECT_TRUE(this->store_->Get(s.id_hash)->has_value());  // the store keeps policy out
}

TYPED_TEST(SessionStoreTest, SuccessorCollisionChangesNothing) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("b", "u1", 100, 1000), Rt("9"), {}, 100, nullptr)
          .ok());
  EXPECT_EQ(this->store_->RotateRefresh(Present("1", "9", 150)).error().code(),
            Code::kAlreadyExists);
  EXPECT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);  // still live
  auto b = this->store_->RotateRefresh(Present("9", "10", 150));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->outcome, RefreshOutcome::kRotated);
  EXPECT_EQ(b->session.handle, "h-b");
}

TYPED_TEST(SessionStoreTest, TheftEndsOnlyThatFamily) {
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("b", "u1", 110, 1000), Rt("9"), {}, 110, nullptr)
          .ok());
  ASSERT_TRUE(this->store_->Create(Make("c", "u1", 120, 1000), {}, 120, nullptr).ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 200, 0)), RefreshOutcome::kRotated);
  ASSERT_EQ(this->Outcome(Present("1", "3", 200, 0)), RefreshOutcome::kReuseDetected);
  EXPECT_EQ(this->Outcome(Present("9", "10", 200)), RefreshOutcome::kRotated);
  auto left = this->store_->ListByUser("u1");
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].handle, "h-b");
  EXPECT_EQ((*left)[1].handle, "h-c");
}

// However a session ends, its refresh tokens die with it and its handle stays revoked while its
// access tokens live (docs/design.md, the bridge).
TYPED_TEST(SessionStoreTest, EveryRemovalEndsTheFamilyAndRevokesTheHandle) {
  SessionStore& store = *this->store_;
  const LimitPolicy one{.max_per_user = 1, .on_limit = OnLimit::kEvictOldest};
  const std::vector<std::pair<std::string, std::function<void(const Session&)>>> ways = {
      {"Remove", [&](const Session& s) { ASSERT_TRUE(store.Remove(s.id_hash)->has_value()); }},
      {"RemoveByHandle",
       [&](const Session& s) { ASSERT_TRUE(store.RemoveByHandle(s.handle)->has_value()); }},
      {"RemoveByUser",
       [&](const Session& s) { ASSERT_EQ(store.RemoveByUser(s.user_id, "")->size(), 1u); }},
      {"RemoveExpired",
       [&](const Session& s) { ASSERT_EQ(store.RemoveExpired(s.expires_at, 0).value(), 1u); }},
      {"RemoveByRefresh",
       [&](const Session& s) {
         auto gone = store.RemoveByRefresh(Rt(s.user_id + "-old"));  // a rotated token will do
         ASSERT_TRUE(gone && gone->has_value());
         EXPECT_EQ((*gone)->id_hash, s.id_hash);
       }},
      {"Create evicting",
       [&](const Session& s) {
         std::vector<Session> evicted;
         ASSERT_TRUE(
             store.Create(Make("n" + s.user_id, s.user_id, 150, 700), one, 150, &evicted).ok());
         ASSERT_EQ(evicted.size(), 1u);
         EXPECT_EQ(evicted[0].tokens_until, 600);
       }},
      {"CreateTokenSession evicting",
       [&](const Session& s) {
         std::vector<Session> evicted;
         ASSERT_TRUE(store
                         .CreateTokenSession(MakeToken("n" + s.user_id, s.user_id, 150, 700),
                                             Rt(s.user_id + "-next"), one, 150, &evicted)
                         .ok());
         ASSERT_EQ(evicted.size(), 1u);
       }},
  };
  for (const auto& [name, remove] : ways) {
    SCOPED_TRACE(name);
    const std::string user = "user-" + name;
    const Session s = MakeToken(name, user, 100, 500);
    ASSERT_TRUE(store.CreateTokenSession(s, Rt(user + "-old"), {}, 100, nullptr).ok());
    ASSERT_EQ(this->Outcome(Present(user + "-old", user + "-live", 110)), RefreshOutcome::kRotated);
    ASSERT_TRUE(store.ExtendTokensUntil(s.id_hash, 600).ok());
    remove(s);
    EXPECT_FALSE(store.Get(s.id_hash)->has_value());
    EXPECT_EQ(this->Outcome(Present(user + "-live", user + "-x", 120)), RefreshOutcome::kUnknown);
    EXPECT_EQ(this->Outcome(Present(user + "-old", user + "-x", 120)), RefreshOutcome::kUnknown);
    const std::vector<Revocation> revoked = this->Revocations(500);
    EXPECT_TRUE(std::find(revoked.begin(), revoked.end(), Revocation{s.handle, 600}) !=
                revoked.end());
  }
  EXPECT_EQ(this->Revocations(500).size(), ways.size());
}

TYPED_TEST(SessionStoreTest, RemovalWithoutAccessTokensRevokesNothing) {
  ASSERT_TRUE(this->store_->Create(Make("c", "u1", 100, 1000), {}, 100, nullptr).ok());
  ASSERT_TRUE(
      this->store_->CreateTokenSession(MakeToken("a", "u1", 100, 1000), Rt("1"), {}, 100, nullptr)
          .ok());
  EXPECT_EQ(this->store_->RemoveByUser("u1", "")->size(), 2u);
  EXPECT_TRUE(this->Revocations(0).empty());
}

TYPED_TEST(SessionStoreTest, RevocationLastsUntilTheLastAccessTokenExpires) {
  const Session s = MakeToken("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->ExtendTokensUntil(s.id_hash, 900).ok());
  ASSERT_TRUE(this->store_->Remove(s.id_hash)->has_value());
  EXPECT_EQ(this->Revocations(899), (std::vector<Revocation>{{"h-a", 900}}));
  EXPECT_TRUE(this->Revocations(900).empty());
  // Kept past 900 for verifiers whose clock-skew leeway still accepts the tokens.
  ASSERT_TRUE(this->store_->RemoveExpired(900 + kRevocationRetentionSeconds - 1, 0));
  EXPECT_EQ(this->Revocations(0).size(), 1u);
  ASSERT_TRUE(this->store_->RemoveExpired(900 + kRevocationRetentionSeconds, 0));
  EXPECT_TRUE(this->Revocations(0).empty());  // purged once no verifier can accept its tokens
}

TYPED_TEST(SessionStoreTest, ExtendTokensUntilOnlyMovesForward) {
  const Session c = Make("c", "u1", 100, 1000);  // a cookie session may carry tokens too
  ASSERT_TRUE(this->store_->Create(c, {}, 100, nullptr).ok());
  ASSERT_TRUE(this->store_->ExtendTokensUntil(c.id_hash, 500).ok());
  ASSERT_TRUE(this->store_->ExtendTokensUntil(c.id_hash, 400).ok());
  EXPECT_EQ(this->store_->Get(c.id_hash)->value().tokens_until, 500);
  ASSERT_TRUE(this->store_->ExtendTokensUntil(c.id_hash, 500).ok());  // idempotent
  // A session that is gone gets no token: no revocation entry would ever cover it.
  Status gone = this->store_->ExtendTokensUntil(std::string(33, 'q'), 500);
  EXPECT_EQ(gone.code(), Code::kNotFound);
  EXPECT_EQ(gone.reason(), Reason::kUnknownSession);
  EXPECT_FALSE(this->store_->Get(std::string(33, 'q'))->has_value());
}

TYPED_TEST(SessionStoreTest, RemoveByRefreshTakesTheWholeFamilyOnce) {
  const Session s = MakeToken("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);
  auto gone = this->store_->RemoveByRefresh(Rt("2"));
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_EQ((*gone)->handle, "h-a");
  EXPECT_FALSE(this->store_->RemoveByRefresh(Rt("1"))->has_value());
  EXPECT_FALSE(this->store_->RemoveByRefresh(Rt("never"))->has_value());
}

// Many requests present one live token at the same moment (RT-04, F10).
TYPED_TEST(SessionStoreTest, FindRefreshShowsTheRecordAndItsSessionWithoutChangingThem) {
  const Session s = MakeToken("a", "u1", 100, 1000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  auto live = this->store_->FindRefresh(Rt("1"));
  ASSERT_TRUE(live && live->has_value());
  EXPECT_EQ((*live)->first.rotated_at_ms, 0);
  EXPECT_EQ((*live)->first.issued_at, 100);
  EXPECT_EQ((*live)->second, s);
  ASSERT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);
  auto rotated = this->store_->FindRefresh(Rt("1"));
  ASSERT_TRUE(rotated && rotated->has_value());
  EXPECT_EQ((*rotated)->first.rotated_at_ms, 150'000);
  EXPECT_EQ((*rotated)->first.successor_hash, Rt("2"));
  // Looking did not count as a presentation: the successor still rotates.
  EXPECT_EQ(this->Outcome(Present("2", "3", 160)), RefreshOutcome::kRotated);
  auto unknown = this->store_->FindRefresh(Rt("nope"));
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(unknown->has_value());
}

TYPED_TEST(SessionStoreTest, AddRevocationKeepsTheLaterUntilAndExpires) {
  ASSERT_TRUE(this->store_->AddRevocation({"jti:abc", 500}).ok());
  ASSERT_TRUE(this->store_->AddRevocation({"jti:abc", 400}).ok());  // never shortened
  ASSERT_TRUE(this->store_->AddRevocation({"jti:def", 300}).ok());
  EXPECT_EQ(this->Revocations(100),
            (std::vector<Revocation>{{"jti:abc", 500}, {"jti:def", 300}}));
  EXPECT_EQ(this->Revocations(300), (std::vector<Revocation>{{"jti:abc", 500}}));
  EXPECT_FALSE(this->store_->AddRevocation({"", 500}).ok());
  ASSERT_TRUE(this->store_->RemoveExpired(500 + kRevocationRetentionSeconds, 0));
  EXPECT_EQ(this->Revocations(0), (std::vector<Revocation>{}));
}

// A copy of the store plus an old refresh token must not open the seals up to the live token.
TYPED_TEST(SessionStoreTest, SealsLastOnlyWhileAGraceReplayCouldNeedThem) {
  const Session s = MakeToken("a", "u1", 100, 100000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("1"), {}, 100, nullptr).ok());
  ASSERT_EQ(this->Outcome(Present("1", "2", 150)), RefreshOutcome::kRotated);
  EXPECT_EQ(this->store_->FindRefresh(Rt("1")).value()->first.sealed_successor, "sealed(2)");
  ASSERT_EQ(this->Outcome(Present("2", "3", 160)), RefreshOutcome::kRotated);
  // 1's successor (2) is spent: its seal is gone; 2's seal stays for a replay of 2.
  EXPECT_EQ(this->store_->FindRefresh(Rt("1")).value()->first.sealed_successor, "");
  EXPECT_EQ(this->store_->FindRefresh(Rt("2")).value()->first.sealed_successor, "sealed(3)");
  ASSERT_TRUE(this->store_->RemoveExpired(160 + kMaxRefreshGraceSeconds, 0));
  EXPECT_EQ(this->store_->FindRefresh(Rt("2")).value()->first.sealed_successor, "sealed(3)");
  ASSERT_TRUE(this->store_->RemoveExpired(161 + kMaxRefreshGraceSeconds, 0));
  EXPECT_EQ(this->store_->FindRefresh(Rt("2")).value()->first.sealed_successor, "");
  // The record itself stays: presenting 2 again is still recognised as reuse.
  EXPECT_EQ(this->Outcome(Present("2", "x", 162 + kMaxRefreshGraceSeconds)),
            RefreshOutcome::kReuseDetected);
}

// Hardening (part 2): the grace window is measured in milliseconds and ends exclusively, so a
// 2 s grace is 2 s, not "any time within the second after the second".
TYPED_TEST(SessionStoreTest, GraceWindowEndsToTheMillisecond) {
  constexpr int64_t kGraceMs = 2000;
  constexpr int64_t kT = 200'000;  // the rotation, in milliseconds
  // A family: 50 ms before the end a replay gets the same successor; 50 ms after, it is theft.
  const Session a = this->StartFamily("a", "A", 100, 100000);
  ASSERT_EQ(this->Outcome(PresentInFamily("A", 0, kT, kGraceMs)), RefreshOutcome::kRotated);
  RefreshRotation early = PresentInFamily("A", 0, kT + kGraceMs - 50, kGraceMs);
  early.successor_hash = Rt("a fresh one");
  auto replay = this->store_->RotateRefresh(early);
  ASSERT_TRUE(replay) << replay.error().ToString();
  EXPECT_EQ(replay->outcome, RefreshOutcome::kGraceReplay);
  EXPECT_EQ(replay->presented.successor_hash, Rt(Token("A", 1)));
  EXPECT_EQ(replay->presented.sealed_successor, "sealed(" + Token("A", 1) + ")");
  EXPECT_EQ(replay->presented.rotated_at_ms, kT);
  auto late = this->store_->RotateRefresh(PresentInFamily("A", 0, kT + kGraceMs + 50, kGraceMs));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->outcome, RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(a.id_hash)->has_value());  // the family ended
  EXPECT_EQ(this->Outcome(PresentInFamily("A", 1, kT + kGraceMs + 60)), RefreshOutcome::kUnknown);

  // At exactly the grace the window is over.
  const Session b = this->StartFamily("b", "B", 100, 100000);
  ASSERT_EQ(this->Outcome(PresentInFamily("B", 0, kT, kGraceMs)), RefreshOutcome::kRotated);
  EXPECT_EQ(this->Outcome(PresentInFamily("B", 0, kT + kGraceMs, kGraceMs)),
            RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(b.id_hash)->has_value());

  // The same for a token from before families (the seconds of version 3 are now milliseconds).
  const Session c = MakeToken("c", "u-c", 100, 100000);
  ASSERT_TRUE(this->store_->CreateTokenSession(c, Rt("c1"), {}, 100, nullptr).ok());
  RefreshRotation rotate = Present("c1", "c2", 0);
  rotate.now_ms = kT;
  ASSERT_EQ(this->Outcome(rotate), RefreshOutcome::kRotated);
  RefreshRotation again = Present("c1", "cx", 0);
  again.grace_ms = kGraceMs;
  again.now_ms = kT + kGraceMs - 50;
  EXPECT_EQ(this->Outcome(again), RefreshOutcome::kGraceReplay);
  again.now_ms = kT + kGraceMs + 50;
  EXPECT_EQ(this->Outcome(again), RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(c.id_hash)->has_value());
}

// A family rotating for its whole life keeps a bounded number of records (the live token and its
// predecessor), yet reuse of any ancestor, first, middle or the one before last, is still theft.
TYPED_TEST(SessionStoreTest, FamilyStaysBoundedAndRecognisesEveryAncestor) {
  constexpr int64_t kRotations = 10000;
  constexpr int64_t kStartMs = 1'000'000;
  const std::vector<std::pair<std::string, Session>> families = {
      {"A", this->StartFamily("a", "A", 1000, 1'000'000)},
      {"B", this->StartFamily("b", "B", 1000, 1'000'000)},
      {"C", this->StartFamily("c", "C", 1000, 1'000'000)}};
  int64_t now_ms = kStartMs;
  int64_t tokens_until = 0;
  for (int64_t g = 0; g < kRotations; ++g) {
    now_ms += 1000;  // one refresh a second each: far beyond the grace of the one before
    tokens_until = now_ms / 1000 + 900;
    for (const auto& [family, session] : families) {
      RefreshRotation r = PresentInFamily(family, g, now_ms);
      r.access_expires_at = tokens_until;
      ASSERT_EQ(this->Outcome(r), RefreshOutcome::kRotated) << family << " " << g;
      if (g % 1000 == 999) {
        ASSERT_LE(this->RefreshRows(session), 2u) << family << " " << g;
      }
    }
  }
  for (const auto& [family, session] : families) {
    EXPECT_EQ(this->RefreshRows(session), 2u) << family;  // the live token and its predecessor
    auto live = this->store_->FindRefresh(Rt(Token(family, kRotations)));
    ASSERT_TRUE(live && live->has_value()) << family;
    EXPECT_EQ((*live)->first.rotated_at_ms, 0);
    EXPECT_EQ((*live)->first.generation, kRotations);
    EXPECT_EQ((*live)->first.family, Family(family));
    // The first token's record is long gone.
    EXPECT_FALSE(this->store_->FindRefresh(Rt(Token(family, 0)))->has_value());
  }
  now_ms += 1000;

  // The first token.
  auto first = this->store_->RotateRefresh(PresentInFamily("A", 0, now_ms));
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->outcome, RefreshOutcome::kReuseDetected);
  EXPECT_EQ(first->session.handle, "h-a");
  EXPECT_EQ(first->presented.hash, Rt(Token("A", 0)));
  EXPECT_FALSE(this->store_->Get(families[0].second.id_hash)->has_value());
  EXPECT_EQ(this->RefreshRows(families[0].second), 0u);
  EXPECT_EQ(this->Outcome(PresentInFamily("A", kRotations, now_ms)), RefreshOutcome::kUnknown);
  const std::vector<Revocation> revoked = this->Revocations(now_ms / 1000);
  EXPECT_TRUE(std::find(revoked.begin(), revoked.end(), Revocation{"h-a", tokens_until}) !=
              revoked.end());

  // A token from the middle of the lineage.
  EXPECT_EQ(this->Outcome(PresentInFamily("B", kRotations / 2, now_ms)),
            RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(families[1].second.id_hash)->has_value());

  // The one before last, once no grace window can be running: its record goes too.
  const int64_t later = now_ms / 1000 + kMaxRefreshGraceSeconds + 1;
  ASSERT_TRUE(this->store_->RemoveExpired(later, 0));
  EXPECT_EQ(this->RefreshRows(families[2].second), 1u);  // the live token alone
  EXPECT_FALSE(this->store_->FindRefresh(Rt(Token("C", kRotations - 1)))->has_value());
  EXPECT_EQ(this->Outcome(PresentInFamily("C", kRotations - 1, later * 1000)),
            RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(families[2].second.id_hash)->has_value());
}

// Only the family's tokens name it: a token that names another family, or this one at a
// generation that is not an ancestor's, changes nothing.
TYPED_TEST(SessionStoreTest, AnUnknownTokenEndsNoFamilyItDoesNotDescendFrom) {
  const Session a = this->StartFamily("a", "A", 100, 100000);
  ASSERT_EQ(this->Outcome(PresentInFamily("A", 0, 200'000)), RefreshOutcome::kRotated);
  ASSERT_EQ(this->Outcome(PresentInFamily("A", 1, 300'000)), RefreshOutcome::kRotated);
  // Live: generation 2.
  for (const RefreshRotation& r : {PresentInFamily("nobody", 0, 400'000),
                                   PresentInFamily("A", 2, 400'000),
                                   PresentInFamily("A", 7, 400'000)}) {
    RefreshRotation forged = r;
    forged.presented_hash = Rt("forged");
    EXPECT_EQ(this->Outcome(forged), RefreshOutcome::kUnknown);
  }
  RefreshRotation no_family = PresentInFamily("A", 0, 400'000);
  no_family.family.clear();
  EXPECT_EQ(this->Outcome(no_family), RefreshOutcome::kUnknown);
  RefreshRotation negative = PresentInFamily("A", 0, 400'000);
  negative.generation = -1;
  EXPECT_EQ(this->store_->RotateRefresh(negative).error().code(), Code::kInvalidArgument);
  EXPECT_TRUE(this->store_->Get(a.id_hash)->has_value());
  EXPECT_TRUE(this->Revocations(0).empty());
  // A pruned ancestor of a session that is over (here past its deadline) is unknown, as any of
  // its tokens: nothing changes.
  const Session b = this->StartFamily("b", "B", 100, 500);
  ASSERT_EQ(this->Outcome(PresentInFamily("B", 0, 200'000)), RefreshOutcome::kRotated);
  ASSERT_EQ(this->Outcome(PresentInFamily("B", 1, 300'000)), RefreshOutcome::kRotated);
  EXPECT_EQ(this->Outcome(PresentInFamily("B", 0, 500'000)), RefreshOutcome::kUnknown);
  EXPECT_TRUE(this->store_->Get(b.id_hash)->has_value());
  // The live token still rotates.
  EXPECT_EQ(this->Outcome(PresentInFamily("A", 2, 400'000)), RefreshOutcome::kRotated);
}

TYPED_TEST(SessionStoreTest, CreateTokenSessionRefusesAFamilyInUse) {
  this->StartFamily("a", "A", 100, 1000);
  const Session b = MakeToken("b", "u1", 100, 1000);
  const std::string another = Rt("another"), key = Family("A");
  EXPECT_EQ(this->store_
                ->CreateTokenSession(b, FirstRefreshToken{.hash = another, .family = key}, {}, 100,
                                     nullptr)
                .code(),
            Code::kAlreadyExists);
  EXPECT_FALSE(this->store_->Get(b.id_hash)->has_value());
  EXPECT_FALSE(this->store_->FindRefresh(Rt("another"))->has_value());
}

// RFC 7009 for a pruned ancestor: it ends its grant as a stored one does.
TYPED_TEST(SessionStoreTest, RemoveByRefreshAncestorEndsTheFamilyOfAPrunedAncestor) {
  const Session a = this->StartFamily("a", "A", 100, 100000);
  for (int64_t g = 0; g < 3; ++g) {
    ASSERT_EQ(this->Outcome(PresentInFamily("A", g, 200'000 + g * 1000)), RefreshOutcome::kRotated);
  }
  ASSERT_TRUE(this->store_->ExtendTokensUntil(a.id_hash, 900).ok());
  EXPECT_EQ(this->store_->RemoveByRefreshAncestor("", 0).error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(this->store_->RemoveByRefreshAncestor(Family("nobody"), 0)->has_value());
  EXPECT_FALSE(this->store_->RemoveByRefreshAncestor(Family("A"), 3)->has_value());  // live
  EXPECT_TRUE(this->store_->Get(a.id_hash)->has_value());
  auto gone = this->store_->RemoveByRefreshAncestor(Family("A"), 0);
  ASSERT_TRUE(gone && gone->has_value());
  EXPECT_EQ((*gone)->handle, "h-a");
  EXPECT_FALSE(this->store_->Get(a.id_hash)->has_value());
  EXPECT_EQ(this->RefreshRows(a), 0u);
  EXPECT_EQ(this->Revocations(500), (std::vector<Revocation>{{"h-a", 900}}));
  EXPECT_FALSE(this->store_->RemoveByRefreshAncestor(Family("A"), 0)->has_value());
}

// A token from before families (no family in its record) rotates into one: its successors are
// pruned like any family's, while its own record stays, since nothing else could recognise it.
TYPED_TEST(SessionStoreTest, ATokenFromBeforeFamiliesStartsOne) {
  const Session s = MakeToken("a", "u1", 100, 100000);
  ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt("old"), {}, 100, nullptr).ok());
  RefreshRotation r = PresentInFamily("F", 0, 200'000);
  r.presented_hash = Rt("old");
  ASSERT_EQ(this->Outcome(r), RefreshOutcome::kRotated);
  auto started = this->store_->FindRefresh(Rt(Token("F", 1)));
  ASSERT_TRUE(started && started->has_value());
  EXPECT_EQ((*started)->first.family, Family("F"));
  EXPECT_EQ((*started)->first.generation, 1);
  EXPECT_EQ(this->store_->FindRefresh(Rt("old")).value()->first.family, "");
  for (int64_t g = 1; g < 5; ++g) {
    ASSERT_EQ(this->Outcome(PresentInFamily("F", g, 200'000 + g * 1000)), RefreshOutcome::kRotated);
  }
  EXPECT_EQ(this->RefreshRows(s), 3u);  // old, F/4 (rotated), F/5 (live)
  ASSERT_TRUE(this->store_->RemoveExpired(205 + kMaxRefreshGraceSeconds + 1, 0));
  EXPECT_EQ(this->RefreshRows(s), 2u);  // old (its seal gone), F/5
  EXPECT_EQ(this->store_->FindRefresh(Rt("old")).value()->first.sealed_successor, "");
  EXPECT_EQ(this->Outcome(Present("old", "x", 600)), RefreshOutcome::kReuseDetected);
  EXPECT_FALSE(this->store_->Get(s.id_hash)->has_value());
}

TYPED_TEST(SessionStoreTest, ConcurrentRefreshesMakeOneSuccessor) {
  for (const int64_t grace : {int64_t{10}, int64_t{0}}) {
    SCOPED_TRACE(grace);
    const std::string family = "g" + std::to_string(grace);
    const Session s = MakeToken(family, "u1", 100, 1000);
    ASSERT_TRUE(this->store_->CreateTokenSession(s, Rt(family), {}, 100, nullptr).ok());
    constexpr int kThreads = 8;
    std::vector<Result<RefreshResult>> results(kThreads,
                                               Status(Code::kInternal, Reason::kNone, ""));
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = this->store_->RotateRefresh(
            Present(family, family + "-" + std::to_string(i), 200, grace));
      });
    }
    for (auto& t : threads) t.join();
    std::vector<int> rotated, replayed, reused, unknown;
    for (int i = 0; i < kThreads; ++i) {
      ASSERT_TRUE(results[i]) << results[i].error().ToString();
      switch (results[i]->outcome) {
        case RefreshOutcome::kRotated:
          rotated.push_back(i);
          break;
        case RefreshOutcome::kGraceReplay:
          replayed.push_back(i);
          break;
        case RefreshOutcome::kReuseDetected:
          reused.push_back(i);
          break;
        case RefreshOutcome::kUnknown:
          unknown.push_back(i);
          break;
      }
    }
    ASSERT_EQ(rotated.size(), 1u);
    const std::string winner = family + "-" + std::to_string(rotated[0]);
    if (grace > 0) {
      EXPECT_EQ(replayed.size(), kThreads - 1u);
      for (int i : replayed) EXPECT_EQ(results[i]->presented.successor_hash, Rt(winner));
    } else {
      // The first late request ends the family; the ones after it find nothing.
      EXPECT_EQ(reused.size(), 1u);
      EXPECT_EQ(unknown.size(), kThreads - 2u);
    }
    // At most one live token: no loser's successor was stored.
    for (int i = 0; i < kThreads; ++i) {
      if (i == rotated[0]) continue;
      const std::string loser = family + "-" + std::to_string(i);
      EXPECT_EQ(this->Outcome(Present(loser, loser + "+", 201)), RefreshOutcome::kUnknown);
    }
    EXPECT_EQ(this->Outcome(Present(winner, winner + "+", 201)),
              grace > 0 ? RefreshOutcome::kRotated : RefreshOutcome::kUnknown);
  }
}

}  // namespace
}  // namespace tessera::session
