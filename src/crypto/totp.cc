#include "crypto/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

#include <array>
#include <memory>

#include "crypto/random.h"

namespace tessera::crypto {
namespace {

const EVP_MD* Md(TotpHash hash) {
  switch (hash) {
    case TotpHash::kSha256:
      return EVP_sha256();
    case TotpHash::kSha512:
      return EVP_sha512();
    case TotpHash::kSha1:
      break;
  }
  return EVP_sha1();
}

std::string_view HashName(TotpHash hash) {
  return hash == TotpHash::kSha256 ? "SHA256" : hash == TotpHash::kSha512 ? "SHA512" : "SHA1";
}

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// RFC 3986 section 2.3 unreserved characters stay; everything else is %XX.
std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

Status WrongCode() {
  return Unauthenticated(Reason::kBadPassword, "the code is not valid");
}

}  // namespace

std::string HotpCode(std::string_view secret, uint64_t counter, TotpHash hash, int digits) {
  std::array<unsigned char, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<size_t>(i)] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // An empty key is still a key to HMAC; OpenSSL wants a pointer for it.
  static constexpr char kEmpty = 0;
  if (HMAC(Md(hash), secret.empty() ? &kEmpty : secret.data(), static_cast<int>(secret.size()),
           message.data(), message.size(), mac, &mac_len) == nullptr ||
      mac_len < 20) {
    return {};  // matches no code: callers fail closed
  }
  // Dynamic truncation (RFC 4226 section 5.3): four bytes at the offset the last nibble names.
  const unsigned offset = mac[mac_len - 1] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  uint32_t value = binary % modulus;
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

int64_t TotpStep(int64_t unix_seconds, int64_t period) {
  // Floor division: a time before 1970 is not a step the clock will show, but stay exact.
  const int64_t q = unix_seconds / period;
  return (unix_seconds % period != 0 && unix_seconds < 0) ? q - 1 : q;
}

Result<int64_t> VerifyTotp(std::string_view secret, std::string_view code, int64_t now,
                           std::optional<int64_t> last_used_step, const TotpParams& params) {
  if (params.digits < 6 || params.digits > 8 || params.period <= 0 || params.window < 0 ||
      params.window > 10) {
    return InvalidArgument(Reason::kBadConfig, "TOTP parameters out of range");
  }
  if (code.size() != static_cast<size_t>(params.digits)) return WrongCode();
  for (const char c : code) {
    if (c < '0' || c > '9') return WrongCode();
  }
  const int64_t current = TotpStep(now, params.period);
  std::optional<int64_t> matched;
  // Every candidate is computed and compared, so the time taken does not say which step (if
  // any) matched. The latest matching step wins: it spends the most.
  for (int64_t step = current - params.window; step <= current + params.window; ++step) {
    if (step < 0) continue;
    const std::string expected =
        HotpCode(secret, static_cast<uint64_t>(step), params.hash, params.digits);
    if (!expected.empty() && ConstantTimeEquals(expected, code)) matched = step;
  }
  if (!matched || (last_used_step && *matched <= *last_used_step)) return WrongCode();
  return *matched;
}

std::string Base32Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

Result<std::string> Base32Decode(std::string_view text) {
  auto bad = [] { return InvalidArgument(Reason::kBadBase64, "not base32"); };
  // Padding is optional, but when present it is exactly what RFC 4648 puts there: the text is a
  // multiple of 8 characters, and the '='s stand for what the last group lacks.
  const size_t data_len = text.find_last_not_of('=') + 1;  // npos + 1 == 0: all padding
  if (data_len < text.size()) {
    static constexpr size_t kPad[8] = {0, 99, 6, 99, 4, 3, 99, 1};
    if (text.size() % 8 != 0 || text.size() - data_len != kPad[data_len % 8]) return bad();
    text = text.substr(0, data_len);
  }
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return bad();
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  // What is left must be fewer than 8 bits of zeros (no partial byte, no non-canonical text).
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) return bad();
  return out;
}

std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::string_view secret, const TotpParams& params) {
  std::string uri = "otpauth://totp/";
  uri += PercentEncode(issuer);
  uri += ':';
  uri += PercentEncode(account);
  uri += "?secret=";
  uri += Base32Encode(secret);
  uri += "&issuer=";
  uri += PercentEncode(issuer);
  uri += "&algorithm=";
  uri += HashName(params.hash);
  uri += "&digits=";
  uri += std::to_string(params.digits);
  uri += "&period=";
  uri += std::to_string(params.period);
  return uri;
}

Result<std::string> QrSvg(std::string_view text) {
  const std::string data(text);
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeData(static_cast<int>(data.size()),
                        reinterpret_cast<const unsigned char*>(data.data()), 0, QR_ECLEVEL_M),
      QRcode_free);
  if (!qr) return InternalError(Reason::kIo, "the QR code cannot hold this text");
  constexpr int kQuiet = 4;
  const int width = qr->width;
  const int size = width + 2 * kQuiet;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ";
  svg += std::to_string(size);
  svg += ' ';
  svg += std::to_string(size);
  svg += "\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\">";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"";
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) {
      // Bit 0 of each byte: the module is dark.
      if (qr->data[y * width + x] & 1) {
        svg += 'M';
        svg += std::to_string(x + kQuiet);
        svg += ' ';
        svg += std::to_string(y + kQuiet);
        svg += "h1v1h-1z";
      }
    }
  }
  svg += "\"/></svg>";
  return svg;
}

}  // namespace tessera::crypto
