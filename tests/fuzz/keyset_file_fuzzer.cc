// Fuzzes the parser of <data>/signing-keys.json. Properties: no crash, no sanitizer report, and a
// file that parses serialises to one that parses to the same keys.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "token/keyset_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::token;
  auto keys = ParseKeyset(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!keys) return 0;
  auto again = ParseKeyset(SerializeKeyset(*keys));
  if (!again || again->size() != keys->size()) __builtin_trap();
  for (size_t i = 0; i < keys->size(); ++i) {
    if ((*again)[i].kid() != (*keys)[i].kid() || (*again)[i].alg != (*keys)[i].alg ||
        (*again)[i].activates_at != (*keys)[i].activates_at ||
        (*again)[i].retired_at != (*keys)[i].retired_at) {
      __builtin_trap();
    }
  }
  return 0;
}
