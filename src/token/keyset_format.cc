#include "token/keyset_format.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/json.h"

namespace tessera::token {
namespace {

using Json = nlohmann::json;

constexpr int kVersion = 1;
// 9999-12-31T23:59:59Z: later times are a corrupt file, and sums of them cannot overflow.
constexpr int64_t kMaxTime = 253402300799;

Status Corrupt(std::string message) {
  return InvalidArgument(Reason::kBadJson, std::move(message));
}

Status KeyCorrupt(size_t index, const std::string& message, Reason reason = Reason::kBadJson) {
  return InvalidArgument(reason, "key " + std::to_string(index + 1) + ": " + message);
}

// True when `j` is an object with exactly the members `names`.
bool HasExactly(const Json& j, std::initializer_list<const char*> names) {
  if (!j.is_object() || j.size() != names.size()) return false;
  for (const char* name : names) {
    if (!j.contains(name)) return false;
  }
  return true;
}

Result<int64_t> Time(const Json& j, size_t index, const char* name) {
  const Json& v = j.at(name);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > kMaxTime) ||
      v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxTime) {
    return KeyCorrupt(index, std::string("\"") + name + "\" is not a time in Unix seconds");
  }
  return v.get<int64_t>();
}

Result<KeyRecord> ParseRecord(const Json& j, size_t index) {
  if (!HasExactly(j, {"jwk", "created_at", "activates_at", "retired_at"})) {
    return KeyCorrupt(index,
                      "needs exactly \"jwk\", \"created_at\", \"activates_at\", "
                      "\"retired_at\"");
  }
  const Json& jwk = j.at("jwk");
  if (!jwk.is_object() || !jwk.contains("use") || jwk["use"] != "sig") {
    return KeyCorrupt(index, "\"jwk\" is not a signing key (\"use\":\"sig\")", Reason::kKeyInvalid);
  }
  auto key = jose::Jwk::Parse(jwk.dump());
  if (!key) return KeyCorrupt(index, key.error().message(), key.error().reason());
  // A private key (or an HMAC secret) bound to one algorithm it signs with.
  if (!key->is_private() || !key->alg() || !key->SignAlgs().Contains(*key->alg())) {
    return KeyCorrupt(index, "\"jwk\" is not a private key with an \"alg\" it signs with",
                      Reason::kKeyInvalid);
  }
  // The kid is derived from the key, so a kid cannot be made to name another key.
  if (key->kid() != key->Thumbprint()) {
    return KeyCorrupt(index, "kid is not the key's RFC 7638 thumbprint", Reason::kKeyInvalid);
  }
  const jose::Alg alg = *key->alg();
  KeyRecord r{.key = std::move(key).value(), .alg = alg};
  TESSERA_ASSIGN_OR_RETURN(r.created_at, Time(j, index, "created_at"));
  TESSERA_ASSIGN_OR_RETURN(r.activates_at, Time(j, index, "activates_at"));
  TESSERA_ASSIGN_OR_RETURN(r.retired_at, Time(j, index, "retired_at"));
  if (r.activates_at < r.created_at) return KeyCorrupt(index, "activates before it was created");
  if (r.retired_at != 0 && r.retired_at < r.activates_at) {
    return KeyCorrupt(index, "retires before it activates");
  }
  return r;
}

}  // namespace

std::string SerializeKeyset(const std::vector<KeyRecord>& records) {
  nlohmann::ordered_json keys = nlohmann::ordered_json::array();
  for (const KeyRecord& r : records) {
    nlohmann::ordered_json k;
    k["jwk"] = nlohmann::ordered_json::parse(r.key.ToJson(/*include_private=*/true));
    k["created_at"] = r.created_at;
    k["activates_at"] = r.activates_at;
    k["retired_at"] = r.retired_at;
    keys.push_back(std::move(k));
  }
  nlohmann::ordered_json doc;
  doc["version"] = kVersion;
  doc["keys"] = std::move(keys);
  return doc.dump(2) + "\n";
}

Result<std::vector<KeyRecord>> ParseKeyset(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(Json doc, tessera::json::ParseStrict(
                                         text, {.max_bytes = kMaxKeysetFileBytes, .max_depth = 8}));
  if (!HasExactly(doc, {"version", "keys"})) {
    return Corrupt("needs exactly the members \"version\" and \"keys\"");
  }
  if (!doc["version"].is_number_integer() || doc["version"].get<int64_t>() != kVersion) {
    return Corrupt("\"version\" is not 1");
  }
  const Json& keys = doc["keys"];
  if (!keys.is_array() || keys.empty()) return Corrupt("\"keys\" is not a non-empty array");
  std::vector<KeyRecord> records;
  std::set<std::string> kids;
  for (size_t i = 0; i < keys.size(); ++i) {
    TESSERA_ASSIGN_OR_RETURN(KeyRecord r, ParseRecord(keys[i], i));
    // One keyset is all HMAC secrets or all asymmetric keys: a verifier holding both kinds could
    // be fooled into checking an HMAC made with a public key (RFC 8725 section 2.1).
    if (i > 0 && r.key.is_symmetric() != records.front().key.is_symmetric()) {
      return KeyCorrupt(i, "mixes an HMAC secret with asymmetric keys", Reason::kAmbiguousKey);
    }
    if (!kids.insert(r.kid()).second) {
      return KeyCorrupt(i, "its kid appears twice", Reason::kAmbiguousKey);
    }
    if (i > 0 && r.activates_at < records.back().activates_at) {
      return KeyCorrupt(i, "activates before the key listed above it");
    }
    const bool last = i + 1 == keys.size();
    if (last != (r.retired_at == 0)) {
      return KeyCorrupt(i, last ? "the newest key has a retired_at" : "has no retired_at");
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace tessera::token
