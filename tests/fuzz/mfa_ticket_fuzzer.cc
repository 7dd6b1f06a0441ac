// The second step of a sign-in: what a client sends to POST /v1/login/mfa, as the ticket and as the
// code or recovery code (src/user/mfa_service.h), against a real MfaService on the memory store.
// Nothing may crash or read out of bounds, and nothing forged may pass:
// - bytes that are not a ticket this service sealed never open (AES-256-GCM; the ticket issued
//   here opens, with the account and mode it was issued for);
// - a code completes the sign-in only when it is the current TOTP code, a recovery code only when
//   it is (up to case, spaces and dashes) one of the account's unused ones.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/totp.h"
#include "tessera/clock.h"
#include "tessera/store/memory.h"
#include "user/mfa_service.h"

namespace {

using tessera::user::MfaService;

struct World {
  tessera::FakeClock clock{1'900'000'000};
  std::unique_ptr<tessera::user::UserStore> users = tessera::store::NewMemoryUserStore();
  MfaService mfa{users.get(), std::string(32, 'k'), "fuzz.example", &clock};
  tessera::user::User alice{.id = "id-alice", .username = "alice", .password_hash = "x"};
  std::string secret;
  std::vector<std::string> recovery;

  World() {
    if (!users->Add(alice).ok()) std::abort();
    auto begun = mfa.Begin(alice);
    if (!begun) std::abort();
    secret = tessera::crypto::Base32Decode(begun->secret).value();
    auto codes = mfa.Confirm(alice, Code());
    if (!codes) std::abort();
    recovery = *codes;
    clock.Advance(30);  // the confirming code's step is spent
  }

  std::string Code() const {
    return tessera::crypto::HotpCode(secret, tessera::crypto::TotpStep(clock.NowSeconds()),
                                     tessera::crypto::TotpHash::kSha1, 6);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = new World();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // As a ticket: only what the service sealed opens.
  if (w->mfa.OpenTicket(text)) std::abort();

  // As a code or a recovery code, on a fresh ticket of alice's.
  auto issued = w->mfa.IssueTicket(w->alice, "session");
  if (!issued) std::abort();
  auto ticket = w->mfa.OpenTicket(*issued);
  if (!ticket || ticket->user_id != "id-alice" || ticket->mode != "session") std::abort();
  const bool as_recovery = size > 0 && (data[0] & 1);
  const std::string_view code = size > 0 ? text.substr(1) : text;
  const std::string right = w->Code();
  auto outcome = w->mfa.Complete(*ticket, code, as_recovery);
  if (!outcome) std::abort();  // the memory store and the key never fail
  if (*outcome == MfaService::Outcome::kAccepted) {
    if (as_recovery) {
      const std::string typed = MfaService::NormalizeRecoveryCode(code);
      bool known = false;
      for (const std::string& r : w->recovery) {
        known = known || MfaService::NormalizeRecoveryCode(r) == typed;
      }
      if (!known) std::abort();
    } else if (code != right) {
      std::abort();
    }
    w->clock.Advance(30);  // the step is spent: the next input gets a new one
  }
  return 0;
}
