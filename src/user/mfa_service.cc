#include "user/mfa_service.h"

#include <charconv>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/seal.h"
#include "tessera/jose/base64url.h"

namespace tessera::user {
namespace {

constexpr size_t kSecretBytes = 20;    // 160 bits, RFC 4226 section 4's recommendation
constexpr size_t kRecoveryBytes = 10;  // 80 bits: 16 base32 characters
constexpr std::string_view kTicketContext = "tessera mfa ticket v1";

// The key recovery codes are hashed under: derived, so that it is not the sealing key.
std::string RecoveryKey(std::string_view key) {
  crypto::HmacKey root(crypto::Hash::kSha256, key);
  std::string derived(32, '\0');
  root.Compute("tessera mfa recovery codes v1", reinterpret_cast<uint8_t*>(derived.data()));
  return derived;
}

Status WrongKey() {
  return Status(Code::kUnavailable, Reason::kCrypto,
                "a TOTP secret does not open with this server's MFA key: every instance sharing "
                "the account store needs the same key (token.keyset_secret_file, or "
                "<data>/mfa.key)");
}

Status BadTicket() {
  return Status(Code::kUnauthenticated, Reason::kMalformedToken, "not a valid sign-in ticket");
}

// "abcdefghijklmnop" as "abcd-efgh-ijkl-mnop".
std::string Grouped(std::string_view code) {
  std::string out;
  for (size_t i = 0; i < code.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += '-';
    out += code[i];
  }
  return out;
}

}  // namespace

MfaService::MfaService(UserStore* users, std::string_view key, std::string issuer,
                       const Clock* clock)
    : users_(users),
      key_(key),
      recovery_key_(crypto::Hash::kSha256, RecoveryKey(key)),
      issuer_(std::move(issuer)),
      clock_(clock) {}

std::string MfaService::SecretContext(std::string_view user_id) const {
  // Bound to the account: a sealed secret copied into another account's row does not open.
  std::string context = "tessera totp secret v1";
  context += '\0';
  context += user_id;
  return context;
}

std::string MfaService::NormalizeRecoveryCode(std::string_view code) {
  std::string out;
  for (char ch : code) {
    if (ch == '-' || ch == ' ') continue;
    out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  return out;
}

std::string MfaService::HashRecoveryCode(std::string_view user_id,
                                         std::string_view normalized) const {
  std::string message(user_id);
  message += '\0';
  message += normalized;
  uint8_t mac[32];
  recovery_key_.Compute(message, mac);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

Result<MfaService::Enrolment> MfaService::Begin(const User& u) {
  std::string secret = crypto::RandomString(kSecretBytes);
  auto sealed = crypto::SealWithSecret(key_, SecretContext(u.id), secret);
  if (!sealed) {
    crypto::SecureZero(secret.data(), secret.size());
    return sealed.error();
  }
  Totp t{.sealed_secret = jose::Base64UrlEncode(*sealed),
         .confirmed = false,
         .last_step = 0,
         .created_at = clock_->NowSeconds()};
  Enrolment e;
  e.secret = crypto::Base32Encode(secret);
  e.otpauth_uri = crypto::OtpauthUri(issuer_, u.username, secret);
  crypto::SecureZero(secret.data(), secret.size());
  // Atomic in the store: an enrolment never replaces a factor that is on, even one confirmed a
  // moment ago by another request.
  TESSERA_ASSIGN_OR_RETURN(bool started, users_->StartTotp(u.id, t));
  if (!started) {
    return Status(Code::kAlreadyExists, Reason::kNone,
                  "two-step verification is already on: remove it first");
  }
  TESSERA_ASSIGN_OR_RETURN(e.qr_svg, crypto::QrSvg(e.otpauth_uri));
  return e;
}

Result<std::vector<std::string>> MfaService::Confirm(const User& u, std::string_view code,
                                                     const std::function<Status()>& before_on) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<Totp> t, users_->GetTotp(u.id));
  if (!t) {
    return Status(Code::kNotFound, Reason::kNone,
                  "no two-step verification set-up is waiting: start one first");
  }
  if (t->confirmed) {
    return Status(Code::kAlreadyExists, Reason::kNone, "two-step verification is already on");
  }
  auto sealed = jose::Base64UrlDecode(t->sealed_secret);
  if (!sealed) return WrongKey();
  auto secret = crypto::OpenWithSecret(key_, SecretContext(u.id), *sealed);
  if (!secret) return WrongKey();
  const int64_t now = clock_->NowSeconds();
  auto step = crypto::VerifyTotp(*secret, code, now, std::nullopt);
  crypto::SecureZero(secret->data(), secret->size());
  if (!step) return step.error();
  if (before_on) TESSERA_RETURN_IF_ERROR(before_on());
  std::vector<std::string> codes, hashes;
  for (int i = 0; i < kRecoveryCodes; ++i) {
    const std::string raw = crypto::RandomString(kRecoveryBytes);
    std::string code32 = crypto::Base32Encode(raw);
    for (char& ch : code32) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    hashes.push_back(HashRecoveryCode(u.id, code32));
    codes.push_back(Grouped(code32));
  }
  // Only the enrolment this code was checked against turns on: not one that another start
  // replaced meanwhile, nor one an administrator removed.
  TESSERA_ASSIGN_OR_RETURN(bool on, users_->ConfirmTotp(u.id, t->sealed_secret, *step, hashes, now));
  if (!on) {
    return Status(Code::kNotFound, Reason::kNone,
                  "the set-up changed meanwhile (started again elsewhere, or removed): start again");
  }
  return codes;
}

Result<bool> MfaService::Enabled(std::string_view user_id) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<Totp> t, users_->GetTotp(user_id));
  return t && t->confirmed;
}

