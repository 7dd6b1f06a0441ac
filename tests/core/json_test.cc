#include "core/json.h"

#include <gtest/gtest.h>

namespace tessera::json {
namespace {

TEST(JsonParseStrict, AcceptsPlainDocument) {
  auto j = ParseStrict(R"({"a":[1,2.5,"x",true,null],"b":{"c":-3}})");
  ASSERT_TRUE(j) << j.error().ToString();
  EXPECT_EQ((*j)["a"][2], "x");
  EXPECT_EQ((*j)["b"]["c"], -3);
}

TEST(JsonParseStrict, RejectsDuplicateMembersAtAnyDepth) {
  for (const char* doc : {R"({"a":1,"a":2})", R"({"x":{"a":1,"a":2}})", R"([{"a":1,"a":1}])",
                          R"({"a":1,"\u0061":2})"}) {
    auto j = ParseStrict(doc);
    ASSERT_FALSE(j) << doc;
    EXPECT_EQ(j.error().reason(), Reason::kDuplicateMember) << doc;
  }
}

TEST(JsonParseStrict, RejectsDuplicatesAmongManyMembers) {
  std::string doc = "{";
  for (int i = 0; i < 40; ++i) doc += "\"k" + std::to_string(i) + "\":1,";
  doc += "\"k17\":2}";
  auto j = ParseStrict(doc);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().reason(), Reason::kDuplicateMember);
}

TEST(JsonParseStrict, RejectsDeepNesting) {
  std::string doc(100, '[');
  doc += std::string(100, ']');
  auto j = ParseStrict(doc, {.max_bytes = 1 << 20, .max_depth = 32});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().reason(), Reason::kTooDeep);
  EXPECT_TRUE(ParseStrict(doc, {.max_bytes = 1 << 20, .max_depth = 128}));
}

TEST(JsonParseStrict, RejectsOversizedInput) {
  auto j = ParseStrict(std::string(2000, ' ') + "{}", {.max_bytes = 1000, .max_depth = 8});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().reason(), Reason::kTooLarge);
}

TEST(JsonParseStrict, RejectsWhatRfc8259Forbids) {
  for (const char* doc : {"{'a':1}", "{\"a\":1,}", "[1,]", "NaN", "{\"a\":01}", "// c\n{}",
                          "{} {}", "\"\xff\"", "{\"a\":\"\x01\"}", ""}) {
    EXPECT_FALSE(ParseStrict(doc)) << doc;
  }
}

TEST(JsonMinify, DropsInsignificantWhitespace) {
  EXPECT_EQ(Minify("{ \"a\" : [ 1 , \"b c\" ] }\n"), R"({"a":[1,"b c"]})");
}

}  // namespace
}  // namespace tessera::json
