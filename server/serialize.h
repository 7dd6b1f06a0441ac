// Writing a response as HTTP/1.1 bytes, in one buffer (see http_server.cc, the only caller).
#pragma once

#include <string>

#include "http.h"

namespace tessera::server {

// Appends the status line, headers and body of `r` to `out` (cleared first) as HTTP/1.1. A header
// whose name or value holds CR, LF or NUL is dropped: no handler can split a response. `head`: a
// HEAD answer (the length, no body); `http10`: keep-alive must be said explicitly.
void Serialize(const HttpResponse& r, bool head, bool keep_alive, bool http10, std::string& out);

}  // namespace tessera::server
