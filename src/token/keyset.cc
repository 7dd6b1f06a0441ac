#include "tessera/token/keyset.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "token/keyset_format.h"
#include "token/private_file.h"

namespace tessera::token {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Bounds on durations, far beyond any sensible value, so that time sums cannot overflow.
constexpr int64_t kMaxDuration = 366 * 86400;

bool IsSymmetric(jose::Alg alg) {
  return alg == jose::Alg::kHS256 || alg == jose::Alg::kHS384 || alg == jose::Alg::kHS512;
}

Status CheckOptions(const KeysetOptions& o) {
  if (o.access_ttl_seconds < 0 || o.access_ttl_seconds > kMaxDuration || o.leeway_seconds < 0 ||
      o.leeway_seconds > kMaxDuration) {
    return InvalidArgument(Reason::kBadConfig, "keyset access TTL or leeway out of range");
  }
  return Status::Ok();
}

// The index of the key that signs at `now`: the newest with activates_at <= now. When the clock
// reads earlier than every activation (it was stepped back), the oldest key, which is published.
size_t CurrentIndex(const std::vector<KeyRecord>& keys, int64_t now) {
  size_t cur = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].activates_at <= now) cur = i;
  }
  return cur;
}

// Tokens a key signed until retired_at live at most access_ttl; verifiers allow `leeway` of
// skew, and another instance may sign with it for up to `leeway` after retired_at before it
// notices the change. Unpublishing earlier would reject live tokens (KM-03).
int64_t ExpiresAt(const KeyRecord& r, const KeysetOptions& o) {
  return r.retired_at == 0 ? kNever : r.retired_at + o.access_ttl_seconds + o.leeway_seconds;
}

KeyState StateAt(const std::vector<KeyRecord>& keys, size_t i, size_t cur, int64_t now,
                 const KeysetOptions& o) {
  if (i == cur) return KeyState::kCurrent;
  if (i > cur) return KeyState::kNext;
  return now < ExpiresAt(keys[i], o) ? KeyState::kRetired : KeyState::kExpired;
}

// Verifiers of one keyset hold one kind of key, HMAC secrets or asymmetric keys, never both
// (RFC 8725 section 2.1): a new key of `alg` may join `keys` only when they are of its kind.
Status CheckSameKind(jose::Alg alg, const std::vector<KeyRecord>& keys) {
  for (const KeyRecord& r : keys) {
    if (r.key.is_symmetric() != IsSymmetric(alg)) {
      return InvalidArgument(Reason::kBadConfig,
                             std::string("token.alg ") + std::string(AlgName(alg)) +
                                 " cannot join a keyset of " +
                                 (r.key.is_symmetric() ? "HMAC secrets" : "asymmetric keys") +
                                 "; use a new data directory, or change token.alg back");
    }
  }
  return Status::Ok();
}

Result<KeyRecord> NewKey(jose::Alg alg, int64_t now, int64_t activates_at) {
  TESSERA_ASSIGN_OR_RETURN(jose::Jwk key, jose::Jwk::Generate(alg));  // kid: the thumbprint
  return KeyRecord{
      .key = std::move(key), .alg = alg, .created_at = now, .activates_at = activates_at};
}

Result<std::vector<KeyRecord>> ParseDocument(const std::string& where, std::string_view bytes) {
  auto keys = ParseKeyset(bytes);
  if (!keys) {
    // A corrupt keyset is reported, never replaced: generating keys over it would silently drop
    // the keys that verifiers hold and every token they signed.
    return Status(keys.error().code(), keys.error().reason(),
                  where + " is corrupt: " + keys.error().message());
  }
  return keys;
}

std::string VersionOf(const FileIdentity& id) {
  return std::to_string(id.device) + ":" + std::to_string(id.inode) + ":" +
         std::to_string(id.size) + ":" + std::to_string(id.mtime_ns);
}

// The keyset file of a data directory. Replace holds the flock while it compares and writes, so
// that the file's identity is the compare-and-set version.
class FileStorage final : public KeysetStorage {
 public:
  explicit FileStorage(std::string data_dir)
      : path_(data_dir + "/" + std::string(Keyset::kFileName)),
        lock_path_(data_dir + "/" + std::string(Keyset::kLockName)) {}

  Result<std::optional<Document>> Read() override {
    TESSERA_ASSIGN_OR_RETURN(std::optional<PrivateFile> file,
                             ReadPrivateFile(path_, kMaxKeysetFileBytes));
    if (!file) return std::optional<Document>();
    return std::optional<Document>(
        Document{.bytes = std::move(file->bytes), .version = VersionOf(file->identity)});
  }

  Result<std::optional<std::string>> Version() override {
    auto identity = StatFile(path_);
    if (!identity) {
      if (identity.error().code() == Code::kNotFound) return std::optional<std::string>();
      return identity.error();
    }
    return std::optional<std::string>(VersionOf(*identity));
  }

