// The subcommands of `tessera`. Each Register* adds its subcommand to the app and stores the
// action to run in *run when that subcommand is chosen; actions return the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace tessera::cli {

using Action = std::function<int()>;

void RegisterJwt(CLI::App& app, Action* run);
void RegisterKeys(CLI::App& app, Action* run);
void RegisterUser(CLI::App& app, Action* run);
void RegisterSessions(CLI::App& app, Action* run);
void RegisterServe(CLI::App& app, Action* run);

}  // namespace tessera::cli
