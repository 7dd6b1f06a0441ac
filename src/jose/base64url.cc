#include "tessera/jose/base64url.h"

#include <array>

namespace tessera::jose {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63 for alphabet characters, 0xff for everything else (including '=', '+', '/', space).
constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

void Base64UrlEncodeTo(std::string_view data, char* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    *out++ = kAlphabet[v >> 18];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
    *out++ = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = p[i] << 16;
    *out++ = kAlphabet[v >> 18];
    *out++ = kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    *out++ = kAlphabet[v >> 18];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
  }
}

std::string Base64UrlEncode(std::string_view data) {
  std::string out(Base64UrlEncodedSize(data.size()), '\0');
  Base64UrlEncodeTo(data, out.data());
  return out;
}

bool Base64UrlDecodeTo(std::string_view text, uint8_t* out) {
  const size_t n = text.size();
  if (n % 4 == 1) return false;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]],
                   d = kDecode[s[i + 3]];
    if ((a | b | c | d) & 0x80) return false;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    *out++ = static_cast<uint8_t>(v >> 16);
    *out++ = static_cast<uint8_t>(v >> 8);
    *out++ = static_cast<uint8_t>(v);
  }
  const size_t rest = n - i;
  if (rest == 2) {
    const uint32_t a = kDecode[s[i]], b = kDecode[s[i + 1]];
    // The last character carries 4 unused bits, which must be zero (one encoding per value).
    if (((a | b) & 0x80) || (b & 0x0f)) return false;
    *out++ = static_cast<uint8_t>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const uint32_t a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]];
    if (((a | b | c) & 0x80) || (c & 0x03)) return false;
    const uint32_t v = (a << 18) | (b << 12) | (c << 6);
    *out++ = static_cast<uint8_t>(v >> 16);
    *out++ = static_cast<uint8_t>(v >> 8);
  }
  return true;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  const auto size = Base64UrlDecodedSize(text.size());
  if (!size) return InvalidArgument(Reason::kBadBase64, "invalid base64url length");
  std::string out(*size, '\0');
  if (!Base64UrlDecodeTo(text, reinterpret_cast<uint8_t*>(out.data()))) {
    return InvalidArgument(Reason::kBadBase64, "invalid base64url");
  }
  return out;
}

}  // namespace tessera::jose
