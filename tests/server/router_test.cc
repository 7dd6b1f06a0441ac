// The route table without sockets: patterns, methods, HEAD, 405 with Allow; and the table
// against docs/openapi.yaml, both ways.
#include "router.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <utility>

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

TEST(RouterTest, TheForwardAuthPathFormTakesTheRestOfThePathWithAnyCommonMethod) {
  const Router router = DefaultRouter();
  auto plain = router.Find("GET", "/v1/auth");
  ASSERT_TRUE(plain && plain->handler);
  auto root = router.Find("GET", "/v1/auth/");
  ASSERT_TRUE(root && root->handler);
  EXPECT_EQ(root->spec->route, Route::kAuth);
  EXPECT_NE(root->spec, plain->spec);
  EXPECT_EQ(root->param, "");
  auto deep = router.Find("POST", "/v1/auth/api/orders/7");
  ASSERT_TRUE(deep && deep->handler);
  EXPECT_EQ(deep->param, "api/orders/7");
  EXPECT_EQ(deep->handler->runs, Runs::kCacheFirst);
  for (const char* method : {"HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    auto m = router.Find(method, "/v1/auth/x");
    ASSERT_TRUE(m && m->handler) << method;
    EXPECT_EQ(m->handler->sync, deep->handler->sync) << method;
  }
  auto trace = router.Find("TRACE", "/v1/auth/x");
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->handler, nullptr);
  EXPECT_EQ(Router::Allow(*trace->spec), "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  // The plain form keeps its one method: a POST there is 405, not the path form.
  auto post = router.Find("POST", "/v1/auth");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->handler, nullptr);
  EXPECT_EQ(post->spec->pattern, "/v1/auth");
  EXPECT_FALSE(router.Find("GET", "/v1/authx"));  // a prefix of a segment is not the route
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

// (method, path) pairs the OpenAPI document describes: the keys under `paths:` (two spaces in)
// and the operations under each (four spaces in), parameters written "{name}".
std::set<std::pair<std::string, std::string>> OpenApiOperations(const std::string& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in) << "cannot read " << file;
  // "  KEY:" at exactly `indent` spaces (trailing spaces allowed): KEY, else "".
  auto key_at = [](std::string_view line, size_t indent) -> std::string {
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    if (line.size() <= indent + 1 || line.back() != ':' ||
        line.find_first_not_of(' ') != indent) {
      return "";
    }
    return std::string(line.substr(indent, line.size() - indent - 1));
  };
  std::set<std::pair<std::string, std::string>> ops;
  bool in_paths = false;
  std::string path;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line.rfind("paths:", 0) == 0;
      path.clear();
      continue;
    }
    if (!in_paths) continue;
    if (std::string key = key_at(line, 2); !key.empty()) {
      path = key.starts_with('/') ? key : "";
    } else if (std::string method = key_at(line, 4); !path.empty() && !method.empty()) {
      static const std::set<std::string> kMethods = {"get",    "put",     "post", "delete",
                                                     "patch",  "head",    "options", "trace"};
      if (!kMethods.contains(method)) continue;
      for (char& c : method) c = static_cast<char>(c - 'a' + 'A');
      ops.emplace(method, path);
    }
  }
  return ops;
}

// The documented path for a router pattern: the pattern itself, or for one with "{}" (or a
// trailing "{...}") the documented path that has a "{name}" there ("/v1/sessions/{id}"); the
// pattern when none has.
std::string DocumentedPath(std::string_view pattern,
                           const std::set<std::pair<std::string, std::string>>& documented) {
  size_t hole = pattern.find("{}"), width = 2;
  if (pattern.ends_with("{...}")) hole = pattern.size() - (width = 5);
  if (hole == std::string_view::npos) return std::string(pattern);
  const std::string_view before = pattern.substr(0, hole), after = pattern.substr(hole + width);
  for (const auto& [method, path] : documented) {
    if (path.size() <= before.size() + after.size() + 2 || !path.starts_with(before) ||
        !path.ends_with(after)) {
      continue;
    }
    const std::string name =
        path.substr(before.size(), path.size() - before.size() - after.size());
    if (name.front() == '{' && name.back() == '}' && name.find_first_of("/{}", 1) == name.size() - 1) {
      return path;
    }
  }
  return std::string(pattern);
}

TEST(RouterTest, TheOpenApiDocumentDescribesEveryRouteAndNoOther) {
  const auto documented =
      OpenApiOperations(std::string(TESSERA_SOURCE_DIR) + "/docs/openapi.yaml");
  ASSERT_FALSE(documented.empty());
  std::set<std::pair<std::string, std::string>> served;
  auto serve = [&](std::string_view method, std::string_view pattern) {
    const std::string path = DocumentedPath(pattern, documented);
    served.emplace(std::string(method), path);
    if (method == "GET") served.emplace("HEAD", path);
  };
  const Router router = DefaultRouter();
  for (const RouteSpec& spec : router.routes()) {
    for (const MethodHandler& h : spec.methods) serve(h.method, spec.pattern);
  }
  // The web pages, served outside the table (web_assets.cc).
  for (const char* page : {"/", "/account", "/assets/{}"}) serve("GET", page);

  for (const auto& op : served) {
    if (op.first == "HEAD") continue;  // documenting HEAD beside GET is optional
    EXPECT_TRUE(documented.contains(op))
        << "not in docs/openapi.yaml: " << op.first << " " << op.second;
  }
  for (const auto& op : documented) {
    EXPECT_TRUE(served.contains(op))
        << "docs/openapi.yaml describes what the server does not answer: " << op.first << " "
        << op.second;
  }
}

}  // namespace
}  // namespace tessera::server
