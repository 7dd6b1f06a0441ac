#include "tessera/jose/jwks.h"

#include <nlohmann/json.hpp>

#include "core/json.h"

namespace tessera::jose {
namespace {

// A set holding both secret and public keys lets a token choose between HMAC with a public key
// as the secret and a real signature (the RS256/HS256 confusion); refuse the set itself.
Status CheckNotMixed(const std::vector<Jwk>& keys) {
  bool secret = false, asym = false;
  for (const Jwk& k : keys) (k.is_symmetric() ? secret : asym) = true;
  if (secret && asym) {
    return InvalidArgument(Reason::kAmbiguousKey, "key set mixes secret and public keys");
  }
  return Status::Ok();
}

}  // namespace

Result<Jwks> Jwks::Parse(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(nlohmann::json j,
                           json::ParseStrict(text, {.max_bytes = 1 << 20, .max_depth = 8}));
  if (!j.is_object()) return InvalidArgument(Reason::kKeyInvalid, "JWKS must be a JSON object");
  nlohmann::json list;
  if (j.contains("keys")) {
    list = j["keys"];
    if (!list.is_array()) return InvalidArgument(Reason::kKeyInvalid, "JWKS \"keys\" must be an array");
  } else if (j.contains("kty")) {
    list = nlohmann::json::array({j});
  } else {
    return InvalidArgument(Reason::kKeyInvalid, "JWKS lacks \"keys\"");
  }
  Jwks set;
  for (size_t i = 0; i < list.size(); ++i) {
    auto key = Jwk::Parse(list[i].dump());
    if (key && key->VerifyAlgs().empty()) {
      key = Status(Code::kInvalidArgument, Reason::kKeyUseMismatch, "key is not for signatures");
    }
    if (!key) {
      SkippedKey skipped{.index = i, .kid = {}, .status = key.error()};
      if (list[i].is_object() && list[i].contains("kid") && list[i]["kid"].is_string()) {
        skipped.kid = list[i]["kid"].get<std::string>();
      }
      // A key for another purpose ("use":"enc", an encryption alg) may share a kid with its
      // signing twin (RFC 7517 section 4.5); a broken key may not.
      const Reason r = skipped.status.reason();
      if (!skipped.kid.empty() && r != Reason::kKeyUseMismatch && r != Reason::kAlgUnsupported) {
        set.broken_kids_.push_back(skipped.kid);
      }
      set.skipped_.push_back(std::move(skipped));
      continue;
    }
    set.keys_.push_back(std::move(key).value());
  }
  TESSERA_RETURN_IF_ERROR(CheckNotMixed(set.keys_));
  return set;
}

bool Jwks::IsKidAmbiguous(std::string_view kid) const {
  for (const auto& k : broken_kids_) {
    if (k == kid) return true;
  }
  return false;
}

Result<Jwks> Jwks::FromKeys(std::vector<Jwk> keys) {
  TESSERA_RETURN_IF_ERROR(CheckNotMixed(keys));
  Jwks set;
  set.keys_ = std::move(keys);
  return set;
}

std::string Jwks::ToJson(bool include_private) const {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (const Jwk& k : keys_) {
    if (!include_private && k.is_symmetric()) continue;  // a secret has no public form
    if (!first) out += ',';
    first = false;
    out += k.ToJson(include_private);
  }
  out += "]}";
  return out;
}

}  // namespace tessera::jose
