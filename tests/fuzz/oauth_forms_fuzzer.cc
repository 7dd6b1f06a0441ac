// Fuzzes what the token, introspection and revocation endpoints read from a request before any
// check: the form body and the Authorization header. Properties: no crash, no sanitizer report,
// and a parsed form re-encoded and parsed again gives the same parameters.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "forms.h"

namespace {

std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace tessera::server;
  if (auto form = ParseForm(input)) {
    std::string again;
    for (const auto& [name, value] : *form) {
      if (!again.empty()) again += '&';
      again += Encode(name) + "=" + Encode(value);
    }
    auto reparsed = ParseForm(again);
    if (!reparsed || *reparsed != *form) __builtin_trap();
  }
  (void)ParseBasicAuthorization(input);
  if (auto token = ParseBearerAuthorization(input)) {
    if (token->empty() || token->size() > input.size()) __builtin_trap();
  }
  return 0;
}
