// The text[] values a hostile or broken PostgreSQL (or whatever answers on its port) could send
// in an account's roles column: src/store/postgres/client.h DecodeTextArray. It must never crash
// or read out of bounds; every array it accepts must hold no NULL, and must survive being
// written back (EncodeTextArray) and read again unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/postgres/client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tessera::store::pg::DecodeTextArray;
  using tessera::store::pg::EncodeTextArray;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto items = DecodeTextArray(text);
  if (!items) return 0;
  // What was accepted came from a well-formed literal: braces around it.
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') std::abort();
  auto again = DecodeTextArray(EncodeTextArray(*items));
  if (!again || *again != *items) std::abort();
  return 0;
}
