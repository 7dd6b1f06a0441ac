// The screening part of the new-password policy (NIST SP 800-63B rev. 4 §3.1.1.2; docs/security.md
// PW-05): the list of common and breached passwords, context words, repetitions and sequences.
// The length and encoding rules are in password_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "crypto/password.h"
#include "crypto/password_list.h"
#include "crypto/random.h"

namespace tessera::crypto {
namespace {

constexpr std::string_view kCommon = "this password is in a list of common or breached passwords";
constexpr std::string_view kUsername = "the password must not contain the username";
constexpr std::string_view kService = "the password must not contain the service name";
constexpr std::string_view kTrivial = "the password is a repetition or sequence";

// The message CheckNewPassword gives, or "ok". Every refusal is kInvalidArgument/kBadPassword, and
// comparing whole messages also shows that none of them repeats the password.
std::string Verdict(std::string_view password, const PasswordContext& context = {}) {
  const Status s = CheckNewPassword(password, context);
  if (s.ok()) return "ok";
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << password;
  EXPECT_EQ(s.reason(), Reason::kBadPassword) << password;
  return std::string(s.message());
}

// The list, decoded here independently of password_list.cc (data/common-passwords/README.md).
std::vector<std::string> DecodeListHere() {
  const std::span<const EmbeddedFile> files = EmbeddedPasswordListFiles();
  EXPECT_EQ(files.size(), 1u);
  std::vector<std::string> out;
  std::string current;
  const std::string_view data = files[0].Data();
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) {
      ADD_FAILURE() << "no newline at the end of the list";
      break;
    }
    current.resize(static_cast<size_t>(data[pos] - '0'));
    current.append(data.substr(pos + 1, end - pos - 1));
    out.push_back(current);
    pos = end + 1;
  }
  return out;
}

// ---- the list -----------------------------------------------------------------------------------

TEST(CommonPasswordList, HoldsAtLeast100000Entries) {
  EXPECT_GE(CommonPasswordCount(), 100000u);
  EXPECT_EQ(CommonPasswordCount(), DecodeListHere().size());
}

TEST(CommonPasswordList, EveryEntryIsFoundAndIsNormalised) {
  const std::vector<std::string> entries = DecodeListHere();
  ASSERT_FALSE(entries.empty());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& e = entries[i];
    if (i > 0) {
      ASSERT_LT(entries[i - 1], e) << "sorted, no duplicates, at " << i;
    }
    ASSERT_EQ(FoldAsciiCase(e), e) << "folded to lower case: " << e;
    ASSERT_TRUE(IsCommonPassword(e)) << e;
  }
  // Between and beyond the entries: not found.
  EXPECT_FALSE(IsCommonPassword(std::string(1, '\x01')));
  EXPECT_FALSE(IsCommonPassword(entries.front().substr(0, entries.front().size() - 1)));
  EXPECT_FALSE(IsCommonPassword(entries.back() + "~"));
  EXPECT_FALSE(IsCommonPassword(std::string(200, '~')));
  EXPECT_FALSE(IsCommonPassword(""));
}

TEST(CommonPasswordList, EveryEntryMeetsTheLengthRule) {
  // Shorter entries would be dead weight: the length rule refuses them before the list.
  for (const std::string& e : DecodeListHere()) {
    const Status s = CheckNewPassword(e);
    ASSERT_FALSE(s.ok()) << e;
    ASSERT_NE(s.message(), "password must be at least 8 characters long") << e;
  }
}

TEST(CommonPasswordList, RefusesTheMostCommonLongEnoughPasswords) {
  // From the first 1000 lines of the source, 8 characters or more.
  for (const char* p : {"password", "baseball", "football", "superman", "trustno1", "jennifer",
                        "sunshine", "iloveyou", "starwars", "computer", "michelle", "princess",
                        "corvette", "internet", "samantha", "whatever", "maverick", "steelers",
                        "mercedes", "hardcore", "midnight", "bigdaddy", "victoria", "cocacola",
                        "marlboro", "password1234"}) {
    EXPECT_EQ(Verdict(p), kCommon) << p;
  }
}

TEST(CommonPasswordList, RefusesEntriesNearTheEndOfTheKeptList) {
  // "smokey24" is the 100,000th entry kept (line 263,956 of the source); "smokey212", the next
  // line, is beyond the cut.
  EXPECT_EQ(Verdict("smokey24"), kCommon);
  EXPECT_EQ(Verdict("smokie247"), kCommon);
  EXPECT_TRUE(IsCommonPassword("smokey24"));
  EXPECT_FALSE(IsCommonPassword("smokey212"));
  EXPECT_EQ(Verdict("smokey212"), "ok");
}

