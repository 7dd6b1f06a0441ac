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
  // The most levels of nested objects and arrays, the outermost being level 1 (so 1 admits
  // {"a":1} but not {"a":[1]}). Values above kMaxDepthCeiling count as the ceiling.
  size_t max_depth = 64;
};

// The deepest nesting any Limits can ask for: it bounds the (recursive) walks over the parsed
// tree, whatever a caller configures. The parse itself is iterative.
inline constexpr size_t kMaxDepthCeiling = 256;

// kTooDeep for a document nested deeper than the limit, kTooLarge for one over max_bytes,
// kDuplicateMember or kBadJson for what RFC 8259 or tessera's strictness forbids.
Result<nlohmann::json> ParseStrict(std::string_view text, const Limits& limits = {});

// Re-serialises JSON text without insignificant whitespace. REQUIRES: `text` is valid JSON.
std::string Minify(std::string_view text);

}  // namespace tessera::json
