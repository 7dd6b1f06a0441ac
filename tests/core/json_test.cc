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

// `levels` non-empty arrays, one inside the other.
std::string NestedArrays(size_t levels) {
  return std::string(levels, '[') + "1" + std::string(levels, ']');
}

TEST(JsonParseStrict, MaxDepthCountsLevelsOfNesting) {
  // The default: 64 levels, the outermost counting as one.
  EXPECT_TRUE(ParseStrict(NestedArrays(64)));
  EXPECT_EQ(ParseStrict(NestedArrays(65)).error().reason(), Reason::kTooDeep);
  for (size_t limit : {1, 2, 3, 16, 100}) {
    EXPECT_TRUE(ParseStrict(NestedArrays(limit), {.max_depth = limit})) << limit;
    auto deeper = ParseStrict(NestedArrays(limit + 1), {.max_depth = limit});
    ASSERT_FALSE(deeper) << limit;
    EXPECT_EQ(deeper.error().reason(), Reason::kTooDeep) << limit;
  }
  EXPECT_TRUE(ParseStrict(R"({"a":1})", {.max_depth = 1}));
  EXPECT_FALSE(ParseStrict(R"({"a":[1]})", {.max_depth = 1}));
  EXPECT_TRUE(ParseStrict(R"({"a":[{"b":{"c":[1]}}]})", {.max_depth = 5}));
  EXPECT_FALSE(ParseStrict(R"({"a":[{"b":{"c":[1]}}]})", {.max_depth = 4}));
}

// Found by json_strict_fuzzer (its regression seed: empty-container-one-level-too-deep): simdjson
// does not count an empty array or object at the bottom as a level, and the limit let one more
// level through.
TEST(JsonParseStrict, AnEmptyContainerAtTheBottomIsALevelToo) {
  auto found = ParseStrict(R"([[[[{"":[[{"":[]}]]}]]]])", {.max_depth = 8});
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().reason(), Reason::kTooDeep);
  EXPECT_TRUE(ParseStrict(R"([[[[{"":[[{"":[]}]]}]]]])", {.max_depth = 9}));
  EXPECT_TRUE(ParseStrict("[]", {.max_depth = 1}));
  EXPECT_TRUE(ParseStrict("{}", {.max_depth = 1}));
  EXPECT_FALSE(ParseStrict("[[]]", {.max_depth = 1}));
  EXPECT_FALSE(ParseStrict(R"({"a":{}})", {.max_depth = 1}));
  EXPECT_FALSE(ParseStrict(R"({"a":[1,{}]})", {.max_depth = 2}));
  EXPECT_TRUE(ParseStrict(R"({"a":[1,{}]})", {.max_depth = 3}));
}

TEST(JsonParseStrict, VeryDeepInputIsRefusedWithoutRecursing) {
  // However deep the input and however large the configured limit, the ceiling holds: no walk
  // over the tree goes deeper than kMaxDepthCeiling (ASan would catch a stack overflow).
  for (size_t levels : {size_t{10000}, size_t{100000}}) {
    std::string doc = NestedArrays(levels);
    for (size_t limit : {size_t{64}, size_t{1} << 40}) {
      auto j = ParseStrict(doc, {.max_bytes = 1 << 20, .max_depth = limit});
      ASSERT_FALSE(j) << levels;
      EXPECT_EQ(j.error().reason(), Reason::kTooDeep) << levels;
    }
    // Objects too, with duplicate names deep inside (the duplicate check must not be reached).
    std::string objects;
    for (size_t i = 0; i < levels; ++i) objects += R"({"a":1,"a":)";
    objects += "1" + std::string(levels, '}');
    auto j = ParseStrict(objects, {.max_bytes = 1 << 23, .max_depth = size_t{1} << 40});
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().reason(), Reason::kTooDeep);
  }
  EXPECT_TRUE(ParseStrict(NestedArrays(kMaxDepthCeiling), {.max_depth = size_t{1} << 40}));
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
