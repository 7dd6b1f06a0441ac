// The subcommands of `tessera`. Each Register* adds its subcommand to the app and stores the
// action to run in *run when that subcommand is chosen; actions return the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace tessera::cli {

using Action = std::function<int()>;

// Adds the required positional ID `name` (a kid, a session ID) to `cmd`. IDs are base64url, so
// one in 64 begins with '-', which CLI11 would take for an unknown option: the command keeps
// unknown words instead, and a single one of them is the ID. `-h` is not a help flag there (the
// ID "-hX..." would print help); `--help` is. `--` before the ID works too.
void AddIdArgument(CLI::App* cmd, std::string* value, const std::string& name,
                   const std::string& help);

void RegisterJwt(CLI::App& app, Action* run);
void RegisterKeys(CLI::App& app, Action* run);
void RegisterUser(CLI::App& app, Action* run);
void RegisterSessions(CLI::App& app, Action* run);
void RegisterServe(CLI::App& app, Action* run);
void RegisterConfig(CLI::App& app, Action* run);

}  // namespace tessera::cli
