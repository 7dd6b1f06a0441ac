// Message digests used by JOSE: SHA-256/384/512.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::crypto {

enum class Hash : uint8_t { kSha256, kSha384, kSha512 };

constexpr size_t DigestSize(Hash h) {
  return h == Hash::kSha256 ? 32 : h == Hash::kSha384 ? 48 : 64;
}
constexpr size_t kMaxDigestSize = 64;

// Writes DigestSize(h) bytes to `out`.
void Digest(Hash h, std::string_view data, uint8_t* out);

// SHA-256 of `data` (binary, 32 bytes).
std::string Sha256(std::string_view data);

// SHA-256 of `data` as 64 lowercase hex digits (how configuration files hold hashed secrets).
std::string HexSha256(std::string_view data);

}  // namespace tessera::crypto
