// JWS algorithms (RFC 7518 section 3, RFC 8037 section 3.1).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace tessera::jose {

enum class Alg : uint8_t {
  kHS256, kHS384, kHS512,
  kRS256, kRS384, kRS512,
  kPS256, kPS384, kPS512,
  kES256, kES384, kES512,
  kEdDSA,
};
constexpr int kAlgCount = 13;

std::string_view AlgName(Alg alg);

// Exact, case-sensitive match of a registered name (RFC 7515 section 4.1.1: "alg" is
// case-sensitive). "none" is not an algorithm here and never parses.
std::optional<Alg> AlgFromName(std::string_view name);

// True for every capitalisation of "none", which attackers try in turn ("none", "None", "NONE").
bool IsNoneAlg(std::string_view name);

// A set of algorithms, e.g. a caller's allow-list.
class AlgSet {
 public:
  constexpr AlgSet() = default;
  constexpr AlgSet(std::initializer_list<Alg> algs) {
    for (Alg a : algs) Add(a);
  }
  static constexpr AlgSet All() {
    AlgSet s;
    s.bits_ = (1u << kAlgCount) - 1;
    return s;
  }
  constexpr void Add(Alg a) { bits_ |= 1u << static_cast<int>(a); }
  constexpr bool Contains(Alg a) const { return bits_ & (1u << static_cast<int>(a)); }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr AlgSet Intersect(AlgSet o) const {
    AlgSet s;
    s.bits_ = bits_ & o.bits_;
    return s;
  }

 private:
  uint32_t bits_ = 0;
};

}  // namespace tessera::jose
