// Keyset: the signing keys of token mode (docs/design.md "token"; docs/security.md KM-01..KM-05), kept in
// <data>/signing-keys.json and shared by every process on that data directory: the servers that
// sign and publish, and `tessera keys` that rotates and revokes.
//
// A key's life is derived from three stored times and `now`:
//
//   created ── activates_at ─────────── retired_at ──────────── retired_at + ttl + leeway
//      next   │        current          │         retired         │        expired
//   (published, not signing)   (signs)    (published: tokens it     (gone from JWKS, and from
//                                          signed may still live)    the file on the next write)
//
// Rotation adds a key that is published `publish_lead` before it signs, so every verifier has
// fetched it before meeting its kid, and the old key stays published until every token it signed
// has expired (KM-03). Rotations by several processes at once make exactly one new key (KM-04):
// read-modify-write runs under an flock, and a rotation that finds one pending returns it.
// Revoke is the emergency path (KM-05): a key leaves signing and publication at once.
//
// The file is written 0600 from its first byte, atomically (temp file, fsync, rename, fsync of
// the directory), and parsed strictly: a corrupt file is an error, never replaced by new keys.
// Private key material never appears in a Status message, a listing or the published set.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/jose/alg.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jwt.h"
#include "tessera/result.h"

namespace tessera::token {

// Where a key is in its life at a given time. Derived, never stored.
enum class KeyState : uint8_t {
  kNext,     // published, not signing yet (activates_at > now)
  kCurrent,  // signs: the newest key with activates_at <= now
  kRetired,  // superseded; published until expires_at
  kExpired,  // every token it signed has expired: unpublished, dropped on the next write
};

std::string_view KeyStateName(KeyState state);  // "next", "current", "retired", "expired"

// One key as stored.
struct KeyRecord {
  jose::Jwk key;  // private; "alg" and "use":"sig" set; kid = RFC 7638 thumbprint
  jose::Alg alg = jose::Alg::kES256;
  int64_t created_at = 0;
  int64_t activates_at = 0;  // the first second it may sign
  // When its successor starts signing. Set when the successor is added, so it may lie in the
  // future while this key still signs; 0 while no successor is scheduled.
  int64_t retired_at = 0;

  const std::string& kid() const { return key.kid(); }
};

// A row of `tessera keys list`: everything about a key but its material.
struct KeyInfo {
  std::string kid;
  jose::Alg alg = jose::Alg::kES256;
  KeyState state = KeyState::kCurrent;
  int64_t created_at = 0;
  int64_t activates_at = 0;
  int64_t retired_at = 0;  // 0: no successor scheduled
  int64_t expires_at = 0;  // leaves the published set; 0 while retired_at is 0
};

struct KeysetOptions {
  // Algorithm of new keys (config token.alg). A keyset holds asymmetric keys or HMAC secrets,
  // never both. An HMAC secret is never published (PublishedKeys::json leaves it out); it stays
  // in PublishedKeys::jwks, the set this process verifies with.
  jose::Alg alg = jose::Alg::kES256;
  // Longest lifetime of a token these keys sign (config token.access_ttl). A retired key stays
  // published this long after it stopped signing.
  int64_t access_ttl_seconds = 15 * 60;
  // Added to that overlap: the clock skew verifiers allow (MI-03 tolerates 60 s) and how late an
  // instance may notice a rotation made elsewhere (its ReloadIfChanged interval).
  int64_t leeway_seconds = 60;
  // "typ" header of the prepared signers: "at+jwt" for access tokens (RFC 9068 section 2.1), so
  // that a verifier can tell them from other JWTs signed with the same key (RFC 8725 section 3.11).
  std::string typ = "at+jwt";
};

struct RotateOptions {
  // How long a new key is published before it signs. At least as long as verifiers may cache the
  // JWKS (the Cache-Control max-age of /.well-known/jwks.json), so that no verifier meets the new
  // kid before it has fetched the key.
  int64_t publish_lead_seconds = 300;
  // Sign with the new key at once. Verifiers that cached the JWKS reject its tokens until they
  // refetch (an unfamiliar kid triggers a refetch, KM-03). A pending key, never used to sign, is
  // discarded. For when the current key must stop signing now; a compromised key is revoked.
  bool immediate = false;
};

struct RotateResult {
  KeyRecord key;        // the new key, or the pending one
  bool created = true;  // false: a rotation was already pending, `key` is that key (KM-04)
};

struct RevokeResult {
  KeyRecord revoked;                     // no longer in the file or the published set
  std::optional<KeyRecord> replacement;  // a new key, signing at once, when `revoked` was signing
};

// The key that signs now, with its signer prepared (header encoded once per key).
struct SigningKey {
  KeyRecord record;
  jose::JwtSigner signer;
};

// The public key set at one time: next, current and retired keys that have not expired, public
// members only, each with kid, "use":"sig" and alg (KM-01). Every process reading the same file
// builds the same set, byte for byte (KM-04).
struct PublishedKeys {
  // For this process's jose::JwtVerifier: the public keys, or the HMAC secrets of an HMAC keyset.
  std::shared_ptr<const jose::Jwks> jwks;
  std::string json;                        // {"keys":[...]}, for /.well-known/jwks.json
  // The set stays as it is until this time (a key expires), unless the file changes.
  int64_t valid_until = 0;
};

// Where a keyset document (the keyset file format, keyset_format.h) is kept: a file in a data
// directory, or a store that every instance shares (store::OpenRedisKeysetStorage). Keyset reads
// and writes it only through this, with compare-and-set, so that rotations by several processes
// at once make one new key whatever the storage. Implementations are thread-safe; every method
// may block on I/O.
class KeysetStorage {
 public:
  struct Document {
    std::string bytes;
    std::string version;  // changes with every write
  };
  virtual ~KeysetStorage() = default;
  // The document; nullopt when there is none yet.
  virtual Result<std::optional<Document>> Read() = 0;
  // The stored version without the document (cheap); nullopt when there is none.
  virtual Result<std::optional<std::string>> Version() = 0;
  // Stores `bytes` when the stored version is still `expected` (nullopt: when there is none yet)
  // and returns the new version; nullopt, storing nothing, when another writer came first.
  virtual Result<std::optional<std::string>> Replace(const std::optional<std::string>& expected,
                                                     std::string_view bytes) = 0;
  // Names it in messages (a path, or "the keyset in Redis").
  virtual const std::string& name() const = 0;
};

// The file <data_dir>/signing-keys.json (written 0600, atomically, under an flock).
std::unique_ptr<KeysetStorage> FileKeysetStorage(std::string data_dir);

class Keyset {
 public:
  static constexpr std::string_view kFileName = "signing-keys.json";
  // Taken (flock) around every read-modify-write of the file; never removed.
  static constexpr std::string_view kLockName = "signing-keys.lock";

