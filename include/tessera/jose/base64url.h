// base64url without padding (RFC 4648 section 5; RFC 7515 section 2), strictly: no '=' padding,
// no '+' or '/', no whitespace or other characters, no length of the form 4k+1, and the unused low
// bits of the last character must be zero, so that every byte string has exactly one encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::jose {

constexpr size_t Base64UrlEncodedSize(size_t n) { return (n * 4 + 2) / 3; }

// Decoded size of `n` encoded characters, or nullopt when no strict encoding has that length.
constexpr std::optional<size_t> Base64UrlDecodedSize(size_t n) {
  if (n % 4 == 1) return std::nullopt;
  return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

std::string Base64UrlEncode(std::string_view data);

// Writes Base64UrlEncodedSize(data.size()) characters to `out`.
void Base64UrlEncodeTo(std::string_view data, char* out);

// Decodes strictly; an error has Reason::kBadBase64.
Result<std::string> Base64UrlDecode(std::string_view text);

// Decodes strictly into `out`, which must hold *Base64UrlDecodedSize(text.size()) bytes. Returns
// false on any deviation from the strict form.
bool Base64UrlDecodeTo(std::string_view text, uint8_t* out);

}  // namespace tessera::jose
