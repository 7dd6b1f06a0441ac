// RemoteJwks: a KeySource that fetches a JWKS over HTTP(S), for a service that verifies tessera's
// access tokens without sharing its data directory (token::Verifier puts it to use).
//
// Refresh is driven by use, on one fetch thread, so that verification never waits for the
// network in the usual case:
//   - Create() fetches once, synchronously, and fails when that fails: a service that cannot get
//     the keys must not start and then reject everything in silence.
//   - Keys(now) is a lock and a pointer copy. When the set is due for refresh it also wakes the
//     fetch thread and returns the current set at once (stale-while-revalidate). A set is due
//     after the response's Cache-Control max-age, clamped to [min, max]_refresh_seconds.
//   - RefreshForUnknownKid() blocks for one fetch (at most total_timeout_ms), at most once per
//     unknown_kid_interval_seconds across all callers (SECURITY.md KM-03), so tokens with made-up
//     kids cannot turn the service into a request amplifier against the issuer.
//   - At most one fetch is in flight; callers that need one meanwhile wait for the next.
//   - A failed fetch (no connection, timeout, non-200, redirect, oversized, not a key set, a set
//     with no usable key or with a private key) keeps the last good set (stale-while-error),
//     is reported by last_status(), and is retried min_refresh_seconds later. A stale set only
//     ever holds keys the issuer published; a revoked key is dropped by the next good fetch.
//
// `now` is the caller's (Unix seconds); the library reads no clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tessera/jose/jwks.h"
#include "tessera/result.h"
#include "tessera/token/access_token.h"

namespace tessera::token {

struct RemoteJwksOptions {
  // Where the keys are. With jwks_url empty they are discovered (OpenID Connect Discovery 1.0):
  // GET <issuer>/.well-known/openid-configuration, whose "issuer" must equal `issuer` exactly
  // (section 4.3: a document naming another issuer is not this issuer's), then its "jwks_uri".
  std::string issuer;
  std::string jwks_url;
  // TLS peers are always verified. A PEM file of CA certificates to trust instead of the
  // system's store (a private CA); empty: the system's.
  std::string ca_file;
  // Plain http:// is accepted for loopback hosts only (a local tessera, tests) unless this is
  // set: keys fetched in clear text over a network can be swapped by anyone on the path.
  bool allow_plain_http = false;
  int64_t connect_timeout_ms = 2000;
  int64_t total_timeout_ms = 5000;  // one whole fetch
  size_t max_body_bytes = 1 << 20;
  // A fetched set is due for refresh after its Cache-Control max-age clamped to these bounds,
  // or after default_refresh_seconds when the response gives none. A failed fetch is retried
  // after min_refresh_seconds. Setting min = max refreshes at that fixed interval.
  int64_t min_refresh_seconds = 30;
  int64_t max_refresh_seconds = 3600;
  int64_t default_refresh_seconds = 300;
  // Least time between two fetches for an unknown kid (KM-03).
  int64_t unknown_kid_interval_seconds = 10;
};

class RemoteJwks final : public KeySource {
 public:
  // Discovers the JWKS URL when needed and fetches the keys at `now`, then starts the fetch
  // thread. kInvalidArgument/kBadConfig for bad options or URLs; otherwise the fetch's error.
  static Result<std::unique_ptr<RemoteJwks>> Create(RemoteJwksOptions options, int64_t now);
  // Stops the fetch thread; waits for a fetch in flight (at most total_timeout_ms).
  // REQUIRES: no other call on this object is running or will start.
  ~RemoteJwks() override;
  RemoteJwks(const RemoteJwks&) = delete;
  RemoteJwks& operator=(const RemoteJwks&) = delete;

  // The last good set; never null. Cheap, no I/O; may wake the fetch thread. Thread-safe.
  std::shared_ptr<const jose::Jwks> Keys(int64_t now) override;

  // True when the set holds `kid` on return: it already did (another caller fetched it), or a
  // fetch started by this call brought it. False without fetching when the last unknown-kid
  // fetch was less than unknown_kid_interval_seconds ago. Blocks for the fetch. Thread-safe.
  bool RefreshForUnknownKid(std::string_view kid, int64_t now) override;

  // Fetches now and waits for it, outside the unknown-kid rate limit: for an operator's
  // "reload keys" hook and for tests. Returns the fetch's outcome. Thread-safe.
  Status Refresh(int64_t now);

  // The outcome of the last fetch: OK, or why it failed while the previous set stays in use.
  // For health checks and logs (the message names the URL, never key material). Thread-safe.
  Status last_status() const;
  // When Keys() will next wake the fetch thread (Unix seconds). Thread-safe.
  int64_t refresh_at() const;
  // Fetches finished (good or failed) since Create, its own included: for metrics and tests.
  // Thread-safe.
  uint64_t fetch_count() const;
  // The URL the keys come from (configured or discovered).
  const std::string& jwks_url() const { return jwks_url_; }

 private:
  struct Fetched;  // one fetch's outcome

  RemoteJwks(RemoteJwksOptions options, std::string jwks_url);
  Fetched Fetch() const;
  // Installs a fetch's outcome as of `now`. REQUIRES: mu_ held.
  void Install(Fetched fetched, int64_t now);
  // Asks for a fetch that starts after this call and waits until it has finished.
  // REQUIRES: `lock` holds mu_.
  void FetchAndWait(std::unique_lock<std::mutex>& lock, int64_t now);
  void Loop();

  const RemoteJwksOptions options_;
  const std::string jwks_url_;

  mutable std::mutex mu_;
  std::condition_variable cv_;              // signals wanted_, stop_ and done_
  std::shared_ptr<const jose::Jwks> keys_;  // GUARDED_BY(mu_); never null after Create
  std::string body_;                        // GUARDED_BY(mu_); the bytes keys_ came from
  Status last_status_;                      // GUARDED_BY(mu_)
  int64_t refresh_at_ = 0;                  // GUARDED_BY(mu_)
  int64_t unknown_kid_fetch_at_ = 0;        // GUARDED_BY(mu_)
  bool unknown_kid_fetched_ = false;        // GUARDED_BY(mu_)
  bool wanted_ = false;     // GUARDED_BY(mu_); a fetch is asked for and has not started
  int64_t wanted_now_ = 0;  // GUARDED_BY(mu_); the `now` of that request
  bool fetching_ = false;   // GUARDED_BY(mu_); a fetch is in flight
  uint64_t done_ = 0;       // GUARDED_BY(mu_); fetches finished
  bool stop_ = false;       // GUARDED_BY(mu_)
  std::thread thread_;      // the only thread that fetches after Create
};

}  // namespace tessera::token