  // The keyset of `data_dir`. When there is none yet, creates it with one key that signs at once
  // (no token exists that a verifier could need an older key for). Several processes starting
  // at once create one keyset. Fails, touching nothing, when the file is corrupt
  // (kInvalidArgument), readable by group or others (kPermissionDenied) or cannot be read
  // (kUnavailable). REQUIRES: `data_dir` exists.
  static Result<std::unique_ptr<Keyset>> LoadOrCreate(std::string data_dir, KeysetOptions options,
                                                      int64_t now);

  // The keyset of `data_dir`; kNotFound when there is none. Creates nothing.
  static Result<std::unique_ptr<Keyset>> Load(std::string data_dir, KeysetOptions options);

  // The same over any storage.
  static Result<std::unique_ptr<Keyset>> LoadOrCreate(std::unique_ptr<KeysetStorage> storage,
                                                      KeysetOptions options, int64_t now);
  static Result<std::unique_ptr<Keyset>> Load(std::unique_ptr<KeysetStorage> storage,
                                              KeysetOptions options);

  ~Keyset();
  Keyset(const Keyset&) = delete;
  Keyset& operator=(const Keyset&) = delete;

  // The key to sign with at `now`. Never null. No I/O. Thread-safe.
  std::shared_ptr<const SigningKey> Current(int64_t now) const;

  // The public set to serve at `now`. Never null. No I/O, no allocation. Thread-safe.
  std::shared_ptr<const PublishedKeys> Published(int64_t now) const;

  // Every key in the file with its state at `now`, oldest first. Thread-safe.
  std::vector<KeyInfo> List(int64_t now) const;

  // Adds a key of options.alg that signs from now + publish_lead (or now, when immediate); the
  // current key gets that time as retired_at. When a non-immediate rotation finds a key that does
  // not sign yet, it adds nothing and returns that key (created = false). Expired keys leave the
  // file. Thread-safe and safe across processes.
  Result<RotateResult> Rotate(int64_t now, const RotateOptions& rotate = {});

  // Emergency removal (KM-05): the key leaves the file and the published set at once, so tokens
  // it signed stop verifying everywhere as soon as each process reloads (ReloadIfChanged). When
  // it was the current key, a new key that signs at once replaces it in the same write, so there
  // is always a key to sign with. kNotFound for a kid that is not in the file.
  Result<RevokeResult> Revoke(std::string_view kid, int64_t now);

  // Re-reads the file when another process has replaced it (one stat(2): inode, size, mtime;
  // for a shared store, one read of its version).
  // Returns whether it reloaded. On an error (file gone, corrupt, too permissive) the keys held
  // so far stay in use and the error is returned for the caller to log. Call it every second or
  // so, and when a token names an unfamiliar kid (rate-limited by the caller). Thread-safe.
  Result<bool> ReloadIfChanged();

  const KeysetOptions& options() const { return options_; }
  // Where the keyset is kept (a path, or the store), for messages.
  const std::string& where() const { return storage_->name(); }

  struct Snapshot;  // defined in keyset.cc

 private:
  Keyset(std::unique_ptr<KeysetStorage> storage, KeysetOptions options,
         std::shared_ptr<const Snapshot> snapshot);

  std::shared_ptr<const Snapshot> snapshot() const;
  void Install(std::shared_ptr<const Snapshot> snapshot);  // REQUIRES: reload_mu_ held
  // Reads the keyset, lets `change` edit the records, writes them back when `change` says so
  // (compare-and-set: when another process wrote in between, all again), and installs the result.
  template <typename Change>
  Status Update(int64_t now, Change change);

  const std::unique_ptr<KeysetStorage> storage_;
  const KeysetOptions options_;

  // Serialises reading the file and installing what was read, so an older read never replaces
  // a newer write of this instance. Never held by readers.
  std::mutex reload_mu_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // GUARDED_BY(mu_)
};

}  // namespace tessera::token
