#include "crypto/password.h"

#include <argon2.h>
#include <crypt.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace tessera::crypto {
namespace {

// Every Argon2 cost the hasher accepts is at the OWASP floor or above, so no hasher here is
// cheaper than the default (about one default hash per Create). Hashes made directly with
// libargon2 below use tiny parameters instead.
PasswordHasher MakeHasher(PasswordHashOptions options = {}) {
  Result<PasswordHasher> hasher = PasswordHasher::Create(options);
  if (!hasher) {
    ADD_FAILURE() << hasher.error().ToString();
    std::abort();
  }
  return std::move(hasher).value();
}

std::string MustHash(const PasswordHasher& hasher, std::string_view password) {
  Result<std::string> hash = hasher.Hash(password);
  if (!hash) {
    ADD_FAILURE() << hash.error().ToString();
    std::abort();
  }
  return std::move(hash).value();
}

// Verify that must not fail: returns the outcome.
VerifyOutcome MustVerify(const PasswordHasher& hasher, std::string_view stored,
                         std::string_view password) {
  Result<VerifyOutcome> outcome = hasher.Verify(stored, password);
  if (!outcome) {
    ADD_FAILURE() << outcome.error().ToString();
    return {};
  }
  return *outcome;
}

bool Verifies(const PasswordHasher& hasher, std::string_view stored, std::string_view password) {
  return MustVerify(hasher, stored, password).ok;
}

struct ParsedPhc {
  std::string variant;
  uint32_t version = 0, m = 0, t = 0, p = 0;
  std::string salt, hash;  // decoded bytes
};

// An independent reading of the PHC string format, so the test does not trust the code under test.
// (No std::regex: GCC 12 with ASan at -O2 warns inside <regex>, and the build uses -Werror.)
ParsedPhc ParsePhc(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dollar; (dollar = s.find('$', start)) != std::string::npos; start = dollar + 1) {
    parts.push_back(s.substr(start, dollar - start));
  }
  parts.push_back(s.substr(start));
  ParsedPhc out;
  int consumed = 0;
  if (parts.size() != 6 || !parts[0].empty() || !parts[2].starts_with("v=") ||
      std::sscanf(parts[3].c_str(), "m=%u,t=%u,p=%u%n", &out.m, &out.t, &out.p, &consumed) != 3 ||
      static_cast<size_t>(consumed) != parts[3].size()) {
    ADD_FAILURE() << "not a PHC string: " << s;
    return out;
  }
  out.variant = parts[1];
  out.version = static_cast<uint32_t>(std::stoul(parts[2].substr(2)));
  for (auto [field, index] : {std::pair{&out.salt, 4}, std::pair{&out.hash, 5}}) {
    const std::string& b64 = parts[index];
    std::string bin(b64.size(), '\0');
    size_t len = 0;
    EXPECT_EQ(sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(),
                                b64.data(), b64.size(), nullptr, &len, nullptr,
                                sodium_base64_VARIANT_ORIGINAL_NO_PADDING),
              0)
        << s;
    bin.resize(len);
    *field = bin;
  }
  return out;
}

std::string Argon2Encoded(argon2_type type, uint32_t version, uint32_t t, uint32_t m, uint32_t p,
                          std::string_view password) {
  const std::string salt = "0123456789abcdef";
  char encoded[256];
  const int rc = argon2_hash(t, m, p, password.data(), password.size(), salt.data(), salt.size(),
                             nullptr, 32, encoded, sizeof encoded, type, version);
  EXPECT_EQ(rc, ARGON2_OK) << argon2_error_message(rc);
  return encoded;
}

std::string Bcrypt(const char* prefix, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  const char* s = crypt_gensalt_rn(prefix, 4, nullptr, 0, setting, sizeof setting);
  EXPECT_NE(s, nullptr) << prefix;
  if (s == nullptr) return "";
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  EXPECT_NE(out, nullptr) << prefix;
  return out == nullptr ? "" : out;
}

// ---- hashing ------------------------------------------------------------------------------------

