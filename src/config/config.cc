#include "tessera/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <toml++/toml.h>
#include <tuple>
#include <vector>

#include "config/keys.h"
#include "config/values.h"

extern char** environ;

namespace tessera {
namespace {

using config_internal::AllKeys;
using config_internal::AllSections;
using config_internal::DottedName;
using config_internal::EnvName;
using config_internal::EnvPrefix;
using config_internal::FindKey;
using config_internal::FormatDuration;
using config_internal::Key;
using config_internal::Kind;
using config_internal::KindDescription;
using config_internal::TomlQuote;
using config_internal::Value;

// A config file is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxFileSize = 1 << 20;

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean X?)" for the closest candidate within two edits, else "".
template <typename Range, typename Name>
std::string Suggest(std::string_view typo, const Range& candidates, Name name) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& c : candidates) {
    size_t d = EditDistance(typo, name(c));
    if (d < best_distance) {
      best_distance = d;
      best = std::string(name(c));
    }
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

std::string_view TomlTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

bool HasNul(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return s->find('\0') != std::string::npos;
  if (const auto* l = std::get_if<std::vector<std::string>>(&v)) {
    for (const std::string& s : *l) {
      if (s.find('\0') != std::string::npos) return true;
    }
  }
  return false;
}

// A TOML node as a Value of `kind`, or a type error message.
Result<Value> FromToml(const toml::node& node, Kind kind) {
  auto wrong = [&] {
    return config_internal::BadValue("expected " + std::string(KindDescription(kind)) + ", got " +
                                     std::string(TomlTypeName(node)));
  };
  switch (kind) {
    case Kind::kString:
    case Kind::kDuration:
    case Kind::kRate:
      if (const auto* s = node.as_string()) return Value(s->get());
      return wrong();
    case Kind::kBool:
      if (const auto* b = node.as_boolean()) return Value(b->get());
      return wrong();
    case Kind::kInt:
      if (const auto* i = node.as_integer()) return Value(i->get());
      return wrong();
    case Kind::kList: {
      const toml::array* array = node.as_array();
      if (array == nullptr) return wrong();
      std::vector<std::string> items;
      for (size_t i = 0; i < array->size(); ++i) {
        const auto* s = (*array)[i].as_string();
        if (s == nullptr) {
          return config_internal::BadValue("element " + std::to_string(i) + " is " +
                                           std::string(TomlTypeName((*array)[i])) +
                                           ", expected a string");
        }
        items.push_back(s->get());
      }
      return Value(std::move(items));
    }
  }
  return wrong();
}

// An environment (or flag) string as a Value of `kind`. Lists are comma-separated, items trimmed
// of spaces; an empty string is the empty list.
Result<Value> FromString(std::string_view text, Kind kind) {
  switch (kind) {
    case Kind::kString:
    case Kind::kDuration:
    case Kind::kRate:
      return Value(std::string(text));
    case Kind::kBool:
      if (text == "true" || text == "1") return Value(true);
      if (text == "false" || text == "0") return Value(false);
      return config_internal::BadValue(TomlQuote(text) + " is not a boolean (use true or false)");
    case Kind::kInt: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return config_internal::BadValue(TomlQuote(text) + " is not an integer");
      }
      return Value(n);
    }
    case Kind::kList: {
      std::vector<std::string> items;
      auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
      };
      if (trim(text).empty()) return Value(std::move(items));
      while (true) {
        size_t comma = text.find(',');
        std::string_view item = trim(text.substr(0, comma));
        if (item.empty()) {
          return config_internal::BadValue(TomlQuote(text) +
                                           " has an empty item (use a,b,c; an empty value for "
                                           "no items)");
        }
        items.emplace_back(item);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
      }
      return Value(std::move(items));
    }
  }
  return config_internal::BadValue("unsupported kind");
}

class Loader {
 public:
  void LoadFile(const std::string& path);
  void LoadEnvironment(const ConfigSources::Environment& env);
  void LoadFlag(std::string_view section, std::string_view name, std::string_view flag,
                const std::optional<std::string>& value);
  void DeriveIssuer();
  void CheckAcrossKeys();

  Config& config() { return config_; }
  bool failed() const { return !errors_.empty() || io_error_; }
  Status ToStatus() const;

 private:
  // Checks and stores one value and records its source. Returns "" or the error line, naming
  // the key and the source.
  std::string Apply(const Key& key, Result<Value> value, const std::string& where);
  void Error(std::string message, const std::string& where) {
    errors_.push_back(std::move(message) + " [" + where + "]");
  }
  // "[env TESSERA_...]", "[tessera.toml:3:16]", "[default]"...
  std::string Source(std::string_view dotted) const {
    auto it = sources_.find(dotted);
    return "[" + (it == sources_.end() ? std::string("default") : it->second) + "]";
  }

  Config config_;
  std::map<std::string, std::string, std::less<>> sources_;
  std::vector<std::string> errors_;
  bool io_error_ = false;
};