  Result<std::optional<std::string>> Replace(const std::optional<std::string>& expected,
                                             std::string_view bytes) override {
    TESSERA_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(lock_path_));
    TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> now, Version());
    if (now != expected) return std::optional<std::string>();
    TESSERA_ASSIGN_OR_RETURN(FileIdentity written, WritePrivateFile(path_, bytes));
    return std::optional<std::string>(VersionOf(written));
  }

  const std::string& name() const override { return path_; }

 private:
  const std::string path_;
  const std::string lock_path_;
};

// Removes `keys[i]`, keeping each remaining key's retired_at equal to when its successor took
// over. REQUIRES: keys[i] is not the current key.
void Erase(std::vector<KeyRecord>& keys, size_t i, int64_t now) {
  keys.erase(keys.begin() + static_cast<ptrdiff_t>(i));
  if (i == 0) return;
  KeyRecord& before = keys[i - 1];
  if (i == keys.size()) {
    before.retired_at = 0;  // the dropped key was the pending successor: none is scheduled now
  } else if (before.retired_at > now) {
    before.retired_at = keys[i].activates_at;  // still signing: the next key takes over
  }
}

}  // namespace

struct Keyset::Snapshot {
  std::vector<KeyRecord> records;                          // file order
  std::vector<std::shared_ptr<const SigningKey>> signing;  // one per record
  // The published set for each span of time between two expiries, by valid_until ascending;
  // the last one is valid until kNever.
  std::vector<std::shared_ptr<const PublishedKeys>> stages;
  std::string version;  // of the stored document these records came from
};

namespace {

// Everything readers need, prepared once per version of the file, so that Current and
// Published are a lock, a scan of a few keys and a shared_ptr copy.
Result<std::shared_ptr<const Keyset::Snapshot>> BuildSnapshot(std::vector<KeyRecord> records,
                                                              std::string version,
                                                              const KeysetOptions& o) {
  auto s = std::make_shared<Keyset::Snapshot>();
  std::vector<jose::Jwk> public_keys;
  std::vector<int64_t> bounds;
  for (const KeyRecord& r : records) {
    TESSERA_ASSIGN_OR_RETURN(jose::JwtSigner signer, jose::JwtSigner::Create(r.key, r.alg, o.typ));
    s->signing.push_back(std::make_shared<const SigningKey>(SigningKey{r, std::move(signer)}));
    // Published keys are built from the public half only: no private member can reach the
    // JWKS, whatever the stored JWK holds (KM-01). An HMAC secret stays in the in-process set
    // (it verifies what it signs) and is left out of the published JSON by ToJson(false).
    public_keys.push_back(r.key.is_symmetric() ? r.key : r.key.PublicKey());
    bounds.push_back(ExpiresAt(r, o));
  }
  bounds.push_back(kNever);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  for (int64_t until : bounds) {
    std::vector<jose::Jwk> live;
    for (size_t i = 0; i < records.size(); ++i) {
      if (ExpiresAt(records[i], o) >= until) live.push_back(public_keys[i]);
    }
    TESSERA_ASSIGN_OR_RETURN(jose::Jwks set, jose::Jwks::FromKeys(std::move(live)));
    auto stage = std::make_shared<PublishedKeys>();
    stage->json = set.ToJson(/*include_private=*/false);
    stage->jwks = std::make_shared<const jose::Jwks>(std::move(set));
    stage->valid_until = until;
    s->stages.push_back(std::move(stage));
  }
  s->records = std::move(records);
  s->version = std::move(version);
  return std::shared_ptr<const Keyset::Snapshot>(std::move(s));
}

}  // namespace

std::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kNext:
      return "next";
    case KeyState::kCurrent:
      return "current";
    case KeyState::kRetired:
      return "retired";
    case KeyState::kExpired:
      return "expired";
  }
  return "?";
}

std::unique_ptr<KeysetStorage> FileKeysetStorage(std::string data_dir) {
  return std::make_unique<FileStorage>(std::move(data_dir));
}

Keyset::Keyset(std::unique_ptr<KeysetStorage> storage, KeysetOptions options,
               std::shared_ptr<const Snapshot> snapshot)
    : storage_(std::move(storage)), options_(std::move(options)), snapshot_(std::move(snapshot)) {}

Keyset::~Keyset() = default;

Result<std::unique_ptr<Keyset>> Keyset::Load(std::string data_dir, KeysetOptions options) {
  return Load(FileKeysetStorage(std::move(data_dir)), std::move(options));
}

Result<std::unique_ptr<Keyset>> Keyset::LoadOrCreate(std::string data_dir, KeysetOptions options,
                                                     int64_t now) {
  return LoadOrCreate(FileKeysetStorage(std::move(data_dir)), std::move(options), now);
}

