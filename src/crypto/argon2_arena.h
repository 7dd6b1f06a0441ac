// Memory for libsodium's Argon2, kept by each thread from one hash to the next.
//
// libsodium maps a fresh region for every Argon2 hash (m KiB: 19 MiB at the default cost) and
// unmaps it afterwards, so every sign-in paid one page fault per 4 KiB page (about 4,900) and the
// kernel's zeroing of the whole region: about half of a verify's CPU on the benchmark machines
// (docs/benchmarks.md, "Sign-ins"). libsodium has no way to be handed memory, so the build links it
// statically with the linker's `--wrap=mmap --wrap=munmap` (CMakeLists.txt, tessera_sodium): every
// call to mmap/munmap from an object file linked into the binary (libsodium's, tessera's own)
// goes through the wrappers below; shared libraries and glibc's own malloc keep calling the real
// ones. The wrappers pass every call through unchanged except inside a scope.
//
// While an Argon2Scope is alive on a thread, the first anonymous read-write mapping of at least
// 1 MiB and at most the scope's `keep_bytes` that is asked for is answered from that thread's
// arena: one region, 2 MiB aligned, marked MADV_HUGEPAGE (so the kernel may back it with huge
// pages) and MADV_DONTDUMP (kept out of core dumps), mapped on first use and grown when a hash
// needs more. Larger requests (a stored hash of a higher cost than the hasher's own) get a
// mapping of their own, as without the arena, so the arena never holds more than the configured
// cost. libsodium's munmap of it wipes the bytes it used (explicit_bzero) and keeps the pages: no
// password-derived block outlives its hash, as if the memory had been returned to the kernel. The
// arena is unmapped when its thread exits, or by ReleaseThisThreadArgon2Arena().
//
// A scope must enclose the Argon2 call and nothing else that maps memory: inside one, any
// large anonymous mapping libsodium's code asks for is taken to be Argon2's (sodium_malloc,
// which also maps, is never called inside one).
//
// Cost: each thread that hashes keeps m KiB resident (19 MiB per password worker by default).
// Outside a scope, and on threads that never open one, nothing changes.
#ifndef TESSERA_CRYPTO_ARGON2_ARENA_H_
#define TESSERA_CRYPTO_ARGON2_ARENA_H_

#include <cstddef>
#include <cstdint>

namespace tessera::crypto {

// Lends this thread's arena to the libsodium calls made while it is alive, for requests of up to
// `keep_bytes` (the hasher's own cost, m KiB). Scopes do not nest (the password code opens one
// around each crypto_pwhash call). Not copyable.
class Argon2Scope {
 public:
  explicit Argon2Scope(size_t keep_bytes);
  ~Argon2Scope();
  Argon2Scope(const Argon2Scope&) = delete;
  Argon2Scope& operator=(const Argon2Scope&) = delete;
};

// This thread's arena, for tests and diagnostics.
struct Argon2ArenaState {
  const unsigned char* base = nullptr;  // nullptr until the first hash in a scope
  size_t capacity = 0;                  // bytes mapped
  size_t last_lent = 0;                 // bytes the last lending handed out (0: none yet)
  uint64_t lends = 0;                   // requests answered from the arena
  bool lent = false;                    // libsodium holds it now
};
Argon2ArenaState ThisThreadArgon2Arena();

// Unmaps this thread's arena now (a thread that hashed once and will not again, such as the one
// that made PasswordHasher's dummy hash at start-up). REQUIRES: no scope is alive on it.
void ReleaseThisThreadArgon2Arena();

}  // namespace tessera::crypto

#endif  // TESSERA_CRYPTO_ARGON2_ARENA_H_
