#include "crypto/argon2_arena.h"

#include <sys/mman.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

// The real calls, as the linker's --wrap names them (CMakeLists.txt, tessera_sodium).
extern "C" void* __real_mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset);
extern "C" int __real_munmap(void* addr, size_t length);

namespace tessera::crypto {
namespace {

constexpr size_t kMinLend = size_t{1} << 20;  // libsodium's Argon2 region is m >= 8 KiB; ours MiBs
constexpr size_t kHugePage = size_t{2} << 20;

// Plain data with constant initialisation: reading it from inside mmap needs no TLS set-up call,
// whatever thread (even one that never opened a scope) libsodium runs on.
struct Arena {
  unsigned char* base = nullptr;
  size_t capacity = 0;
  unsigned char* mapping = nullptr;  // what mmap returned (base rounded up to 2 MiB inside it)
  size_t mapping_bytes = 0;
  size_t lent_bytes = 0;   // while lent
  size_t last_lent = 0;    // the size of the last lending
  size_t keep_bytes = 0;   // the scope's limit
  uint64_t lends = 0;
  bool in_scope = false;
  bool lent = false;
};
constinit thread_local Arena t_arena;

void Unmap(Arena& a) {
  if (a.mapping != nullptr) __real_munmap(a.mapping, a.mapping_bytes);
  a.base = a.mapping = nullptr;
  a.capacity = a.mapping_bytes = 0;
}

// Unmaps the arena when its thread exits. Made the first time a thread opens a scope: a thread
// that only ever calls the wrappers below registers nothing.
struct ArenaReleaser {
  ~ArenaReleaser() { Unmap(t_arena); }
};

// Maps an arena of at least `bytes`, 2 MiB aligned. False if the kernel refuses (the caller
// then passes the request through, so libsodium reports the failure as it always has).
bool Grow(Arena& a, size_t bytes) {
  Unmap(a);
  const size_t capacity = (bytes + kHugePage - 1) & ~(kHugePage - 1);
  const size_t mapping_bytes = capacity + kHugePage;  // room to align
  void* m = __real_mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  auto* mapping = static_cast<unsigned char*>(m);
  const uintptr_t aligned =
      (reinterpret_cast<uintptr_t>(mapping) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  a.mapping = mapping;
  a.mapping_bytes = mapping_bytes;
  a.base = reinterpret_cast<unsigned char*>(aligned);
  a.capacity = capacity;
  // Both are advice: a kernel without transparent huge pages, or that keeps them off, still
  // gives a working arena. Their errno must not reach libsodium's caller, which reads errno
  // after a verify (EINVAL: a mismatch).
  const int saved = errno;
  (void)madvise(a.base, capacity, MADV_HUGEPAGE);
  (void)madvise(a.mapping, a.mapping_bytes, MADV_DONTDUMP);
  errno = saved;
  return true;
}

bool IsArgon2Request(const Arena& a, void* addr, size_t length, int prot, int flags, int fd) {
  return addr == nullptr && fd == -1 && (flags & MAP_ANONYMOUS) != 0 &&
         (flags & MAP_PRIVATE) != 0 && (flags & MAP_FIXED) == 0 &&
         prot == (PROT_READ | PROT_WRITE) && length >= kMinLend && length <= a.keep_bytes;
}

// Gives the bytes back: wiped, still mapped.
void Reclaim(Arena& a) {
  explicit_bzero(a.base, a.lent_bytes);
  a.lent = false;
  a.lent_bytes = 0;
}

}  // namespace

Argon2Scope::Argon2Scope(size_t keep_bytes) {
  thread_local ArenaReleaser releaser;
  (void)releaser;
  t_arena.keep_bytes = keep_bytes;
  t_arena.in_scope = true;
}

Argon2Scope::~Argon2Scope() {
  // libsodium unmaps what it maps on every path; should a future version not, the bytes are
  // still wiped here and the arena is free for the next hash.
  if (t_arena.lent) Reclaim(t_arena);
  t_arena.in_scope = false;
}

Argon2ArenaState ThisThreadArgon2Arena() {
  const Arena& a = t_arena;
  return {.base = a.base, .capacity = a.capacity, .last_lent = a.last_lent,
          .lends = a.lends, .lent = a.lent};
}

void ReleaseThisThreadArgon2Arena() {
  if (!t_arena.in_scope) Unmap(t_arena);
}

}  // namespace tessera::crypto

using tessera::crypto::t_arena;

// Hidden: the wrappers serve the link they are part of (the tessera binary, libtessera.so), and
// libtessera.so does not offer them to a program that might wrap mmap itself.
extern "C" __attribute__((visibility("hidden"))) void* __wrap_mmap(void* addr, size_t length,
                                                                    int prot, int flags, int fd,
                                                                    off_t offset) {
  tessera::crypto::Arena& a = t_arena;
  if (a.in_scope && !a.lent &&
      tessera::crypto::IsArgon2Request(a, addr, length, prot, flags, fd)) {
    if (length <= a.capacity || tessera::crypto::Grow(a, length)) {
      a.lent = true;
      a.lent_bytes = length;
      a.last_lent = length;
      ++a.lends;
      return a.base;
    }
  }
  return __real_mmap(addr, length, prot, flags, fd, offset);
}

extern "C" __attribute__((visibility("hidden"))) int __wrap_munmap(void* addr, size_t length) {
  tessera::crypto::Arena& a = t_arena;
  if (a.lent && addr == a.base) {
    tessera::crypto::Reclaim(a);
    return 0;
  }
  return __real_munmap(addr, length);
}
