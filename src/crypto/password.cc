#include "crypto/password.h"

#include <argon2.h>
#include <crypt.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/argon2_arena.h"
#include "crypto/password_list.h"
#include "crypto/random.h"

namespace tessera::crypto {
namespace {

constexpr uint32_t kParallelism = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr uint32_t kArgon2Version13 = 0x13;  // v=19
constexpr uint32_t kArgon2Version10 = 0x10;  // v=16

// Stored-hash bounds: anything longer or outside these is not a hash this server could have
// written or would import, and parsing it further only gives an attacker with database write
// access more surface.
constexpr size_t kMaxStoredChars = 256;
constexpr size_t kMinSaltBytes = 8;   // RFC 9106 and both libraries
constexpr size_t kMinHashBytes = 16;  // libsodium's minimum; shorter tags are too weak to trust
constexpr size_t kMaxB64Bytes = 64;

// (m, t) pairs from the OWASP Password Storage Cheat Sheet, all of equal strength.
struct CostPoint {
  uint32_t memory_kib;
  uint32_t iterations;
};
constexpr CostPoint kOwaspFloor[] = {{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5}};

constexpr std::string_view kUnreadable = "stored password hash unreadable: ";

Status UnreadableHash(std::string_view what) {
  // The message names the defect only: the stored hash itself is a secret (offline cracking).
  return InternalError(Reason::kCrypto, std::string(kUnreadable) + std::string(what));
}

Status TooLong() { return ResourceExhausted(Reason::kTooLarge, "password longer than 1024 bytes"); }

// Code points in `s` when it is valid UTF-8 (RFC 3629: shortest form, no surrogates, at most
// U+10FFFF) and contains no NUL; nullopt otherwise.
std::optional<size_t> CountCodePoints(std::string_view s) {
  size_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<uint8_t>(s[i]);
    size_t len;
    uint32_t cp;
    if (lead < 0x80) {
      if (lead == 0) return std::nullopt;
      len = 1;
      cp = lead;
    } else if (lead >= 0xC2 && lead <= 0xDF) {  // 0xC0, 0xC1 would only start overlong forms
      len = 2;
      cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3;
      cp = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      len = 4;
      cp = lead & 0x07u;
    } else {
      return std::nullopt;
    }
    if (s.size() - i < len) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return std::nullopt;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

// ---- repetitions and sequences (CheckNewPassword step 2) ---------------------------------------

// Runs of adjacent keys, in the order a finger walks them, ASCII letters in lower case (passwords
// are folded before comparison). A run is any stretch of one of these, forwards or backwards.
constexpr std::string_view kKeyboardWalks[] = {
    "`1234567890-=",                             // QWERTY rows
    "~!@#$%^&*()_+",                             //   shifted
    "qwertyuiop[]\\",                            //
    "qwertyuiop{}|",                             //   shifted
    "asdfghjkl;'",                               //
    "asdfghjkl:\"",                              //   shifted
    "zxcvbnm,./",                                //
    "zxcvbnm<>?",                                //   shifted
    "qwertyuiopasdfghjklzxcvbnm",                // the letter rows, one after the other
    "qwertzuiopasdfghjklyxcvbnm",                // QWERTZ
    "azertyuiopqsdfghjklmwxcvbn",                // AZERTY
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",  // QWERTY columns
    "!qaz@wsx#edc$rfv%tgb^yhn&ujm*ik<(ol>)p:?",  //   shifted
    "7894561230",                                // numeric keypad rows
    "1472583690",                                //   columns
};
constexpr size_t kWalkCount = std::size(kKeyboardWalks);

// kWalkNext[w][c]: the key after c in walk w, 0 when none. Every walk names each key once.
constexpr auto kWalkNext = [] {
  std::array<std::array<unsigned char, 128>, kWalkCount> next{};
  for (size_t w = 0; w < kWalkCount; ++w) {
    const std::string_view walk = kKeyboardWalks[w];
    for (size_t i = 0; i + 1 < walk.size(); ++i) {
      next[w][static_cast<unsigned char>(walk[i])] = static_cast<unsigned char>(walk[i + 1]);
    }
  }
  return next;
}();
static_assert(
    [] {
      for (const std::string_view walk : kKeyboardWalks) {
        for (size_t i = 0; i < walk.size(); ++i) {
          if (static_cast<unsigned char>(walk[i]) >= 128) return false;
          if (walk.find(walk[i], i + 1) != std::string_view::npos) return false;
        }
      }
      return true;
    }(),
    "a keyboard walk names a key twice or is not ASCII");

// The code points of valid UTF-8 (CountCodePoints has accepted it).
std::u32string CodePoints(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<uint8_t>(s[i]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t cp = len == 1   ? lead
                  : len == 2 ? (lead & 0x1Fu)
                  : len == 3 ? (lead & 0x0Fu)
                             : (lead & 0x07u);
    for (size_t k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3Fu);
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

// Code points in `s`, counting every byte that does not continue a UTF-8 sequence.
size_t CharacterCount(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xC0) != 0x80; }));
}

// b follows a by `step` (mod 10 among digits, mod 26 among lower-case letters, so "7890" and
// "xyza" are runs).
bool Steps(char32_t a, char32_t b, int step) {
  int modulus;
  if (a >= '0' && a <= '9' && b >= '0' && b <= '9') {
    modulus = 10;
  } else if (a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z') {
    modulus = 26;
  } else {
    return false;
  }
  const int delta = static_cast<int>(b) - static_cast<int>(a);
  return ((delta - step) % modulus + modulus) % modulus == 0;
}

bool WalkNext(size_t walk, char32_t a, char32_t b) {
  return a < 128 && b < 128 && b != 0 && kWalkNext[walk][a] == b;
}

// True when `s` is one or two runs, each of one relation between neighbours: the same character,
// a step of +1, -1, +2 or -2 among digits or letters, or the next key of a keyboard walk (either
// direction).
bool AtMostTwoRuns(const std::u32string& s) {
  const size_t n = s.size();
  if (n == 0) return true;
  // longest[i]: the longest run that starts at i, over all relations.
  std::vector<size_t> longest(n, 1);
  auto extend = [&](auto related) {
    size_t len = 1;
    for (size_t i = n - 1; i-- > 0;) {
      len = related(s[i], s[i + 1]) ? len + 1 : 1;
      longest[i] = std::max(longest[i], len);
    }
  };
  extend([](char32_t a, char32_t b) { return a == b; });
  for (const int step : {1, -1, 2, -2}) {
    extend([step](char32_t a, char32_t b) { return Steps(a, b, step); });
  }
  for (size_t w = 0; w < kWalkCount; ++w) {
    extend([w](char32_t a, char32_t b) { return WalkNext(w, a, b); });
    extend([w](char32_t a, char32_t b) { return WalkNext(w, b, a); });
  }
  // Any stretch of a run is a run: one run covers all, or a first run of some length ends where a
  // second one covering the rest begins.
  if (longest[0] >= n) return true;
  for (size_t first = 1; first <= longest[0]; ++first) {
    if (longest[first] >= n - first) return true;
  }
  return false;
}

// The smallest p with s[i] == s[i + p] for every i (the whole size when there is none shorter),
// from the prefix function (Knuth-Morris-Pratt).
size_t SmallestPeriod(std::string_view s) {
  if (s.empty()) return 0;
  std::vector<size_t> border(s.size(), 0);
  for (size_t i = 1; i < s.size(); ++i) {
    size_t k = border[i - 1];
    while (k > 0 && s[i] != s[k]) k = border[k - 1];
    if (s[i] == s[k]) ++k;
    border[i] = k;
  }
  return s.size() - border.back();
}

// Step 2 of CheckNewPassword on a password already folded to lower case (valid UTF-8). A byte
// period of valid UTF-8 always falls on a character boundary, so the unit below is whole
// characters.
bool IsRepetitionOrSequence(std::string_view folded) {
  const size_t period = SmallestPeriod(folded);
  const std::string_view unit = folded.substr(0, period);
  // A group too short to be a password on its own, written out at least twice.
  if (2 * period <= folded.size() && CharacterCount(unit) < kMinPasswordCodePoints) return true;
  if (AtMostTwoRuns(CodePoints(folded))) return true;
  // A longer group repeated whole is as weak as the group: "qwertyuiopqwertyuiop".
  if (period < folded.size() && folded.size() % period == 0) {
    return IsRepetitionOrSequence(unit) || IsCommonPassword(unit);
  }
  return false;
}

// ---- context-specific words (CheckNewPassword step 3) ------------------------------------------

// `s` with its characters (UTF-8 sequences, or single bytes where it is not UTF-8) in reverse.
std::string ReverseCharacters(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t end = s.size();
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && end - begin < 4 && (static_cast<uint8_t>(s[begin]) & 0xC0) == 0x80) {
      --begin;
    }
    out.append(s.substr(begin, end - begin));
    end = begin;
  }
  return out;
}

