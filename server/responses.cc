#include "responses.h"

namespace tessera::server {
namespace {

using nlohmann::json;

constexpr char kJsonType[] = "application/json; charset=utf-8";

}  // namespace

HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  // A stored User-Agent may hold bytes that are not UTF-8: replaced, never an exception.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.Set("Content-Type", kJsonType);
  return r;
}

HttpResponse Error(int status, std::string_view code, std::string_view description) {
  return Json(status, {{"error", code}, {"error_description", description}});
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

HttpResponse FromStatus(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
      return Error(503, "unavailable", "a store cannot answer right now; retry shortly");
    case Code::kUnauthenticated:
      return Error(401, "invalid_token",
                   s.reason() == Reason::kSessionExpired ? "session expired" : "not signed in");
    case Code::kNotFound: return Error(404, "not_found", "no such resource");
    case Code::kInvalidArgument: return Error(400, "invalid_request", s.message());
    case Code::kPermissionDenied: return Error(403, "forbidden", "not allowed");
    case Code::kResourceExhausted:
      if (s.reason() == Reason::kSessionLimit) {
        return Error(403, "forbidden", "session limit reached; sign out elsewhere first");
      }
      return Error(413, "invalid_request", "too large");
    default: return Error(500, "server_error", "internal error");
  }
}

bool IsMediaType(std::string_view content_type, std::string_view media_type) {
  const size_t semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return EqualsIgnoreCase(media, media_type);
}

}  // namespace tessera::server
