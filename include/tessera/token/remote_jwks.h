// RemoteJwks: a KeySource that fetches a JWKS over HTTP(S), for a service that verifies tessera's
// access tokens without sharing its data directory (token::Verifier puts it to use).
//
// Refresh is driven by use and runs on one fetch thread: no call made while verifying a token
// ever waits for the network (Keys() and RefreshForUnknownKid() take a lock for a few map and
// pointer operations, never across a fetch):
//   - Create() fetches once, synchronously, and fails when that fails: a service that cannot get
//     the keys must not start and then reject everything in silence.
//   - Keys(now) is a lock and a pointer copy. When the set is due for refresh it also wakes the
//     fetch thread and returns the current set at once (stale-while-revalidate). A set is due
//     after the response's Cache-Control max-age, clamped to [min, max]_refresh_seconds.
//   - RefreshForUnknownKid(kid) answers from the current set at once: a token naming a kid the
//     set lacks is refused now, and the kid asks the fetch thread for a refetch, so that its
//     tokens verify once the fetch has landed (typically the client's next request).
//       Rate limits (docs/security.md KM-03), so that tokens with made-up kids cannot turn the
//     service into a request amplifier against the issuer, nor keep a genuine rotation out:
//       * per kid: a kid asks for at most one refetch per unknown_kid_interval_seconds. The kids
//         are remembered in a table of at most kMaxTrackedKids entries that forgets the oldest
//         first, so a flood of made-up kids can neither grow it nor keep a new kid out of it;
//       * across kids: refetches for unknown kids start at most once per
//         unknown_kid_min_gap_seconds. A kid that asks within that gap is not dropped: its
//         refetch starts on the first call to Keys() or RefreshForUnknownKid() once the gap has
//         passed (the fetch thread reads no clock). A genuine new kid therefore finds its key
//         about min_gap + one fetch after it first appears, however many made-up kids arrive.
//   - At most one fetch is in flight, and at most one more is queued behind it; everything that
//     asks meanwhile shares those two.
//   - A failed fetch (no connection, timeout, non-200, redirect, oversized, not a key set, a set
//     with no usable key or with a private key) keeps the last good set (stale-while-error),
//     is reported by last_status(), and is retried min_refresh_seconds later. A stale set only
//     ever holds keys the issuer published; a revoked key is dropped by the next good fetch.
//   - Only Create() and Refresh() block (each for at most one fetch, total_timeout_ms), and the
//     destructor (it cancels a fetch in flight, about a second at most, then joins the thread).
//
// `now` is the caller's (Unix seconds); the library reads no clock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

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
  // Least time between two refetches asked for by the same unknown kid (KM-03).
  int64_t unknown_kid_interval_seconds = 10;
  // Least time between two refetches asked for by unknown kids, whichever they are: bounds the
  // fetches a flood of made-up kids can cause. Within [1, unknown_kid_interval_seconds].
  int64_t unknown_kid_min_gap_seconds = 1;
};

class RemoteJwks final : public KeySource {
 public:
  // The most unknown kids remembered for the per-kid rate limit; the oldest is forgotten first.
  static constexpr size_t kMaxTrackedKids = 1024;

  // Discovers the JWKS URL when needed and fetches the keys at `now`, then starts the fetch
  // thread. kInvalidArgument/kBadConfig for bad options or URLs; otherwise the fetch's error.
  // Blocks for discovery and that first fetch.
  static Result<std::unique_ptr<RemoteJwks>> Create(RemoteJwksOptions options, int64_t now);
  // Cancels a fetch in flight (curl notices within about a second, and never later than
  // total_timeout_ms) and joins the fetch thread.
  // REQUIRES: no other call on this object is running or will start.
  ~RemoteJwks() override;
  RemoteJwks(const RemoteJwks&) = delete;
  RemoteJwks& operator=(const RemoteJwks&) = delete;

  // The last good set; never null. Never blocks on the network; may wake the fetch thread (a
  // refresh that is due, or an unknown kid's refetch that waited for the gap). Thread-safe.
  std::shared_ptr<const jose::Jwks> Keys(int64_t now) override;

  // True when the current set holds `kid` (a fetch landed since the caller's Keys()): try again.
  // Otherwise false at once, after asking the fetch thread for a refetch when the rate limits
  // above allow; the kid's tokens verify once that fetch has landed. Never blocks on the
  // network. Thread-safe.
  bool RefreshForUnknownKid(std::string_view kid, int64_t now) override;

  // Fetches now and waits for it (at most about total_timeout_ms, after a fetch already in
  // flight), outside the unknown-kid rate limits: for an operator's "reload keys" hook and for
  // tests; never called by Verify. Returns the fetch's outcome. Thread-safe.
  Status Refresh(int64_t now);

  // The outcome of the last fetch: OK, or why it failed while the previous set stays in use.
  // For health checks and logs (the message names the URL, never key material). Thread-safe.
  Status last_status() const;
  // When Keys() will next wake the fetch thread (Unix seconds). Thread-safe.
  int64_t refresh_at() const;
  // Fetches finished (good or failed) since Create, its own included: for metrics and tests.
  // Thread-safe.
  uint64_t fetch_count() const;
  // Unknown kids currently remembered by the per-kid rate limit (at most kMaxTrackedKids): for
  // metrics and tests. Thread-safe.
  size_t unknown_kids_tracked() const;
  // The URL the keys come from (configured or discovered).
  const std::string& jwks_url() const { return jwks_url_; }

 private:
  struct Fetched;  // one fetch's outcome
  // One remembered unknown kid: SHA-256 of the kid (a fixed size whatever the token says) and
  // when it last asked for a refetch.
  struct SeenKid {
    std::string digest;
    int64_t at = 0;
  };

  RemoteJwks(RemoteJwksOptions options, std::string jwks_url);
  Fetched Fetch() const;
  // Installs a fetch's outcome as of `now`. REQUIRES: mu_ held.
  void Install(Fetched fetched, int64_t now);
  // Queues a fetch that starts after this call (behind the one in flight, if any).
  // REQUIRES: mu_ held.
  void Want(int64_t now);
  // Starts the unknown-kid refetch when the gap since the last one has passed, else leaves it
  // pending. REQUIRES: mu_ held.
  void WantForUnknownKid(int64_t now);
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
  // The per-kid limit: oldest request first, and an index into that list by digest.
  std::list<SeenKid> seen_kids_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string_view, std::list<SeenKid>::iterator>
      seen_index_;                    // GUARDED_BY(mu_); keys view seen_kids_'s digests
  int64_t unknown_kid_fetch_at_ = 0;  // GUARDED_BY(mu_); the last unknown-kid refetch asked for
  bool unknown_kid_fetched_ = false;  // GUARDED_BY(mu_); whether there was one
  bool unknown_kid_pending_ = false;  // GUARDED_BY(mu_); one waits for the gap to pass
  bool wanted_ = false;               // GUARDED_BY(mu_); a fetch is asked for and has not started
  int64_t wanted_now_ = 0;            // GUARDED_BY(mu_); the `now` of that request
  bool fetching_ = false;             // GUARDED_BY(mu_); a fetch is in flight
  uint64_t done_ = 0;                 // GUARDED_BY(mu_); fetches finished
  bool stop_ = false;                 // GUARDED_BY(mu_)
  std::atomic<bool> cancel_{false};   // set by the destructor: HttpGet gives up the fetch
  std::thread thread_;                // the only thread that fetches after Create
};

}  // namespace tessera::token
