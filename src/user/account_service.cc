#include "user/account_service.h"

#include <algorithm>

namespace tessera::user {

Result<User> AccountService::Create(std::string_view name, std::string_view password,
                                    std::vector<std::string> roles) {
  TESSERA_RETURN_IF_ERROR(CheckRoles(roles));
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

Result<User> AccountService::Find(std::string_view name) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<User> found, users_->FindByName(name));
  if (!found) {
    return Status(Code::kNotFound, Reason::kUnknownUser, "no user " + std::string(name));
  }
  return std::move(*found);
}

Result<AccountService::Removed> AccountService::Remove(std::string_view name) {
  TESSERA_ASSIGN_OR_RETURN(User found, Find(name));
  Removed out{.user = std::move(found), .ended = {}};
  // Sessions first, so no session outlives its account; then again, for a sign-in that raced.
  TESSERA_ASSIGN_OR_RETURN(out.ended, sessions_->RevokeAll(out.user.id, ""));
  TESSERA_RETURN_IF_ERROR(users_->Remove(out.user.username));
  TESSERA_RETURN_IF_ERROR(sessions_->PublishUserChanged(out.user.id));
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
  TESSERA_RETURN_IF_ERROR(sessions_->PublishUserChanged(user.id));
  return sessions_->RevokeAll(user.id, keep_id_hash);
}

Result<User> AccountService::SetRoles(std::string_view name, std::vector<std::string> roles) {
  std::vector<std::string> unique;
  for (std::string& r : roles) {
    TESSERA_RETURN_IF_ERROR(CheckRoleName(r));
    if (std::find(unique.begin(), unique.end(), r) == unique.end()) unique.push_back(std::move(r));
  }
  TESSERA_RETURN_IF_ERROR(CheckRoles(unique));
  TESSERA_ASSIGN_OR_RETURN(User found, Find(name));
  TESSERA_RETURN_IF_ERROR(users_->SetRoles(found.id, unique));
  TESSERA_RETURN_IF_ERROR(sessions_->PublishUserChanged(found.id));
  found.roles = std::move(unique);
  return found;
}

Result<AccountService::Changed> AccountService::SetDisabled(std::string_view name, bool disabled) {
  TESSERA_ASSIGN_OR_RETURN(User found, Find(name));
  Changed out{.user = std::move(found), .ended = {}};
  if (disabled) {
    // As for removal: sessions first, then the flag, then again for a sign-in that raced.
    TESSERA_ASSIGN_OR_RETURN(out.ended, sessions_->RevokeAll(out.user.id, ""));
  }
  TESSERA_RETURN_IF_ERROR(users_->SetDisabled(out.user.id, disabled));
  TESSERA_RETURN_IF_ERROR(sessions_->PublishUserChanged(out.user.id));
  out.user.disabled = disabled;
  if (disabled) {
    TESSERA_ASSIGN_OR_RETURN(std::vector<session::Session> raced,
                             sessions_->RevokeAll(out.user.id, ""));
    out.ended.insert(out.ended.end(), raced.begin(), raced.end());
  }
  return out;
}

Result<AccountService::MfaReset> AccountService::ResetMfa(std::string_view name) {
  TESSERA_ASSIGN_OR_RETURN(User found, Find(name));
  MfaReset out{.user = std::move(found), .removed = false, .ended = {}};
  TESSERA_ASSIGN_OR_RETURN(out.removed, users_->RemoveTotp(out.user.id));
  // Whoever signed in with the factor that is now gone (perhaps the one who took the phone)
  // signs in again.
  TESSERA_ASSIGN_OR_RETURN(out.ended, sessions_->RevokeAll(out.user.id, ""));
  return out;
}

}  // namespace tessera::user
