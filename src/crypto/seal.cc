#include "crypto/seal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>

#include "crypto/random.h"

namespace tessera::crypto {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct KdfFree {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};

Status CryptoFailure(const char* what) {
  return Status(Code::kInternal, Reason::kCrypto, std::string("seal: ") + what + " failed");
}

Status DeriveKey(std::string_view secret, std::string_view context, unsigned char* key) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return CryptoFailure("HKDF fetch");
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return CryptoFailure("HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()),
                                        secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(context.data()),
                                        context.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), key, kKeyBytes, params) != 1) return CryptoFailure("HKDF");
  return Status::Ok();
}

}  // namespace

Result<std::string> SealWithSecret(std::string_view secret, std::string_view context,
                                   std::string_view plaintext) {
  unsigned char key[kKeyBytes];
  TESSERA_RETURN_IF_ERROR(DeriveKey(secret, context, key));
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  RandomBytes(nonce, kNonceBytes);
  std::unique_ptr<EVP_CIPHER_CTX, KdfFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key, nonce) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nonce + kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), nonce + kNonceBytes + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          nonce + kNonceBytes + plaintext.size()) == 1;
  SecureZero(key, sizeof key);
  if (!ok) return CryptoFailure("AES-GCM seal");
  return out;
}

Result<std::string> OpenWithSecret(std::string_view secret, std::string_view context,
                                   std::string_view sealed) {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return Unauthenticated(Reason::kCrypto, "sealed value too short");
  }
  unsigned char key[kKeyBytes];
  TESSERA_RETURN_IF_ERROR(DeriveKey(secret, context, key));
  const auto* in = reinterpret_cast<const unsigned char*>(sealed.data());
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  std::string out(n, '\0');
  std::unique_ptr<EVP_CIPHER_CTX, KdfFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  unsigned char tag[kTagBytes];
  std::copy(in + kNonceBytes + n, in + sealed.size(), tag);
  const bool setup = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key, in) == 1 &&
                     EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                                       &len, in + kNonceBytes, static_cast<int>(n)) == 1 &&
                     EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1;
  SecureZero(key, sizeof key);
  if (!setup) return CryptoFailure("AES-GCM open");
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) != 1) {
    SecureZero(out.data(), out.size());
    return Unauthenticated(Reason::kCrypto, "sealed value does not open with this secret");
  }
  return out;
}

}  // namespace tessera::crypto
