// The per-thread Argon2 arena (src/crypto/argon2_arena.h): libsodium's hashes borrow it inside a
// scope and nowhere else, it is wiped after every hash, and a warm thread hashes without faulting
// pages in.
#include "crypto/argon2_arena.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <thread>

#include "crypto/password.h"

namespace tessera::crypto {
namespace {

PasswordHasher MakeHasher(PasswordHashOptions options = {}) {
  Result<PasswordHasher> hasher = PasswordHasher::Create(options);
  EXPECT_TRUE(hasher.has_value()) << hasher.error().ToString();
  return std::move(hasher).value();
}

bool AllZero(const unsigned char* p, size_t n) {
  return std::all_of(p, p + n, [](unsigned char c) { return c == 0; });
}

long MinorFaultsOfThisThread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

TEST(Argon2Arena, HashAndVerifyBorrowItAndLeaveItWiped) {
  std::thread([] {
    const PasswordHasher hasher = MakeHasher();
    const Argon2ArenaState before = ThisThreadArgon2Arena();
    Result<std::string> hash = hasher.Hash("correct horse battery staple");
    ASSERT_TRUE(hash.has_value());
    Result<VerifyOutcome> ok = hasher.Verify(*hash, "correct horse battery staple");
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(ok->ok);
    Result<VerifyOutcome> wrong = hasher.Verify(*hash, "correct horse battery stapler");
    ASSERT_TRUE(wrong.has_value());
    EXPECT_FALSE(wrong->ok);

    const Argon2ArenaState after = ThisThreadArgon2Arena();
    EXPECT_EQ(after.lends, before.lends + 3);
    EXPECT_FALSE(after.lent);
    ASSERT_NE(after.base, nullptr);
    const size_t region = size_t{PasswordHashOptions{}.memory_kib} * 1024;
    EXPECT_GE(after.capacity, region);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(after.base) % (size_t{2} << 20), 0u);
    // Nothing of the last hash is left in memory the process keeps.
    EXPECT_TRUE(AllZero(after.base, after.capacity));
  }).join();
}

// The point of the arena: a thread that has hashed once does not fault 19 MiB in again (about
// 4,900 faults of 4 KiB without it; a few dozen with it, for libsodium's small allocations).
TEST(Argon2Arena, AWarmThreadVerifiesWithoutFaultingTheRegionIn) {
  std::thread([] {
    const PasswordHasher hasher = MakeHasher();
    Result<std::string> hash = hasher.Hash("correct horse battery staple");
    ASSERT_TRUE(hash.has_value());
    const long before = MinorFaultsOfThisThread();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(hasher.Verify(*hash, "anything else").has_value());
    const long per_verify = (MinorFaultsOfThisThread() - before) / 3;
    const long pages = long{PasswordHashOptions{}.memory_kib} / 4;
    EXPECT_LT(per_verify, pages / 20) << per_verify << " minor faults per verify";
  }).join();
}

TEST(Argon2Arena, OutsideAScopeLibsodiumMapsItsOwnMemory) {
  std::thread([] {
    ASSERT_GE(sodium_init(), 0);
    char out[crypto_pwhash_STRBYTES];
    ASSERT_EQ(crypto_pwhash_str_alg(out, "pw", 2, 2, size_t{19456} * 1024,
                                    crypto_pwhash_ALG_ARGON2ID13),
              0);
    const Argon2ArenaState state = ThisThreadArgon2Arena();
    EXPECT_EQ(state.lends, 0u);
    EXPECT_EQ(state.base, nullptr);
    EXPECT_EQ(crypto_pwhash_str_verify(out, "pw", 2), 0);
  }).join();
}

// The arena holds at most the hasher's own cost: a stored hash of a higher cost (an imported
// one, say) is verified in a mapping of its own, so one such sign-in does not leave a worker with
// that much memory for good.
TEST(Argon2Arena, HoldsTheHashersOwnCostOnlyAndEachThreadHasItsOwn) {
  std::thread([] {
    const PasswordHasher small = MakeHasher();
    EXPECT_EQ(ThisThreadArgon2Arena().base, nullptr);  // Create gave its dummy hash's back
    const PasswordHasher large = MakeHasher({.memory_kib = 47104, .iterations = 1});
    Result<std::string> large_hash = large.Hash("correct horse battery staple");
    ASSERT_TRUE(large_hash.has_value());
    EXPECT_GE(ThisThreadArgon2Arena().capacity, size_t{47104} * 1024);
    ReleaseThisThreadArgon2Arena();
    EXPECT_EQ(ThisThreadArgon2Arena().capacity, 0u);

    ASSERT_TRUE(small.Hash("correct horse battery staple").has_value());
    const Argon2ArenaState before = ThisThreadArgon2Arena();
    EXPECT_EQ(before.last_lent, size_t{19456} * 1024);
    EXPECT_LT(before.capacity, size_t{47104} * 1024);
    Result<VerifyOutcome> ok = small.Verify(*large_hash, "correct horse battery staple");
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(ok->ok);
    const Argon2ArenaState after = ThisThreadArgon2Arena();
    EXPECT_EQ(after.lends, before.lends);  // not from the arena
    EXPECT_EQ(after.capacity, before.capacity);
    EXPECT_TRUE(AllZero(after.base, after.capacity));
  }).join();
  std::thread([] {
    const PasswordHasher hasher = MakeHasher();
    ASSERT_TRUE(hasher.Hash("correct horse battery staple").has_value());
    const Argon2ArenaState state = ThisThreadArgon2Arena();
    EXPECT_EQ(state.lends, 2u);  // Create's dummy hash and this one
    EXPECT_NE(state.base, nullptr);
  }).join();
}

}  // namespace
}  // namespace tessera::crypto
