// The route table: each path (or path pattern with one `{}` segment, or a trailing `{...}` for
// the rest of the path) maps to its handlers by method and to the fixed metrics label of its
// route. Matching never allocates; HEAD is served by the GET handler; a path with no handler for
// the method answers 405 with Allow.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "context.h"
#include "http.h"
#include "metrics.h"

namespace tessera::server {

// A handler that answers at once, and one that answers later through `respond` (slow work on the
// password pool). `param` is the raw (still percent-encoded) `{}` segment (or `{...}` rest) of
// the pattern, or empty.
using SyncHandler = HttpResponse (*)(Context& c, const HttpRequest& r, std::string_view param);
using AsyncHandler = void (*)(Context& c, const HttpRequest& r, std::string_view param,
                              Responder respond);

// Where a synchronous handler runs (docs/design.md "Threading"). An asynchronous handler runs on
// the I/O thread and hands its slow part to a pool itself.
enum class Runs : uint8_t {
  kInline,      // on the I/O thread: it never touches a store (health, keys, metrics)
  kCacheFirst,  // on the I/O thread from the caches; again on the store pool if it would block
  kStorePool,   // on the store pool: it may wait for a store
};

struct MethodHandler {
  std::string_view method;  // "GET" (serves HEAD too), "POST", "DELETE", "PATCH", ...
  SyncHandler sync = nullptr;
  AsyncHandler async = nullptr;
  Runs runs = Runs::kStorePool;  // the safe default for a new route
};

struct RouteSpec {
  std::string_view pattern;  // "/v1/me", "/v1/sessions/{}", "/v1/admin/users/{}/sessions",
                             // "/v1/auth/{...}"
  Route route;
  std::vector<MethodHandler> methods;
};

class Router {
 public:
  explicit Router(std::vector<RouteSpec> routes);

  struct Match {
    const RouteSpec* spec = nullptr;
    const MethodHandler* handler = nullptr;  // null: the path exists, the method does not
    std::string_view param;
  };
  // The route of `path` and its handler for `method`; nullopt when no pattern matches.
  std::optional<Match> Find(std::string_view method, std::string_view path) const;

  // "GET, HEAD, DELETE": the Allow header of a 405 for this route.
  static std::string Allow(const RouteSpec& spec);

  const std::vector<RouteSpec>& routes() const { return routes_; }

 private:
  std::vector<RouteSpec> routes_;
};

// tessera's HTTP contract (docs/design.md) as a table.
Router DefaultRouter();

}  // namespace tessera::server
