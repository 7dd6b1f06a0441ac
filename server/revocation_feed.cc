#include "revocation_feed.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "crypto/hash.h"

namespace tessera::server {
namespace {

// Names a feed without showing its identity (a Redis run id, a database's random id).
std::string Tag(std::string_view feed) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::string digest = crypto::Sha256(feed);
  std::string out;
  for (size_t i = 0; i < 8; ++i) {
    const auto b = static_cast<unsigned char>(digest[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

}  // namespace

RevocationFeed::RevocationFeed(Options options) : options_(options) {}

bool RevocationFeed::Revokes(const session::Change& c) {
  return (c.kind == session::ChangeKind::kSessionEnded && c.until > 0) ||
         c.kind == session::ChangeKind::kTokenRevoked;
}

std::optional<session::FeedPosition> RevocationFeed::Resolve(std::string_view cursor) const {
  const auto parsed = Parse(cursor);
  std::lock_guard lock(mu_);
  if (!parsed || tag_.empty() || parsed->tag != tag_) return std::nullopt;
  return session::FeedPosition{.feed = feed_, .seq = parsed->seq};
}

std::string RevocationFeed::CursorAt(uint64_t seq) const {
  std::lock_guard lock(mu_);
  return CursorLocked(seq);
}

// "<tag>-<seq>": opaque to clients.
std::optional<RevocationFeed::Parsed> RevocationFeed::Parse(std::string_view cursor) {
  const size_t dash = cursor.find('-');
  if (dash != 16) return std::nullopt;
  Parsed p{.tag = std::string(cursor.substr(0, dash)), .seq = 0};
  const std::string_view digits = cursor.substr(dash + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.seq);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return p;
}

std::string RevocationFeed::CursorLocked(uint64_t seq) const {
  return tag_ + "-" + std::to_string(seq);
}

std::string RevocationFeed::Cursor() const {
  std::lock_guard lock(mu_);
  return CursorLocked(position_);
}

RevocationFeed::Page RevocationFeed::SinceLocked(std::string_view cursor) const {
  Page page;
  const auto parsed = Parse(cursor);
  // Another feed, no feed yet, a cursor older than what is kept, or not a cursor at all.
  if (!parsed || tag_.empty() || parsed->tag != tag_ || parsed->seq < floor_) {
    page.reset = true;
    page.cursor = CursorLocked(position_);
    return page;
  }
  // A cursor ahead of this instance (it came from one that applied more): nothing new yet, and
  // the cursor does not go back.
  page.cursor = CursorLocked(std::max(parsed->seq, position_));
  auto first = std::upper_bound(entries_.begin(), entries_.end(), parsed->seq,
                                [](uint64_t seq, const Entry& e) { return seq < e.seq; });
  page.entries.assign(first, entries_.end());
  return page;
}

RevocationFeed::Page RevocationFeed::Since(std::string_view cursor) const {
  std::lock_guard lock(mu_);
  return SinceLocked(cursor);
}

std::vector<std::pair<RevocationFeed::Done, RevocationFeed::Page>> RevocationFeed::TakeReadyLocked(
    int64_t now_ms) {
  std::vector<std::pair<Done, Page>> ready;
  std::erase_if(waiters_, [&](Waiter& w) {
    Page page = SinceLocked(CursorLocked(w.after));
    if (page.entries.empty() && !page.reset && w.deadline_ms > now_ms) return false;
    ready.emplace_back(std::move(w.done), std::move(page));
    return true;
  });
  return ready;
}

void RevocationFeed::Reset(const session::FeedPosition& head) {
  std::vector<std::pair<Done, Page>> ready;
  {
    std::lock_guard lock(mu_);
    const std::string tag = Tag(head.feed);
    // Waiters on the old feed are told to reload; their cursors name it.
    if (tag != tag_) {
      for (Waiter& w : waiters_) {
        Page page;
        page.reset = true;
        page.cursor = tag + "-" + std::to_string(head.seq);
        ready.emplace_back(std::move(w.done), std::move(page));
      }
      waiters_.clear();
    }
    tag_ = tag;
    feed_ = head.feed;
    entries_.clear();
    position_ = head.seq;
    floor_ = head.seq;
    // Waiters on this feed whose cursors fell below the new floor get a reset too.
    auto more = TakeReadyLocked(INT64_MIN);
    for (auto& r : more) ready.push_back(std::move(r));
  }
  for (auto& [done, page] : ready) done(std::move(page));
}

void RevocationFeed::Apply(const session::Change& change) {
  std::vector<std::pair<Done, Page>> ready;
  {
    std::lock_guard lock(mu_);
    if (change.seq <= position_) return;  // already applied
    position_ = change.seq;
    if (!Revokes(change)) return;
    entries_.push_back(
        Entry{.seq = change.seq, .revocation = {.handle = change.handle, .until = change.until}});
    if (entries_.size() > options_.capacity) {
      floor_ = entries_.front().seq;
      entries_.pop_front();
    }
    ready = TakeReadyLocked(INT64_MIN);
  }
  for (auto& [done, page] : ready) done(std::move(page));
}

bool RevocationFeed::Wait(std::string_view cursor, int64_t deadline_ms, Done done) {
  Page now;
  {
    std::lock_guard lock(mu_);
    now = SinceLocked(cursor);
    if (now.entries.empty() && !now.reset && !closed_) {
      if (waiters_.size() >= options_.max_waiters) return false;
      waiters_.push_back(
          Waiter{.after = Parse(cursor)->seq, .deadline_ms = deadline_ms, .done = std::move(done)});
      return true;
    }
  }
  done(std::move(now));
  return true;
}

void RevocationFeed::Expire(int64_t now_ms) {
  std::vector<std::pair<Done, Page>> ready;
  {
    std::lock_guard lock(mu_);
    ready = TakeReadyLocked(now_ms);
  }
  for (auto& [done, page] : ready) done(std::move(page));
}

void RevocationFeed::ReleaseAll() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;  // and a wait that begins from now on ends at once
  }
  Expire(INT64_MAX);
}

size_t RevocationFeed::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace tessera::server
