// What a user types or an app sends at the second factor: the code, checked against a secret at
// a time the input picks, and base32 secrets as an import or an app would hand them over
// (src/crypto/totp.h). Nothing may crash or read out of bounds; a base32 text that decodes must
// be the canonical encoding of what it decodes to (up to case and padding), and every encoding
// must decode back; a code that verifies must be digits only and be what HOTP gives for the step
// it verified at, which must be within the window.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/totp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::crypto;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto bytes = Base32Decode(text)) {
    std::string canonical(text);
    while (!canonical.empty() && canonical.back() == '=') canonical.pop_back();
    for (char& c : canonical) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    if (Base32Encode(*bytes) != canonical) std::abort();
  }
  auto back = Base32Decode(Base32Encode(text));
  if (!back || *back != text) std::abort();

  // First 8 bytes: the time; the rest: the code, against a fixed secret.
  if (size < 8) return 0;
  int64_t now = 0;
  for (int i = 0; i < 8; ++i) now = (now << 8) | data[i];
  now &= (int64_t{1} << 40) - 1;  // years a clock can show
  const std::string_view code = text.substr(8);
  const std::string secret = "12345678901234567890";
  auto step = VerifyTotp(secret, code, now, std::nullopt);
  if (step) {
    if (*step < TotpStep(now) - 1 || *step > TotpStep(now) + 1) std::abort();
    if (HotpCode(secret, static_cast<uint64_t>(*step), TotpHash::kSha1, 6) != code) std::abort();
    // Accepted once: the same code with its step spent is refused.
    if (VerifyTotp(secret, code, now, *step)) std::abort();
  }
  return 0;
}
