#include "core/worker_pool.h"

#include <pthread.h>
#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <latch>
#include <set>
#include <thread>
#include <vector>

namespace tessera {
namespace {

// Occupies the pool's only worker until Release(), so that the queue's state is deterministic.
class Blocker {
 public:
  void SubmitTo(WorkerPool& pool) {
    ASSERT_TRUE(pool.TrySubmit([this] {
      started_.count_down();
      release_.wait();
    }));
    started_.wait();  // the worker has taken it: the queue is empty again
  }
  void Release() { release_.count_down(); }

 private:
  std::latch started_{1};
  std::latch release_{1};
};

TEST(WorkerPool, RunsEveryTask) {
  WorkerPool pool(4, 1000);
  EXPECT_EQ(pool.thread_count(), 4u);
  std::atomic<int> sum{0};
  for (int i = 1; i <= 1000; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&sum, i] { sum += i; }));
  }
  pool.Shutdown();
  EXPECT_EQ(sum.load(), 1000 * 1001 / 2);
  EXPECT_EQ(pool.queue_depth(), 0u);
}

TEST(WorkerPool, RunsTasksOnWorkerThreads) {
  WorkerPool pool(2, 16);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::latch done(8);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      done.count_down();
    }));
  }
  done.wait();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
  EXPECT_LE(ids.size(), 2u);
}

TEST(WorkerPool, ZeroThreadsMeansOnePerUsableCpu) {
  WorkerPool pool(0, 1);
  EXPECT_EQ(pool.thread_count(), UsableCpus());
}

// `taskset -c 0 tessera serve` (or a cpuset of one CPU) means one CPU, whatever the machine has.
TEST(WorkerPool, UsableCpusFollowsTheAffinityMask) {
  EXPECT_GE(UsableCpus(), 1u);
  EXPECT_LE(UsableCpus(), std::max(std::thread::hardware_concurrency(), 1u));
  std::thread([] {
    cpu_set_t all;
    ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
    int first = 0;
    while (!CPU_ISSET(first, &all)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // this thread only
    EXPECT_EQ(UsableCpus(), 1u);
    WorkerPool pool(0, 1);  // started from here, its threads inherit the mask
    EXPECT_EQ(pool.thread_count(), 1u);
  }).join();
}

TEST(WorkerPool, TrySubmitFailsAtOnceWhenFull) {
  WorkerPool pool(1, 3);
  EXPECT_EQ(pool.queue_capacity(), 3u);
  Blocker blocker;
  blocker.SubmitTo(pool);
  EXPECT_EQ(pool.queue_depth(), 0u);

  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(pool.TrySubmit([&ran] { ++ran; }));
    EXPECT_EQ(pool.queue_depth(), static_cast<size_t>(i + 1));
  }
  // Full: refused without blocking (the worker is still held by the blocker), and not kept.
  bool refused_ran = false;
  EXPECT_FALSE(pool.TrySubmit([&refused_ran] { refused_ran = true; }));
  EXPECT_FALSE(pool.TrySubmit([&refused_ran] { refused_ran = true; }));
  EXPECT_EQ(pool.queue_depth(), 3u);
  EXPECT_EQ(ran.load(), 0);

  blocker.Release();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(refused_ran);
  EXPECT_EQ(pool.queue_depth(), 0u);
}

TEST(WorkerPool, RoomFreesUpAsTasksStart) {
  WorkerPool pool(1, 1);
  Blocker first;
  first.SubmitTo(pool);
  std::latch second_ran(1);
  EXPECT_TRUE(pool.TrySubmit([&] { second_ran.count_down(); }));
  EXPECT_FALSE(pool.TrySubmit([] {}));
  first.Release();
  second_ran.wait();
  // The queue is empty again (the worker took the second task before running it).
  EXPECT_EQ(pool.queue_depth(), 0u);
  EXPECT_TRUE(pool.TrySubmit([] {}));
}

TEST(WorkerPool, ZeroCapacityIsTakenAsOne) {
  WorkerPool pool(1, 0);
  EXPECT_EQ(pool.queue_capacity(), 1u);
  Blocker blocker;
  blocker.SubmitTo(pool);
  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_FALSE(pool.TrySubmit([] {}));
  blocker.Release();
}

TEST(WorkerPool, ShutdownDrainsQueuedWork) {
  WorkerPool pool(1, 100);
  Blocker blocker;
  blocker.SubmitTo(pool);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.TrySubmit([&ran] { ++ran; }));
  EXPECT_EQ(pool.queue_depth(), 100u);

  // The blocker is released concurrently, as Shutdown waits for it; the tasks queued behind it
  // all run, whether they start before Shutdown has begun or after.
  std::thread releaser([&blocker] { blocker.Release(); });
  pool.Shutdown();
  releaser.join();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(pool.queue_depth(), 0u);
}

TEST(WorkerPool, RefusesTasksAfterShutdown) {
  WorkerPool pool(2, 10);
  pool.Shutdown();
  EXPECT_FALSE(pool.TrySubmit([] {}));
  pool.Shutdown();  // idempotent
  EXPECT_EQ(pool.queue_depth(), 0u);
}

// The name a worker sees for itself (pthread_getname_np), read on the pool.
std::string WorkerName(WorkerPool& pool) {
  std::promise<std::string> seen;
  EXPECT_TRUE(pool.TrySubmit([&seen] {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    seen.set_value(name);
  }));
  return seen.get_future().get();
}

TEST(WorkerPool, WorkersCarryTheGivenNameCutToTheKernelsFifteenBytes) {
  WorkerPool named(1, 1, "tessera-test");
  EXPECT_EQ(WorkerName(named), "tessera-test");
  WorkerPool longer(1, 1, "tessera-a-much-longer-name");
  EXPECT_EQ(WorkerName(longer), "tessera-a-much-");
  char main_name[16] = {};
  pthread_getname_np(pthread_self(), main_name, sizeof main_name);
  WorkerPool unnamed(1, 1);
  EXPECT_EQ(WorkerName(unnamed), main_name);  // a new thread starts with its creator's name
}

TEST(WorkerPool, DestructorDrainsQueuedWork) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(2, 50);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.TrySubmit([&ran] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(WorkerPool, ConcurrentSubmittersNeverExceedCapacity) {
  WorkerPool pool(1, 8);
  Blocker blocker;
  blocker.SubmitTo(pool);
  std::atomic<int> accepted{0};
  std::atomic<int> ran{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (pool.TrySubmit([&ran] { ++ran; })) ++accepted;
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  EXPECT_EQ(accepted.load(), 8);
  EXPECT_EQ(pool.queue_depth(), 8u);
  blocker.Release();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 8);
}

}  // namespace
}  // namespace tessera
