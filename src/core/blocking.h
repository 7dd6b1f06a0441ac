// Threads that must not wait for I/O. An HTTP I/O thread may run a handler optimistically (a
// forward-auth check answered from the caches); code on that path that would have to wait for a
// store (a cache miss, a write) checks MayBlock() first and, when it may not, returns
// WouldBlock() without doing anything. The server then runs the whole request again on the store
// pool, where waiting is allowed (docs/design.md "Threading").
#pragma once

#include "tessera/status.h"

namespace tessera {

// While one exists on a thread, MayBlock() is false there. Nests; not movable.
class NoBlockingScope {
 public:
  NoBlockingScope();
  ~NoBlockingScope();
  NoBlockingScope(const NoBlockingScope&) = delete;
  NoBlockingScope& operator=(const NoBlockingScope&) = delete;

  // Whether anything on this thread asked for WouldBlock() since the scope began.
  bool would_have_blocked() const;

 private:
  bool outer_active_;
  bool outer_hit_;
};

// False inside a NoBlockingScope on the calling thread.
bool MayBlock();

// Inside a NoBlockingScope, whether WouldBlock() was asked for on this thread: the work is being
// abandoned and will run again, so it should count nothing (metrics, audit) yet.
bool StoppedToBlock();

// Code::kUnavailable / Reason::kWouldBlock, and notes on the thread's scope that it was asked.
Status WouldBlock();

}  // namespace tessera
