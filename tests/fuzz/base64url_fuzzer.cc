// libFuzzer target: strict base64url (RFC 4648 section 5, no padding), which every JOSE segment
// and JWK member goes through.
//
// Strictness means every byte string has exactly one accepted encoding, so two properties must
// hold for any input, and the fuzzer aborts when either fails:
//  - decode then encode gives back the input (nothing non-canonical is accepted);
//  - encode then decode gives back the input (the encoder's output is always accepted).
// The buffer-based and the string-based functions must also agree, as must the size helpers.
//
// Differential: libsodium's decoder (sodium_base642bin, URL-safe alphabet without padding, which
// also refuses non-zero leftover bits) is a second implementation of the same strict rule. Any
// text one accepts and the other refuses, or that they decode differently, is a finding; so is
// an encoding that differs from sodium_bin2base64's.
#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/jose/base64url.h"

namespace tessera::jose {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "base64url_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

void FuzzOne(std::string_view input) {
  // The input as encoded text.
  auto decoded = Base64UrlDecode(input);
  const auto decoded_size = Base64UrlDecodedSize(input.size());
  if (decoded) {
    if (!decoded_size || *decoded_size != decoded->size()) Fail("decoded size is off");
    if (Base64UrlEncode(*decoded) != input) Fail("decode then encode changes the text");
  }
  if (decoded_size) {
    // An exactly sized heap buffer, so ASan sees any write past the promised size.
    std::vector<uint8_t> out(*decoded_size);
    const bool ok = Base64UrlDecodeTo(input, out.data());
    if (ok != decoded.has_value()) Fail("Base64UrlDecodeTo and Base64UrlDecode disagree");
    if (ok && std::string_view(reinterpret_cast<const char*>(out.data()), out.size()) != *decoded) {
      Fail("Base64UrlDecodeTo and Base64UrlDecode decode differently");
    }
  } else if (decoded) {
    Fail("decoded a length that has no strict encoding");
  }

  // The same text through libsodium, for ASCII text only: libsodium 1.0.18 (Debian 12) takes
  // some bytes >= 0x80 for alphabet characters (its first finding here: "QX" + 0xf5... decodes),
  // so it is no reference for them. tessera refuses every one (the round trip above).
  const bool ascii = std::all_of(input.begin(), input.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::vector<unsigned char> sodium_out(input.size() + 1);
  size_t sodium_len = 0;
  const bool sodium_ok =
      sodium_base642bin(sodium_out.data(), sodium_out.size(), input.data(), input.size(),
                        /*ignore=*/nullptr, &sodium_len, /*b64_end=*/nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0;
  if (ascii && sodium_ok != decoded.has_value()) {
    Fail("tessera and libsodium disagree on validity");
  }
  if (ascii && sodium_ok &&
      std::string_view(reinterpret_cast<const char*>(sodium_out.data()), sodium_len) != *decoded) {
    Fail("tessera and libsodium decode differently");
  }

  // The input as bytes.
  const std::string encoded = Base64UrlEncode(input);
  if (encoded.size() != Base64UrlEncodedSize(input.size())) Fail("encoded size is off");
  std::vector<char> out(encoded.size());
  Base64UrlEncodeTo(input, out.data());
  if (std::string_view(out.data(), out.size()) != encoded) Fail("the two encoders disagree");
  std::vector<char> sodium_text(
      sodium_base64_ENCODED_LEN(input.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING));
  sodium_bin2base64(sodium_text.data(), sodium_text.size(),
                    reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  if (std::string_view(sodium_text.data()) != encoded) Fail("tessera and libsodium encode differently");
  auto round_trip = Base64UrlDecode(encoded);
  if (!round_trip) Fail("the encoder's output is refused");
  if (*round_trip != input) Fail("encode then decode changes the bytes");
}

}  // namespace
}  // namespace tessera::jose

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessera::jose::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
