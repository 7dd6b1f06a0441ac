#include "user/account_service.h"

namespace tessera::user {

Result<User> AccountService::Create(std::string_view name, std::string_view password,
                                    std::vector<std::string> roles) {
  TESSERA_RETURN_IF_ERROR(crypto::CheckNewPassword(password, {.username = name}));
  // Hash first: a taken name costs the same time as a free one.
  TESSERA_ASSIGN_OR_RETURN(std::string hash, hasher_->Hash(password));
  User u{.id = NewUserId(),
         .username = std::string(name),
         .password_hash = std::move(hash),
         .roles = std::move(roles),
         .created_at = clock_->NowSeconds()};
  TESSERA_RETURN_IF_ERROR(users_->Add(u));
  return u;
}

Result<AccountService::Removed> AccountService::Remove(std::string_view name) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<User> found, users_->FindByName(name));
  if (!found) {
    return Status(Code::kNotFound, Reason::kUnknownUser, "no user " + std::string(name));
  }
  Removed out{.user = std::move(*found), .ended = {}};
  // Sessions first, so no session outlives its account; then again, for a sign-in that raced.
  TESSERA_ASSIGN_OR_RETURN(out.ended, sessions_->RevokeAll(out.user.id, ""));
  TESSERA_RETURN_IF_ERROR(users_->Remove(out.user.username));
  TESSERA_ASSIGN_OR_RETURN(std::vector<session::Session> raced,
                           sessions_->RevokeAll(out.user.id, ""));
  out.ended.insert(out.ended.end(), raced.begin(), raced.end());
  return out;
}

Result<std::vector<session::Session>> AccountService::SetPassword(const User& user,
                                                                  std::string_view password,
                                                                  std::string_view keep_id_hash) {
  TESSERA_RETURN_IF_ERROR(crypto::CheckNewPassword(password, {.username = user.username}));
  TESSERA_ASSIGN_OR_RETURN(std::string hash, hasher_->Hash(password));
  TESSERA_RETURN_IF_ERROR(users_->SetPasswordHash(user.id, hash));
  return sessions_->RevokeAll(user.id, keep_id_hash);
}

}  // namespace tessera::user