TEST(PasswordHasher, HashIsArgon2idPhcWithDefaultParams) {
  const PasswordHasher hasher = MakeHasher();
  EXPECT_EQ(hasher.options().memory_kib, 19456u);
  EXPECT_EQ(hasher.options().iterations, 2u);
  const std::string hash = MustHash(hasher, "correct horse battery staple");
  const ParsedPhc phc = ParsePhc(hash);
  EXPECT_EQ(phc.variant, "argon2id");
  EXPECT_EQ(phc.version, 19u);
  EXPECT_EQ(phc.m, 19456u);
  EXPECT_EQ(phc.t, 2u);
  EXPECT_EQ(phc.p, 1u);
  EXPECT_EQ(phc.salt.size(), 16u);
  EXPECT_EQ(phc.hash.size(), 32u);
  EXPECT_TRUE(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << hash;

  const VerifyOutcome outcome = MustVerify(hasher, hash, "correct horse battery staple");
  EXPECT_TRUE(outcome.ok);
  EXPECT_FALSE(outcome.needs_rehash);
  EXPECT_FALSE(Verifies(hasher, hash, "correct horse battery stapl"));
}

TEST(PasswordHasher, HashUsesTheConfiguredParams) {
  const PasswordHasher hasher = MakeHasher({.memory_kib = 7168, .iterations = 5});
  const ParsedPhc phc = ParsePhc(MustHash(hasher, "password"));
  EXPECT_EQ(phc.m, 7168u);
  EXPECT_EQ(phc.t, 5u);
  EXPECT_EQ(phc.p, 1u);
}

TEST(PasswordHasher, SamePasswordHashesDifferentlyEachTime) {
  const PasswordHasher hasher = MakeHasher();
  const std::string a = MustHash(hasher, "same password");
  const std::string b = MustHash(hasher, "same password");
  EXPECT_NE(a, b);
  EXPECT_NE(ParsePhc(a).salt, ParsePhc(b).salt);
  EXPECT_NE(ParsePhc(a).hash, ParsePhc(b).hash);
  EXPECT_TRUE(Verifies(hasher, a, "same password"));
  EXPECT_TRUE(Verifies(hasher, b, "same password"));
}

TEST(PasswordHasher, WrongPasswordIsNotOkAndNotAnError) {
  const PasswordHasher hasher = MakeHasher();
  const std::string hash = MustHash(hasher, "hunter22");
  for (const std::string wrong :
       {"hunter23", "Hunter22", "hunter22 ", " hunter22", "hunter2", ""}) {
    Result<VerifyOutcome> outcome = hasher.Verify(hash, wrong);
    ASSERT_TRUE(outcome.has_value()) << wrong;
    EXPECT_FALSE(outcome->ok) << wrong;
  }
}

// PW-03: no truncation. bcrypt would stop at byte 72; Argon2id reads everything.
TEST(PasswordHasher, EveryByteCounts) {
  const PasswordHasher hasher = MakeHasher();
  std::string password;
  for (int i = 0; i < 100; ++i) password += static_cast<char>('a' + i % 26);
  const std::string hash = MustHash(hasher, password);
  EXPECT_TRUE(Verifies(hasher, hash, password));
  EXPECT_FALSE(Verifies(hasher, hash, password.substr(0, 99)));
  for (size_t pos : {0, 71, 72, 73, 99}) {
    std::string changed = password;
    changed[pos] = '#';
    EXPECT_FALSE(Verifies(hasher, hash, changed)) << pos;
  }
  EXPECT_FALSE(Verifies(hasher, hash, password + "a"));

  // The last byte of the longest accepted password counts too.
  const std::string longest(kMaxPasswordBytes, 'x');
  const std::string long_hash = MustHash(hasher, longest);
  EXPECT_TRUE(Verifies(hasher, long_hash, longest));
  EXPECT_FALSE(Verifies(hasher, long_hash, longest.substr(0, kMaxPasswordBytes - 1) + "y"));
}

// PW-04: verified exactly as received, no normalisation of spaces or of Unicode.
TEST(PasswordHasher, UnicodeVerifiedExactly) {
  const PasswordHasher hasher = MakeHasher();
  const std::string decomposed = "p\xC3\xA4sswo\xCC\x88rd \xF0\x9F\x94\x91  with  spaces";
  const std::string precomposed = "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91  with  spaces";
  const std::string hash = MustHash(hasher, precomposed);  // "pässwörd 🔑  with  spaces"
  EXPECT_TRUE(Verifies(hasher, hash, precomposed));
  EXPECT_FALSE(Verifies(hasher, hash, "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91 with  spaces"));
  EXPECT_FALSE(Verifies(hasher, hash, "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91  with spaces"));
  EXPECT_FALSE(Verifies(hasher, hash, decomposed));  // ö as o + U+0308 (NFD): not normalised
  EXPECT_FALSE(Verifies(hasher, hash, "P\xC3\x84SSW\xC3\x96RD \xF0\x9F\x94\x91  WITH  SPACES"));
}

TEST(PasswordHasher, OversizedPasswordFailsWithoutHashing) {
  const PasswordHasher hasher = MakeHasher();
  const std::string mib(1 << 20, 'a');
  const std::string over(kMaxPasswordBytes + 1, 'a');
  for (const std::string* p : {&mib, &over}) {
    Result<std::string> hash = hasher.Hash(*p);
    ASSERT_FALSE(hash.has_value());
    EXPECT_EQ(hash.error().code(), Code::kResourceExhausted);
    EXPECT_EQ(hash.error().reason(), Reason::kTooLarge);
  }
  const std::string hash = MustHash(hasher, over.substr(0, kMaxPasswordBytes));
  Result<VerifyOutcome> outcome = hasher.Verify(hash, over);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(outcome.error().reason(), Reason::kTooLarge);
  EXPECT_FALSE(hasher.Verify(hash, mib).has_value());
}

// ---- upgrades (PW-02) ---------------------------------------------------------------------------

TEST(PasswordHasher, NeedsRehashWhenParamsChange) {
  const PasswordHasher old_hasher = MakeHasher({.memory_kib = 7168, .iterations = 5});
  const PasswordHasher hasher = MakeHasher();
  const std::string old_hash = MustHash(old_hasher, "upgrade me");
  EXPECT_FALSE(MustVerify(old_hasher, old_hash, "upgrade me").needs_rehash);

  VerifyOutcome outcome = MustVerify(hasher, old_hash, "upgrade me");
  EXPECT_TRUE(outcome.ok);
  EXPECT_TRUE(outcome.needs_rehash);
  EXPECT_FALSE(MustVerify(hasher, old_hash, "upgrade you").ok);

  // The upgrade: hash again at the current params; the new hash verifies and is current.
  const std::string new_hash = MustHash(hasher, "upgrade me");
  outcome = MustVerify(hasher, new_hash, "upgrade me");
  EXPECT_TRUE(outcome.ok);
  EXPECT_FALSE(outcome.needs_rehash);

  // Stronger than current is also "different": the operator's setting is what gets stored.
  const PasswordHasher stronger = MakeHasher({.memory_kib = 19456, .iterations = 3});
  outcome = MustVerify(hasher, MustHash(stronger, "upgrade me"), "upgrade me");
  EXPECT_TRUE(outcome.ok);
  EXPECT_TRUE(outcome.needs_rehash);
}

TEST(PasswordHasher, VerifiesArgon2iAndArgon2d) {
  const PasswordHasher hasher = MakeHasher();
  for (argon2_type type : {Argon2_i, Argon2_d}) {
    const std::string hash = Argon2Encoded(type, ARGON2_VERSION_13, 3, 1024, 1, "legacy pw");
    EXPECT_TRUE(hash.starts_with(type == Argon2_i ? "$argon2i$v=19$" : "$argon2d$v=19$")) << hash;
    VerifyOutcome outcome = MustVerify(hasher, hash, "legacy pw");
    EXPECT_TRUE(outcome.ok) << hash;
    EXPECT_TRUE(outcome.needs_rehash) << hash;
    outcome = MustVerify(hasher, hash, "legacy pX");
    EXPECT_FALSE(outcome.ok) << hash;
    EXPECT_TRUE(outcome.needs_rehash) << hash;
  }
}

TEST(PasswordHasher, VerifiesOtherArgon2idShapesAndAsksForRehash) {
  const PasswordHasher hasher = MakeHasher();
  // libargon2's Argon2id at the current params: the same function, so it is current.
  std::string hash = Argon2Encoded(Argon2_id, ARGON2_VERSION_13, 2, 19456, 1, "pw");
  VerifyOutcome outcome = MustVerify(hasher, hash, "pw");
  EXPECT_TRUE(outcome.ok);
  EXPECT_FALSE(outcome.needs_rehash);
  // Argon2 1.0 (v=16), and p > 1.
  for (const std::string& other : {Argon2Encoded(Argon2_id, ARGON2_VERSION_10, 2, 19456, 1, "pw"),
                                   Argon2Encoded(Argon2_id, ARGON2_VERSION_13, 2, 19456, 2, "pw"),
                                   Argon2Encoded(Argon2_i, ARGON2_VERSION_10, 3, 1024, 1, "pw")}) {
    outcome = MustVerify(hasher, other, "pw");
    EXPECT_TRUE(outcome.ok) << other;
    EXPECT_TRUE(outcome.needs_rehash) << other;
    EXPECT_FALSE(MustVerify(hasher, other, "pW").ok) << other;
  }
}

TEST(PasswordHasher, VerifiesBcryptVariantsAndAsksForRehash) {
  const PasswordHasher hasher = MakeHasher();
  for (const char* prefix : {"$2b$", "$2y$", "$2a$"}) {
    const std::string hash = Bcrypt(prefix, "imported password");
    ASSERT_TRUE(hash.starts_with(std::string(prefix) + "04$")) << hash;
    ASSERT_EQ(hash.size(), 60u);
    VerifyOutcome outcome = MustVerify(hasher, hash, "imported password");
    EXPECT_TRUE(outcome.ok) << prefix;
    EXPECT_TRUE(outcome.needs_rehash) << prefix;
    outcome = MustVerify(hasher, hash, "imported passworD");
    EXPECT_FALSE(outcome.ok) << prefix;
    EXPECT_TRUE(outcome.needs_rehash) << prefix;
    EXPECT_FALSE(MustVerify(hasher, hash, std::string("imported password\0", 18)).ok) << prefix;
  }
}

// The documented exception to "every byte counts": an imported bcrypt hash reads 72 bytes, until
// the rehash on first login.
TEST(PasswordHasher, BcryptReadsOnly72BytesUntilRehashed) {
  const PasswordHasher hasher = MakeHasher();
  const std::string password = std::string(72, 'k') + "tail that bcrypt never sees";
  const std::string other_tail = std::string(72, 'k') + "a different tail";
  const std::string bcrypt = Bcrypt("$2b$", password);
  EXPECT_TRUE(MustVerify(hasher, bcrypt, password).ok);
  EXPECT_TRUE(MustVerify(hasher, bcrypt, other_tail).ok);  // inherited bcrypt limit
  EXPECT_FALSE(MustVerify(hasher, bcrypt, std::string(71, 'k')).ok);

  const std::string rehashed = MustHash(hasher, password);
  EXPECT_TRUE(MustVerify(hasher, rehashed, password).ok);
  EXPECT_FALSE(MustVerify(hasher, rehashed, other_tail).ok);
}

// ---- stored hashes that cannot be read are errors, never "ok" -----------------------------------

TEST(PasswordHasher, MalformedStoredHashIsAnError) {
  const PasswordHasher hasher = MakeHasher();
  const std::string good = MustHash(hasher, "secret password");
  const std::string params = "$argon2id$v=19$m=19456,t=2,p=1$";
  const std::string salt = good.substr(params.size(), 22);
  const std::string tag = good.substr(params.size() + 23);
  ASSERT_EQ(params + salt + "$" + tag, good);
  const std::string bcrypt = Bcrypt("$2b$", "secret password");
  const std::string bcrypt_body = bcrypt.substr(7);

  const std::vector<std::string> malformed = {
      "",
      "secret password",
      "$",
      "$argon2id$",
      params,
      params + salt,
      params + salt + "$",
      good + "\n",
      " " + good,
      good + "$extra",
      params + salt + "$" + tag.substr(0, 20),        // 15-byte tag
      params + "c2FsdA$" + tag,                       // 4-byte salt
      params + salt + "=$" + tag,                     // padding
      params + salt + "$" + tag.substr(0, 42) + "-",  // not the B64 alphabet
      "$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$" + salt + "$" + tag,
      "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + tag,   // wrong order
      "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + tag,  // leading zero
      "$argon2id$v=20$m=19456,t=2,p=1$" + salt + "$" + tag,   // unknown version
      "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + tag,
      "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + tag,
      "$argon2id$v=19$m=7,t=2,p=1$" + salt + "$" + tag,           // below 8 KiB per lane
      "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + tag,  // 4 TiB: bounded
      "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + tag,  // overflows uint32
      "$argon2id$v=19$m=19456,t=65,p=1$" + salt + "$" + tag,
      "$argon2id$v=19$m=19456,t=2,p=17$" + salt + "$" + tag,
      "$argon2x$v=19$m=19456,t=2,p=1$" + salt + "$" + tag,
      "$argon2$v=19$m=19456,t=2,p=1$" + salt + "$" + tag,
      "$ARGON2ID$v=19$m=19456,t=2,p=1$" + salt + "$" + tag,
      "$2x$04$" + bcrypt_body,  // crypt_blowfish bug mode
      "$2$04$" + bcrypt_body,
      "$2b$4$" + bcrypt_body,
      "$2b$03$" + bcrypt_body,
      "$2b$17$" + bcrypt_body,  // beyond the cost bound
      "$2b$31$" + bcrypt_body,
      bcrypt.substr(0, 59),
      bcrypt + "a",
      "$2b$04$" + bcrypt_body.substr(0, 52) + "!",
      "$6$saltsalt$" + std::string(86, 'a'),  // sha512crypt: unsupported
      "$1$saltsalt$" + std::string(22, 'a'),
      "$pbkdf2-sha256$29000$" + salt + "$" + tag,
      "$scrypt$ln=16,r=8,p=1$" + salt + "$" + tag,
      std::string(300, '$'),
  };
  for (const std::string& stored : malformed) {
    Result<VerifyOutcome> outcome = hasher.Verify(stored, "secret password");
    ASSERT_FALSE(outcome.has_value()) << stored;
    EXPECT_EQ(outcome.error().code(), Code::kInternal) << stored;
    EXPECT_EQ(outcome.error().reason(), Reason::kCrypto) << stored;
    // Never the password, never the hash (or a recognisable part of it) in a message.
    const std::string& message = outcome.error().message();
    EXPECT_EQ(message.find("secret"), std::string::npos) << message;
    if (stored.size() > 10) {
      EXPECT_EQ(message.find(stored.substr(stored.size() - 10)), std::string::npos) << message;
    }
  }
  // The good hash itself is fine.
  EXPECT_TRUE(Verifies(hasher, good, "secret password"));
}

// A hash whose tag was changed, shortened or lengthened may still be well-formed (then it simply
// does not match) or not (then it is an error). Either way, never ok.
TEST(PasswordHasher, ChangedTagNeverVerifies) {
  const PasswordHasher hasher = MakeHasher();
  const std::string good = MustHash(hasher, "secret password");
  const size_t tag_start = good.rfind('$') + 1;
  std::vector<std::string> changed;
  for (size_t i = tag_start; i < good.size(); ++i) {
    changed.push_back(good);
    changed.back()[i] = good[i] == 'A' ? 'B' : 'A';
  }
  for (size_t len = good.size() - 5; len < good.size(); ++len)
    changed.push_back(good.substr(0, len));
  changed.push_back(good + "A");
  changed.push_back(good + "AAAA");
  for (const std::string& stored : changed) {
    Result<VerifyOutcome> outcome = hasher.Verify(stored, "secret password");
    EXPECT_TRUE(!outcome.has_value() || !outcome->ok) << stored;
  }
}

// ---- construction -------------------------------------------------------------------------------

TEST(PasswordHasher, CreateAcceptsEachOwaspPointAndStronger) {
  for (PasswordHashOptions options :
       {PasswordHashOptions{47104, 1}, PasswordHashOptions{19456, 2}, PasswordHashOptions{12288, 3},
        PasswordHashOptions{9216, 4}, PasswordHashOptions{7168, 5},
        PasswordHashOptions{65536, 1}}) {
    Result<PasswordHasher> hasher = PasswordHasher::Create(options);
    EXPECT_TRUE(hasher.has_value())
        << options.memory_kib << "," << options.iterations << " " << hasher.status().ToString();
  }
}

TEST(PasswordHasher, CreateRejectsParamsBelowTheFloorOrAboveTheBounds) {
  for (PasswordHashOptions options :
       {PasswordHashOptions{8192, 1}, PasswordHashOptions{47103, 1}, PasswordHashOptions{19455, 2},
        PasswordHashOptions{19456, 1}, PasswordHashOptions{12288, 2}, PasswordHashOptions{7168, 4},
        PasswordHashOptions{7167, 100}, PasswordHashOptions{0, 0}, PasswordHashOptions{4096, 64},
        PasswordHashOptions{(1u << 20) + 1, 2}, PasswordHashOptions{19456, 65}}) {
    Result<PasswordHasher> hasher = PasswordHasher::Create(options);
    ASSERT_FALSE(hasher.has_value()) << options.memory_kib << "," << options.iterations;
    EXPECT_EQ(hasher.error().code(), Code::kInvalidArgument);
  }
}

// ---- unknown users (BF-05) ----------------------------------------------------------------------

TEST(PasswordHasher, DummyVerifyRunsForAnyInput) {
  const PasswordHasher hasher = MakeHasher();
  hasher.DummyVerify("some guess");
  hasher.DummyVerify("");
  hasher.DummyVerify(std::string(1 << 20, 'a'));  // oversized: returns at once, like Verify
}

// ---- new-password policy (PW-03, PW-04, PW-05)
// ----------------------------------------------------
// The length and encoding rules; the screening (common passwords, context words, repetitions and
// sequences) is tested in password_policy_test.cc.

// `n` letters from a fixed pseudo-random sequence: long passwords that no screening rule refuses.
std::string Letters(size_t n) {
  std::string out;
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    out.push_back(static_cast<char>('a' + (x >> 16) % 26));
  }
  return out;
}

