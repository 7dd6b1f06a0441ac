#include "tessera/user/user.h"

#include <gtest/gtest.h>

namespace tessera::user {
namespace {

TEST(CanonicalUsername, FoldsCaseAndNormalises) {
  EXPECT_EQ(*CanonicalUsername("Alice"), "alice");
  EXPECT_EQ(*CanonicalUsername("ALICE"), "alice");
  // "José" composed (U+00E9) and decomposed (e + U+0301) are one name.
  EXPECT_EQ(*CanonicalUsername("Jos\xc3\xa9"), *CanonicalUsername("Jose\xcc\x81"));
  EXPECT_EQ(*CanonicalUsername("JOS\xc3\x89"), "jos\xc3\xa9");
  // Full case folding: German sharp s folds to "ss".
  EXPECT_EQ(*CanonicalUsername("Stra\xc3\x9f" "e"), *CanonicalUsername("STRASSE"));
  EXPECT_EQ(*CanonicalUsername("bob@example.com"), "bob@example.com");
}

TEST(CanonicalUsername, RefusesWhatCannotBeAName) {
  for (std::string bad : {std::string(""), std::string(65, 'a'), std::string("a\x01" "b"),
                          std::string("a\0b", 3), std::string(" alice"), std::string("alice "),
                          std::string("\xc3\x28"), std::string("tab\there")}) {
    auto r = CanonicalUsername(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().reason(), Reason::kBadUsername);
  }
  EXPECT_TRUE(CanonicalUsername(std::string(64, 'a')));
}

TEST(CheckRoleName, AllowsASmallAlphabet) {
  EXPECT_TRUE(CheckRoleName("admin").ok());
  EXPECT_TRUE(CheckRoleName("org:ops-1.read_only").ok());
  EXPECT_FALSE(CheckRoleName("").ok());
  EXPECT_FALSE(CheckRoleName("Admin").ok());
  EXPECT_FALSE(CheckRoleName("a b").ok());
  EXPECT_FALSE(CheckRoleName(std::string(65, 'a')).ok());
}

TEST(CheckRoles, AtMostKMaxRolesEachValid) {
  std::vector<std::string> roles;
  for (size_t i = 0; i < kMaxRoles; ++i) roles.push_back("role-" + std::to_string(i));
  EXPECT_TRUE(CheckRoles(roles).ok());
  roles.push_back("one-more");
  EXPECT_FALSE(CheckRoles(roles).ok());
  EXPECT_EQ(CheckRoles(roles).reason(), Reason::kBadUsername);
  EXPECT_FALSE(CheckRoles({"admin", "Not Valid"}).ok());
  EXPECT_TRUE(CheckRoles({}).ok());
}

TEST(NewUserId, IsRandom) {
  EXPECT_NE(NewUserId(), NewUserId());
  EXPECT_EQ(NewUserId().size(), 22u);
}

}  // namespace
}  // namespace tessera::user
