// tessera: the command-line entry point. Exceptions stop here: parse errors become exit code 2,
// anything unexpected becomes a message and exit code 2 rather than a crash.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "commands.h"
#include "io.h"

int main(int argc, char** argv) {
  using namespace tessera::cli;
  // Named, so that usage lines say "tessera" however the binary was invoked (docs/cli.md).
  CLI::App app{"tessera: authentication server, sessions and JWTs", "tessera"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tessera " TESSERA_VERSION);
  Action run;
  RegisterServe(app, &run);
  RegisterJwt(app, &run);
  RegisterKeys(app, &run);
  RegisterUser(app, &run);
  RegisterSessions(app, &run);
  RegisterConfig(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    return run ? run() : kExitUsage;
  } catch (const std::exception& e) {
    return Fail(kExitUsage, e.what());
  }
}
