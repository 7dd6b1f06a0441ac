#include "tessera/token/revocation.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "tessera/jose/base64url.h"

namespace tessera::token {
namespace {

constexpr std::string_view kTokenIdPrefix = "jti:";

int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

}  // namespace

std::string TokenIdRevocationKey(std::string_view jti) {
  std::string key(kTokenIdPrefix);
  key += jti;
  return key;
}

std::optional<std::string_view> TokenIdOfRevocationKey(std::string_view key) {
  if (!key.starts_with(kTokenIdPrefix)) return std::nullopt;
  return key.substr(kTokenIdPrefix.size());
}

namespace {

// How a slot's key is packed: its top byte.
constexpr uint64_t kHexKey = 1;     // 32 lowercase hex digits, as their 16 bytes
constexpr uint64_t kBase64Key = 2;  // 22 canonical base64url characters, as their 16 bytes
constexpr uint64_t kRawKey = 3;     // kRawKey + n: n <= 16 bytes as they are
constexpr uint64_t kUntilMask = (uint64_t{1} << 56) - 1;

// A slot's until; the largest storable value stands for every later one ("never ends").
int64_t UntilOf(uint64_t word) {
  const uint64_t until = word & kUntilMask;
  return until == kUntilMask ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(until);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

bool LocalRevocationList::Table::Pack(std::string_view key, Slot* slot) {
  *slot = Slot{};
  if (key.size() == 32) {
    bool hex = true;
    for (size_t i = 0; i < 16 && hex; ++i) {
      const int hi = HexValue(key[2 * i]);
      const int lo = HexValue(key[2 * i + 1]);
      hex = hi >= 0 && lo >= 0;
      slot->key[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    if (hex) {
      slot->word = kHexKey << 56;
      return true;
    }
    *slot = Slot{};
  }
  if (key.size() == jose::Base64UrlEncodedSize(16) && jose::Base64UrlDecodeTo(key, slot->key)) {
    // Only the canonical spelling: another one would come back different from Unpack.
    char again[jose::Base64UrlEncodedSize(16)];
    jose::Base64UrlEncodeTo(
        std::string_view(reinterpret_cast<const char*>(slot->key), sizeof slot->key), again);
    if (key == std::string_view(again, sizeof again)) {
      slot->word = kBase64Key << 56;
      return true;
    }
    *slot = Slot{};
  }
  if (key.size() <= sizeof slot->key) {
    std::memcpy(slot->key, key.data(), key.size());
    slot->word = (kRawKey + key.size()) << 56;
    return true;
  }
  return false;
}

size_t LocalRevocationList::Table::Unpack(const Slot& slot, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t how = slot.word >> 56;
  if (how == kHexKey) {
    for (size_t i = 0; i < 16; ++i) {
      out[2 * i] = kHex[slot.key[i] >> 4];
      out[2 * i + 1] = kHex[slot.key[i] & 15];
    }
    return 32;
  }
  if (how == kBase64Key) {
    jose::Base64UrlEncodeTo(
        std::string_view(reinterpret_cast<const char*>(slot.key), sizeof slot.key), out);
    return jose::Base64UrlEncodedSize(16);
  }
  const size_t n = how - kRawKey;
  std::memcpy(out, slot.key, n);
  return n;
}

size_t LocalRevocationList::Table::Probe(size_t hash) const {
  // The high bits of a multiplication: the filter uses the hash's low bits for its word.
  const int log2 = std::countr_zero(slots_.size());
  return static_cast<size_t>((static_cast<uint64_t>(hash) * 0xD6E8FEB86659FD93ull) >> (64 - log2));
}

std::optional<int64_t> LocalRevocationList::Table::Find(std::string_view key) const {
  const size_t h = Hash{}(key);
  const uint64_t bits = Bits(h);
  if ((filter_[h & (filter_.size() - 1)] & bits) != bits) return std::nullopt;  // surely absent
  Slot want;
  if (!Pack(key, &want)) {
    auto it = overflow_.find(key);
    if (it == overflow_.end()) return std::nullopt;
    return it->second;
  }
  if (slots_.empty()) return std::nullopt;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Probe(h);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.word == 0) return std::nullopt;
    if ((s.word >> 56) == (want.word >> 56) && std::memcmp(s.key, want.key, sizeof s.key) == 0) {
      return UntilOf(s.word);
    }
  }
}

void LocalRevocationList::Table::Insert(size_t hash, const Slot& slot) {
  const size_t mask = slots_.size() - 1;
  size_t i = Probe(hash);
  while (slots_[i].word != 0) i = (i + 1) & mask;
  slots_[i] = slot;
}

void LocalRevocationList::Table::Put(std::string_view key, int64_t until) {
  const size_t h = Hash{}(key);
  Slot slot;
  if (!Pack(key, &slot)) {
    auto it = overflow_.find(key);
    if (it != overflow_.end()) {
      it->second = std::max(it->second, until);
      return;
    }
    overflow_.emplace(std::string(key), until);
  } else {
    const auto stored = static_cast<uint64_t>(std::clamp<int64_t>(until, 0, kUntilMask));
    if (!slots_.empty()) {
      const size_t mask = slots_.size() - 1;
      for (size_t i = Probe(h); slots_[i].word != 0; i = (i + 1) & mask) {
        Slot& s = slots_[i];
        if ((s.word >> 56) == (slot.word >> 56) &&
            std::memcmp(s.key, slot.key, sizeof s.key) == 0) {
          const uint64_t kept = std::max(s.word & kUntilMask, stored);
          s.word = (s.word & ~kUntilMask) | kept;
          return;
        }
      }
    }
    // At most 80% full: linear probing stays short, and slots stay under 64 bytes an entry.
    if ((size_ + 1) * 5 > slots_.size() * 4) Resize(std::max<size_t>(16, slots_.size() * 2));
    slot.word |= stored;
    Insert(h, slot);
    ++size_;
  }
  // Below 8 bits an entry, false positives (which cost a lookup) grow: twice the words.
  if (size() > filter_.size() * 8) {
    RebuildFilter(filter_.size() * 2);
  } else {
    Mark(h);
  }
}

void LocalRevocationList::Table::Resize(size_t slots) {
  std::vector<Slot> old(slots, Slot{});
  old.swap(slots_);
  char text[32];
  for (const Slot& s : old) {
    if (s.word != 0) Insert(Hash{}(std::string_view(text, Unpack(s, text))), s);
  }
}

size_t LocalRevocationList::Table::Home(const Slot& slot) const {
  char text[32];
  return Probe(Hash{}(std::string_view(text, Unpack(slot, text))));
}

void LocalRevocationList::Table::EraseAt(size_t i) {
  // Backward-shift deletion: the entries after the hole in its run move back over it unless the
  // hole lies before their home slot, so that every entry stays reachable from its home without
  // tombstones. Only the entries of one run are looked at.
  const size_t mask = slots_.size() - 1;
  for (size_t j = (i + 1) & mask; slots_[j].word != 0; j = (j + 1) & mask) {
    const size_t home = Home(slots_[j]);
    // Does `home` lie cyclically in (i, j]? Then the entry at j must stay where it is.
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --size_;
}

void LocalRevocationList::Table::EraseUpTo(int64_t now) {
  size_t erased = 0;
  // An entry shifted back into slot i is looked at again (i stays); one that wrapped round to a
  // slot already passed was looked at when the pass began there.
  for (size_t i = 0; i < slots_.size();) {
    if (slots_[i].word != 0 && UntilOf(slots_[i].word) <= now) {
      EraseAt(i);
      ++erased;
    } else {
      ++i;
    }
  }
  erased += std::erase_if(overflow_, [now](const auto& kv) { return kv.second <= now; });
  if (erased == 0) return;
  // Shrunk only when under a fifth full, so that a list that shrinks and grows again around one
  // size does not move every entry each time.
  if (slots_.size() > 16 && size_ * 5 < slots_.size()) {
    size_t slots = 16;
    while (size_ * 5 > slots * 2) slots *= 2;  // about 40% full after
    Resize(size_ == 0 ? 0 : slots);
  }
  // A filter cannot forget a key, but stale bits only cost a lookup now and then: it is made
  // again (8 to 16 bits an entry) once as many entries have left since it was made as remain.
  erased_since_filter_ += erased;
  if (erased_since_filter_ >= size()) {
    size_t words = 64;
    while (words * 8 < size()) words *= 2;
    RebuildFilter(words);
  }
}

void LocalRevocationList::Table::ForEach(
    const std::function<void(std::string_view, int64_t)>& fn) const {
  char text[32];
  for (const Slot& s : slots_) {
    if (s.word != 0) fn(std::string_view(text, Unpack(s, text)), UntilOf(s.word));
  }
  for (const auto& [key, until] : overflow_) fn(key, until);
}

// Four bits of one word, from the hash's high half (its low bits pick the word).
uint64_t LocalRevocationList::Table::Bits(size_t hash) {
  const uint64_t m = static_cast<uint64_t>(hash) * 0x9E3779B97F4A7C15ull;
  return (uint64_t{1} << (m >> 58)) | (uint64_t{1} << ((m >> 52) & 63)) |
         (uint64_t{1} << ((m >> 46) & 63)) | (uint64_t{1} << ((m >> 40) & 63));
}

void LocalRevocationList::Table::Mark(size_t hash) {
  filter_[hash & (filter_.size() - 1)] |= Bits(hash);
}

void LocalRevocationList::Table::RebuildFilter(size_t words) {
  filter_.assign(words, 0);
  erased_since_filter_ = 0;
  char text[32];
  for (const Slot& s : slots_) {
    if (s.word != 0) Mark(Hash{}(std::string_view(text, Unpack(s, text))));
  }
  for (const auto& kv : overflow_) Mark(Hash{}(kv.first));
}

bool LocalRevocationList::IsRevoked(std::string_view sid, std::string_view jti,
                                    int64_t now) const {
  std::shared_lock lock(mu_);
  if (!sid.empty()) {
    if (const auto until = sessions_.Find(sid); until && *until > now) return true;
  }
  if (!jti.empty()) {
    if (const auto until = token_ids_.Find(jti); until && *until > now) return true;
  }
  return false;
}

void LocalRevocationList::RevokeSession(std::string_view sid, int64_t until) {
  if (sid.empty()) return;
  std::unique_lock lock(mu_);
  sessions_.Put(sid, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::RevokeTokenId(std::string_view jti, int64_t until) {
  if (jti.empty()) return;
  std::unique_lock lock(mu_);
  token_ids_.Put(jti, SaturatingAdd(until, leeway_));
}

void LocalRevocationList::Merge(const std::vector<session::Revocation>& entries) {
  std::unique_lock lock(mu_);
  for (const session::Revocation& r : entries) {
    const int64_t until = SaturatingAdd(r.until, leeway_);
    if (auto jti = TokenIdOfRevocationKey(r.handle)) {
      if (!jti->empty()) token_ids_.Put(*jti, until);
    } else if (!r.handle.empty()) {
      sessions_.Put(r.handle, until);
    }
  }
}

Status LocalRevocationList::Check(int64_t) const {
  if (feed_fresh_ && !feed_fresh_()) {
    return Status(Code::kUnavailable, Reason::kStore,
                  "the revocation list cannot be brought up to date from the session store");
  }
  return Status::Ok();
}

void LocalRevocationList::Apply(const session::Change& change) {
  switch (change.kind) {
    case session::ChangeKind::kSessionEnded:
      if (change.until > 0) RevokeSession(change.handle, change.until);
      break;
    case session::ChangeKind::kTokenRevoked:
      Merge({session::Revocation{.handle = change.handle, .until = change.until}});
      break;
    case session::ChangeKind::kUserChanged:
    case session::ChangeKind::kKeysetChanged:
      break;
  }
}

Status LocalRevocationList::Load(session::SessionStore& store, int64_t now) {
  // Entries whose tokens expired less than the leeway ago still stop them here.
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Revocation> entries,
                           store.ListRevocations(now - leeway_));
  Merge(entries);
  return Status::Ok();
}

size_t LocalRevocationList::Prune(int64_t now) {
  std::unique_lock lock(mu_);
  sessions_.EraseUpTo(now);
  token_ids_.EraseUpTo(now);
  return sessions_.size() + token_ids_.size();
}

std::vector<session::Revocation> LocalRevocationList::Snapshot() const {
  std::shared_lock lock(mu_);
  std::vector<session::Revocation> out;
  out.reserve(sessions_.size() + token_ids_.size());
  sessions_.ForEach([&](std::string_view sid, int64_t until) {
    out.push_back({.handle = std::string(sid), .until = until - leeway_});
  });
  token_ids_.ForEach([&](std::string_view jti, int64_t until) {
    out.push_back({.handle = TokenIdRevocationKey(jti), .until = until - leeway_});
  });
  return out;
}

size_t LocalRevocationList::size() const {
  std::shared_lock lock(mu_);
  return sessions_.size() + token_ids_.size();
}

}  // namespace tessera::token