std::string Loader::Apply(const Key& key, Result<Value> value, const std::string& where) {
  Status s = value.status();
  if (s.ok() && HasNul(*value)) s = config_internal::BadValue("contains a NUL character");
  if (s.ok()) s = key.apply(*value, &config_);
  if (!s.ok()) return DottedName(key) + ": " + s.message() + " [" + where + "]";
  sources_[DottedName(key)] = where;
  return "";
}

void Loader::LoadFile(const std::string& path) {
  config_.config_path = path;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    errors_.push_back("cannot read config file " + TomlQuote(path) + ": " + std::strerror(errno));
    io_error_ = true;
    return;
  }
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0 && text.size() <= kMaxFileSize) {
    text.append(buffer, n);
  }
  bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) {
    errors_.push_back("cannot read config file " + TomlQuote(path));
    io_error_ = true;
    return;
  }
  if (text.size() > kMaxFileSize) {
    errors_.push_back("config file " + TomlQuote(path) + " is larger than 1 MiB");
    return;
  }

  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const toml::source_position& at = e.source().begin;
    Error("TOML syntax error: " + std::string(e.description()),
          path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column));
    return;
  }

  // toml++ iterates in key order; report in file order.
  std::vector<std::tuple<uint32_t, uint32_t, std::string>> issues;
  auto where = [&](const toml::source_region& r) {
    return path + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
  };
  for (auto&& [section_key, section_node] : root) {
    std::string_view section = section_key.str();
    const toml::source_region& at = section_key.source();
    auto issue = [&](std::string message) {
      issues.emplace_back(at.begin.line, at.begin.column, message + " [" + where(at) + "]");
    };
    auto sections = AllSections();
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      std::string hint;
      for (const Key& key : AllKeys()) {
        if (key.name == section) {  // the first section that has it (listen: [server])
          hint = " (did you mean " + std::string(section) + " under [" + std::string(key.section) +
                 "]?)";
          break;
        }
      }
      if (hint.empty()) hint = Suggest(section, sections, [](std::string_view s) { return s; });
      issue(std::string(section) +
            (section_node.is_table() ? ": unknown section" : ": unknown top-level key") + hint);
      continue;
    }
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      issue(std::string(section) + ": must be a table ([" + std::string(section) + "]), not " +
            std::string(TomlTypeName(section_node)));
      continue;
    }
    for (auto&& [name_key, node] : *table) {
      const Key* key = FindKey(section, name_key.str());
      if (key == nullptr) {
        std::vector<std::string_view> names;
        for (const Key& k : AllKeys()) {
          if (k.section == section) names.push_back(k.name);
        }
        const toml::source_region& key_at = name_key.source();
        std::string message = std::string(section) + "." + std::string(name_key.str()) +
                              ": unknown key" +
                              Suggest(name_key.str(), names, [](std::string_view s) { return s; });
        issues.emplace_back(key_at.begin.line, key_at.begin.column,
                            message + " [" + where(key_at) + "]");
        continue;
      }
      std::string error = Apply(*key, FromToml(node, key->kind), where(node.source()));
      if (!error.empty()) {
        issues.emplace_back(node.source().begin.line, node.source().begin.column, error);
      }
    }
  }
  std::sort(issues.begin(), issues.end());
  for (auto& issue : issues) errors_.push_back(std::move(std::get<2>(issue)));
}

void Loader::LoadEnvironment(const ConfigSources::Environment& env) {
  for (std::string_view section : AllSections()) {
    std::string prefix = EnvPrefix(section);
    // The variables of one section are contiguous in the sorted map.
    for (auto it = env.lower_bound(prefix); it != env.end() && it->first.starts_with(prefix);
         ++it) {
      const std::string& var = it->first;
      const Key* key = nullptr;
      for (const Key& k : AllKeys()) {
        if (k.section == section && EnvName(k) == var) key = &k;
      }
      std::string where = "env " + var;
      if (key == nullptr) {
        std::vector<std::string> names;
        for (const Key& k : AllKeys()) {
          if (k.section == section) names.push_back(EnvName(k));
        }
        Error(var + ": unknown variable" +
                  Suggest(var, names, [](const std::string& s) -> std::string_view { return s; }),
              where);
        continue;
      }
      std::string error = Apply(*key, FromString(it->second, key->kind), where);
      if (!error.empty()) errors_.push_back(error);
    }
  }
}

void Loader::LoadFlag(std::string_view section, std::string_view name, std::string_view flag,
                      const std::optional<std::string>& value) {
  if (!value) return;
  const Key* key = FindKey(section, name);
  std::string error = Apply(*key, FromString(*value, key->kind), std::string(flag));
  if (!error.empty()) errors_.push_back(error);
}

void Loader::DeriveIssuer() {
  // The issuer must be a URL under which this server's discovery document is found; when nobody
  // set it, the listen address is the best guess (and gives docs/design.md's default unchanged).
  if (sources_.contains("token.issuer")) return;
  bool tls = !config_.server.tls_cert.empty();
  config_.token.issuer = std::string(tls ? "https://" : "http://") +
                         config_internal::FormatHostPort(config_.server.listen);
}

