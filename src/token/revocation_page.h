// The pages of GET /v1/revocations as token::RevocationSubscription reads them: what tessera (or
// whatever answers at its address: a proxy, a broken or hostile server) sends a service. Strict
// about what the subscription relies on, lenient about members it does not know (tessera may add
// some); a page is usable whole or not at all. tests/fuzz/revocation_page_fuzzer.cc fuzzes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::token {

inline constexpr size_t kMaxRevocationCursorBytes = 256;
inline constexpr size_t kMaxRevokedKeyBytes = 512;

struct RevocationPage {
  struct Entry {
    bool session = false;  // a session handle ("sid"); else a token id ("jti")
    std::string key;       // 1 to kMaxRevokedKeyBytes bytes
    int64_t until = 0;
  };
  std::string cursor;  // 1 to kMaxRevocationCursorBytes bytes of [A-Za-z0-9._~-]: query-safe
  std::vector<Entry> entries;
};

// {"cursor": "...", "revocations": [{"sid"|"jti": "...", "until": N, ...}, ...], ...}: strict
// JSON (json::ParseStrict) of at most max_bytes; each entry names exactly one of sid and jti.
// kUnavailable with Reason::kBadJson (a page to ask for again) otherwise.
Result<RevocationPage> ParseRevocationPage(std::string_view body, size_t max_bytes);

}  // namespace tessera::token
