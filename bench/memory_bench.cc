// Resident memory per cached session and per revocation entry (issue 16), measured in this
// process from /proc/self/statm around the work:
//   - sessions: N cookie sessions created through a SessionManager on a real SQLite store (in
//     /dev/shm when it exists, so that a million synced commits take seconds, not an hour; the
//     file's pages are not this process's memory either way), then a second manager over the same
//     store, its cache empty, authenticates every one of them: the growth of the resident set
//     from that warm-up, divided by N, is what one cached session costs. The secrets the client
//     would hold are made before the first reading.
//   - revocations: N/2 session handles and N/2 token ids revoked in a LocalRevocationList (what
//     every instance and every subscribed Verifier holds), in the forms tessera makes them (32 hex
//     digits; 22 base64url characters): the growth divided by N.
// Prints one JSON object per measurement.
//   tessera_memory_bench [N...]   (default: 100000 1000000)
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/clock.h"
#include "tessera/jose/base64url.h"
#include "tessera/session/session_manager.h"
#include "tessera/store/sqlite.h"
#include "tessera/token/revocation.h"

namespace {

using namespace tessera;

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// What every resident-set reading starts from: freed memory handed back where glibc can.
size_t Settled() {
  malloc_trim(0);
  return ResidentBytes();
}

std::filesystem::path ScratchDirectory() {
  const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string pattern = std::string(base) + "/tessera-memory-bench.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return pattern;
}

int MeasureSessions(size_t n) {
  const std::filesystem::path dir = ScratchDirectory();
  auto store = store::OpenSqliteSessionStore((dir / "sessions.db").string());
  if (!store) {
    std::fprintf(stderr, "sessions: %s\n", store.error().ToString().c_str());
    return 1;
  }
  const SystemClock clock;
  std::vector<std::string> secrets;
  secrets.reserve(n);
  {
    // Creation caches nothing worth counting: this manager keeps at most one record.
    session::SessionManager creator(store->get(), {.cache_capacity = 0}, &clock);
    // A browser's user agent, as a real session would store it.
    const session::DeviceInfo device{
        .user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/131.0.0.0 Safari/537.36",
        .ip = "203.0.113.77"};
    for (size_t i = 0; i < n; ++i) {
      auto made = creator.Create("user-" + std::to_string(i % 10000), session::SessionKind::kCookie,
                                 device);
      if (!made) {
        std::fprintf(stderr, "sessions: %s\n", made.error().ToString().c_str());
        return 1;
      }
      secrets.push_back(std::move(made->secret));
    }
  }
  // The store's own memory (SQLite's page cache) warmed first by reading every session once
  // without keeping it, so that the reading below counts the cache alone.
  {
    session::SessionManager reader(store->get(), {.cache_capacity = 0}, &clock);
    for (const std::string& secret : secrets) {
      if (!reader.Authenticate(secret, /*passive=*/true)) {
        std::fprintf(stderr, "sessions: a session did not authenticate\n");
        return 1;
      }
    }
  }
  session::SessionManager manager(store->get(), {.cache_capacity = n}, &clock);
  const size_t before = Settled();
  for (const std::string& secret : secrets) {
    if (!manager.Authenticate(secret, /*passive=*/true)) {
      std::fprintf(stderr, "sessions: a session did not authenticate\n");
      return 1;
    }
  }
  const size_t after = Settled();
  if (manager.cached_sessions() != n) {
    std::fprintf(stderr, "sessions: %zu of %zu in the cache\n", manager.cached_sessions(), n);
    return 1;
  }
  std::printf("{\"what\":\"session\",\"n\":%zu,\"resident_before\":%zu,\"resident_after\":%zu,"
              "\"bytes_each\":%.1f,\"store_file_bytes\":%ju}\n",
              n, before, after, static_cast<double>(after - before) / static_cast<double>(n),
              static_cast<uintmax_t>(std::filesystem::file_size(dir / "sessions.db")));
  std::fflush(stdout);
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

int MeasureRevocations(size_t n) {
  // Handles as sessions have them (32 hex digits) and jtis as tokens have them (16 random bytes in
  // base64url), made before the first reading.
  std::vector<std::string> keys;
  keys.reserve(n);
  char buf[33];
  for (size_t i = 0; i < n; ++i) {
    const uint64_t a = i * 0x9e3779b97f4a7c15u, b = ~i * 0xc2b2ae3d27d4eb4fu;
    if (i % 2 == 0) {
      std::snprintf(buf, sizeof buf, "%016jx%016jx", static_cast<uintmax_t>(a),
                    static_cast<uintmax_t>(b));
      keys.emplace_back(buf);
    } else {
      char raw[16];
      std::memcpy(raw, &a, 8);
      std::memcpy(raw + 8, &b, 8);
      keys.push_back(jose::Base64UrlEncode(std::string_view(raw, sizeof raw)));
    }
  }
  token::LocalRevocationList list;
  const int64_t until = SystemClock().NowSeconds() + 3600;
  const size_t before = Settled();
  for (size_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      list.RevokeSession(keys[i], until);
    } else {
      list.RevokeTokenId(keys[i], until);
    }
  }
  const size_t after = Settled();
  std::printf("{\"what\":\"revocation\",\"n\":%zu,\"resident_before\":%zu,\"resident_after\":%zu,"
              "\"bytes_each\":%.1f}\n",
              n, before, after, static_cast<double>(after - before) / static_cast<double>(n));
  std::fflush(stdout);
  return list.size() == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {100000, 1000000};
  for (size_t n : sizes) {
    if (n == 0) return 2;
    if (int rc = MeasureSessions(n)) return rc;
  }
  return MeasureRevocations(sizes.back());
}
