// The HTTP application: routes each request through the route table (router.h) to its handler
// (handlers/), and adds what every answer gets: the common security headers, the metrics and the
// access log line. Pure request-to-response logic over the library; no sockets here.
#pragma once

#include <optional>

#include "context.h"
#include "http.h"
#include "router.h"

namespace tessera::server {

class App final : public Handler {
 public:
  explicit App(AppDeps deps);
  void Handle(HttpRequest request, Responder respond) override;
  // Counted by status class and written to the access log like any answer.
  void Refused(const HttpRequest& partial, const HttpResponse& answer) override;

  const Metrics& metrics() const { return context_.metrics; }
  Context& context() { return context_; }

  // The handler of the operations listener (metrics.listen): /metrics, /healthz and /readyz,
  // nothing else. With metrics.listen set, the main listener answers 404 for /metrics.
  Handler& ops() { return ops_; }

 private:
  class OpsHandler final : public Handler {
   public:
    explicit OpsHandler(App* app) : app_(app) {}
    void Handle(HttpRequest request, Responder respond) override {
      app_->Serve(std::move(request), std::move(respond), /*ops=*/true);
    }
    void Refused(const HttpRequest& partial, const HttpResponse& answer) override {
      app_->Refused(partial, answer);
    }

   private:
    App* app_;
  };

  void Serve(HttpRequest request, Responder respond, bool ops);
  // Answers the request, or returns nullopt after handing `respond` (wrapped by Deferred) to a
  // handler that answers later.
  std::optional<HttpResponse> Dispatch(const HttpRequest& request, Responder& respond,
                                       Route* route, bool ops);
  // Runs `handler` on the store pool and answers through `respond` (503 at once when the pool's
  // queue is full). `param` points into `request`.
  void OnStorePool(const HttpRequest& request, SyncHandler handler, std::string_view param,
                   Responder respond);
  // Wraps `respond` so that a later answer gets the common headers, metrics and access log.
  Responder Deferred(const HttpRequest& request, Route route, Responder respond);
  void AddCommonHeaders(HttpResponse& r) const;
  void AccessLogLine(const HttpRequest& request, const HttpResponse& response,
                     int64_t nanoseconds);

  Context context_;
  Router router_;
  OpsHandler ops_{this};
};

}  // namespace tessera::server
