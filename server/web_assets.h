// The web pages (web/): sign-in at /, the account page at /account, and their static assets under
// /assets/, embedded in the binary at build time so `tessera serve` needs nothing beside it.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "http.h"

namespace tessera::server {

// The page or asset for a GET/HEAD of `path` (the path only, no query), with its Content-Type and
// security headers (Content-Security-Policy and the like); nullopt when `path` is not a web page
// or asset. The caller adds the headers every answer carries (X-Content-Type-Options,
// Cache-Control, Referrer-Policy).
std::optional<HttpResponse> ServeWebAsset(std::string_view path);

// The Content-Security-Policy of every page and asset: only this origin's own scripts, styles,
// images and API; no inline script or style, no plugins, no framing, no <base>, forms post only
// here, and (Chromium) no string-to-HTML sinks at all, so a user agent or name shown on the page
// can never become markup.
inline constexpr std::string_view kWebContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'";

// One file of web/, as embedded by cmake/EmbedFiles.cmake.
struct EmbeddedFile {
  std::string_view name;  // e.g. "app.css": web/ has no subfolders
  const unsigned char* bytes;
  std::size_t size;

  std::string_view Data() const { return {reinterpret_cast<const char*>(bytes), size}; }
};

// Every file of web/ (generated at build time, web_assets_data.cc).
std::span<const EmbeddedFile> EmbeddedWebFiles();

}  // namespace tessera::server
