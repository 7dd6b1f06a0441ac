// The change feed (tessera/session/change_feed.h), the same suite for every SessionStore backend:
// every way a session ends is exactly one entry, written with the change; nothing else is; a
// reader pages through it without holes, is woken by a new entry, and is told of a gap rather
// than left to miss entries. Then the ChangeFollower over it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "crypto/hash.h"
#include "store_conformance/store_factory.h"
#include "tessera/session/change_feed.h"
#include "tessera/session/session_store.h"

namespace tessera::session {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;

constexpr int64_t kT0 = 1'800'000'000;

Session Make(const std::string& name, const std::string& user, int64_t created,
             int64_t tokens_until = 0) {
  return Session{.id_hash = crypto::Sha256("session " + name),
                 .handle = crypto::HexSha256("handle " + name).substr(0, 32),
                 .user_id = user,
                 .csrf_hash = std::string(32, 'c'),
                 .kind = tokens_until > 0 ? SessionKind::kToken : SessionKind::kCookie,
                 .created_at = created,
                 .last_seen_at = created,
                 .expires_at = created + 3600,
                 .tokens_until = tokens_until};
}

std::string Rt(const std::string& name) { return crypto::Sha256("refresh " + name); }

template <typename Backend>
class ChangeFeedTest : public ::testing::Test {
 protected:
  FeedPosition Head() {
    auto head = store_->FeedHead();
    EXPECT_TRUE(head) << head.error().ToString();
    return head ? *head : FeedPosition{};
  }
  // Every entry after `from`, read in small pages.
  std::vector<Change> ReadAll(FeedPosition from, SessionStore* store = nullptr) {
    if (!store) store = store_.get();
    std::vector<Change> out;
    for (;;) {
      auto batch = store->ReadChanges(from, 3, milliseconds(0));
      EXPECT_TRUE(batch) << batch.error().ToString();
      if (!batch) return out;
      EXPECT_FALSE(batch->gap);
      if (batch->changes.empty()) return out;
      for (const Change& c : batch->changes) out.push_back(c);
      EXPECT_EQ(batch->next.seq, batch->changes.back().seq);
      from = batch->next;
    }
  }
  void Put(const Session& s) {
    const Status st = store_->Create(s, {}, s.created_at, nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void PutToken(const Session& s, const std::string& refresh) {
    const std::string hash = Rt(refresh);
    const Status st = store_->CreateTokenSession(s, FirstRefreshToken{.hash = hash}, {},
                                                 s.created_at, nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void ExpectEnded(const Change& c, const Session& s) {
    EXPECT_EQ(c.kind, ChangeKind::kSessionEnded);
    EXPECT_EQ(c.id_hash, s.id_hash);
    EXPECT_EQ(c.handle, s.handle);
    EXPECT_EQ(c.user_id, s.user_id);
    EXPECT_EQ(c.until, s.tokens_until);
  }

  TempDir dir_;
  std::unique_ptr<SessionStore> store_ = Backend::Sessions(dir_.path());
};
TYPED_TEST_SUITE(ChangeFeedTest, testing::Backends);

TYPED_TEST(ChangeFeedTest, ANewFeedIsEmptyAndNamed) {
  const FeedPosition head = this->Head();
  EXPECT_FALSE(head.feed.empty());
  EXPECT_EQ(head.seq, 0u);
  auto batch = this->store_->ReadChanges(head, 10, milliseconds(0));
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_FALSE(batch->gap);
  EXPECT_TRUE(batch->changes.empty());
  EXPECT_EQ(batch->next, head);
  EXPECT_EQ(this->store_->ReadChanges(head, 0, milliseconds(0)).error().code(),
            Code::kInvalidArgument);
}

// Each of the ways the contract lists, in order; and the writes that end nothing add nothing.
TYPED_TEST(ChangeFeedTest, EveryWayOfEndingASessionIsExactlyOneEntry) {
  SessionStore& store = *this->store_;
  const Session a = Make("a", "u1", kT0), b = Make("b", "u1", kT0 + 1, kT0 + 900);
  const Session c = Make("c", "u2", kT0 + 2), d = Make("d", "u2", kT0 + 3);
  const Session e = Make("e", "u2", kT0 + 4), old = Make("old", "u3", kT0 - 7200);
  const Session t1 = Make("t1", "u4", kT0 + 5, kT0 + 600), t2 = Make("t2", "u4", kT0 + 6, kT0 + 600);
  const Session t3 = Make("t3", "u5", kT0 + 7, kT0 + 600);
  for (const Session& s : {a, b, c, d, e, old}) this->Put(s);
  this->PutToken(t1, "t1");
  this->PutToken(t2, "t2");
  const FeedPosition start = this->Head();

  // Writes that end nothing.
  ASSERT_TRUE(store.Touch(a.id_hash, kT0 + 30).ok());
  ASSERT_TRUE(store.TouchMany({{b.id_hash, kT0 + 31}}).ok());
  ASSERT_TRUE(store.ExtendTokensUntil(t1.id_hash, kT0 + 700).ok());
  auto rotated = store.RotateRefresh(RefreshRotation{.presented_hash = Rt("t1"),
                                                     .successor_hash = Rt("t1'"),
                                                     .sealed_successor = "sealed",
                                                     .now_ms = (kT0 + 40) * 1000});
  ASSERT_TRUE(rotated && rotated->outcome == RefreshOutcome::kRotated);
  EXPECT_TRUE(this->ReadAll(start).empty()) << "nothing ended yet";

  ASSERT_TRUE(store.Remove(a.id_hash).value().has_value());
  ASSERT_TRUE(store.RemoveByHandle(b.handle).value().has_value());
  ASSERT_EQ(store.RemoveByUser("u2", e.id_hash).value().size(), 2u);  // c and d
  // Eviction by the per-user limit: u2 has e alone now; a limit of 1 evicts it.
  const Session f = Make("f", "u2", kT0 + 8);
  std::vector<Session> evicted;
  ASSERT_TRUE(store.Create(f, {.max_per_user = 1}, kT0 + 8, &evicted).ok());
  ASSERT_EQ(evicted.size(), 1u);
  // Theft: t1's first token presented again after it rotated, outside any grace window.
  auto reuse = store.RotateRefresh(RefreshRotation{.presented_hash = Rt("t1"),
                                                   .successor_hash = Rt("t1''"),
                                                   .sealed_successor = "sealed",
                                                   .now_ms = (kT0 + 50) * 1000});
  ASSERT_TRUE(reuse && reuse->outcome == RefreshOutcome::kReuseDetected);
  ASSERT_TRUE(store.RemoveByRefresh(Rt("t2")).value().has_value());
  // Expiry: `old` ended an hour ago.
  ASSERT_EQ(store.RemoveExpired(kT0 + 10, 0).value(), 1u);
  // A session that is not there ends nothing.
  ASSERT_FALSE(store.Remove(a.id_hash).value().has_value());
  ASSERT_FALSE(store.RemoveByHandle("ffff").value().has_value());
  this->PutToken(t3, "t3");

  const std::vector<Change> got = this->ReadAll(start);
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, start.seq + 1 + i);
  this->ExpectEnded(got[0], a);
  this->ExpectEnded(got[1], b);
  // RemoveByUser ends c and d in some order.
  const bool c_first = got[2].id_hash == c.id_hash;
  this->ExpectEnded(got[2], c_first ? c : d);
  this->ExpectEnded(got[3], c_first ? d : c);
  this->ExpectEnded(got[4], e);
  Session t1_now = t1;
  t1_now.tokens_until = kT0 + 700;  // raised by ExtendTokensUntil: the entry carries the latest
  this->ExpectEnded(got[5], t1_now);
  this->ExpectEnded(got[6], t2);
  this->ExpectEnded(got[7], old);
}

TYPED_TEST(ChangeFeedTest, RevocationsAndPublishedChangesAreEntries) {
  SessionStore& store = *this->store_;
  const FeedPosition start = this->Head();
  ASSERT_TRUE(store.AddRevocation({.handle = "jti:abc", .until = kT0 + 300}).ok());
  ASSERT_TRUE(store.PublishChange({.kind = ChangeKind::kUserChanged, .user_id = "u-7"}).ok());
  ASSERT_TRUE(store.PublishChange({.kind = ChangeKind::kKeysetChanged}).ok());
  // Only the store writes the others, with the change itself.
  EXPECT_EQ(store.PublishChange({.kind = ChangeKind::kSessionEnded, .handle = "x"}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store.PublishChange({.kind = ChangeKind::kTokenRevoked, .handle = "x"}).code(),
            Code::kInvalidArgument);
  const std::vector<Change> got = this->ReadAll(start);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (Change{.seq = start.seq + 1,
                            .kind = ChangeKind::kTokenRevoked,
                            .handle = "jti:abc",
                            .until = kT0 + 300}));
  EXPECT_EQ(got[1], (Change{.seq = start.seq + 2, .kind = ChangeKind::kUserChanged,
                            .user_id = "u-7"}));
  EXPECT_EQ(got[2], (Change{.seq = start.seq + 3, .kind = ChangeKind::kKeysetChanged}));
  EXPECT_EQ(this->Head().seq, start.seq + 3);
}

TYPED_TEST(ChangeFeedTest, PagesFollowEachOtherWithoutHoles) {
  const FeedPosition start = this->Head();
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(this->store_->PublishChange({.kind = ChangeKind::kUserChanged,
                                             .user_id = "u" + std::to_string(i)})
                    .ok());
  }
  auto first = this->store_->ReadChanges(start, 4, milliseconds(0));
  ASSERT_TRUE(first) << first.error().ToString();
  ASSERT_EQ(first->changes.size(), 4u);
  EXPECT_EQ(first->next.seq, start.seq + 4);
  EXPECT_EQ(first->next.feed, start.feed);
  auto rest = this->store_->ReadChanges(first->next, 100, milliseconds(0));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->changes.size(), 3u);
  EXPECT_EQ(rest->changes[0].user_id, "u4");
  EXPECT_EQ(rest->changes[2].user_id, "u6");
  EXPECT_EQ(rest->next.seq, start.seq + 7);
}

// A cursor that is not of this feed, or ahead of it (the store lost data and counts again), must
// read as a gap: the reader reloads rather than missing what happened in between.
TYPED_TEST(ChangeFeedTest, ACursorNotInTheFeedIsAGap) {
  ASSERT_TRUE(this->store_->PublishChange({.kind = ChangeKind::kKeysetChanged}).ok());
  const FeedPosition head = this->Head();
  for (const FeedPosition& cursor :
       {FeedPosition{"another feed", 0}, FeedPosition{head.feed, head.seq + 5}}) {
    auto batch = this->store_->ReadChanges(cursor, 10, milliseconds(0));
    ASSERT_TRUE(batch) << batch.error().ToString();
    EXPECT_TRUE(batch->gap);
    EXPECT_TRUE(batch->changes.empty());
    EXPECT_EQ(batch->next, head) << "go on from the head after reloading";
  }
}

TYPED_TEST(ChangeFeedTest, AQuietWaitEndsWithNothing) {
  const FeedPosition head = this->Head();
  auto batch = this->store_->ReadChanges(head, 10, milliseconds(50));
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_FALSE(batch->gap);
  EXPECT_TRUE(batch->changes.empty());
  EXPECT_EQ(batch->next, head);
}

// A reader waiting for news gets an entry when it is written, not when its wait ends. (The bound
// is generous: what is checked is that it wakes at all before the wait is over.)
TYPED_TEST(ChangeFeedTest, AWaitingReaderWakesForANewEntry) {
  const FeedPosition head = this->Head();
  const Session s = Make("w", "u1", kT0);
  this->Put(s);
  const FeedPosition before = this->Head();
  std::atomic<bool> removed{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    removed = this->store_->Remove(s.id_hash).has_value();
  });
  const auto asked = std::chrono::steady_clock::now();
  auto batch = this->store_->ReadChanges(before, 10, milliseconds(20'000));
  const auto waited = std::chrono::steady_clock::now() - asked;
  writer.join();
  ASSERT_TRUE(removed);
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->changes.size(), 1u);
  this->ExpectEnded(batch->changes[0], s);
  EXPECT_LT(waited, milliseconds(10'000));
  EXPECT_EQ(head, before) << "creating a session is no entry";
}

// Two handles on one store stand for two processes: what one ends, the other reads. Two memory
// stores are two feeds: a cursor of one is a gap in the other.
TYPED_TEST(ChangeFeedTest, AnotherProcessReadsTheSameFeed) {
  if constexpr (!TypeParam::kShared) {
    auto other = TypeParam::Sessions(this->dir_.path());
    auto head = other->FeedHead();
    ASSERT_TRUE(head) << head.error().ToString();
    EXPECT_NE(head->feed, this->Head().feed);
    auto batch = this->store_->ReadChanges(*head, 10, milliseconds(0));
    ASSERT_TRUE(batch);
    EXPECT_TRUE(batch->gap);
  } else {
    auto other = TypeParam::Sessions(this->dir_.path());
    auto head = other->FeedHead();
    ASSERT_TRUE(head) << head.error().ToString();
    EXPECT_EQ(*head, this->Head());
    const Session s = Make("x", "u1", kT0, kT0 + 900);
    this->Put(s);
    ASSERT_TRUE(this->store_->RemoveByHandle(s.handle).value().has_value());
    const std::vector<Change> got = this->ReadAll(*head, other.get());
    ASSERT_EQ(got.size(), 1u);
    this->ExpectEnded(got[0], s);
  }
}

// The follower: Start reloads and takes the head; each entry is applied once, in order; Fresh
// says whether it is current.
TYPED_TEST(ChangeFeedTest, TheFollowerAppliesEachEntryOnce) {
  std::vector<Change> applied;
  int reloads = 0;
  ChangeFollower follower(this->store_.get(),
                          ChangeSinks{.apply = [&](const Change& c) { applied.push_back(c); },
                                      .reload =
                                          [&] {
                                            ++reloads;
                                            return Status::Ok();
                                          }});
  ASSERT_TRUE(this->store_->PublishChange({.kind = ChangeKind::kKeysetChanged}).ok());
  EXPECT_FALSE(follower.Fresh());
  ASSERT_TRUE(follower.Start().ok());
  EXPECT_TRUE(follower.Fresh());
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(follower.position(), this->Head()) << "what came before is in the reload";

  const Session a = Make("a", "u1", kT0), b = Make("b", "u2", kT0, kT0 + 900);
  this->Put(a);
  this->Put(b);
  ASSERT_TRUE(this->store_->Remove(a.id_hash).value());
  ASSERT_TRUE(this->store_->Remove(b.id_hash).value());
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  ASSERT_EQ(applied.size(), 2u);
  this->ExpectEnded(applied[0], a);
  this->ExpectEnded(applied[1], b);
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  EXPECT_EQ(applied.size(), 2u) << "nothing twice";
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(follower.gaps(), 0u);
}

// On its own thread the follower applies an entry soon after it is written.
TYPED_TEST(ChangeFeedTest, TheFollowersThreadAppliesWhatIsWritten) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Change> applied;
  ChangeFollower follower(this->store_.get(),
                          ChangeSinks{.apply =
                                          [&](const Change& c) {
                                            std::lock_guard lock(mu);
                                            applied.push_back(c);
                                            cv.notify_all();
                                          }},
                          {.wait = milliseconds(200)});
  follower.Spawn();
  // Spawn starts (reloads) on the thread; an entry written after Fresh is applied.
  for (int i = 0; i < 500 && !follower.Fresh(); ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(follower.Fresh());
  ASSERT_TRUE(this->store_->PublishChange({.kind = ChangeKind::kUserChanged, .user_id = "u9"}).ok());
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !applied.empty(); }));
  EXPECT_EQ(applied[0].user_id, "u9");
  lock.unlock();
  follower.Stop();
}

// Fresh means "read to the head within max_staleness": it goes stale without reads, and a read
// that returned a full batch (more may be waiting) does not make it fresh.
TYPED_TEST(ChangeFeedTest, FreshOnlyWhileReadsReachTheHead) {
  std::vector<Change> applied;
  ChangeFollower follower(this->store_.get(),
                          ChangeSinks{.apply = [&](const Change& c) { applied.push_back(c); }},
                          {.max_staleness = milliseconds(600), .batch = 2});
  ASSERT_TRUE(follower.Start().ok());
  EXPECT_TRUE(follower.Fresh());
  std::this_thread::sleep_for(milliseconds(900));
  EXPECT_FALSE(follower.Fresh()) << "no read for longer than max_staleness";
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(this->store_->PublishChange({.kind = ChangeKind::kKeysetChanged}).ok());
  }
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  EXPECT_EQ(applied.size(), 2u);
  EXPECT_FALSE(follower.Fresh()) << "a full batch: three entries still unread";
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  EXPECT_EQ(applied.size(), 5u);
  EXPECT_TRUE(follower.Fresh());
}

// A reload that fails (the store went down between reading the head and the revocations) leaves
// the follower not Fresh, and the next poll reloads again: nothing is applied on top of an
// incomplete reload.
TYPED_TEST(ChangeFeedTest, AFailedReloadLeavesTheFollowerStaleUntilOneSucceeds) {
  bool fail = true;
  int reloads = 0;
  ChangeFollower follower(this->store_.get(),
                          ChangeSinks{.reload = [&]() -> Status {
                            ++reloads;
                            if (fail) return Status(Code::kUnavailable, Reason::kStore, "down");
                            return Status::Ok();
                          }});
  EXPECT_EQ(follower.Start().code(), Code::kUnavailable);
  EXPECT_FALSE(follower.Fresh());
  EXPECT_EQ(follower.PollOnce(milliseconds(0)).code(), Code::kUnavailable);
  EXPECT_FALSE(follower.Fresh());
  fail = false;
  ASSERT_TRUE(follower.PollOnce(milliseconds(0)).ok());
  EXPECT_TRUE(follower.Fresh());
  EXPECT_EQ(reloads, 3);
}

}  // namespace
}  // namespace tessera::session
