#include "tessera/jose/alg.h"

#include <cctype>

#include "jose/alg_table.h"

namespace tessera::jose {
namespace internal {
namespace {

using crypto::Hash;

constexpr AlgInfo kTable[kAlgCount] = {
    {Alg::kHS256, "HS256", KeyType::kOct, Curve::kNone, Hash::kSha256, Family::kHmac},
    {Alg::kHS384, "HS384", KeyType::kOct, Curve::kNone, Hash::kSha384, Family::kHmac},
    {Alg::kHS512, "HS512", KeyType::kOct, Curve::kNone, Hash::kSha512, Family::kHmac},
    {Alg::kRS256, "RS256", KeyType::kRsa, Curve::kNone, Hash::kSha256, Family::kRsaPkcs1},
    {Alg::kRS384, "RS384", KeyType::kRsa, Curve::kNone, Hash::kSha384, Family::kRsaPkcs1},
    {Alg::kRS512, "RS512", KeyType::kRsa, Curve::kNone, Hash::kSha512, Family::kRsaPkcs1},
    {Alg::kPS256, "PS256", KeyType::kRsa, Curve::kNone, Hash::kSha256, Family::kRsaPss},
    {Alg::kPS384, "PS384", KeyType::kRsa, Curve::kNone, Hash::kSha384, Family::kRsaPss},
    {Alg::kPS512, "PS512", KeyType::kRsa, Curve::kNone, Hash::kSha512, Family::kRsaPss},
    {Alg::kES256, "ES256", KeyType::kEc, Curve::kP256, Hash::kSha256, Family::kEcdsa},
    {Alg::kES384, "ES384", KeyType::kEc, Curve::kP384, Hash::kSha384, Family::kEcdsa},
    {Alg::kES512, "ES512", KeyType::kEc, Curve::kP521, Hash::kSha512, Family::kEcdsa},
    {Alg::kEdDSA, "EdDSA", KeyType::kOkp, Curve::kEd25519, Hash::kSha512, Family::kEdDSA},
};

}  // namespace

const AlgInfo& Info(Alg alg) { return kTable[static_cast<int>(alg)]; }

AlgSet AlgsForKey(KeyType type, Curve curve) {
  AlgSet s;
  for (const AlgInfo& i : kTable) {
    if (i.key_type == type && i.curve == curve) s.Add(i.alg);
  }
  return s;
}

}  // namespace internal

std::string_view AlgName(Alg alg) { return internal::Info(alg).name; }

std::optional<Alg> AlgFromName(std::string_view name) {
  for (int i = 0; i < kAlgCount; ++i) {
    const auto& info = internal::Info(static_cast<Alg>(i));
    if (info.name == name) return info.alg;
  }
  return std::nullopt;
}

bool IsNoneAlg(std::string_view name) {
  if (name.size() != 4) return false;
  static constexpr char kNone[] = "none";
  for (size_t i = 0; i < 4; ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kNone[i]) return false;
  }
  return true;
}

}  // namespace tessera::jose
