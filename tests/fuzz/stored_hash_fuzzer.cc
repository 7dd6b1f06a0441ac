// libFuzzer target: the stored password hashes `tessera user import` accepts (PHC Argon2 strings
// and bcrypt, src/crypto/password.h CheckStoredHash), which come from another system's export.
//
// Properties beyond "no crash, no sanitizer report" (the fuzzer aborts when one fails):
//  - an accepted hash is a PHC Argon2 string or a bcrypt hash, as the contract says;
//  - a refusal says what is wrong (a message), in bounded length;
//  - checking is deterministic.
// (That a refusal never repeats the hash is not checked here: the fuzzer soon builds inputs out
// of the message's own words, such as "$2a$/$2b$/$2y$". tests/crypto checks it on real hashes.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "crypto/password.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "stored_hash_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stored(reinterpret_cast<const char*>(data), size);
  const tessera::Status s = tessera::crypto::CheckStoredHash(stored);
  if (tessera::crypto::CheckStoredHash(stored).ok() != s.ok()) Fail("not deterministic");
  if (s.ok()) {
    const bool argon2 = stored.starts_with("$argon2id$") || stored.starts_with("$argon2i$") ||
                        stored.starts_with("$argon2d$");
    const bool bcrypt =
        stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$");
    if (!argon2 && !bcrypt) Fail("accepted a hash that is neither Argon2 nor bcrypt");
    return 0;
  }
  if (s.message().empty() || s.message().size() > 256) Fail("a refusal without a short message");
  return 0;
}
