// The change feed against Redis client-side caching (CLIENT TRACKING), side by side on one Redis
// (issue 13): how soon each tells another instance that a session ended, and what else each one
// tells it. Run by bench/cluster/run; prints one JSON object.
//
//   tessera_tracking_bench REDIS_URL TRIALS TOUCHES
//
// Per trial: instance A creates a session and ends it (SessionStore::Remove, the logout script).
// Two listeners stand for instance C:
//   - the feed: C's follower, blocked in SessionStore::ReadChanges (XREAD BLOCK), as tessera runs;
//   - tracking: a connection with CLIENT TRACKING on, BCAST, PREFIX <prefix>s:, REDIRECT to a
//     second connection subscribed to __redis__:invalidate (the RESP2 form that Redis 7.0 has).
// Each records when it hears of the session's end; the figures are milliseconds from the moment
// A sent the logout. Then A records the last use of TOUCHES live sessions in one batch (what
// every instance does each second, SessionStore::TouchMany), and the bench counts what each
// listener is told about it: tracking names every touched session (each would be dropped from
// C's cache), the feed nothing (a last-use update ends nothing).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/random.h"
#include "store/redis/client.h"
#include "tessera/store/redis.h"

namespace {

using Clock = std::chrono::steady_clock;
using tessera::store::redis::Reply;
namespace redis = tessera::store::redis;
namespace session = tessera::session;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "tessera_tracking_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(tessera::Result<T> r, const char* what) {
  if (!r.has_value()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

// What the listeners heard, by the session's key in Redis (prefix + "s:" + hex id).
struct Heard {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Clock::time_point> feed;      // session ended, from the feed
  std::map<std::string, Clock::time_point> tracking;  // invalidated, from tracking
  size_t feed_entries = 0;
  size_t invalidations = 0;
  bool stop = false;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const size_t i = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  double sum = 0;
  for (double x : v) sum += x;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"mean_ms\": %.3f}",
                at(0.50), at(0.99), v.back(), sum / static_cast<double>(v.size()));
  return buf;
}

session::Session NewSession(int64_t now) {
  session::Session s;
  s.id_hash = tessera::crypto::RandomString(32);
  s.handle = tessera::crypto::RandomString(16);
  s.user_id = "bench-user-" + redis::Hex(tessera::crypto::RandomString(4));
  s.csrf_hash = tessera::crypto::RandomString(32);
  s.created_at = s.last_seen_at = now;
  s.expires_at = now + 3600;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) Die("usage: tessera_tracking_bench REDIS_URL TRIALS TOUCHES");
  const std::string url = argv[1];
  const int trials = std::atoi(argv[2]), touches = std::atoi(argv[3]);
  if (trials <= 0 || touches <= 0) Die("TRIALS and TOUCHES must be positive");
  tessera::store::RedisOptions options;
  options.prefix = "tessera-tracking-bench:" + redis::Hex(tessera::crypto::RandomString(4)) + ":";
  const std::string session_prefix = options.prefix + "s:";

  auto a = Must(tessera::store::OpenRedisSessionStore(url, options), "opening A's store");
  auto c = Must(tessera::store::OpenRedisSessionStore(url, options), "opening C's store");
  const redis::Endpoint endpoint = Must(redis::ParseUrl(url), "the URL");
  const redis::ClientOptions client;

  // Tracking: `tracker` turns it on and redirects to `listener`, which is subscribed.
  auto listener = Must(redis::Connection::Open(endpoint, client), "connecting");
  auto tracker = Must(redis::Connection::Open(endpoint, client), "connecting");
  const Reply id = Must(listener->Command({"CLIENT", "ID"}), "CLIENT ID");
  if (id.type != Reply::Type::kInteger) Die("CLIENT ID: unexpected reply");
  if (!listener->Write({"SUBSCRIBE", "__redis__:invalidate"}).ok()) Die("SUBSCRIBE failed");
  const auto subscribed = Must(listener->Receive(std::chrono::seconds(2)), "SUBSCRIBE");
  if (!subscribed || subscribed->type != Reply::Type::kArray) Die("SUBSCRIBE: no confirmation");
  const std::string redirect = std::to_string(id.integer);
  const Reply on = Must(tracker->Command({"CLIENT", "TRACKING", "on", "REDIRECT", redirect, "BCAST",
                                          "PREFIX", session_prefix}),
                        "CLIENT TRACKING");
  if (on.is_error()) Die("CLIENT TRACKING: " + on.str);

  Heard heard;
  session::FeedPosition start = Must(c->FeedHead(), "the feed's head");

