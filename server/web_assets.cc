#include "web_assets.h"

#include <string>

namespace tessera::server {
namespace {

// The two pages, by path. Nothing else answers with HTML.
struct Page {
  std::string_view path;
  std::string_view file;
};
constexpr Page kPages[] = {{"/", "index.html"}, {"/account", "account.html"}};

constexpr std::string_view kAssetPrefix = "/assets/";

// The Content-Type for an asset's file name; empty for a type that is not served (HTML pages
// only answer at their own paths; anything unknown stays unreachable rather than guessed).
std::string_view AssetType(std::string_view name) {
  struct Type {
    std::string_view suffix;
    std::string_view type;
  };
  static constexpr Type kTypes[] = {
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
  };
  for (const Type& t : kTypes) {
    if (name.size() > t.suffix.size() && name.ends_with(t.suffix)) return t.type;
  }
  return {};
}

const EmbeddedFile* Find(std::string_view name) {
  for (const EmbeddedFile& f : EmbeddedWebFiles()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

HttpResponse Serve(const EmbeddedFile& file, std::string_view content_type) {
  HttpResponse r;
  r.status = 200;
  r.body = std::string(file.Data());
  r.Set("Content-Type", std::string(content_type));
  // On assets too: an SVG opened on its own is a document that could otherwise run script.
  r.Set("Content-Security-Policy", std::string(kWebContentSecurityPolicy));
  // Clickjacking, for browsers older than CSP's frame-ancestors.
  r.Set("X-Frame-Options", "DENY");
  // No window this page opens (or that opened it) keeps a handle on it: stops tabnabbing and
  // cross-window leaks (XS-Leaks) against the signed-in page.
  r.Set("Cross-Origin-Opener-Policy", "same-origin");
  // Other sites cannot embed these responses (Spectre-style reads through <img>/<script>).
  r.Set("Cross-Origin-Resource-Policy", "same-origin");
  // The pages need no device features; a script injected despite the CSP gets none either.
  r.Set("Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()");
  return r;
}

}  // namespace

std::optional<HttpResponse> ServeWebAsset(std::string_view path) {
  for (const Page& page : kPages) {
    if (path != page.path) continue;
    const EmbeddedFile* file = Find(page.file);
    if (file == nullptr) return std::nullopt;
    return Serve(*file, "text/html; charset=utf-8");
  }
  if (!path.starts_with(kAssetPrefix)) return std::nullopt;
  // Only a plain file name of web/ itself: Find never matches "..", "/" or "%2e" tricks because
  // the embedded names are plain (cmake/EmbedFiles.cmake refuses others).
  const std::string_view name = path.substr(kAssetPrefix.size());
  const std::string_view type = AssetType(name);
  if (type.empty()) return std::nullopt;
  const EmbeddedFile* file = Find(name);
  if (file == nullptr) return std::nullopt;
  return Serve(*file, type);
}

}  // namespace tessera::server
