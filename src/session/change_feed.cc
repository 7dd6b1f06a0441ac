#include "tessera/session/change_feed.h"

#include "tessera/session/session_store.h"
#include "core/worker_pool.h"

namespace tessera::session {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ChangeFollower::ChangeFollower(SessionStore* store, ChangeSinks sinks, Options options)
    : store_(store), sinks_(std::move(sinks)), options_(options) {}

ChangeFollower::~ChangeFollower() { Stop(); }

bool ChangeFollower::Fresh() const {
  const int64_t ok = last_ok_ns_.load(std::memory_order_relaxed);
  if (ok == 0) return false;
  return SteadyNanos() - ok <=
         std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_staleness).count();
}

FeedPosition ChangeFollower::position() const {
  std::lock_guard lock(position_mu_);
  return position_;
}

Status ChangeFollower::Start() {
  std::lock_guard lock(read_mu_);
  return StartLocked();
}

Status ChangeFollower::StartLocked() {
  // Not current until the reload is done: entries may have been lost.
  last_ok_ns_.store(0, std::memory_order_relaxed);
  started_ = false;
  // The head first, then the reload: a change landing in between is both reloaded and read
  // again after the head, and applying an entry twice is harmless (entries only remove or add).
  // So what is loaded is current as of the moment the head was asked for, not later.
  const int64_t asked = SteadyNanos();
  TESSERA_ASSIGN_OR_RETURN(FeedPosition head, store_->FeedHead());
  if (sinks_.reload) TESSERA_RETURN_IF_ERROR(sinks_.reload());
  if (sinks_.reloaded) sinks_.reloaded(head);
  cursor_ = std::move(head);
  started_ = true;
  last_ok_ns_.store(asked, std::memory_order_relaxed);
  std::lock_guard lock(position_mu_);
  position_ = cursor_;
  return Status::Ok();
}

Status ChangeFollower::PollOnce(std::chrono::milliseconds wait) {
  std::lock_guard lock(read_mu_);
  return PollLocked(wait);
}

Status ChangeFollower::PollLocked(std::chrono::milliseconds wait) {
  if (!started_) return StartLocked();
  // Taken before the read: what the read returns was in the store at least from this moment.
  const int64_t asked = SteadyNanos();
  TESSERA_ASSIGN_OR_RETURN(ChangeBatch batch,
                           store_->ReadChanges(cursor_, options_.batch, wait));
  if (batch.gap) {
    gaps_.fetch_add(1, std::memory_order_relaxed);
    // Entries were lost to us: nothing cached can be trusted until reloaded. Not current until
    // the reload succeeds; on failure the next poll reloads again (Start's order: head first).
    return StartLocked();
  }
  for (const Change& c : batch.changes) {
    if (sinks_.apply) sinks_.apply(c);
  }
  const bool caught_up = batch.changes.size() < options_.batch;
  cursor_ = std::move(batch.next);
  // A read that returned less than a full batch reached the head: the feed is current as of when
  // it was asked (not later: a blocking read may have waited). A full batch may have more behind
  // it: not current until a read comes back short.
  if (caught_up) last_ok_ns_.store(asked, std::memory_order_relaxed);
  std::lock_guard plock(position_mu_);
  position_ = cursor_;
  return Status::Ok();
}

void ChangeFollower::Spawn() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(stop_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    NameThisThread("tessera-feed");
    bool failing = false;
    for (;;) {
      {
        std::lock_guard lock(stop_mu_);
        if (stop_) return;
      }
      Status polled = PollOnce(options_.wait);
      if (polled.ok() == failing && sinks_.report) sinks_.report(polled);
      failing = !polled.ok();
      if (failing) {
        std::unique_lock lock(stop_mu_);
        stop_cv_.wait_for(lock, options_.retry, [this] { return stop_; });
      }
    }
  });
}

void ChangeFollower::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tessera::session
