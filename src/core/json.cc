#include "core/json.h"

#include <algorithm>

#include "core/json_dom.h"

namespace tessera::json {
namespace {

// Recursive, at most Limits::max_depth (never more than kMaxDepthCeiling) levels deep: the parse
// refused anything deeper before this runs.
nlohmann::json ToNlohmann(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      nlohmann::json out = nlohmann::json::object();
      const simdjson::dom::object obj = e.get_object().value_unsafe();
      for (auto field : obj) {
        out[std::string(field.key)] = ToNlohmann(field.value);
      }
      return out;
    }
    case element_type::ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      const simdjson::dom::array arr = e.get_array().value_unsafe();
      for (simdjson::dom::element child : arr) {
        out.push_back(ToNlohmann(child));
      }
      return out;
    }
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::INT64: return e.get_int64().value_unsafe();
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

// simdjson opens no scope for an empty array or object, so it does not count one at the bottom as
// a level: a document could be one level deeper than its max_depth says (json_strict_fuzzer found
// [[[[{"":[[{"":[]}]]}]]]] accepted at a limit of 8). This walk counts every container. It goes
// at most one level past the limit (simdjson refused anything deeper), so never deeper than
// kMaxDepthCeiling + 2.
bool WithinDepth(simdjson::dom::element e, size_t level, size_t max_depth) {
  using simdjson::dom::element_type;
  if (e.type() == element_type::OBJECT) {
    if (level > max_depth) return false;
    const simdjson::dom::object obj = e.get_object().value_unsafe();
    for (auto field : obj) {
      if (!WithinDepth(field.value, level + 1, max_depth)) return false;
    }
  } else if (e.type() == element_type::ARRAY) {
    if (level > max_depth) return false;
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    for (simdjson::dom::element child : arr) {
      if (!WithinDepth(child, level + 1, max_depth)) return false;
    }
  }
  return true;
}

}  // namespace

Result<nlohmann::json> ParseStrict(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidArgument(Reason::kTooLarge, "JSON document too large");
  }
  simdjson::dom::parser parser;
  // simdjson refuses a document that reaches its max_depth: one more than the levels allowed.
  const size_t max_depth = std::min(limits.max_depth, kMaxDepthCeiling) + 1;
  if (parser.allocate(text.size() + 1, max_depth) != simdjson::SUCCESS) {
    return ResourceExhausted(Reason::kTooLarge, "cannot allocate JSON parser");
  }
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    return json_dom::FromError(err);
  }
  if (!WithinDepth(root, 1, max_depth - 1)) return json_dom::FromError(simdjson::DEPTH_ERROR);
  TESSERA_RETURN_IF_ERROR(json_dom::CheckNoDuplicates(root));
  return ToNlohmann(root);
}

std::string Minify(std::string_view text) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  if (simdjson::minify(text.data(), text.size(), out.data(), len) != simdjson::SUCCESS) {
    return std::string(text);
  }
  out.resize(len);
  return out;
}

}  // namespace tessera::json
