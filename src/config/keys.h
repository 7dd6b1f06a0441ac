// The table of configuration keys: for each, its section and name, the type it takes in TOML, how
// it is checked and stored into a Config, and how it is printed back. Every source (file,
// environment, flags) and DescribeConfig goes through this one table, so a key cannot be
// readable from one source and forgotten by another.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/config.h"
#include "tessera/status.h"

namespace tessera::config_internal {

// What a key takes. The string kinds differ only in the hint given for a value of the wrong type.
enum class Kind { kString, kDuration, kRate, kBool, kInt, kList };

// A value from one source, already of its key's Kind: std::string for the string kinds, bool,
// int64_t (range-checked by the key), or a list of strings.
using Value = std::variant<std::string, bool, int64_t, std::vector<std::string>>;

struct Key {
  std::string_view section;
  std::string_view name;
  Kind kind;
  // Checks `value` and stores it into `*config`. The error message quotes the value (with any
  // secret redacted) but names neither the key nor the source: the caller adds both.
  Status (*apply)(const Value& value, Config* config);
  // The key's current value in `config` as a TOML literal.
  std::string (*print)(const Config& config);
};

// Every key, in docs/design.md's order.
std::span<const Key> AllKeys();

// The sections, in docs/design.md's order.
std::span<const std::string_view> AllSections();

// nullptr when there is no such key.
const Key* FindKey(std::string_view section, std::string_view name);

// "session.idle_timeout".
std::string DottedName(const Key& key);

// "TESSERA_SESSION_IDLE_TIMEOUT".
std::string EnvName(const Key& key);

// "TESSERA_SESSION_".
std::string EnvPrefix(std::string_view section);

// What a TOML value of `kind` looks like, for type errors: "a duration string such as \"30m\"".
std::string_view KindDescription(Kind kind);

}  // namespace tessera::config_internal