TEST(CommonPasswordList, IgnoresAsciiCase) {
  for (const char* p : {"PASSWORD", "Password", "BaseBall", "SuperMan", "sMOKEY24", "SMRsmr23",
                        "smrsmr23", "PassWord1234", "ILOVEYOU"}) {
    EXPECT_EQ(Verdict(p), kCommon) << p;
  }
}

TEST(CommonPasswordList, MatchesWholePasswordsOnly) {
  EXPECT_EQ(Verdict("superman is late for dinner"), "ok");
  EXPECT_EQ(Verdict("my baseball glove"), "ok");
  EXPECT_EQ(Verdict("password1234 "), "ok");  // every byte counts, also here
}

TEST(CommonPasswordList, TheOneArgumentFormScreensToo) {
  EXPECT_EQ(CheckNewPassword("iloveyou").message(), kCommon);
  EXPECT_EQ(CheckNewPassword("aaaaaaaaaaaa").message(), kTrivial);
  EXPECT_EQ(CheckNewPassword("my tessera password").message(), kService);
  EXPECT_TRUE(CheckNewPassword("correct horse battery").ok());
}

// ---- what passes --------------------------------------------------------------------------------

TEST(PasswordScreening, RandomPasswordsPass) {
  constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";
  for (int round = 0; round < 200; ++round) {
    const std::string bytes = RandomString(20);
    std::string password;
    for (const char b : bytes) {
      password.push_back(kAlphabet[static_cast<unsigned char>(b) % kAlphabet.size()]);
    }
    EXPECT_EQ(Verdict(password, {.username = "alice"}), "ok") << password;
  }
}

TEST(PasswordScreening, LongPassphrasesPass) {
  const std::string sixteen_words =
      "orbit maple ladder quiet harvest copper violet tundra "
      "pebble lantern meadow cobalt saddle ember willow falcon";
  EXPECT_EQ(Verdict(sixteen_words), "ok");
  EXPECT_EQ(Verdict(sixteen_words, {.username = "bob.smith@example.com"}), "ok");
  EXPECT_EQ(Verdict("correct horse battery staple"), "ok");
  EXPECT_EQ(Verdict("p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91  with  spaces"), "ok");  // PW-04
}

// ---- context words ------------------------------------------------------------------------------

TEST(PasswordScreening, RefusesTheUsername) {
  const PasswordContext alice{.username = "alice"};
  EXPECT_EQ(Verdict("alice-likes-tea-7", alice), kUsername);
  EXPECT_EQ(Verdict("I am ALICE, really", alice), kUsername);
  EXPECT_EQ(Verdict("zz AlIcE zz 9482", alice), kUsername);
  EXPECT_EQ(Verdict("ecila-backwards-1", alice), kUsername);    // reversed
  EXPECT_EQ(Verdict("malice aforethought", alice), kUsername);  // containment, whatever the word
  EXPECT_EQ(Verdict("alic and ali are not it", alice), "ok");
  // The same passwords for someone else.
  EXPECT_EQ(Verdict("alice-likes-tea-7", {.username = "bob"}), "ok");
  EXPECT_EQ(Verdict("alice-likes-tea-7"), "ok");
}

TEST(PasswordScreening, ShortUsernamesAreNotScreened) {
  EXPECT_EQ(Verdict("al wins the cup 2031", {.username = "al"}), "ok");
  EXPECT_EQ(Verdict("al wins the cup 2031", {.username = "a"}), "ok");
  EXPECT_EQ(Verdict("bob wins the cup 2031", {.username = "bob"}), kUsername);
}

TEST(PasswordScreening, RefusesTheLocalPartOfAnEmailUsername) {
  const PasswordContext email{.username = "bob.smith@example.com"};
  EXPECT_EQ(Verdict("i am bob.smith at home", email), kUsername);
  EXPECT_EQ(Verdict("bob.smith@example.com", email), kUsername);
  EXPECT_EQ(Verdict("example dot com 4 me", email), "ok");
}

TEST(PasswordScreening, RefusesANonAsciiUsername) {
  const PasswordContext jose{.username = "jos\xC3\xA9"};  // josé
  EXPECT_EQ(Verdict("hola soy jos\xC3\xA9 :-)", jose), kUsername);
  EXPECT_EQ(Verdict("hola soy JOS\xC3\xA9 :-)", jose), kUsername);          // ASCII letters fold
  EXPECT_EQ(Verdict("\xC3\xA9soj gira al rev\xC3\xA9s", jose), kUsername);  // reversed by character
  EXPECT_EQ(Verdict("hola soy jose :-)", jose), "ok");                      // "e" is not "é"
}

