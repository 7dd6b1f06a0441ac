// Config: the settings of a tessera server, layered from built-in defaults, a TOML file,
// TESSERA_<SECTION>_<KEY> environment variables and command-line flags, in that order of
// increasing precedence (docs/design.md, "Defaults (zero configuration)").
//
// A Config returned by LoadConfig has passed every check below: code that receives one may rely on
// it, e.g. that idle_timeout <= absolute_timeout or that a __Host- cookie is Secure.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/result.h"

namespace tessera {

// What to do with a new login when the user already has session.max_per_user sessions.
enum class SessionLimitAction {
  kEvictOldest,  // "evict_oldest": revoke the least recently created session
  kReject,       // "reject": refuse the new login
};

// The cookie's SameSite attribute (RFC 6265bis section 5.4.7).
enum class SameSite { kStrict, kLax, kNone };

// An event rate, written "5/min" or "100/15m": at most `count` events per `per`.
struct Rate {
  uint32_t count = 0;
  std::chrono::seconds per{0};
  friend bool operator==(const Rate&, const Rate&) = default;
};

// A listening address, written "127.0.0.1:8080", "[::1]:8080" or "localhost:8080".
struct HostPort {
  std::string host;   // an IPv4 address, an IPv6 address (without brackets) or a DNS name
  uint16_t port = 0;  // 0: the OS picks a free port (tests)
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

struct Config {
  struct Server {
    // Address of the HTTP listener.
    HostPort listen{"127.0.0.1", 8080};
    // Directory for the SQLite database, the signing keys and the audit log.
    std::string data = "./tessera-data";
    // PEM certificate chain and private key for HTTPS. Both set, or both empty (plain HTTP,
    // e.g. behind a TLS-terminating proxy).
    std::string tls_cert;
    std::string tls_key;
    // Addresses (IPv4/IPv6, optionally CIDR "10.0.0.0/8") of proxies whose X-Forwarded-For and
    // X-Forwarded-Proto headers are believed. Empty: those headers are ignored.
    std::vector<std::string> trusted_proxies;
    // Origins ("https://app.example", no path) allowed in the Origin header of cookie-
    // authenticated state-changing requests, besides the server's own origin.
    std::vector<std::string> allowed_origins;
    // JSON access log, one line per request (no secrets, no query strings): "-" stdout, "off"
    // none, else a file path (created 0600). An addition to docs/design.md's keys.
    std::string access_log = "-";
    // Threads for requests that may wait for a store (logout, session lists, /v1/token, admin,
    // /readyz, and forward-auth on a cache miss), so that I/O threads never wait. Their queue
    // holds 64 per thread; when it is full the server answers 503 at once. An addition.
    uint32_t store_workers = 16;
    // Threads that run the HTTP connections (the event loops); 0: one per CPU this process may
    // run on (its affinity mask). An addition.
    uint32_t io_threads = 0;
    friend bool operator==(const Server&, const Server&) = default;
  };

  struct Session {
    // A session unused for this long expires. At most absolute_timeout.
    std::chrono::seconds idle_timeout = std::chrono::hours(24);
    // A session expires this long after login whatever its use. At most 400 days, the cap
    // browsers put on cookie lifetimes (RFC 6265bis section 5.5).
    std::chrono::seconds absolute_timeout = std::chrono::days(14);
    // Sessions per user; 0: no limit.
    uint32_t max_per_user = 0;
    // What a login beyond max_per_user does.
    SessionLimitAction on_limit = SessionLimitAction::kEvictOldest;
    // "sqlite" (in server.data), "memory" (lost on restart, single instance), or a
    // "redis://host:port/db" / "rediss://..." URL shared by all instances.
    std::string store = "sqlite";
    friend bool operator==(const Session&, const Session&) = default;
  };

  struct Cookie {
    // Session cookie name. "__Host-"-prefixed exactly when secure is true.
    std::string name = "__Host-tessera_session";
    // Sets the Secure attribute. false only for development over plain HTTP.
    bool secure = true;
    // SameSite attribute; kNone requires secure.
    SameSite same_site = SameSite::kLax;
    friend bool operator==(const Cookie&, const Cookie&) = default;
  };

  struct Token {
    // "iss" of issued tokens, an http(s) URL without query or fragment. When no source sets it,
    // it follows server.listen: "http://" (or "https://" with TLS) + listen.
    std::string issuer = "http://127.0.0.1:8080";
    // "aud" of issued access tokens.
    std::string audience = "tessera";
    // Signing algorithm of issued tokens: ES256, ES384, ES512, RS256, RS384, RS512, PS256,
    // PS384, PS512, EdDSA (verifiers need only the public JWKS) or HS256, HS384, HS512 (the
    // secret is never published: only tessera, and its introspection endpoint, can verify).
    std::string alg = "ES256";
    // Lifetime of access tokens.
    std::chrono::seconds access_ttl = std::chrono::minutes(15);
    // Lifetime of a refresh token family, from login.
    std::chrono::seconds refresh_ttl = std::chrono::days(30);
    // How long a just-rotated refresh token may be presented again and get the same successor
    // (concurrent refreshes from two tabs). At most 5 minutes; 0s disables the grace.
    std::chrono::seconds refresh_reuse_grace = std::chrono::seconds(10);
    // Clients of POST /v1/introspect and /v1/revoke (HTTP Basic), each "CLIENT_ID:SHA256" with
    // SHA256 the lowercase hex SHA-256 of the client's secret. An addition to docs/design.md's keys.
    std::vector<std::string> clients;
    // Verified access tokens remembered so that a repeated token skips the signature check;
    // 0 turns the cache off. An addition to docs/design.md's keys.
    uint32_t verify_cache = 65536;
    // With a redis:// session.store: a file (mode 0600, at least 32 bytes, the same on every
    // instance) whose secret seals the signing keyset kept in Redis, so that instances share their
    // keys without sharing a data directory. Empty: the keyset is the file in server.data. An
    // addition to docs/design.md's keys.
    std::string keyset_secret_file;
    friend bool operator==(const Token&, const Token&) = default;
  };

