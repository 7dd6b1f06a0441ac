// The JSON answers every endpoint shares: errors in the shape docs/design.md's HTTP contract fixes
// ({"error", "error_description"}) and the one mapping from a library Status to an HTTP status.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "http.h"
#include "tessera/status.h"

namespace tessera::server {

HttpResponse Json(int status, const nlohmann::json& body);
HttpResponse Error(int status, std::string_view code, std::string_view description);
HttpResponse NoContent();
// The one place a library Status becomes an HTTP answer. The client gets a generic code; the
// detailed reason is for logs and metrics.
HttpResponse FromStatus(const Status& s);
// True when a Content-Type names this media type (parameters such as charset ignored).
bool IsMediaType(std::string_view content_type, std::string_view media_type);
inline bool IsJson(std::string_view content_type) {
  return IsMediaType(content_type, "application/json");
}

}  // namespace tessera::server