// `n` emoji from U+1F600..U+1F64F (4 bytes each), in a fixed pseudo-random order.
std::string Emoji(size_t n) {
  std::string out;
  uint32_t x = 777;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    const uint32_t cp = 0x1F600 + (x >> 16) % 0x50;
    out += {'\xF0', static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
            static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
  }
  return out;
}

TEST(PasswordPolicy, OversizedIsTooLargeCheckedFirst) {
  // 1 MiB of invalid UTF-8: the size check answers before any byte is looked at.
  for (const std::string& p : {std::string(1 << 20, 'a'), std::string(1 << 20, '\xff'),
                               std::string(kMaxPasswordBytes + 1, 'a')}) {
    const Status s = CheckNewPassword(p);
    EXPECT_EQ(s.code(), Code::kResourceExhausted);
    EXPECT_EQ(s.reason(), Reason::kTooLarge);
  }
  EXPECT_TRUE(CheckNewPassword(Letters(kMaxPasswordBytes)).ok());
  EXPECT_EQ(CheckNewPassword(Letters(kMaxPasswordBytes + 1)).code(), Code::kResourceExhausted);
  // Checked before the screening too: 1025 bytes of one letter are too long, not a repetition.
  EXPECT_EQ(CheckNewPassword(std::string(kMaxPasswordBytes + 1, 'a')).code(),
            Code::kResourceExhausted);
  // The bound is bytes: 256 four-byte emoji fit, 257 do not.
  const std::string emoji = Emoji(257);
  EXPECT_TRUE(CheckNewPassword(emoji.substr(0, 1024)).ok());
  EXPECT_EQ(CheckNewPassword(emoji).code(), Code::kResourceExhausted);
}

