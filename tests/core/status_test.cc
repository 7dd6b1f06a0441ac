#include "tessera/status.h"

#include <gtest/gtest.h>

#include <set>

#include "tessera/clock.h"
#include "tessera/result.h"

namespace tessera {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument(Reason::kBadJson, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  TESSERA_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

Status CheckEven(int x) {
  TESSERA_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, ToStringNamesCodeReasonAndMessage) {
  Status s = Unauthenticated(Reason::kExpired, "token expired");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "unauthenticated/expired: token expired");
}

TEST(Status, EveryReasonHasADistinctName) {
  std::set<std::string_view> names;
  for (int r = 0; r <= static_cast<int>(Reason::kOverloaded); ++r) {
    auto name = ReasonName(static_cast<Reason>(r));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(Result, MacrosPropagateErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).error().reason(), Reason::kBadJson);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.NowSeconds(), 1000);
  clock.Advance(5);
  EXPECT_EQ(clock.NowSeconds(), 1005);
  clock.Set(7);
  EXPECT_EQ(clock.NowSeconds(), 7);
}

TEST(SystemClock, IsAfter2025) { EXPECT_GT(SystemClock::Instance().NowSeconds(), 1735689600); }

}  // namespace
}  // namespace tessera
