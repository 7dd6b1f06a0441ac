#include "tessera/user/user.h"

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include <cstdlib>
#include <memory>

#include "crypto/random.h"
#include "tessera/jose/base64url.h"

namespace tessera::user {
namespace {

Status BadUsername(std::string m) { return InvalidArgument(Reason::kBadUsername, std::move(m)); }

}  // namespace

Result<std::string> CanonicalUsername(std::string_view raw) {
  if (raw.empty() || raw.size() > 256) return BadUsername("username must be 1 to 64 characters");
  const auto* s = reinterpret_cast<const uint8_t*>(raw.data());
  if (u8_check(s, raw.size()) != nullptr) return BadUsername("username is not valid UTF-8");
  size_t len = 0;
  // Default case folding with NFC normalisation: one account however the name is typed.
  std::unique_ptr<uint8_t, decltype(&std::free)> folded(
      u8_casefold(s, raw.size(), nullptr, UNINORM_NFC, nullptr, &len), &std::free);
  if (!folded) return BadUsername("username cannot be normalised");
  std::string out(reinterpret_cast<const char*>(folded.get()), len);
  if (out.empty() || out.size() > 64) return BadUsername("username must be 1 to 64 bytes");
  // Control characters (including NUL and DEL) make names that display alike but differ, and
  // break logs; whitespace at the ends is almost always a paste accident.
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) return BadUsername("username contains a control character");
  }
  if (out.front() == ' ' || out.back() == ' ') {
    return BadUsername("username starts or ends with a space");
  }
  return out;
}

Status CheckRoles(const std::vector<std::string>& roles) {
  if (roles.size() > kMaxRoles) {
    return BadUsername("at most " + std::to_string(kMaxRoles) + " roles per account");
  }
  for (const std::string& role : roles) TESSERA_RETURN_IF_ERROR(CheckRoleName(role));
  return Status::Ok();
}

Status CheckRoleName(std::string_view role) {
  if (role.empty() || role.size() > 64) return BadUsername("role must be 1 to 64 characters");
  for (char c : role) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                    c == ':' || c == '-';
    if (!ok) return BadUsername("role may contain only a-z 0-9 _ . : -");
  }
  return Status::Ok();
}

std::string NewUserId() { return jose::Base64UrlEncode(crypto::RandomString(16)); }

}  // namespace tessera::user
