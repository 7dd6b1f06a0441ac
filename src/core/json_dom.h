// Helpers over simdjson's DOM parser for strict JSON. Included only by the few translation units
// that parse untrusted JSON (simdjson.h is large).
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "tessera/status.h"

namespace tessera::json_dom {

// Bytes of readable slack simdjson needs after a document when the caller provides the buffer.
constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

// Fails when any object, at any depth, repeats a member name (after unescaping, so "a" and
// "\u0061" collide). RFC 7515 section 5.2 and RFC 7519 section 4 let parsers either reject
// duplicates or take the last one; taking one silently is how two parsers come to disagree about
// what a token says, so tessera rejects.
inline Status CheckNoDuplicates(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  if (e.type() == element_type::ARRAY) {
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    for (simdjson::dom::element child : arr) {
      TESSERA_RETURN_IF_ERROR(CheckNoDuplicates(child));
    }
    return Status::Ok();
  }
  if (e.type() != element_type::OBJECT) return Status::Ok();
  simdjson::dom::object obj = e.get_object().value_unsafe();
  // Small objects (every JOSE header and most claim sets): compare pairwise without allocating.
  constexpr size_t kSmall = 16;
  std::string_view small[kSmall];
  size_t n = 0;
  std::vector<std::string_view> large;
  for (auto field : obj) {
    if (n < kSmall) {
      for (size_t i = 0; i < n; ++i) {
        if (small[i] == field.key) {
          return InvalidArgument(Reason::kDuplicateMember, "duplicate JSON member name");
        }
      }
      small[n++] = field.key;
    } else {
      if (large.empty()) large.assign(small, small + kSmall);
      large.push_back(field.key);
    }
    TESSERA_RETURN_IF_ERROR(CheckNoDuplicates(field.value));
  }
  if (!large.empty()) {
    std::sort(large.begin(), large.end());
    if (std::adjacent_find(large.begin(), large.end()) != large.end()) {
      return InvalidArgument(Reason::kDuplicateMember, "duplicate JSON member name");
    }
  }
  return Status::Ok();
}

// Maps a simdjson parse error to a Status.
inline Status FromError(simdjson::error_code err) {
  if (err == simdjson::DEPTH_ERROR) return InvalidArgument(Reason::kTooDeep, "JSON nested too deep");
  if (err == simdjson::CAPACITY) return InvalidArgument(Reason::kTooLarge, "JSON too large");
  return InvalidArgument(Reason::kBadJson, "invalid JSON");
}

}  // namespace tessera::json_dom
