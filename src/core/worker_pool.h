// A fixed set of threads draining a bounded FIFO queue: where slow CPU work (Argon2id, a blocking
// store call) runs, so that I/O threads never do it (docs/design.md, "Security rules").
//
// The bound is the point: under a login flood the queue fills, TrySubmit() says no at once, and
// the server answers 503 instead of queueing unbounded work and memory (an attacker's cheapest
// denial of service against a memory-hard hash).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

// The CPUs the calling thread may run on: its affinity mask, which it inherited from the process
// unless it changed its own, and which `taskset`, `numactl` and a container's cpuset narrow,
// unlike std::thread::hardware_concurrency() (every online CPU). At least 1. What "one per core"
// means for the thread counts of the server and its pools (sized from the main thread).
size_t UsableCpus();

// Names the calling thread for `top -H`, `ps -L`, perf and debuggers: at most 15 bytes of `name`
// (the kernel's limit) are kept. Call it first thing in a thread tessera starts, never from the
// main thread (whose name is the process's, what `ps` and `pgrep tessera` show).
void NameThisThread(const char* name);

class WorkerPool {
 public:
  // Starts `threads` workers (0: UsableCpus()), each named `name` (NameThisThread) when given. At
  // most `queue_capacity` tasks wait for a worker at a time (tasks already running do not count);
  // 0 is taken as 1. Throws std::system_error when a thread cannot be started (at startup, a
  // process boundary); the threads already started are stopped first.
  WorkerPool(size_t threads, size_t queue_capacity, const char* name = nullptr);
  // Shutdown(): queued tasks still run.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task` and returns true, or returns false at once, without running or keeping it, when
  // the queue is full or shutdown has begun. Never blocks on a running task.
  // REQUIRES: `task` is non-empty and does not throw (an escaping exception ends the process,
  // as with std::thread).
  // Thread-safe. EXCLUDES(mu_).
  bool TrySubmit(std::function<void()> task);

  // Tasks queued and not yet started, for a gauge. Thread-safe. EXCLUDES(mu_).
  size_t queue_depth() const;

  size_t thread_count() const { return threads_.size(); }
  size_t queue_capacity() const { return capacity_; }

  // Stops accepting tasks, lets the workers finish every queued task, and joins them. Idempotent;
  // concurrent callers all return after the join.
  // REQUIRES: not called from a task on this pool (it would wait for itself).
  // Thread-safe. EXCLUDES(mu_, join_mu_).
  void Shutdown();

 private:
  void WorkerLoop();  // EXCLUDES(mu_)

  const size_t capacity_;

  mutable std::mutex mu_;
  std::condition_variable work_ready_;       // signalled on a new task or on shutdown
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)

  std::mutex join_mu_;                // serialises Shutdown()'s join; never held together with mu_
  std::vector<std::thread> threads_;  // filled by the constructor; joined GUARDED_BY(join_mu_)
};

}  // namespace tessera
