#include "core/blocking.h"

namespace tessera {
namespace {

thread_local bool active = false;
thread_local bool hit = false;

}  // namespace

NoBlockingScope::NoBlockingScope() : outer_active_(active), outer_hit_(hit) {
  active = true;
  hit = false;
}

NoBlockingScope::~NoBlockingScope() {
  active = outer_active_;
  hit = outer_hit_ || hit;
}

bool NoBlockingScope::would_have_blocked() const { return hit; }

bool MayBlock() { return !active; }

bool StoppedToBlock() { return active && hit; }

Status WouldBlock() {
  hit = true;
  return Status(Code::kUnavailable, Reason::kWouldBlock, "this would wait for a store");
}

}  // namespace tessera
