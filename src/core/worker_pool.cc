#include "core/worker_pool.h"

#include <pthread.h>
#include <sched.h>

#include <cstdio>

#include <algorithm>
#include <cassert>
#include <system_error>
#include <utility>

namespace tessera {

size_t UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  // A mask wider than cpu_set_t (over 1024 CPUs) or another failure: every online CPU.
  return std::max(std::thread::hardware_concurrency(), 1u);
}

void NameThisThread(const char* name) {
  char shortened[16];
  std::snprintf(shortened, sizeof shortened, "%s", name);
  (void)pthread_setname_np(pthread_self(), shortened);  // a name is a convenience: no failure
}

WorkerPool::WorkerPool(size_t threads, size_t queue_capacity, const char* name)
    : capacity_(std::max<size_t>(queue_capacity, 1)) {
  if (threads == 0) threads = UsableCpus();
  threads_.reserve(threads);
  try {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this, name] {
        if (name) NameThisThread(name);
        WorkerLoop();
      });
    }
  } catch (const std::system_error&) {
    // A destructor does not run for a half-built object, and a joinable std::thread destroyed
    // unjoined terminates the process: stop the workers that did start, then report.
    Shutdown();
    throw;
  }
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::TrySubmit(std::function<void()> task) {
  assert(task && "WorkerPool::TrySubmit needs a task");
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Full means "answer 503 now": waiting here would block an I/O thread (the DoS it prevents).
    if (stopping_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(task));
  }
  work_ready_.notify_one();
  return true;
}

size_t WorkerPool::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before exiting: a task accepted by TrySubmit always runs (its caller is waiting on
      // it to answer a request).
      if (queue_.empty()) return;  // stopping_ and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace tessera
