#include "config/keys.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <string>

#include "config/values.h"
#include "tessera/result.h"

namespace tessera::config_internal {
namespace {

using std::chrono::seconds;

const std::string& Str(const Value& v) { return std::get<std::string>(v); }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

Status SetDuration(const Value& v, seconds* out, seconds min, seconds max,
                   std::string_view why_max = {}) {
  TESSERA_ASSIGN_OR_RETURN(seconds d, ParseDuration(Str(v)));
  if (d < min) {
    return BadValue(TomlQuote(Str(v)) + " is too short (at least " + FormatDuration(min) + ")");
  }
  if (d > max) {
    std::string why = why_max.empty() ? "" : ", " + std::string(why_max);
    return BadValue(TomlQuote(Str(v)) + " is too long (at most " + FormatDuration(max) + why +
                    ")");
  }
  *out = d;
  return Status::Ok();
}

Status SetUint(const Value& v, uint32_t* out, int64_t min, int64_t max) {
  int64_t n = std::get<int64_t>(v);
  if (n < min || n > max) {
    return BadValue(std::to_string(n) + " is out of range (" + std::to_string(min) + " to " +
                    std::to_string(max) + ")");
  }
  *out = static_cast<uint32_t>(n);
  return Status::Ok();
}

Status SetRate(const Value& v, Rate* out) {
  TESSERA_ASSIGN_OR_RETURN(*out, ParseRate(Str(v)));
  return Status::Ok();
}

Status SetNonEmpty(const Value& v, std::string* out) {
  if (Str(v).empty()) return BadValue("must not be empty");
  *out = Str(v);
  return Status::Ok();
}

Status SetAny(const Value& v, std::string* out) {
  *out = Str(v);
  return Status::Ok();
}

Status SetList(const Value& v, std::vector<std::string>* out, Status (*check)(std::string_view)) {
  const auto& items = std::get<std::vector<std::string>>(v);
  for (const std::string& item : items) TESSERA_RETURN_IF_ERROR(check(item));
  *out = items;
  return Status::Ok();
}

std::string PrintString(const std::string& s) { return TomlQuote(s); }
std::string PrintBool(bool b) { return b ? "true" : "false"; }
std::string PrintList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += TomlQuote(items[i]);
  }
  return out + "]";
}

Status SetSessionStore(const Value& v, Config* c) {
  const std::string& s = Str(v);
  if (s == "sqlite" || s == "memory") {
    c->session.store = s;
    return Status::Ok();
  }
  if (!s.starts_with("redis")) {
    return BadValue(TomlQuote(RedactUrl(s)) +
                    " is not a session store (use \"sqlite\", \"memory\" or "
                    "\"redis://HOST:PORT/DB\")");
  }
  TESSERA_RETURN_IF_ERROR(CheckRedisUrl(s));
  c->session.store = s;
  return Status::Ok();
}

Status SetUsersStore(const Value& v, Config* c) {
  const std::string& s = Str(v);
  if (s == "sqlite") {
    c->users.store = s;
    return Status::Ok();
  }
  if (!s.starts_with("postgres")) {
    return BadValue(TomlQuote(RedactUrl(s)) +
                    " is not a user store (use \"sqlite\" or \"postgresql://HOST/DB\")");
  }
  TESSERA_RETURN_IF_ERROR(CheckPostgresUrl(s));
  c->users.store = s;
  return Status::Ok();
}

// Every JWS algorithm the JOSE core signs with, "none" never. The asymmetric ones let other
// services verify tokens through the public JWKS; an HMAC secret is never published, so with
// HS* only tessera itself (and its introspection endpoint) can check a token.
constexpr std::array<std::string_view, 13> kTokenAlgs = {
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256",
    "PS384", "PS512", "EdDSA", "HS256", "HS384", "HS512"};

Status SetTokenAlg(const Value& v, Config* c) {
  for (std::string_view alg : kTokenAlgs) {
    if (Str(v) == alg) {
      c->token.alg = Str(v);
      return Status::Ok();
    }
  }
  return BadValue(TomlQuote(Str(v)) +
                  " is not a signing algorithm tessera issues tokens with (use ES256, ES384, "
                  "ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA, HS256, HS384 or "
                  "HS512; none is refused)");
}