// `folded` (a folded password) contains `word` or `word` reversed, compared with ASCII letters in
// lower case; words shorter than 3 characters never match.
bool ContainsWord(std::string_view folded, std::string_view word) {
  if (CharacterCount(word) < 3) return false;
  const std::string w = FoldAsciiCase(word);
  return folded.find(w) != std::string_view::npos ||
         folded.find(ReverseCharacters(w)) != std::string_view::npos;
}

Status Refused(std::string message) {
  return InvalidArgument(Reason::kBadPassword, std::move(message));
}

// ---- PHC Argon2 strings ------------------------------------------------------------------------

enum class Argon2Variant { kD, kI, kId };

struct Argon2Phc {
  Argon2Variant variant;
  uint32_t version;
  uint32_t memory_kib;
  uint32_t iterations;
  uint32_t parallelism;
  size_t salt_bytes;
  size_t hash_bytes;
};

// Removes `prefix` from the front of `s` when it is there.
bool Consume(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// A PHC decimal: digits, no leading zero, at most UINT32_MAX.
bool ConsumeDecimal(std::string_view& s, uint32_t& out) {
  size_t n = 0;
  uint64_t value = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
    value = value * 10 + static_cast<uint64_t>(s[n] - '0');
    if (value > UINT32_MAX) return false;
    ++n;
  }
  if (n == 0 || (n > 1 && s[0] == '0')) return false;
  out = static_cast<uint32_t>(value);
  s.remove_prefix(n);
  return true;
}

