// Strict JSON for everything tessera reads from outside that is not on the token hot path (JWKs,
// request bodies, configuration): RFC 8259 only, valid UTF-8, no duplicate member names at any
// depth, bounded size and depth. The result is an nlohmann::json tree for convenient access.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string_view>

#include "tessera/result.h"

namespace tessera::json {

struct Limits {
  size_t max_bytes = 1 << 20;
  size_t max_depth = 64;
};

Result<nlohmann::json> ParseStrict(std::string_view text, const Limits& limits = {});

// Re-serialises JSON text without insignificant whitespace. REQUIRES: `text` is valid JSON.
std::string Minify(std::string_view text);

}  // namespace tessera::json