// "CLIENT_ID:SHA256_HEX": a client of the introspection and revocation endpoints, with the
// SHA-256 of its secret (the secret itself never sits in a configuration file or a log).
Status CheckClient(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view id = text.substr(0, colon);
  const std::string_view hash = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  const bool id_ok = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  const bool hash_ok = hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!id_ok || !hash_ok) {
    return BadValue(TomlQuote(id.substr(0, 64)) +
                    ": a client is \"ID:SHA256\", ID of letters, digits, '-', '_', '.' (at most 64) "
                    "and SHA256 the lowercase hex SHA-256 of its secret (printf %s SECRET | "
                    "sha256sum)");
  }
  return Status::Ok();
}

Status SetOnLimit(const Value& v, Config* c) {
  if (Str(v) == "evict_oldest") {
    c->session.on_limit = SessionLimitAction::kEvictOldest;
  } else if (Str(v) == "reject") {
    c->session.on_limit = SessionLimitAction::kReject;
  } else {
    return BadValue(TomlQuote(Str(v)) + " is not one of \"evict_oldest\", \"reject\"");
  }
  return Status::Ok();
}

Status SetSameSite(const Value& v, Config* c) {
  if (Str(v) == "Strict") {
    c->cookie.same_site = SameSite::kStrict;
  } else if (Str(v) == "Lax") {
    c->cookie.same_site = SameSite::kLax;
  } else if (Str(v) == "None") {
    c->cookie.same_site = SameSite::kNone;
  } else {
    return BadValue(TomlQuote(Str(v)) + " is not one of \"Strict\", \"Lax\", \"None\"");
  }
  return Status::Ok();
}

std::string_view SameSiteName(SameSite s) {
  switch (s) {
    case SameSite::kStrict: return "Strict";
    case SameSite::kLax: return "Lax";
    case SameSite::kNone: return "None";
  }
  return "Lax";
}