// Decoded length of unpadded standard base64 (the PHC "B64" encoding), rejecting any other byte,
// a length no encoder produces, and non-zero trailing bits.
std::optional<size_t> B64DecodedSize(std::string_view b64) {
  if (b64.empty() || b64.size() > (kMaxB64Bytes * 4 + 2) / 3) return std::nullopt;
  unsigned char bin[kMaxB64Bytes];
  size_t bin_len = 0;
  if (sodium_base642bin(bin, sizeof bin, b64.data(), b64.size(), nullptr, &bin_len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
    return std::nullopt;
  }
  return bin_len;
}

// Parses `$argon2{d,i,id}[$v=16|19]$m=M,t=T,p=P$SALT$HASH` in that exact order, the grammar that
// both libraries' decoders accept, with parameters checked against the verification bounds.
Result<Argon2Phc> ParseArgon2Phc(std::string_view s) {
  Argon2Phc phc{};
  if (Consume(s, "$argon2id$")) {
    phc.variant = Argon2Variant::kId;
  } else if (Consume(s, "$argon2i$")) {
    phc.variant = Argon2Variant::kI;
  } else if (Consume(s, "$argon2d$")) {
    phc.variant = Argon2Variant::kD;
  } else {
    return UnreadableHash("unknown Argon2 variant");
  }
  phc.version = kArgon2Version10;  // strings from before the version field are Argon2 1.0
  if (Consume(s, "v=")) {
    if (!ConsumeDecimal(s, phc.version) || !Consume(s, "$")) return UnreadableHash("bad version");
    if (phc.version != kArgon2Version13 && phc.version != kArgon2Version10) {
      return UnreadableHash("unsupported Argon2 version");
    }
  }
  if (!Consume(s, "m=") || !ConsumeDecimal(s, phc.memory_kib) || !Consume(s, ",t=") ||
      !ConsumeDecimal(s, phc.iterations) || !Consume(s, ",p=") ||
      !ConsumeDecimal(s, phc.parallelism) || !Consume(s, "$")) {
    return UnreadableHash("bad Argon2 parameters");
  }
  // Bounds: a hostile m or t would turn one login into gigabytes or hours of work.
  if (phc.parallelism < 1 || phc.parallelism > PasswordHasher::kMaxParallelism ||
      phc.iterations < 1 || phc.iterations > PasswordHasher::kMaxIterations ||
      phc.memory_kib < 8 * phc.parallelism || phc.memory_kib > PasswordHasher::kMaxMemoryKib) {
    return UnreadableHash("Argon2 parameters out of range");
  }
  const size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) return UnreadableHash("missing Argon2 hash");
  const std::optional<size_t> salt = B64DecodedSize(s.substr(0, dollar));
  const std::optional<size_t> hash = B64DecodedSize(s.substr(dollar + 1));
  if (!salt || *salt < kMinSaltBytes) return UnreadableHash("bad Argon2 salt");
  if (!hash || *hash < kMinHashBytes) return UnreadableHash("bad Argon2 hash");
  phc.salt_bytes = *salt;
  phc.hash_bytes = *hash;
  return phc;
}

