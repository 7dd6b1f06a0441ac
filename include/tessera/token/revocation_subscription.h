// RevocationSubscription: a RevocationList that follows tessera's GET /v1/revocations, so that a
// service verifying access tokens by itself refuses a revoked session within milliseconds of the
// logout, with no call to tessera per request (docs/design.md "Revocations for other services").
//
//   - Create() discovers the endpoint when no URL is given (the issuer's discovery document's
//     "tessera_revocation_endpoint"), loads the snapshot (every revocation in force, and a
//     cursor), and fails when it cannot: a service that starts without the list would accept
//     tokens of sessions that already ended.
//   - Then one thread asks for what follows the cursor, waiting up to wait_seconds on tessera for
//     the next entry (a long poll), which tessera answers the moment a revocation happens.
//     Every answer, with entries or empty, confirms the list current as of when it was asked
//     (tessera itself answers 503 when its own list is behind): the answers are the heartbeat.
//   - A failure (no connection, timeout, 5xx, refused credentials, a malformed answer) is retried
//     from the same cursor after a backoff that doubles from retry_min_ms to retry_max_ms, with
//     jitter so that many services do not come back in step. A cursor tessera cannot continue
//     (410: another feed after a failover, or older than it keeps) loads the snapshot again.
//   - Check() fails closed (kUnavailable, Reason::kRevocationStale) once the list was last
//     confirmed longer than max_staleness_ms ago: the verifier then refuses every token rather
//     than accept one whose session may have ended. It passes again after the next answer.
//   - Memory stays bounded by what is in force: an entry is dropped once its `until` (the latest
//     expiry of any token it refuses) is leeway_seconds past.
//
// IsRevoked() and Check() take a shared lock and read no network: they are what Verify calls.
// Only Create() blocks (for the discovery and the snapshot, each at most total_timeout_ms), and
// the destructor (it cancels the poll in flight, about a second at most, then joins the thread).
// Staleness is measured on the steady clock; entries expire by the Clock given to Create.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tessera/clock.h"
#include "tessera/result.h"
#include "tessera/token/revocation.h"

namespace tessera::token {

struct RevocationSubscriptionOptions {
  // tessera's GET /v1/revocations; empty: the "tessera_revocation_endpoint" of the issuer's
  // discovery document (`issuer` must then be set).
  std::string url;
  std::string issuer;
  // A confidential client of tessera (token.clients), sent with HTTP Basic. Required: the list
  // names sessions, and tessera serves it to its clients only.
  std::string client_id;
  std::string client_secret;
  // TLS peers are always verified; a PEM file of CA certificates to trust instead of the
  // system's store. Plain http:// only to a loopback host unless allow_plain_http (credentials
  // and the list would cross the network in clear).
  std::string ca_file;
  bool allow_plain_http = false;
  // Verification fails closed when the list was last confirmed current longer ago than this.
  // Within [2500, 600000].
  int64_t max_staleness_ms = 5000;
  // How long tessera holds a poll open with nothing to send (seconds, 1 to 30); 0: a quarter of
  // max_staleness_ms (at least 1 s). Must leave room for a poll and its successor within the
  // bound (a list is confirmed as of when the poll was asked): 2 * wait_seconds * 1000 <
  // max_staleness_ms.
  int64_t wait_seconds = 0;
  int64_t connect_timeout_ms = 2000;
  // The snapshot's and discovery's whole exchange; a poll gets wait_seconds more.
  int64_t total_timeout_ms = 5000;
  // Backoff after a failure, doubling from min to max (each with up to a quarter of jitter).
  int64_t retry_min_ms = 100;
  int64_t retry_max_ms = 2000;
  // A larger answer is a failure. A snapshot entry is about 100 bytes.
  size_t max_body_bytes = size_t{64} << 20;
  // Entries are kept this long past their until: the clock skew the verifier allows on exp.
  int64_t leeway_seconds = 60;
};

struct RevocationHealth {
  bool current = false;              // Check() passes now
  int64_t confirmed_ms_ago = -1;     // since the list was last confirmed current; -1: never
  Status last_status;                // of the last exchange with tessera
  std::string cursor;                // where the next poll continues from
  size_t entries = 0;                // revocations held
  uint64_t answers = 0;              // exchanges that succeeded (snapshots and polls)
  uint64_t failures = 0;             // exchanges that failed
  uint64_t snapshots = 0;            // snapshots loaded (1 + reloads after a 410)
};

class RevocationSubscription final : public RevocationList {
 public:
  // Checks the options, discovers the URL when needed, loads the snapshot, then starts
  // following. `clock` (null: the system's) is the "now" entries expire by; it must outlive the
  // subscription.
  static Result<std::unique_ptr<RevocationSubscription>> Create(
      RevocationSubscriptionOptions options, const Clock* clock = nullptr);
  ~RevocationSubscription() override;
  RevocationSubscription(const RevocationSubscription&) = delete;
  RevocationSubscription& operator=(const RevocationSubscription&) = delete;

  bool IsRevoked(std::string_view sid, std::string_view jti, int64_t now) const override;
  // Revocations this service makes itself (held until the entry's until, like the rest).
  void RevokeSession(std::string_view sid, int64_t until) override;
  void RevokeTokenId(std::string_view jti, int64_t until) override;
  size_t size() const override;
  // kUnavailable with Reason::kRevocationStale when the list was last confirmed current longer
  // than max_staleness_ms ago. No I/O.
  Status Check(int64_t now) const override;

  RevocationHealth health() const;
  // The endpoint followed (discovered or given).
  const std::string& url() const { return url_; }

 private:
  struct Page;
  RevocationSubscription(RevocationSubscriptionOptions options, std::string url,
                         std::string authorization, const Clock* clock);
  // One exchange: the snapshot (empty cursor) or what follows cursor_. Applies what it receives;
  // true in *reset when tessera cannot continue the cursor (410).
  Status Exchange(bool snapshot, bool* reset);
  Status Apply(std::string_view body, bool snapshot);
  void Run();
  bool Stopping(std::chrono::milliseconds sleep);

  const RevocationSubscriptionOptions options_;
  const std::string url_;
  const std::string authorization_;  // "Basic ...": never logged
  const Clock* const clock_;
  LocalRevocationList list_;
  // Steady-clock nanoseconds when the last successful exchange was asked; 0: never.
  std::atomic<int64_t> confirmed_ns_{0};
  std::atomic<bool> cancel_{false};
  int64_t pruned_at_ = 0;  // the clock's seconds at the last Prune; the fetching thread's only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string cursor_;       // GUARDED_BY(mu_)
  Status last_status_;       // GUARDED_BY(mu_)
  uint64_t answers_ = 0;     // GUARDED_BY(mu_)
  uint64_t failures_ = 0;    // GUARDED_BY(mu_)
  uint64_t snapshots_ = 0;   // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tessera::token