// Each entry: section, name, kind, apply, print. Bounds that involve one key only live here;
// checks across keys are in config.cc.
const Key kKeys[] = {
    {"server", "listen", Kind::kString,
     [](const Value& v, Config* c) {
       TESSERA_ASSIGN_OR_RETURN(c->server.listen, ParseHostPort(Str(v)));
       return Status::Ok();
     },
     [](const Config& c) { return TomlQuote(FormatHostPort(c.server.listen)); }},
    {"server", "data", Kind::kString,
     [](const Value& v, Config* c) { return SetNonEmpty(v, &c->server.data); },
     [](const Config& c) { return PrintString(c.server.data); }},
    {"server", "tls_cert", Kind::kString,
     [](const Value& v, Config* c) { return SetAny(v, &c->server.tls_cert); },
     [](const Config& c) { return PrintString(c.server.tls_cert); }},
    {"server", "tls_key", Kind::kString,
     [](const Value& v, Config* c) { return SetAny(v, &c->server.tls_key); },
     [](const Config& c) { return PrintString(c.server.tls_key); }},
    {"server", "trusted_proxies", Kind::kList,
     [](const Value& v, Config* c) {
       return SetList(v, &c->server.trusted_proxies, CheckAddressOrCidr);
     },
     [](const Config& c) { return PrintList(c.server.trusted_proxies); }},
    {"server", "allowed_origins", Kind::kList,
     [](const Value& v, Config* c) { return SetList(v, &c->server.allowed_origins, CheckOrigin); },
     [](const Config& c) { return PrintList(c.server.allowed_origins); }},
    {"server", "access_log", Kind::kString,
     [](const Value& v, Config* c) { return SetNonEmpty(v, &c->server.access_log); },
     [](const Config& c) { return PrintString(c.server.access_log); }},
    {"server", "io_threads", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->server.io_threads, 0, 1024); },
     [](const Config& c) { return std::to_string(c.server.io_threads); }},
    {"server", "store_workers", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->server.store_workers, 1, 1024); },
     [](const Config& c) { return std::to_string(c.server.store_workers); }},

    {"session", "idle_timeout", Kind::kDuration,
     [](const Value& v, Config* c) {
       return SetDuration(v, &c->session.idle_timeout, seconds(1), std::chrono::days(400));
     },
     [](const Config& c) { return TomlQuote(FormatDuration(c.session.idle_timeout)); }},
    {"session", "absolute_timeout", Kind::kDuration,
     [](const Value& v, Config* c) {
       return SetDuration(v, &c->session.absolute_timeout, seconds(1), std::chrono::days(400),
                          "the cookie lifetime cap of RFC 6265bis");
     },
     [](const Config& c) { return TomlQuote(FormatDuration(c.session.absolute_timeout)); }},
    {"session", "max_per_user", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->session.max_per_user, 0, 1000000); },
     [](const Config& c) { return std::to_string(c.session.max_per_user); }},
    {"session", "on_limit", Kind::kString, SetOnLimit,
     [](const Config& c) {
       return TomlQuote(c.session.on_limit == SessionLimitAction::kReject ? "reject"
                                                                          : "evict_oldest");
     }},
    {"session", "store", Kind::kString, SetSessionStore,
     [](const Config& c) { return TomlQuote(RedactUrl(c.session.store)); }},

    {"cookie", "name", Kind::kString,
     [](const Value& v, Config* c) {
       TESSERA_RETURN_IF_ERROR(CheckCookieName(Str(v)));
       c->cookie.name = Str(v);
       return Status::Ok();
     },
     [](const Config& c) { return PrintString(c.cookie.name); }},
    {"cookie", "secure", Kind::kBool,
     [](const Value& v, Config* c) {
       c->cookie.secure = std::get<bool>(v);
       return Status::Ok();
     },
     [](const Config& c) { return PrintBool(c.cookie.secure); }},
    {"cookie", "same_site", Kind::kString, SetSameSite,
     [](const Config& c) { return TomlQuote(SameSiteName(c.cookie.same_site)); }},

    {"token", "issuer", Kind::kString,
     [](const Value& v, Config* c) {
       TESSERA_RETURN_IF_ERROR(CheckIssuer(Str(v)));
       c->token.issuer = Str(v);
       return Status::Ok();
     },
     [](const Config& c) { return PrintString(c.token.issuer); }},
    {"token", "audience", Kind::kString,
     [](const Value& v, Config* c) { return SetNonEmpty(v, &c->token.audience); },
     [](const Config& c) { return PrintString(c.token.audience); }},
    {"token", "alg", Kind::kString, SetTokenAlg,
     [](const Config& c) { return PrintString(c.token.alg); }},
    // Every revoked sid stays in every verifier's memory until the last access token that may
    // carry it has expired, so access tokens are kept short.
    {"token", "access_ttl", Kind::kDuration,
     [](const Value& v, Config* c) {
       return SetDuration(v, &c->token.access_ttl, seconds(1), std::chrono::days(1),
                          "revoked sessions are remembered that long");
     },
     [](const Config& c) { return TomlQuote(FormatDuration(c.token.access_ttl)); }},
    {"token", "refresh_ttl", Kind::kDuration,
     [](const Value& v, Config* c) {
       return SetDuration(v, &c->token.refresh_ttl, seconds(1), kMaxDuration);
     },
     [](const Config& c) { return TomlQuote(FormatDuration(c.token.refresh_ttl)); }},
    // A long grace turns a stolen, just-rotated refresh token back into a working one.
    {"token", "refresh_reuse_grace", Kind::kDuration,
     [](const Value& v, Config* c) {
       return SetDuration(v, &c->token.refresh_reuse_grace, seconds(0), std::chrono::minutes(5),
                          "a longer window lets a stolen refresh token through");
     },
     [](const Config& c) { return TomlQuote(FormatDuration(c.token.refresh_reuse_grace)); }},

    {"token", "clients", Kind::kList,
     [](const Value& v, Config* c) { return SetList(v, &c->token.clients, CheckClient); },
     [](const Config& c) { return PrintList(c.token.clients); }},
    {"token", "verify_cache", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->token.verify_cache, 0, 10000000); },
     [](const Config& c) { return std::to_string(c.token.verify_cache); }},
    {"token", "keyset_secret_file", Kind::kString,
     [](const Value& v, Config* c) { return SetAny(v, &c->token.keyset_secret_file); },
     [](const Config& c) { return PrintString(c.token.keyset_secret_file); }},

    {"users", "store", Kind::kString, SetUsersStore,
     [](const Config& c) { return TomlQuote(RedactUrl(c.users.store)); }},
    {"users", "pool_size", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->users.pool_size, 1, 1000); },
     [](const Config& c) { return std::to_string(c.users.pool_size); }},
    {"users", "connect_timeout_ms", Kind::kInt,
     [](const Value& v, Config* c) {
       return SetUint(v, &c->users.connect_timeout_ms, 10, 60000);
     },
     [](const Config& c) { return std::to_string(c.users.connect_timeout_ms); }},
    {"users", "statement_timeout_ms", Kind::kInt,
     [](const Value& v, Config* c) {
       return SetUint(v, &c->users.statement_timeout_ms, 10, 60000);
     },
     [](const Config& c) { return std::to_string(c.users.statement_timeout_ms); }},
    {"users", "registration", Kind::kBool,
     [](const Value& v, Config* c) {
       c->users.registration = std::get<bool>(v);
       return Status::Ok();
     },
     [](const Config& c) { return PrintBool(c.users.registration); }},

    {"password", "argon2_memory_kib", Kind::kInt,
     [](const Value& v, Config* c) {
       return SetUint(v, &c->password.argon2_memory_kib, 1, 4 * 1024 * 1024);
     },
     [](const Config& c) { return std::to_string(c.password.argon2_memory_kib); }},
    {"password", "argon2_iterations", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->password.argon2_iterations, 1, 1000); },
     [](const Config& c) { return std::to_string(c.password.argon2_iterations); }},
    {"password", "workers", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->password.workers, 0, 1024); },
     [](const Config& c) { return std::to_string(c.password.workers); }},

    {"throttle", "login_per_user", Kind::kRate,
     [](const Value& v, Config* c) { return SetRate(v, &c->throttle.login_per_user); },
     [](const Config& c) { return TomlQuote(FormatRate(c.throttle.login_per_user)); }},
    {"throttle", "login_per_ip", Kind::kRate,
     [](const Value& v, Config* c) { return SetRate(v, &c->throttle.login_per_ip); },
     [](const Config& c) { return TomlQuote(FormatRate(c.throttle.login_per_ip)); }},
    {"throttle", "ipv6_prefix", Kind::kInt,
     [](const Value& v, Config* c) { return SetUint(v, &c->throttle.ipv6_prefix, 32, 128); },
     [](const Config& c) { return std::to_string(c.throttle.ipv6_prefix); }},

    {"audit", "path", Kind::kString,
     [](const Value& v, Config* c) { return SetAny(v, &c->audit.path); },
     [](const Config& c) { return PrintString(c.audit.path); }},

    {"metrics", "listen", Kind::kString,
     [](const Value& v, Config* c) {
       if (Str(v).empty()) {
         c->metrics.listen.reset();
         return Status::Ok();
       }
       TESSERA_ASSIGN_OR_RETURN(c->metrics.listen, ParseHostPort(Str(v)));
       return Status::Ok();
     },
     [](const Config& c) {
       return TomlQuote(c.metrics.listen ? FormatHostPort(*c.metrics.listen) : "");
     }},
    {"metrics", "token_sha256", Kind::kString,
     [](const Value& v, Config* c) {
       const std::string_view hash = Str(v);
       const bool ok = hash.empty() || (hash.size() == 64 &&
                                        std::all_of(hash.begin(), hash.end(), [](char ch) {
                                          return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                                        }));
       if (!ok) {
         return BadValue("the token itself is not written here: give the lowercase hex SHA-256 "
                         "of it (printf %s TOKEN | sha256sum)");
       }
       c->metrics.token_sha256 = std::string(hash);
       return Status::Ok();
     },
     [](const Config& c) { return PrintString(c.metrics.token_sha256); }},
};

constexpr std::string_view kSections[] = {"server",   "session",  "cookie", "token", "users",
                                          "password", "throttle", "audit",  "metrics"};

}  // namespace

std::span<const Key> AllKeys() { return kKeys; }

std::span<const std::string_view> AllSections() { return kSections; }

const Key* FindKey(std::string_view section, std::string_view name) {
  for (const Key& key : kKeys) {
    if (key.section == section && key.name == name) return &key;
  }
  return nullptr;
}

std::string DottedName(const Key& key) {
  return std::string(key.section) + "." + std::string(key.name);
}

std::string EnvName(const Key& key) { return EnvPrefix(key.section) + Upper(key.name); }

std::string EnvPrefix(std::string_view section) { return "TESSERA_" + Upper(section) + "_"; }

std::string_view KindDescription(Kind kind) {
  switch (kind) {
    case Kind::kString: return "a string";
    case Kind::kDuration: return "a duration string such as \"30m\" (the unit is required)";
    case Kind::kRate: return "a rate string such as \"5/min\"";
    case Kind::kBool: return "true or false";
    case Kind::kInt: return "an integer";
    case Kind::kList: return "an array of strings";
  }
  return "a value";
}

}  // namespace tessera::config_internal
