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

// Equality of two member names with the cheap rejections first: most names of one object differ
// in length or first byte, which saves a memcmp call per pair.
inline bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && a == b));
}

// Collects the member names of one object and tells whether one repeats (after unescaping, so
// "a" and "\u0061" collide). Small objects (every JOSE header, most claim sets) are checked
// pairwise without allocating; larger ones are sorted once at the end.
class MemberNames {
 public:
  // False when `name` repeats one of the first kSmall names.
  bool Add(std::string_view name) {
    if (n_ < kSmall) {
      for (size_t i = 0; i < n_; ++i) {
        if (SameName(small_[i], name)) return false;
      }
      small_[n_++] = name;
      return true;
    }
    if (large_.empty()) large_.assign(small_, small_ + kSmall);
    large_.push_back(name);
    return true;
  }
  // False when any name repeats. Call once, after the last Add.
  bool Finish() {
    if (large_.empty()) return true;
    std::sort(large_.begin(), large_.end());
    return std::adjacent_find(large_.begin(), large_.end()) == large_.end();
  }

 private:
  static constexpr size_t kSmall = 16;
  std::string_view small_[kSmall];
  size_t n_ = 0;
  std::vector<std::string_view> large_;
};

inline Status DuplicateMember() {
  return InvalidArgument(Reason::kDuplicateMember, "duplicate JSON member name");
}

// Fails when any object, at any depth, repeats a member name. RFC 7515 section 5.2 and RFC 7519
// section 4 let parsers either reject duplicates or take the last one; taking one silently is how
// two parsers come to disagree about what a token says, so tessera rejects.
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
  const simdjson::dom::object obj = e.get_object().value_unsafe();
  MemberNames names;
  for (auto field : obj) {
    if (!names.Add(field.key)) return DuplicateMember();
    TESSERA_RETURN_IF_ERROR(CheckNoDuplicates(field.value));
  }
  return names.Finish() ? Status::Ok() : DuplicateMember();
}

// Only containers can hold duplicates; scalars need no walk.
inline Status CheckNestedNoDuplicates(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  const element_type t = e.type();
  if (t != element_type::ARRAY && t != element_type::OBJECT) return Status::Ok();
  return CheckNoDuplicates(e);
}

// Maps a simdjson parse error to a Status.
inline Status FromError(simdjson::error_code err) {
  if (err == simdjson::DEPTH_ERROR) return InvalidArgument(Reason::kTooDeep, "JSON nested too deep");
  if (err == simdjson::CAPACITY) return InvalidArgument(Reason::kTooLarge, "JSON too large");
  return InvalidArgument(Reason::kBadJson, "invalid JSON");
}

}  // namespace tessera::json_dom