TEST(PasswordPolicy, MinimumIsEightCodePoints) {
  EXPECT_FALSE(CheckNewPassword("").ok());
  EXPECT_FALSE(CheckNewPassword("1234567").ok());
  EXPECT_EQ(CheckNewPassword("Zq8#vL2").message(), "password must be at least 8 characters long");
  EXPECT_TRUE(CheckNewPassword("Zq8#vL2m").ok());
  // 7 code points in 14 bytes, then 8 in 16: characters count, not bytes.
  const std::string seven = "\xC3\xA4\xC3\xB6\xC3\xBC\xC3\x9F\xC3\xA9\xC3\xA8\xC3\xAA";
  const Status short_status = CheckNewPassword(seven);
  EXPECT_EQ(short_status.code(), Code::kInvalidArgument);
  EXPECT_EQ(short_status.reason(), Reason::kBadPassword);
  EXPECT_EQ(short_status.message().find(seven), std::string::npos);
  EXPECT_TRUE(CheckNewPassword(seven + "\xC3\xAB").ok());
  // U+1F511..U+1F517, 28 bytes: seven different emoji, so no repetition either.
  const std::string seven_emoji =
      "\xF0\x9F\x94\x91\xF0\x9F\x94\x92\xF0\x9F\x94\x93\xF0\x9F\x94\x94\xF0\x9F\x94\x95\xF0\x9F\x94"
      "\x96\xF0\x9F\x94\x97";
  EXPECT_FALSE(CheckNewPassword(seven_emoji).ok());
  EXPECT_TRUE(CheckNewPassword(seven_emoji + "x").ok());
}

