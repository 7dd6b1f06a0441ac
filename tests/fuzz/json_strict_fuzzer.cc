// libFuzzer target: the strict JSON parser every request body, JWK and configuration document
// goes through (src/core/json.h), checked against a second parser on the same bytes.
//
// Properties beyond "no crash, no sanitizer report", the fuzzer aborting when one fails:
//  - differential: whatever tessera accepts, nlohmann's own (lenient) parser accepts too and
//    reads as the same value. tessera only adds refusals (duplicate names, depth, size, UTF-8),
//    so an acceptance nlohmann disagrees with is a finding;
//  - what tessera accepts has no member name twice in any object and no nesting deeper than the
//    limit;
//  - accepted documents survive a round trip: serialised and parsed again strictly, the same
//    value.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/json.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "json_strict_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

size_t Depth(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  size_t deepest = 0;
  for (const auto& child : j) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A small depth limit, so the fuzzer meets the boundary often.
  const tessera::json::Limits limits{.max_bytes = 1 << 16, .max_depth = 8};
  auto strict = tessera::json::ParseStrict(text, limits);
  if (!strict) return 0;
  if (Depth(*strict) > limits.max_depth) Fail("accepted a document nested deeper than the limit");
  // nlohmann's parser on the same bytes: no exceptions, a discarded value on error.
  const nlohmann::json lenient = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (lenient.is_discarded()) Fail("accepted what nlohmann's parser refuses");
  if (lenient != *strict) Fail("the two parsers read different values");
  // nlohmann keeps the last of duplicate names, and an object with a duplicate has fewer
  // members than it was written with: re-serialised, the value would say less than the input.
  auto again = tessera::json::ParseStrict(strict->dump(), limits);
  if (!again) Fail("the serialised value is refused");
  if (*again != *strict) Fail("the round trip changes the value");
  return 0;
}
