#include "tessera/jose/base64url.h"

#include <array>

namespace tessera::jose {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Four tables, one per position in a 4-character group, holding each character's 6 bits already
// shifted into place; characters outside the alphabet set bit 31. A group decodes with four loads
// and three ORs, and the error flag accumulates across the loop, checked once at the end.
constexpr uint32_t kInvalid = 0x80000000u;
constexpr std::array<uint32_t, 256> MakeTable(int shift) {
  std::array<uint32_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 64; ++i) {
    t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint32_t>(i) << shift;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kD0 = MakeTable(18);
constexpr std::array<uint32_t, 256> kD1 = MakeTable(12);
constexpr std::array<uint32_t, 256> kD2 = MakeTable(6);
constexpr std::array<uint32_t, 256> kD3 = MakeTable(0);

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
  uint32_t bad = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t v = kD0[s[i]] | kD1[s[i + 1]] | kD2[s[i + 2]] | kD3[s[i + 3]];
    bad |= v;
    out[0] = static_cast<uint8_t>(v >> 16);
    out[1] = static_cast<uint8_t>(v >> 8);
    out[2] = static_cast<uint8_t>(v);
    out += 3;
  }
  const size_t rest = n - i;
  if (rest == 2) {
    const uint32_t v = kD0[s[i]] | kD1[s[i + 1]];
    // The last character carries 4 unused bits, which must be zero (one encoding per value).
    bad |= v | ((v & 0xffff) ? kInvalid : 0);
    out[0] = static_cast<uint8_t>(v >> 16);
  } else if (rest == 3) {
    const uint32_t v = kD0[s[i]] | kD1[s[i + 1]] | kD2[s[i + 2]];
    bad |= v | ((v & 0xff) ? kInvalid : 0);  // 2 unused bits
    out[0] = static_cast<uint8_t>(v >> 16);
    out[1] = static_cast<uint8_t>(v >> 8);
  }
  return (bad & kInvalid) == 0;
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
