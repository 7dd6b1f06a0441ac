// Randomness and comparisons that must not leak timing. The OS CSPRNG (getrandom) through
// libsodium; nothing here is seeded by the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::crypto {

// Fills `out` with `n` bytes from the OS CSPRNG. Never fails (libsodium aborts the process if the
// kernel cannot supply randomness, which is the only safe answer for an authentication server).
void RandomBytes(uint8_t* out, size_t n);

// `n` random bytes as a std::string (binary).
std::string RandomString(size_t n);

// Compares in time that depends only on the lengths, so a verifier's comparison of a MAC or a token
// hash does not tell an attacker how many leading bytes were right.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Overwrites memory in a way the compiler may not elide (keys, passwords).
void SecureZero(void* p, size_t n);

}  // namespace tessera::crypto