Result<bool> MfaService::Remove(std::string_view user_id) { return users_->RemoveTotp(user_id); }

Result<std::string> MfaService::IssueTicket(const User& u, std::string_view mode) {
  const std::string nonce = crypto::RandomString(16);
  const int64_t expires = clock_->NowSeconds() + kTicketSeconds;
  TESSERA_ASSIGN_OR_RETURN(bool opened,
                           users_->SetMfaTicket(u.id, crypto::HexSha256(nonce), expires));
  if (!opened) return Status(Code::kNotFound, Reason::kNone, "no second factor");
  std::string plain = u.id;
  plain += '\0';
  plain += mode;
  plain += '\0';
  plain += std::to_string(expires);
  plain += '\0';
  plain += nonce;
  TESSERA_ASSIGN_OR_RETURN(std::string sealed, crypto::SealWithSecret(key_, kTicketContext, plain));
  return jose::Base64UrlEncode(sealed);
}

Result<MfaService::Ticket> MfaService::OpenTicket(std::string_view ticket) const {
  if (ticket.empty() || ticket.size() > 512) return BadTicket();
  auto sealed = jose::Base64UrlDecode(ticket);
  if (!sealed) return BadTicket();
  auto plain = crypto::OpenWithSecret(key_, kTicketContext, *sealed);
  if (!plain) return BadTicket();
  // user id NUL mode NUL expiry NUL nonce (16 random bytes, which may hold NULs: it is last).
  const std::string_view p = *plain;
  const size_t a = p.find('\0');
  const size_t b = a == std::string_view::npos ? a : p.find('\0', a + 1);
  const size_t c = b == std::string_view::npos ? b : p.find('\0', b + 1);
  if (c == std::string_view::npos || p.size() - c - 1 != 16) return BadTicket();
  const std::string_view expiry = p.substr(b + 1, c - b - 1);
  int64_t expires = 0;
  auto [end, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), expires);
  if (ec != std::errc() || end != expiry.data() + expiry.size()) return BadTicket();
  if (expires <= clock_->NowSeconds()) {
    return Status(Code::kUnauthenticated, Reason::kExpired, "the sign-in ticket has expired");
  }
  return Ticket{.user_id = std::string(p.substr(0, a)),
                .mode = std::string(p.substr(a + 1, b - a - 1)),
                .nonce_hash = crypto::HexSha256(p.substr(c + 1))};
}

Result<MfaService::Outcome> MfaService::Complete(const Ticket& t, std::string_view code,
                                                 bool recovery) {
  UserStore::MfaUse use{.ticket_hash = t.nonce_hash, .now = clock_->NowSeconds()};
  TESSERA_ASSIGN_OR_RETURN(std::optional<Totp> totp, users_->GetTotp(t.user_id));
  // The ticket first: a used, replaced or expired one is no wrong code (and costs no strike).
  if (!totp || !totp->confirmed || totp->ticket_hash.empty() ||
      !crypto::ConstantTimeEquals(totp->ticket_hash, t.nonce_hash) ||
      totp->ticket_expires_at <= use.now) {
    return Outcome::kBadTicket;
  }
  // The secret must open whichever code is given: an instance with another key is a fault to
  // report, not a reason to count the user's right recovery code as wrong.
  auto sealed = jose::Base64UrlDecode(totp->sealed_secret);
  if (!sealed) return WrongKey();
  auto secret = crypto::OpenWithSecret(key_, SecretContext(t.user_id), *sealed);
  if (!secret) return WrongKey();
  if (recovery) {
    crypto::SecureZero(secret->data(), secret->size());
    const std::string normalized = NormalizeRecoveryCode(code);
    if (normalized.size() != 16 ||
        normalized.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567") != std::string::npos) {
      return Outcome::kWrongCode;
    }
    use.recovery_hash = HashRecoveryCode(t.user_id, normalized);
    bool listed = false;
    for (const std::string& h : totp->recovery_hashes) {
      listed = crypto::ConstantTimeEquals(h, use.recovery_hash) || listed;
    }
    if (!listed) return Outcome::kWrongCode;
  } else {
    auto step = crypto::VerifyTotp(*secret, code, use.now, totp->last_step);
    crypto::SecureZero(secret->data(), secret->size());
    if (!step) {
      if (step.error().code() == Code::kUnauthenticated) return Outcome::kWrongCode;
      return step.error();
    }
    use.step = *step;
  }
  // The store decides "once": a concurrent use of this ticket or this code took it first.
  TESSERA_ASSIGN_OR_RETURN(bool used, users_->UseMfa(t.user_id, use));
  return used ? Outcome::kAccepted : Outcome::kBadTicket;
}

}  // namespace tessera::user