Result<std::unique_ptr<Keyset>> Keyset::Load(std::unique_ptr<KeysetStorage> storage,
                                             KeysetOptions options) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  TESSERA_ASSIGN_OR_RETURN(std::optional<KeysetStorage::Document> doc, storage->Read());
  if (!doc) return Status(Code::kNotFound, Reason::kNoKey, "no signing keys in " + storage->name());
  TESSERA_ASSIGN_OR_RETURN(std::vector<KeyRecord> keys, ParseDocument(storage->name(), doc->bytes));
  TESSERA_ASSIGN_OR_RETURN(auto snapshot,
                           BuildSnapshot(std::move(keys), std::move(doc->version), options));
  return std::unique_ptr<Keyset>(
      new Keyset(std::move(storage), std::move(options), std::move(snapshot)));
}

Result<std::unique_ptr<Keyset>> Keyset::LoadOrCreate(std::unique_ptr<KeysetStorage> storage,
                                                     KeysetOptions options, int64_t now) {
  TESSERA_RETURN_IF_ERROR(CheckOptions(options));
  for (int attempt = 0; attempt < 2; ++attempt) {
    TESSERA_ASSIGN_OR_RETURN(std::optional<KeysetStorage::Document> doc, storage->Read());
    if (doc) {
      TESSERA_ASSIGN_OR_RETURN(std::vector<KeyRecord> keys,
                               ParseDocument(storage->name(), doc->bytes));
      TESSERA_ASSIGN_OR_RETURN(auto snapshot,
                               BuildSnapshot(std::move(keys), std::move(doc->version), options));
      return std::unique_ptr<Keyset>(
          new Keyset(std::move(storage), std::move(options), std::move(snapshot)));
    }
    // None yet. The first key signs at once: no token exists yet, so no verifier can hold a
    // stale set. Stored only if still none is there: instances starting together agree on the
    // one that was stored first (KM-04), and the loser reads it.
    TESSERA_ASSIGN_OR_RETURN(KeyRecord first, NewKey(options.alg, now, now));
    std::vector<KeyRecord> keys;
    keys.push_back(std::move(first));
    TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> version,
                             storage->Replace(std::nullopt, SerializeKeyset(keys)));
    if (!version) continue;
    TESSERA_ASSIGN_OR_RETURN(auto snapshot,
                             BuildSnapshot(std::move(keys), std::move(*version), options));
    return std::unique_ptr<Keyset>(
        new Keyset(std::move(storage), std::move(options), std::move(snapshot)));
  }
  return Status(Code::kUnavailable, Reason::kIo,
                "the signing keys in " + storage->name() + " changed while being created");
}

std::shared_ptr<const Keyset::Snapshot> Keyset::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

void Keyset::Install(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(mu_);
  snapshot_ = std::move(snapshot);
}

std::shared_ptr<const SigningKey> Keyset::Current(int64_t now) const {
  const auto s = snapshot();
  return s->signing[CurrentIndex(s->records, now)];
}

std::shared_ptr<const PublishedKeys> Keyset::Published(int64_t now) const {
  const auto s = snapshot();
  for (const auto& stage : s->stages) {
    if (now < stage->valid_until) return stage;
  }
  return s->stages.back();
}

std::vector<KeyInfo> Keyset::List(int64_t now) const {
  const auto s = snapshot();
  const size_t cur = CurrentIndex(s->records, now);
  std::vector<KeyInfo> out;
  for (size_t i = 0; i < s->records.size(); ++i) {
    const KeyRecord& r = s->records[i];
    const int64_t expires = ExpiresAt(r, options_);
    out.push_back({.kid = r.kid(),
                   .alg = r.alg,
                   .state = StateAt(s->records, i, cur, now, options_),
                   .created_at = r.created_at,
                   .activates_at = r.activates_at,
                   .retired_at = r.retired_at,
                   .expires_at = expires == kNever ? 0 : expires});
  }
  return out;
}

