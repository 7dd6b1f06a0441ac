// The pages of GET /v1/revocations as a service's Verifier reads them (src/token/revocation_page.h):
// the bytes tessera, a proxy in front of it, or a hostile server at its address could send. A page
// that parses must hold only what the subscription relies on (a query-safe cursor, one non-empty
// key per entry within its bound) and must survive being written back as JSON and read again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "token/revocation_page.h"

namespace {

using tessera::token::RevocationPage;

bool QuerySafe(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~')) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto page = tessera::token::ParseRevocationPage(body, size_t{1} << 16);
  if (!page) return 0;
  if (page->cursor.empty() || page->cursor.size() > tessera::token::kMaxRevocationCursorBytes ||
      !QuerySafe(page->cursor)) {
    std::abort();
  }
  nlohmann::json entries = nlohmann::json::array();
  for (const RevocationPage::Entry& e : page->entries) {
    if (e.key.empty() || e.key.size() > tessera::token::kMaxRevokedKeyBytes) std::abort();
    entries.push_back({{e.session ? "sid" : "jti", e.key}, {"until", e.until}});
  }
  const std::string again =
      nlohmann::json{{"cursor", page->cursor}, {"revocations", entries}}.dump();
  auto reread = tessera::token::ParseRevocationPage(again, size_t{1} << 20);
  if (!reread || reread->cursor != page->cursor ||
      reread->entries.size() != page->entries.size()) {
    std::abort();
  }
  for (size_t i = 0; i < page->entries.size(); ++i) {
    const auto& a = page->entries[i];
    const auto& b = reread->entries[i];
    if (a.session != b.session || a.key != b.key || a.until != b.until) std::abort();
  }
  return 0;
}