  std::thread feed_thread([&] {
    session::FeedPosition at = start;
    while (true) {
      {
        std::lock_guard lock(heard.mu);
        if (heard.stop) return;
      }
      auto batch = c->ReadChanges(at, 1000, std::chrono::milliseconds(200));
      const Clock::time_point now = Clock::now();
      if (!batch) Die("reading the feed: " + batch.status().ToString());
      if (batch->gap) Die("the feed had a gap");
      std::lock_guard lock(heard.mu);
      for (const session::Change& ch : batch->changes) {
        ++heard.feed_entries;
        if (ch.kind == session::ChangeKind::kSessionEnded) {
          heard.feed.emplace(session_prefix + redis::Hex(ch.id_hash), now);
        }
      }
      at = batch->next;
      heard.cv.notify_all();
    }
  });
  std::thread tracking_thread([&] {
    while (true) {
      {
        std::lock_guard lock(heard.mu);
        if (heard.stop) return;
      }
      auto got = listener->Receive(std::chrono::milliseconds(200));
      const Clock::time_point now = Clock::now();
      if (!got) Die("tracking: " + got.status().ToString());
      if (!*got) continue;
      // ["message", "__redis__:invalidate", [key...]] (nil keys: everything, on a FLUSHALL)
      const Reply& m = **got;
      if (m.type != Reply::Type::kArray || m.elements.size() != 3) continue;
      std::lock_guard lock(heard.mu);
      for (const Reply& key : m.elements[2].elements) {
        ++heard.invalidations;
        heard.tracking[key.str] = now;
      }
      heard.cv.notify_all();
    }
  });

  const auto wall = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::vector<double> feed_ms, tracking_ms, answered_ms;
  for (int i = 0; i < trials; ++i) {
    const session::Session s = NewSession(wall());
    const std::string key = session_prefix + redis::Hex(s.id_hash);
    if (auto st = a->Create(s, {}, wall(), nullptr); !st.ok()) Die("create: " + st.ToString());
    {
      // The creation is itself an invalidation: wait for it, so it is not taken for the end.
      std::unique_lock lock(heard.mu);
      if (!heard.cv.wait_for(lock, std::chrono::seconds(2),
                             [&] { return heard.tracking.count(key) > 0; })) {
        Die("tracking never told of a created session");
      }
      heard.tracking.erase(key);
    }
    const Clock::time_point sent = Clock::now();
    auto removed = a->Remove(s.id_hash);
    const Clock::time_point answered = Clock::now();
    if (!removed || !*removed) Die("remove failed");
    std::unique_lock lock(heard.mu);
    if (!heard.cv.wait_for(lock, std::chrono::seconds(2), [&] {
          return heard.feed.count(key) > 0 && heard.tracking.count(key) > 0;
        })) {
      Die("a listener never heard of an ended session");
    }
    feed_ms.push_back(Ms(heard.feed[key] - sent));
    tracking_ms.push_back(Ms(heard.tracking[key] - sent));
    answered_ms.push_back(Ms(answered - sent));
    heard.feed.erase(key);
    heard.tracking.erase(key);
  }

  // One batch of last-use updates over `touches` live sessions.
  std::vector<std::pair<std::string, int64_t>> batch;
  for (int i = 0; i < touches; ++i) {
    const session::Session s = NewSession(wall());
    if (auto st = a->Create(s, {}, wall(), nullptr); !st.ok()) Die("create: " + st.ToString());
    batch.emplace_back(s.id_hash, s.last_seen_at + 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the creations' invalidations
  size_t feed_before, invalidations_before;
  {
    std::lock_guard lock(heard.mu);
    feed_before = heard.feed_entries;
    invalidations_before = heard.invalidations;
  }
  if (auto st = a->TouchMany(batch); !st.ok()) Die("touch: " + st.ToString());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t feed_touch, invalidations_touch;
  {
    std::lock_guard lock(heard.mu);
    feed_touch = heard.feed_entries - feed_before;
    invalidations_touch = heard.invalidations - invalidations_before;
    heard.stop = true;
  }
  feed_thread.join();
  tracking_thread.join();
  for (const auto& [id_hash, at] : batch) (void)a->Remove(id_hash);

  std::printf(
      "{\"trials\": %d, \"feed\": %s, \"tracking\": %s, \"answered\": %s, \"touches\": %d, "
      "\"feed_entries_for_touches\": %zu, \"invalidations_for_touches\": %zu}\n",
      trials, Stats(feed_ms).c_str(), Stats(tracking_ms).c_str(), Stats(answered_ms).c_str(),
      touches, feed_touch, invalidations_touch);
  return 0;
}