TEST(PasswordScreening, RefusesTheServiceName) {
  EXPECT_EQ(Verdict("my tessera password"), kService);
  EXPECT_EQ(Verdict("TESSERA-2031-login"), kService);
  EXPECT_EQ(Verdict("aressetXYZ-2031"), kService);  // reversed
  EXPECT_EQ(Verdict("my tessera password", {.username = "alice"}), kService);
  // Another service name, given by the caller.
  const PasswordContext acme{.service = "acme-portal"};
  EXPECT_EQ(Verdict("my tessera password", acme), "ok");
  EXPECT_EQ(Verdict("the acme-portal key", acme), kService);
  EXPECT_EQ(Verdict("the ACME-Portal key", acme), kService);
}

// ---- repetitions and sequences ------------------------------------------------------------------

TEST(PasswordScreening, RefusesRepetitions) {
  const std::string mima = "\xE5\xAF\x86\xE7\xA0\x81";  // 密码
  const std::string key = "\xF0\x9F\x94\x91";           // 🔑
  for (const std::string& p : std::vector<std::string>{
           "aaaaaaaaaaaa", "AAAAAAAAaaaa", "        ", "11111111111111", "abcabcabcabc",
           "abcdabcdab",            // a unit repeated and cut short
           "Xy7!Xy7!Xy7!",          // whatever the unit holds
           "a1b2c3da1b2c3d",        // a unit of 7, twice
           "qwertyuiopqwertyuiop",  // a longer unit that is itself a keyboard run
           "dragon12dragon12", "passwordpassword", "PasswordPassword",  // ... or on the list
           mima + mima + mima + mima, key + key + key + key + key + key + key + key}) {
    EXPECT_EQ(Verdict(p), kTrivial) << p;
  }
  // A long enough unit that is neither: accepted (the strength is the unit's).
  EXPECT_EQ(Verdict("Tr7#pLq9Tr7#pLq9"), "ok");
  EXPECT_EQ(Verdict("abcabcabcabx-9"), "ok");
}

TEST(PasswordScreening, RefusesAscendingAndDescendingSequences) {
  for (const char* p : {
           "abcdefghijkl", "ABCDEFGHIJKL", "123456789012",                       // 9 wraps to 0
           "0123456789", "987654321098", "zyxwvutsrqpo", "xyzabcdefg",           // z wraps to a
           "acegikmoqsuw", "13579135", "86420864",                               // steps of two
           "1234abcd", "abcdefgh1234", "aaaaaaa1", "1aaaaaaa", "abcdefgh98765",  // two runs
       }) {
    EXPECT_EQ(Verdict(p), kTrivial) << p;
  }
  // Three runs or more are not this rule's business (no strength estimation beyond these rules).
  EXPECT_EQ(Verdict("abc123xyz789"), "ok");
}

TEST(PasswordScreening, RefusesKeyboardRuns) {
  for (const char* p : {
           "qwertyuiop", "QWERTYUIOP", "poiuytrewq", "asdfghjkl;", "zxcvbnm,./",
           "qwertyuiopasdfgh",                        // row to row
           "!@#$%^&*()",                              // shifted digits
           "`1234567890-=",                           //
           "qwertzuiop", "azertyuiop", "qsdfghjklm",  // QWERTZ, AZERTY
           "1qaz2wsx3edc", "zaq12wsx", "!qaz@wsx",    // columns, down and up
           "qwerty123456", "asdfghjk!",               // two runs
           "7894561230", "1472583690",                // numeric keypad
       }) {
    EXPECT_EQ(Verdict(p), kTrivial) << p;
  }
  EXPECT_EQ(Verdict("qwerty!zxcvb?"), "ok");  // four runs
}

TEST(PasswordScreening, TheLengthRuleComesFirst) {
  EXPECT_EQ(Verdict("aaaaaaa"), "password must be at least 8 characters long");
  EXPECT_EQ(Verdict("1234567"), "password must be at least 8 characters long");
  EXPECT_EQ(Verdict("qwerty"), "password must be at least 8 characters long");
}

TEST(PasswordScreening, LongPasswordsAreScreenedQuickly) {
  // The worst cases for the run and period analysis, at the 1024-byte limit.
  EXPECT_EQ(Verdict(std::string(kMaxPasswordBytes, 'a')), kTrivial);
  std::string steps;
  for (size_t i = 0; i < kMaxPasswordBytes; ++i) steps.push_back(static_cast<char>('0' + i % 10));
  EXPECT_EQ(Verdict(steps), kTrivial);
  std::string almost(kMaxPasswordBytes - 1, 'a');
  almost += 'b';
  EXPECT_EQ(Verdict(almost), kTrivial);  // two runs
}

TEST(PasswordScreening, FoldAsciiCaseFoldsAsciiLettersOnly) {
  EXPECT_EQ(FoldAsciiCase("AbC-xYz 09 \xC3\x89\xC3\xA9"),
            "abc-xyz 09 \xC3\x89\xC3\xA9");  // Éé kept
}

}  // namespace
}  // namespace tessera::crypto