// ---- bcrypt ------------------------------------------------------------------------------------

// `$2a$`, `$2b$` or `$2y$`, a two-digit cost, `$`, 22 salt and 31 hash characters of bcrypt's
// base64 alphabet. `$2x$` (crypt_blowfish's sign-extension bug) is not accepted.
Status CheckBcrypt(std::string_view s) {
  constexpr size_t kBcryptChars = 60;
  if (s.size() != kBcryptChars || s[3] != '$' || s[6] != '$') return UnreadableHash("bad bcrypt");
  if (s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9') return UnreadableHash("bad bcrypt");
  const int cost = (s[4] - '0') * 10 + (s[5] - '0');
  // Cost 2^cost rounds: a stored cost of 31 would take days per login.
  if (cost < 4 || cost > PasswordHasher::kMaxBcryptCost) {
    return UnreadableHash("bcrypt cost out of range");
  }
  for (const char c : s.substr(7)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '/';
    if (!ok) return UnreadableHash("bad bcrypt");
  }
  return Status::Ok();
}

Result<bool> VerifyBcrypt(std::string_view stored, std::string_view password) {
  TESSERA_RETURN_IF_ERROR(CheckBcrypt(stored));
  // crypt reads a C string: a NUL would end the password early, so "abc\0xyz" would pass as
  // "abc". libxcrypt refuses passphrases of CRYPT_MAX_PASSPHRASE_SIZE bytes or more.
  if (password.find('\0') != std::string_view::npos ||
      password.size() >= CRYPT_MAX_PASSPHRASE_SIZE) {
    return false;
  }
  std::string phrase(password);
  std::string setting(stored);
  auto data = std::make_unique<crypt_data>();  // 32 KiB: value-initialised, so `initialized` = 0
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  // Constant time, so a byte-by-byte timing probe learns nothing.
  const bool match = out != nullptr && ConstantTimeEquals(out, stored);
  SecureZero(phrase.data(), phrase.size());
  SecureZero(data.get(), sizeof(crypt_data));
  if (out == nullptr) return UnreadableHash("bcrypt rejected by libcrypt");
  return match;
}

// The value of one character of bcrypt's base64 alphabet ("./A-Za-z0-9"). REQUIRES: CheckBcrypt
// accepted the string the character comes from.
int BcryptDigit(char c) {
  if (c == '.') return 0;
  if (c == '/') return 1;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 2;
  if (c >= 'a' && c <= 'z') return c - 'a' + 28;
  return c - '0' + 54;
}

// bcrypt encodes a 16-byte salt in 22 characters and a 23-byte checksum in 31: the last character
// of each has unused low bits (4 and 2), which crypt() always writes as zero. A stored hash with
// them set can never equal crypt()'s output, so it would never verify.
Status CheckBcryptPadding(std::string_view s) {
  constexpr size_t kSaltEnd = 7 + 22 - 1;
  if ((BcryptDigit(s[kSaltEnd]) & 0x0f) != 0) return UnreadableHash("bcrypt salt not canonical");
  if ((BcryptDigit(s.back()) & 0x03) != 0) return UnreadableHash("bcrypt hash not canonical");
  return Status::Ok();
}

// ---- Argon2 ------------------------------------------------------------------------------------

// `keep_bytes`: the hasher's own cost in bytes, what the thread's Argon2 arena may hold.
Result<bool> VerifyArgon2(const Argon2Phc& phc, std::string_view stored, std::string_view password,
                          size_t keep_bytes) {
  const std::string encoded(stored);  // both libraries want a C string
  if (phc.version == kArgon2Version13 && phc.variant != Argon2Variant::kD) {
    // libsodium: our own hashes and Argon2i. It reports a mismatch as -1 with errno EINVAL and
    // any other failure (decoding, memory) as -1 without touching errno.
    errno = 0;
    const Argon2Scope arena(keep_bytes);  // its memory from this thread's arena (argon2_arena.h)
    const int rc = crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size());
    if (rc == 0) return true;
    if (errno == EINVAL) return false;
    return UnreadableHash("rejected by libsodium");
  }
  // libargon2 (reference implementation): Argon2d, and Argon2 1.0 of any variant.
  const argon2_type type = phc.variant == Argon2Variant::kD   ? Argon2_d
                           : phc.variant == Argon2Variant::kI ? Argon2_i
                                                              : Argon2_id;
  const int rc = argon2_verify(encoded.c_str(), password.data(), password.size(), type);
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  return UnreadableHash("rejected by libargon2");
}

}  // namespace

