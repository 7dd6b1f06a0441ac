// Time-based one-time passwords (RFC 6238, over HOTP, RFC 4226) for the second factor, with
// the pieces an enrolment needs: base32 secrets (RFC 4648), the otpauth:// URI authenticator apps
// read (Google Authenticator's Key Uri Format), and that URI as a QR code in SVG (libqrencode).
//
// tessera's codes: HMAC-SHA-1, 6 digits, 30-second steps, one step either side accepted for clock
// drift; a step once accepted is never accepted again (the caller keeps the last one, per
// account). SHA-256/512 and 8 digits exist for the RFC's test vectors and for imports.
// Nothing here blocks or logs; secrets and codes never appear in a Status message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::crypto {

enum class TotpHash : uint8_t { kSha1, kSha256, kSha512 };

struct TotpParams {
  TotpHash hash = TotpHash::kSha1;
  int digits = 6;      // 6 to 8
  int64_t period = 30;  // seconds per step
  int window = 1;       // steps accepted either side of the current one
};

// The HOTP value of `secret` at `counter` (RFC 4226 section 5.3), as `digits` decimal digits with
// leading zeros; empty (which matches no code) if the HMAC fails. REQUIRES: 6 <= digits <= 8.
std::string HotpCode(std::string_view secret, uint64_t counter, TotpHash hash, int digits);

// The step that `unix_seconds` falls in (RFC 6238: T = floor((time - T0) / X), T0 = 0).
int64_t TotpStep(int64_t unix_seconds, int64_t period = 30);

// The step in which `code` is valid for `secret` at `now`: the current one, or one within
// params.window of it, and later than `last_used_step` (a code is accepted once: its step, and
// every one before it, are spent). Every candidate step is computed and compared in constant time
// whatever matches. kUnauthenticated/kBadPassword when no step matches (or the code is not
// params.digits digits); kInvalidArgument/kBadConfig for parameters out of range (digits 6 to 8,
// period > 0, window 0 to 10).
Result<int64_t> VerifyTotp(std::string_view secret, std::string_view code, int64_t now,
                           std::optional<int64_t> last_used_step, const TotpParams& params = {});

// RFC 4648 section 6 base32 (A-Z2-7), without padding: how authenticator apps take secrets.
std::string Base32Encode(std::string_view bytes);
// Accepts upper or lower case, with or without RFC 4648 padding (exact when present); nothing else
// (no spaces), and only the canonical text of each byte string.
// kInvalidArgument/kBadBase64 otherwise.
Result<std::string> Base32Decode(std::string_view text);

// otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30,
// with the label and parameters percent-encoded (RFC 3986 unreserved characters kept).
std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::string_view secret, const TotpParams& params = {});

// `text` as a QR code (error correction level M, byte mode) in SVG: a white background, one
// path of black modules, a 4-module quiet zone, `viewBox` in modules, scalable. kInternal when
// libqrencode cannot encode it (too long).
Result<std::string> QrSvg(std::string_view text);

}  // namespace tessera::crypto