void Loader::CheckAcrossKeys() {
  const Config& c = config_;
  if (c.session.idle_timeout > c.session.absolute_timeout) {
    errors_.push_back("session.idle_timeout: " + FormatDuration(c.session.idle_timeout) + " " +
                      Source("session.idle_timeout") + " exceeds session.absolute_timeout " +
                      FormatDuration(c.session.absolute_timeout) + " " +
                      Source("session.absolute_timeout") +
                      "; a session cannot stay idle longer than it may live");
  }

  // The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and
  // Path=/, so a subdomain or a network attacker on http:// cannot plant or shadow it (cookie
  // tossing, session fixation).
  std::string name_lower = c.cookie.name;
  std::transform(name_lower.begin(), name_lower.end(), name_lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (c.cookie.secure && !c.cookie.name.starts_with("__Host-")) {
    errors_.push_back("cookie.name: " + TomlQuote(c.cookie.name) + " " + Source("cookie.name") +
                      " must start with \"__Host-\" when cookie.secure = true " +
                      Source("cookie.secure") +
                      " (it stops subdomains and plain-HTTP pages from overwriting the "
                      "session cookie)");
  } else if (!c.cookie.secure &&
             (name_lower.starts_with("__host-") || name_lower.starts_with("__secure-"))) {
    errors_.push_back("cookie.name: " + TomlQuote(c.cookie.name) + " " + Source("cookie.name") +
                      " needs cookie.secure = true, but it is false " + Source("cookie.secure") +
                      "; browsers drop __Host- and __Secure- cookies without Secure, so choose "
                      "a name without the prefix, e.g. \"tessera_session\"");
  }
  if (c.cookie.same_site == SameSite::kNone && !c.cookie.secure) {
    errors_.push_back("cookie.same_site: \"None\" " + Source("cookie.same_site") +
                      " requires cookie.secure = true " + Source("cookie.secure") +
                      " (browsers reject SameSite=None cookies without Secure)");
  }

  // Cheaper hashes make an offline attack on a leaked user table faster than OWASP accepts.
  uint32_t m = c.password.argon2_memory_kib;
  uint32_t t = c.password.argon2_iterations;
  bool meets_floor = false;
  uint32_t needed_m = 0;  // the least memory that meets a row with this t
  for (const Argon2Cost& row : kArgon2Floor) {
    if (t >= row.iterations) {
      if (m >= row.memory_kib) meets_floor = true;
      if (needed_m == 0 || row.memory_kib < needed_m) needed_m = row.memory_kib;
    }
  }
  if (!meets_floor) {
    errors_.push_back(
        "password.argon2_memory_kib: " + std::to_string(m) + " " +
        Source("password.argon2_memory_kib") + " with password.argon2_iterations = " +
        std::to_string(t) + " " + Source("password.argon2_iterations") +
        " is below the OWASP minimum for Argon2id: with " + std::to_string(t) +
        " iteration(s) use at least " + std::to_string(needed_m) +
        " KiB (OWASP pairs: 47104/1, 19456/2, 12288/3, 9216/4, 7168/5)");
  }

  bool has_cert = !c.server.tls_cert.empty();
  bool has_key = !c.server.tls_key.empty();
  if (has_cert != has_key) {
    std::string set = has_cert ? "server.tls_cert" : "server.tls_key";
    std::string unset = has_cert ? "server.tls_key" : "server.tls_cert";
    errors_.push_back(unset + ": must be set together with " + set + " " + Source(set) +
                      " (HTTPS needs both the certificate and its key)");
  }
}

Status Loader::ToStatus() const {
  std::string message;
  for (const std::string& e : errors_) {
    if (!message.empty()) message += '\n';
    message += e;
  }
  if (io_error_) return Status(Code::kInvalidArgument, Reason::kIo, message);
  return config_internal::BadValue(message);
}

}  // namespace

ConfigSources::Environment ProcessEnvironment() {
  ConfigSources::Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with("TESSERA_")) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Result<Config> LoadConfig(const ConfigSources& sources) {
  Loader loader;
  if (sources.file) loader.LoadFile(*sources.file);
  loader.LoadEnvironment(sources.env);
  loader.LoadFlag("server", "listen", "--listen", sources.listen);
  loader.LoadFlag("server", "data", "--data", sources.data);
  if (loader.failed()) return loader.ToStatus();
  loader.DeriveIssuer();
  loader.CheckAcrossKeys();
  if (loader.failed()) return loader.ToStatus();
  return std::move(loader.config());
}

std::string DescribeConfig(const Config& config) {
  std::string out = "# tessera effective configuration";
  out += config.config_path.empty() ? " (no config file)\n"
                                    : " (config file " + TomlQuote(config.config_path) + ")\n";
  std::string_view section;
  for (const Key& key : AllKeys()) {
    if (key.section != section) {
      section = key.section;
      out += "\n[" + std::string(section) + "]\n";
    }
    out += std::string(key.name) + " = " + key.print(config) + "\n";
  }
  return out;
}

}  // namespace tessera
