// libFuzzer target: the stored password hashes `tessera user import` accepts (PHC Argon2 strings
// and bcrypt, src/crypto/password.h CheckStoredHash), which come from another system's export.
//
// Properties beyond "no crash, no sanitizer report" (the fuzzer aborts when one fails):
//  - an accepted hash is a PHC Argon2 string or a bcrypt hash, as the contract says;
//  - the refusal names the defect, never the input (it would end up in a log);
//  - checking is deterministic.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
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
    const bool bcrypt = stored.starts_with("$2a$") || stored.starts_with("$2b$") ||
                        stored.starts_with("$2y$");
    if (!argon2 && !bcrypt) Fail("accepted a hash that is neither Argon2 nor bcrypt");
    return 0;
  }
  // A hash long enough to be recognisable must not appear in the message.
  if (stored.size() >= 16 && s.message().find(stored) != std::string::npos) {
    Fail("the refusal repeats the hash");
  }
  return 0;
}
