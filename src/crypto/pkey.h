// Asymmetric keys (RSA, ECDSA P-256/384/521, Ed25519) parsed once into ready-to-use form.
//
// Only this layer touches OpenSSL and libsodium. Keys are immutable after construction and safe to
// share between threads; the per-operation OpenSSL contexts live in a small per-thread cache so the
// verify path neither allocates nor takes a lock once warm.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/hash.h"
#include "tessera/result.h"

struct evp_pkey_st;

namespace tessera::crypto {

enum class KeyKind : uint8_t { kRsa, kEcP256, kEcP384, kEcP521, kEd25519 };

enum class SigScheme : uint8_t { kRsaPkcs1, kRsaPss, kEcdsa, kEd25519 };

// Big-endian unsigned integers as binary strings. RSA values are minimal length; EC coordinates
// and scalars have exactly the curve's size; Ed25519 values are 32 bytes. Private fields are empty
// for a public key.
struct RsaComponents {
  std::string n, e, d, p, q, dp, dq, qi;
};
struct EcComponents {
  std::string x, y, d;
};
struct OkpComponents {
  std::string x, d;
};

// Limits on RSA keys accepted from outside: below 2048 bits is breakable in practice (NIST SP
// 800-131A); above 8192 a single verify becomes a denial-of-service lever.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

// Coordinate size in bytes of an EC curve.
size_t EcCoordinateSize(KeyKind kind);

class AsymmetricKey {
 public:
  using Ptr = std::shared_ptr<const AsymmetricKey>;

  // Each factory validates the key: size limits, a public exponent that is odd and at least 3, no
  // ROCA-weak modulus, a point on the curve, and a private part consistent with the public one.
  static Result<Ptr> FromRsa(const RsaComponents& c);
  static Result<Ptr> FromEc(KeyKind curve, const EcComponents& c);
  static Result<Ptr> FromEd25519(const OkpComponents& c);
  static Result<Ptr> Generate(KeyKind kind, int rsa_bits = 2048);

  ~AsymmetricKey();
  AsymmetricKey(const AsymmetricKey&) = delete;
  AsymmetricKey& operator=(const AsymmetricKey&) = delete;

  KeyKind kind() const { return kind_; }
  bool has_private() const { return has_private_; }
  // Modulus bits for RSA, the curve's bits otherwise.
  int bits() const { return bits_; }
  // Length in bytes of every signature this key makes (JOSE encodings: raw r||s for ECDSA).
  size_t signature_size() const { return signature_size_; }

  RsaComponents rsa() const;  // REQUIRES: kind() == kRsa
  EcComponents ec() const;    // REQUIRES: kind() is an EC curve
  OkpComponents okp() const;  // REQUIRES: kind() == kEd25519

  // True only for a valid signature of `message`. ECDSA signatures are the JOSE form, raw r||s of
  // exactly 2 * EcCoordinateSize bytes; anything else (DER, short, long) is rejected. RSA-PSS uses
  // MGF1 with the same hash and a salt as long as the hash (RFC 7518 section 3.5). `hash` is
  // ignored for Ed25519.
  bool Verify(SigScheme scheme, Hash hash, std::string_view message,
              std::string_view signature) const;

  // Signs `message`, replacing `*signature`. REQUIRES: has_private().
  Status Sign(SigScheme scheme, Hash hash, std::string_view message,
              std::string* signature) const;

 private:
  AsymmetricKey(KeyKind kind, evp_pkey_st* pkey, bool has_private);

  KeyKind kind_;
  evp_pkey_st* pkey_ = nullptr;  // RSA and EC; owned
  bool has_private_ = false;
  int bits_ = 0;
  size_t signature_size_ = 0;
  uint64_t id_ = 0;  // unique per key, for the per-thread context cache
  // Ed25519, verified and signed with libsodium (about twice OpenSSL 3.0's speed, and as strict:
  // canonical S, canonical and non-small-order A and R).
  unsigned char ed_public_[32] = {};
  unsigned char ed_secret_[64] = {};  // seed || public, libsodium's layout
};

// Ed25519 verification through OpenSSL instead of libsodium, kept to show in tests that both
// accept and reject the same Wycheproof vectors, and as the benchmarks' second floor.
bool Ed25519VerifyOpenSsl(std::string_view public_key, std::string_view message,
                          std::string_view signature);

}  // namespace tessera::crypto
