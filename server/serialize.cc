#include "serialize.h"

#include <ostream>  // boost/utility/string_view.hpp needs it complete

#include <boost/beast/http/status.hpp>

using namespace std::string_view_literals;

namespace tessera::server {

// Appends the status line, headers and body of `r` to `out` as HTTP/1.1. A header whose name or
// value holds CR, LF or NUL is dropped: no handler can split a response.
void Serialize(const HttpResponse& r, bool head, bool keep_alive, bool http10, std::string& out) {
  out.clear();
  const int status = r.status >= 100 && r.status <= 999 ? r.status : 500;
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  // One pass over the bytes (find_first_of with three needles calls memchr once per byte).
  auto clean = [](std::string_view v) {
    for (const char c : v) {
      if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
  };
  for (const auto& [name, value] : r.headers) {
    if (name.empty() || !clean(name) || !clean(value)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (http10) {
    out += "Connection: keep-alive\r\n";
  }
  // 1xx, 204 and 304 answers have no body and must not announce one (RFC 9110 section 8.6).
  if (status < 200 || status == 204 || status == 304) {
    out += "\r\n";
    return;
  }
  // A HEAD answer announces the GET body's length and sends none (RFC 9110 section 9.3.2).
  out += "Content-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\n\r\n";
  if (!head) out += r.body;
}

}  // namespace tessera::server
