// The low-level SHA interfaces are deprecated in OpenSSL 3 in favour of EVP, but they are the only
// way to copy a hash state without an allocation and a provider dispatch; they remain supported
// for the 3.x series and run the same assembly as EVP.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/hmac.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>

namespace tessera::crypto {

struct HmacKey::States {
  union {
    SHA256_CTX sha256;
    SHA512_CTX sha512;  // also SHA-384, which is SHA-512 with other initial values
  } inner, outer;
};

namespace {

size_t BlockSize(Hash h) { return h == Hash::kSha256 ? 64 : 128; }

}  // namespace

void Digest(Hash h, std::string_view data, uint8_t* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  switch (h) {
    case Hash::kSha256: SHA256(p, data.size(), out); return;
    case Hash::kSha384: SHA384(p, data.size(), out); return;
    case Hash::kSha512: SHA512(p, data.size(), out); return;
  }
}

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  Digest(Hash::kSha256, data, reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

std::string HexSha256(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : Sha256(data)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

HmacKey::HmacKey(Hash hash, std::string_view key) : hash_(hash), states_(new States) {
  const size_t block = BlockSize(hash);
  unsigned char k[128] = {0};
  if (key.size() > block) {
    Digest(hash, key, k);  // RFC 2104: keys longer than a block are hashed first
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char ipad[128], opad[128];
  for (size_t i = 0; i < block; ++i) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  switch (hash) {
    case Hash::kSha256:
      SHA256_Init(&states_->inner.sha256);
      SHA256_Update(&states_->inner.sha256, ipad, block);
      SHA256_Init(&states_->outer.sha256);
      SHA256_Update(&states_->outer.sha256, opad, block);
      break;
    case Hash::kSha384:
      SHA384_Init(&states_->inner.sha512);
      SHA384_Update(&states_->inner.sha512, ipad, block);
      SHA384_Init(&states_->outer.sha512);
      SHA384_Update(&states_->outer.sha512, opad, block);
      break;
    case Hash::kSha512:
      SHA512_Init(&states_->inner.sha512);
      SHA512_Update(&states_->inner.sha512, ipad, block);
      SHA512_Init(&states_->outer.sha512);
      SHA512_Update(&states_->outer.sha512, opad, block);
      break;
  }
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

HmacKey::~HmacKey() {
  if (states_) OPENSSL_cleanse(states_.get(), sizeof(States));
}

void HmacKey::Compute(std::string_view message, uint8_t* out) const {
  const auto* m = reinterpret_cast<const unsigned char*>(message.data());
  unsigned char inner_digest[kMaxDigestSize];
  if (hash_ == Hash::kSha256) {
    SHA256_CTX c = states_->inner.sha256;
    SHA256_Update(&c, m, message.size());
    SHA256_Final(inner_digest, &c);
    c = states_->outer.sha256;
    SHA256_Update(&c, inner_digest, 32);
    SHA256_Final(out, &c);
    return;
  }
  // SHA-384 and SHA-512 share SHA512_CTX; the Final functions differ only in output length.
  SHA512_CTX c = states_->inner.sha512;
  SHA512_Update(&c, m, message.size());
  const bool is384 = hash_ == Hash::kSha384;
  if (is384) SHA384_Final(inner_digest, &c); else SHA512_Final(inner_digest, &c);
  c = states_->outer.sha512;
  SHA512_Update(&c, inner_digest, is384 ? 48 : 64);
  if (is384) SHA384_Final(out, &c); else SHA512_Final(out, &c);
}

bool HmacKey::Verify(std::string_view message, std::string_view tag) const {
  if (tag.size() != tag_size()) return false;
  uint8_t expected[kMaxDigestSize];
  Compute(message, expected);
  return CRYPTO_memcmp(expected, tag.data(), tag.size()) == 0;
}

}  // namespace tessera::crypto
