#include "context.h"

#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

namespace tessera::cli {

void AddIdArgument(CLI::App* cmd, std::string* value, const std::string& name,
                   const std::string& help) {
  cmd->set_help_flag("--help", "Print this help message and exit");
  cmd->allow_extras();
  cmd->add_option(name, *value, help);
  cmd->parse_complete_callback([cmd, value, name] {
    std::vector<std::string> rest = cmd->remaining();
    std::erase(rest, std::string("--"));  // kept as an extra when the command allows extras
    if (value->empty() && rest.size() == 1) {
      *value = std::move(rest.front());
      rest.clear();
    }
    if (!rest.empty()) throw CLI::ExtrasError(rest);
    if (value->empty()) throw CLI::RequiredError(name);
  });
}

void AddDataOptions(CLI::App* app, DataOptions* options) {
  app->add_option("--config", options->config_file, "TOML configuration file");
  app->add_option("--data", options->data_dir, "Data directory (default ./tessera-data)");
}

Result<Config> LoadCliConfig(const DataOptions& options) {
  ConfigSources sources;
  if (!options.config_file.empty()) sources.file = options.config_file;
  sources.env = ProcessEnvironment();
  if (!options.data_dir.empty()) sources.data = options.data_dir;
  return LoadConfig(sources);
}

std::unique_ptr<log::AuditLog> OpenCliAudit(const Config& config) {
  // With every store on the network (PostgreSQL, Redis) nothing else made the data directory.
  if (config.audit.path.empty()) (void)EnsureDataDir(config.server.data);
  auto audit = log::AuditLog::Open(AuditPath(config));
  if (audit) return std::move(*audit);
  std::cerr << "tessera: warning: audit.path: " << audit.error().message()
            << "; this action is not audited\n";
  return log::AuditLog::Discard();
}

std::string FormatTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace tessera::cli
