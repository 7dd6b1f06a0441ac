// HMAC (RFC 2104) with the key schedule done once.
//
// OpenSSL 3's EVP_MAC calls fetch a provider implementation and allocate a context per message,
// which costs several times the hash itself for a JWT-sized input. HmacKey instead absorbs the
// ipad/opad blocks once, at construction, and each MAC copies two plain hash states: no allocation,
// no locks. Immutable after construction, so one HmacKey serves any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "crypto/hash.h"

namespace tessera::crypto {

class HmacKey {
 public:
  // Any key length is accepted here (RFC 2104); policy on minimum length lives in JOSE.
  HmacKey(Hash hash, std::string_view key);
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;

  Hash hash() const { return hash_; }
  size_t tag_size() const { return DigestSize(hash_); }

  // Writes tag_size() bytes to `out`.
  void Compute(std::string_view message, uint8_t* out) const;

  // True when `tag` is exactly this key's full-length MAC of `message`; compared in constant time.
  bool Verify(std::string_view message, std::string_view tag) const;

 private:
  struct States;
  Hash hash_;
  std::unique_ptr<States> states_;
};

}  // namespace tessera::crypto
