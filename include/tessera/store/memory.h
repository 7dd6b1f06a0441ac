// In-memory stores: for tests, and for `session.store = "memory"` (sessions end with the process).
#pragma once

#include <memory>

#include "tessera/session/session_store.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::store {

std::unique_ptr<session::SessionStore> NewMemorySessionStore();
std::unique_ptr<user::UserStore> NewMemoryUserStore();
std::unique_ptr<user::ThrottleStore> NewMemoryThrottleStore();

}  // namespace tessera::store
