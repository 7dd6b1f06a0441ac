// Small I/O helpers shared by the subcommands.
#pragma once

#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::cli {

// Exit codes of every tessera command (docs/design.md, CLI contract).
constexpr int kExitOk = 0;
constexpr int kExitDenied = 1;  // invalid token, denied request; the reason is on stderr
constexpr int kExitUsage = 2;   // bad usage, unreadable file, bad configuration

// Reads a whole file (at most `max_bytes`).
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 1 << 20);

// Reads all of standard input (at most `max_bytes`).
Result<std::string> ReadStdin(size_t max_bytes = 1 << 20);

// `arg` itself, or standard input when `arg` is "-"; trailing newlines are removed.
Result<std::string> ArgOrStdin(const std::string& arg, size_t max_bytes = 1 << 20);

// Prints "tessera: <message>" to stderr and returns `code`.
int Fail(int code, std::string_view message);

}  // namespace tessera::cli
