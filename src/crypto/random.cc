#include "crypto/random.h"

#include <openssl/crypto.h>
#include <sodium.h>

#include <cstdlib>

namespace tessera::crypto {
namespace {

// sodium_init() is idempotent and thread-safe; a failure means no usable randomness.
void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}

}  // namespace

void RandomBytes(uint8_t* out, size_t n) {
  EnsureSodium();
  randombytes_buf(out, n);
}

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  RandomBytes(reinterpret_cast<uint8_t*>(s.data()), n);
  return s;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureZero(void* p, size_t n) { OPENSSL_cleanse(p, n); }

}  // namespace tessera::crypto
