// Server-side sessions: the record a store keeps, one per login, cookie and token alike.
#pragma once

#include <cstdint>
#include <string>

namespace tessera::session {

enum class SessionKind : uint8_t {
  kCookie,  // a browser session: the secret rides in the session cookie
  kToken,   // an API login: the secret is the refresh-token family (issue 4)
};

struct Session {
  // SHA-256 (binary, 32 bytes) of the session secret. The secret itself is never stored, so a
  // copy of the database yields no usable cookie.
  std::string id_hash;
  // A public handle (random, unrelated to the secret) that names the session in listings and
  // revocation requests. Knowing it grants nothing.
  std::string handle;
  std::string user_id;
  // SHA-256 of the CSRF token bound to this session (cookie sessions only).
  std::string csrf_hash;
  SessionKind kind = SessionKind::kCookie;
  int64_t created_at = 0;
  int64_t last_seen_at = 0;
  int64_t expires_at = 0;  // the absolute deadline; idle expiry is last_seen_at + idle timeout
  // The latest `exp` of any access token issued for this session (its handle is their `sid`);
  // 0: none. While it lies ahead, removing the session leaves the handle in the store's
  // revocation list until then, so a restarted verifier still rejects those tokens.
  int64_t tokens_until = 0;
  std::string user_agent;  // as sent, truncated to 256 bytes
  std::string ip;
  // True when the sign-in that made this session passed a second factor as well as the password
  // (its "amr" is ["pwd","otp"], RFC 8176; otherwise ["pwd"]).
  bool mfa = false;

  friend bool operator==(const Session&, const Session&) = default;
};

}  // namespace tessera::session