template <typename Change>
Status Keyset::Update(int64_t now, Change change) {
  // Read-modify-write with compare-and-set: of two processes rotating at once, one stores first
  // and the other reads its key and decides again (a pending key is the rotation: KM-04).
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TESSERA_ASSIGN_OR_RETURN(std::optional<KeysetStorage::Document> doc, storage_->Read());
    // Never recreate a keyset that vanished under a running instance: that would be new keys
    // that no verifier has, taking over at once.
    if (!doc) {
      return Status(Code::kUnavailable, Reason::kIo, storage_->name() + " has disappeared");
    }
    TESSERA_ASSIGN_OR_RETURN(std::vector<KeyRecord> keys,
                             ParseDocument(storage_->name(), doc->bytes));
    TESSERA_ASSIGN_OR_RETURN(const bool changed, change(keys));
    std::string version = std::move(doc->version);
    if (changed) {
      const size_t cur = CurrentIndex(keys, now);
      for (size_t i = cur; i-- > 0;) {
        if (StateAt(keys, i, cur, now, options_) == KeyState::kExpired) Erase(keys, i, now);
      }
      TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> written,
                               storage_->Replace(version, SerializeKeyset(keys)));
      if (!written) continue;  // another process wrote first: decide again on what it wrote
      version = std::move(*written);
    }
    TESSERA_ASSIGN_OR_RETURN(auto snapshot, BuildSnapshot(std::move(keys), std::move(version), options_));
    std::lock_guard reload(reload_mu_);
    Install(std::move(snapshot));
    return Status::Ok();
  }
  return Status(Code::kUnavailable, Reason::kStoreBusy,
                "the signing keys in " + storage_->name() + " keep changing; try again");
}

Result<RotateResult> Keyset::Rotate(int64_t now, const RotateOptions& rotate) {
  if (rotate.publish_lead_seconds < 0 || rotate.publish_lead_seconds > kMaxDuration) {
    return InvalidArgument(Reason::kBadConfig, "publish lead out of range");
  }
  std::optional<RotateResult> result;
  TESSERA_RETURN_IF_ERROR(Update(now, [&](std::vector<KeyRecord>& keys) -> Result<bool> {
    const size_t cur = CurrentIndex(keys, now);
    if (!rotate.immediate && cur + 1 < keys.size()) {
      // A rotation is pending (made by another process a moment ago, or earlier): that key is
      // the rotation. Adding another would make instances disagree on the next kid (KM-04).
      result = RotateResult{.key = keys.back(), .created = false};
      return false;
    }
    // Keys that have not signed yet are dropped: the new key takes over now.
    keys.erase(keys.begin() + static_cast<ptrdiff_t>(cur) + 1, keys.end());
    const int64_t activates = std::max(rotate.immediate ? now : now + rotate.publish_lead_seconds,
                                       keys[cur].activates_at);
    TESSERA_RETURN_IF_ERROR(CheckSameKind(options_.alg, keys));
    TESSERA_ASSIGN_OR_RETURN(KeyRecord fresh, NewKey(options_.alg, now, activates));
    keys[cur].retired_at = fresh.activates_at;
    keys.push_back(fresh);
    result = RotateResult{.key = std::move(fresh), .created = true};
    return true;
  }));
  return std::move(*result);
}

Result<RevokeResult> Keyset::Revoke(std::string_view kid, int64_t now) {
  std::optional<RevokeResult> result;
  TESSERA_RETURN_IF_ERROR(Update(now, [&](std::vector<KeyRecord>& keys) -> Result<bool> {
    const auto it =
        std::find_if(keys.begin(), keys.end(), [&](const KeyRecord& r) { return r.kid() == kid; });
    if (it == keys.end()) {
      return Status(Code::kNotFound, Reason::kNoKey, "no key " + std::string(kid) + " in the set");
    }
    const size_t i = static_cast<size_t>(it - keys.begin());
    const size_t cur = CurrentIndex(keys, now);
    result = RevokeResult{.revoked = keys[i]};
    if (i != cur) {
      Erase(keys, i, now);
      return true;
    }
    // The signing key itself: a replacement signs at once, in the same write, so there is never
    // a moment without a key; keys that have not signed yet go too (they would take over from
    // the replacement later, and were made beside the compromised one).
    TESSERA_ASSIGN_OR_RETURN(KeyRecord fresh, NewKey(options_.alg, now, now));
    keys.erase(keys.begin() + static_cast<ptrdiff_t>(cur), keys.end());
    TESSERA_RETURN_IF_ERROR(CheckSameKind(options_.alg, keys));
    if (!keys.empty()) fresh.activates_at = std::max(now, keys.back().activates_at);
    keys.push_back(fresh);
    result->replacement = std::move(fresh);
    return true;
  }));
  return std::move(*result);
}

Result<bool> Keyset::ReloadIfChanged() {
  std::lock_guard reload(reload_mu_);
  TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> version, storage_->Version());
  if (version && *version == snapshot()->version) return false;
  TESSERA_ASSIGN_OR_RETURN(std::optional<KeysetStorage::Document> doc, storage_->Read());
  if (!doc) return Status(Code::kUnavailable, Reason::kIo, storage_->name() + " has disappeared");
  TESSERA_ASSIGN_OR_RETURN(std::vector<KeyRecord> keys, ParseDocument(storage_->name(), doc->bytes));
  TESSERA_ASSIGN_OR_RETURN(auto snapshot,
                           BuildSnapshot(std::move(keys), std::move(doc->version), options_));
  Install(std::move(snapshot));
  return true;
}

}  // namespace tessera::token