TEST(PasswordPolicy, NoCompositionRules) {
  // Nothing requires a digit, a capital or a symbol. (What the screening refuses, such as
  // "aaaaaaaa", "        ", "password" or one word repeated, is in password_policy_test.cc.)
  const char* const accepted[] = {
      "plumtreeriverhat",  // lower-case letters only
      "73915048264",       // digits only
      "tab\there\r\n!",
      "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91  with  spaces",  // pässwörd 🔑
      "\xE5\xAF\x86\xE7\xA0\x81\xE5\xAE\x89\xE5\x85\xA8\xE7\x9C\x9F\xE7\x9A\x84\xE5\xBE\x88\xE9"
      "\x87\x8D\xE8\xA6\x81",  // 密码安全真的很重要
  };
  for (const char* p : accepted) {
    EXPECT_TRUE(CheckNewPassword(p).ok()) << p;
  }
}

TEST(PasswordPolicy, RejectsNulAndInvalidUtf8) {
  const std::vector<std::string> bad = {
      std::string("abcd\0efgh", 9),
      std::string("abcdefgh\0", 9),
      "abcdefgh\xFF",
      "abcdefgh\x80",              // lone continuation byte
      "abcdefgh\xC0\xAF",          // overlong '/'
      "abcdefgh\xE0\x80\xAF",      // overlong, three bytes
      "abcdefgh\xED\xA0\x80",      // UTF-16 surrogate
      "abcdefgh\xF4\x90\x80\x80",  // above U+10FFFF
      "abcdefgh\xF5\x80\x80\x80",
      "abcdefgh\xE2\x82",      // truncated
      "abcdefgh\xF0\x9F\x94",  // truncated emoji
      "abcdefgh\xC3\x28",      // bad continuation
  };
  for (const std::string& p : bad) {
    const Status s = CheckNewPassword(p);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << p;
    EXPECT_EQ(s.reason(), Reason::kBadPassword) << p;
    EXPECT_EQ(s.message().find("abcd"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace tessera::crypto