  struct Users {
    // "sqlite" (in server.data) or a "postgresql://..." / "postgres://..." URL.
    std::string store = "sqlite";
    // PostgreSQL only: connections per instance, and the bounds on opening one and on one
    // statement's round trip (a store past them answers 503, never a wrong "no").
    uint32_t pool_size = 8;
    uint32_t connect_timeout_ms = 1000;
    uint32_t statement_timeout_ms = 1000;
    // When true, POST /v1/users lets anyone create an account.
    bool registration = false;
    friend bool operator==(const Users&, const Users&) = default;
  };

  struct Password {
    // Argon2id cost. (memory, iterations) must meet one row of the OWASP table, see
    // kArgon2Floor below; the default is the OWASP recommendation m=19 MiB, t=2.
    uint32_t argon2_memory_kib = 19456;
    uint32_t argon2_iterations = 2;
    // Hashing threads; 0: one per CPU this process may run on.
    uint32_t workers = 0;
    friend bool operator==(const Password&, const Password&) = default;
  };

  struct Throttle {
    // Failed logins allowed per account / per client IP before delays start.
    Rate login_per_user{5, std::chrono::minutes(1)};
    Rate login_per_ip{20, std::chrono::minutes(1)};
    // IPv6 clients are counted per network of this many leading bits (one subscriber usually
    // holds a whole /64). An addition to docs/design.md's keys.
    uint32_t ipv6_prefix = 64;
    friend bool operator==(const Throttle&, const Throttle&) = default;
  };

  struct Audit {
    // Audit log: "" means <server.data>/audit.log, "-" means stdout, else a file path.
    std::string path;
    friend bool operator==(const Audit&, const Audit&) = default;
  };

  // An addition to docs/design.md's keys: where /metrics is served, and who may read it.
  struct Metrics {
    // "HOST:PORT" of a listener of its own for /metrics, /healthz and /readyz; the main listener
    // then answers 404 for /metrics. nullopt: /metrics is served on the main listener.
    std::optional<HostPort> listen;
    // The lowercase hex SHA-256 of a bearer token a scraper must send (`Authorization: Bearer
    // TOKEN`); empty: no token is asked for.
    std::string token_sha256;
    friend bool operator==(const Metrics&, const Metrics&) = default;
  };

  Server server;
  Session session;
  Cookie cookie;
  Token token;
  Users users;
  Password password;
  Throttle throttle;
  Audit audit;
  Metrics metrics;

  // The TOML file the configuration was read from; empty when none was.
  std::string config_path;

  friend bool operator==(const Config&, const Config&) = default;
};

// The OWASP password storage cheat sheet's Argon2id table (p = 1): a (memory, iterations) pair is
// accepted when it is at least as large in both coordinates as one of these rows.
struct Argon2Cost {
  uint32_t memory_kib;
  uint32_t iterations;
};
inline constexpr Argon2Cost kArgon2Floor[] = {
    {47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5}};

// Where LoadConfig reads from.
struct ConfigSources {
  // Environment variables (name -> value); only TESSERA_* names are looked at.
  using Environment = std::map<std::string, std::string, std::less<>>;

  // --config FILE: a TOML file. nullopt: none (the defaults, env and flags only).
  std::optional<std::string> file;
  // The environment; main passes ProcessEnvironment(), tests a literal map.
  Environment env;
  // --listen HOST:PORT and --data DIR; they override server.listen and server.data.
  std::optional<std::string> listen;
  std::optional<std::string> data;
};

// The TESSERA_* variables of this process's environment.
ConfigSources::Environment ProcessEnvironment();

// Builds the effective configuration: defaults < file < environment < flags, key by key. Any
// problem fails the whole load with code kInvalidArgument (kIo when the file cannot be read) and
// a message naming each offending key and where its value came from, one problem per line:
//   session.idle_timeout: "5x" is not a duration (use 90s, 30m, 12h, 14d) (tessera.toml:3:16)
// Unknown sections and keys in the file, and unknown TESSERA_<SECTION>_* variables for a known
// section, are errors, so a typo is never silently ignored.
Result<Config> LoadConfig(const ConfigSources& sources);

// The effective configuration as TOML that LoadConfig accepts, for `tessera serve
// --print-config`. Secrets are redacted (today: passwords inside store URLs), so the output
// may be logged.
std::string DescribeConfig(const Config& config);

}  // namespace tessera