Status CheckNewPassword(std::string_view password, const PasswordContext& context) {
  // Size first, before looking at a single byte: a 1 MiB body must cost nothing (PW-03).
  if (password.size() > kMaxPasswordBytes) return TooLong();
  const std::optional<size_t> code_points = CountCodePoints(password);
  if (!code_points) {
    return InvalidArgument(Reason::kBadPassword,
                           "password must be valid UTF-8 without NUL characters");
  }
  // Length is counted in characters, not bytes, so "pässwörd" is 8 long (ASVS 5.0 6.2.1).
  if (*code_points < kMinPasswordCodePoints) {
    return InvalidArgument(Reason::kBadPassword, "password must be at least 8 characters long");
  }
  // Screening (NIST SP 800-63B rev. 4 §3.1.1.2). The messages say which rule, never the password.
  const std::string folded = FoldAsciiCase(password);
  if (IsRepetitionOrSequence(folded)) return Refused("the password is a repetition or sequence");
  const std::string_view username = context.username;
  const size_t at = username.find('@');
  if (ContainsWord(folded, username) ||
      (at != std::string_view::npos && ContainsWord(folded, username.substr(0, at)))) {
    return Refused("the password must not contain the username");
  }
  if (ContainsWord(folded, context.service)) {
    return Refused("the password must not contain the service name");
  }
  if (IsCommonPassword(folded)) {
    return Refused("this password is in a list of common or breached passwords");
  }
  return Status::Ok();
}

Status CheckNewPassword(std::string_view password) {
  return CheckNewPassword(password, PasswordContext{});
}

Status CheckStoredHash(std::string_view stored) {
  // Verify's own parsers, in Verify's order: what passes here, Verify can read.
  const Status s = [&]() -> Status {
    if (stored.size() > kMaxStoredChars) return UnreadableHash("too long");
    if (stored.starts_with("$argon2")) return ParseArgon2Phc(stored).status();
    if (stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$")) {
      TESSERA_RETURN_IF_ERROR(CheckBcrypt(stored));
      return CheckBcryptPadding(stored);
    }
    return UnreadableHash("unsupported scheme (Argon2 PHC or bcrypt $2a$/$2b$/$2y$ expected)");
  }();
  if (s.ok()) return s;
  std::string_view defect = s.message();
  if (defect.starts_with(kUnreadable)) defect.remove_prefix(kUnreadable.size());
  return InvalidArgument(Reason::kBadPassword, "password hash: " + std::string(defect));
}

PasswordHasher::PasswordHasher(Options options, std::string dummy_hash)
    : options_(options), dummy_hash_(std::move(dummy_hash)) {}

