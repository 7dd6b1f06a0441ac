// In-memory stores: for tests, and for `session.store = "memory"` (sessions end with the process).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "tessera/session/session_store.h"
#include "tessera/user/throttle.h"
#include "tessera/user/user_store.h"

namespace tessera::store {

std::unique_ptr<session::SessionStore> NewMemorySessionStore();
std::unique_ptr<user::UserStore> NewMemoryUserStore();
std::unique_ptr<user::ThrottleStore> NewMemoryThrottleStore();

// Tests only: how many refresh-token records a memory session store holds for the session
// (0 for any other store). Shows that a family stays bounded however often it rotates.
size_t MemoryRefreshRecordCountForTesting(session::SessionStore& store,
                                          std::string_view session_id_hash);

}  // namespace tessera::store
