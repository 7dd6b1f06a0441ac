// The route table without sockets: patterns, methods, HEAD, 405 with Allow.
#include "router.h"

#include <gtest/gtest.h>

namespace tessera::server {
namespace {

TEST(RouterTest, FindsExactPathsAndOneSegmentPatterns) {
  const Router router = DefaultRouter();
  auto me = router.Find("GET", "/v1/me");
  ASSERT_TRUE(me);
  EXPECT_EQ(me->spec->route, Route::kMe);
  ASSERT_NE(me->handler, nullptr);
  EXPECT_NE(me->handler->sync, nullptr);

  auto one = router.Find("DELETE", "/v1/sessions/abc");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->param, "abc");
  ASSERT_NE(one->handler, nullptr);

  auto admin = router.Find("GET", "/v1/admin/users/al%20ice/sessions");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->param, "al%20ice");
  EXPECT_EQ(admin->spec->route, Route::kAdmin);

  auto login = router.Find("POST", "/v1/login");
  ASSERT_TRUE(login && login->handler);
  EXPECT_EQ(login->handler->sync, nullptr);  // answers from the password pool
  EXPECT_NE(login->handler->async, nullptr);
}

TEST(RouterTest, SegmentsAreNeverEmptyAndNeverSpanSlashes) {
  const Router router = DefaultRouter();
  EXPECT_FALSE(router.Find("DELETE", "/v1/sessions/"));
  EXPECT_FALSE(router.Find("DELETE", "/v1/sessions/a/b"));
  EXPECT_FALSE(router.Find("GET", "/v1/admin/users//sessions"));
  EXPECT_FALSE(router.Find("GET", "/v1/admin/users/a/b/sessions"));
  EXPECT_FALSE(router.Find("GET", "/v1/admin/users/a/b"));
  EXPECT_FALSE(router.Find("PATCH", "/v1/admin/users/"));
  auto user = router.Find("GET", "/v1/admin/users/a");  // the account: PATCH only
  ASSERT_TRUE(user);
  EXPECT_EQ(user->handler, nullptr);
  EXPECT_EQ(Router::Allow(*user->spec), "PATCH, DELETE");
  EXPECT_FALSE(router.Find("GET", "/v1/mex"));
  EXPECT_FALSE(router.Find("GET", "/v1/me/"));
}

TEST(RouterTest, HeadIsServedByGetAndOtherMethodsGetAllow) {
  const Router router = DefaultRouter();
  auto head = router.Find("HEAD", "/v1/auth");
  ASSERT_TRUE(head && head->handler);
  EXPECT_EQ(head->handler->method, "GET");

  auto wrong = router.Find("POST", "/v1/sessions");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->handler, nullptr);
  EXPECT_EQ(Router::Allow(*wrong->spec), "GET, HEAD, DELETE");
  auto put = router.Find("PUT", "/v1/login");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->handler, nullptr);
  EXPECT_EQ(Router::Allow(*put->spec), "POST");
}

TEST(RouterTest, EveryRouteHasExactlyOneHandlerKindPerMethod) {
  const Router router = DefaultRouter();
  for (const RouteSpec& spec : router.routes()) {
    ASSERT_FALSE(spec.methods.empty()) << spec.pattern;
    for (const MethodHandler& h : spec.methods) {
      EXPECT_NE(h.sync == nullptr, h.async == nullptr) << spec.pattern << " " << h.method;
    }
  }
}

}  // namespace
}  // namespace tessera::server