Result<PasswordHasher> PasswordHasher::Create(Options options) {
  // A cost below the floor makes a stolen database cheap to crack: refuse to start (PW-01).
  const bool strong_enough =
      std::any_of(std::begin(kOwaspFloor), std::end(kOwaspFloor), [&](const CostPoint& p) {
        return options.memory_kib >= p.memory_kib && options.iterations >= p.iterations;
      });
  if (!strong_enough) {
    return InvalidArgument(
        Reason::kBadConfig,
        "argon2 parameters m=" + std::to_string(options.memory_kib) +
            " KiB, t=" + std::to_string(options.iterations) +
            " are below the OWASP minimum (one of m=47104,t=1; m=19456,t=2; m=12288,t=3; "
            "m=9216,t=4; m=7168,t=5, or more of both)");
  }
  if (options.memory_kib > kMaxMemoryKib || options.iterations > kMaxIterations) {
    return InvalidArgument(Reason::kBadConfig, "argon2 parameters above the supported maximum (m=" +
                                              std::to_string(kMaxMemoryKib) +
                                              " KiB, t=" + std::to_string(kMaxIterations) + ")");
  }
  // Selects libsodium's fastest Argon2 implementation for this CPU; idempotent, thread-safe.
  if (sodium_init() < 0) return InternalError(Reason::kCrypto, "libsodium failed to initialise");

  PasswordHasher hasher(options, std::string());
  std::string random_password = RandomString(32);
  Result<std::string> dummy = hasher.Hash(random_password);
  SecureZero(random_password.data(), random_password.size());
  if (!dummy) return std::move(dummy).error();
  hasher.dummy_hash_ = std::move(dummy).value();
  // The thread that builds a hasher (the server's main thread, which then runs its I/O loop)
  // need not keep the dummy hash's m KiB: the threads that hash keep their own.
  ReleaseThisThreadArgon2Arena();
  return hasher;
}

Result<std::string> PasswordHasher::Hash(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) return TooLong();
  char out[crypto_pwhash_STRBYTES];
  const Argon2Scope arena(size_t{options_.memory_kib} * 1024);  // memory: crypto/argon2_arena.h
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), options_.iterations,
                            size_t{options_.memory_kib} * 1024,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return InternalError(Reason::kCrypto, "argon2id hashing failed (out of memory?)");
  }
  std::string phc_string(out);
  // libsodium picks the salt and output sizes itself; check it wrote exactly the promised format.
  Result<Argon2Phc> phc = ParseArgon2Phc(phc_string);
  if (!phc || phc->variant != Argon2Variant::kId || phc->version != kArgon2Version13 ||
      phc->memory_kib != options_.memory_kib || phc->iterations != options_.iterations ||
      phc->parallelism != kParallelism || phc->salt_bytes != kSaltBytes ||
      phc->hash_bytes != kHashBytes) {
    return InternalError(Reason::kCrypto, "argon2id output not in the expected PHC format");
  }
  return phc_string;
}

Result<VerifyOutcome> PasswordHasher::Verify(std::string_view stored,
                                             std::string_view password) const {
  // Before any hashing: an oversized password must not cost a hash (PW-03).
  if (password.size() > kMaxPasswordBytes) return TooLong();
  if (stored.size() > kMaxStoredChars) return UnreadableHash("too long");

  VerifyOutcome outcome;
  if (stored.starts_with("$argon2")) {
    TESSERA_ASSIGN_OR_RETURN(const Argon2Phc phc, ParseArgon2Phc(stored));
    const size_t keep_bytes = size_t{options_.memory_kib} * 1024;
    TESSERA_ASSIGN_OR_RETURN(outcome.ok, VerifyArgon2(phc, stored, password, keep_bytes));
    outcome.needs_rehash = phc.variant != Argon2Variant::kId || phc.version != kArgon2Version13 ||
                           phc.memory_kib != options_.memory_kib ||
                           phc.iterations != options_.iterations ||
                           phc.parallelism != kParallelism || phc.salt_bytes < kSaltBytes ||
                           phc.hash_bytes != kHashBytes;
    return outcome;
  }
  if (stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$")) {
    TESSERA_ASSIGN_OR_RETURN(outcome.ok, VerifyBcrypt(stored, password));
    outcome.needs_rehash = true;  // bcrypt: 72-byte limit, no memory hardness
    return outcome;
  }
  return UnreadableHash("unsupported scheme");
}

void PasswordHasher::DummyVerify(std::string_view password) const {
  // Same code path and parameters as a real user's wrong password; the outcome is meaningless.
  (void)Verify(dummy_hash_, password);
}

}  // namespace tessera::crypto
