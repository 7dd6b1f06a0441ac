#include "store/postgres/client.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tessera::store::pg {
namespace {

Status Unavailable(std::string message) {
  return Status(Code::kUnavailable, Reason::kStore, "postgresql: " + std::move(message));
}

// libpq's messages end with a newline and may span lines; one line reads better in a log.
std::string OneLine(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& ch : s) {
    if (ch == '\n' || ch == '\t') ch = ' ';
  }
  return s;
}

int MillisLeft(Deadline deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60000));
}

// The raw text of the URL's password: the userinfo after its first ':', and a password=
// parameter of the query. Empty when there is none.
std::vector<std::string_view> Passwords(std::string_view url) {
  std::vector<std::string_view> out;
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return out;
  std::string_view rest = url.substr(scheme + 3);
  const size_t query = rest.find('?');
  const std::string_view params = query == std::string_view::npos ? "" : rest.substr(query + 1);
  rest = rest.substr(0, query);
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    if (const size_t colon = userinfo.find(':');
        colon != std::string_view::npos && colon + 1 < userinfo.size()) {
      out.push_back(userinfo.substr(colon + 1));
    }
  }
  for (size_t start = 0; start < params.size();) {
    const size_t amp = params.find('&', start);
    const std::string_view kv = params.substr(start, amp == std::string_view::npos ? params.npos
                                                                                    : amp - start);
    if (kv.starts_with("password=") && kv.size() > 9) out.push_back(kv.substr(9));
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

// A URL whose user or password holds an unencoded '@' or '/' reads differently to libpq than to
// the person who wrote it (the rest of the password becomes a host, a port, a database name,
// and libpq's errors quote them): refused, whatever the caller checked before.
Status CheckUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return InvalidArgument(Reason::kBadConfig, "postgresql: not a postgresql:// URL");
  }
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find('?'));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos &&
      rest.substr(0, at).find_first_of("@/") != std::string_view::npos) {
    return InvalidArgument(Reason::kBadConfig,
                           "postgresql: percent-encode '@' and '/' in the URL's user and password "
                           "(%40, %2F)");
  }
  return Status::Ok();
}

// SQLSTATE classes after which the same statement may well succeed later: connection
// exceptions (08), insufficient resources (53: too many connections, disk full), operator
// intervention (57: shutdown, statement timeout, cancel), transaction rollback (40: serialization
// failure, deadlock), a lock not granted within lock_timeout, and the server not accepting
// connections yet (57P03).
bool Transient(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate.starts_with("53") ||
         sqlstate.starts_with("57") || sqlstate.starts_with("40") ||
         sqlstate == "55P03";  // lock_not_available: lock_timeout
}

// libpq quotes what it cannot parse, a malformed password included ("invalid percent-encoded
// token: ..."): every password of `url` (Passwords) is cut out of `message`.
std::string Scrubbed(std::string message, std::string_view url) {
  for (const std::string_view password : Passwords(url)) {
    for (size_t p; (p = message.find(password)) != std::string::npos;) {
      message.replace(p, password.size(), "REDACTED");
    }
  }
  return message;
}

}  // namespace

long Rows::Affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::strtol(n, nullptr, 10) : 0;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url,
                                                     std::chrono::milliseconds statement_timeout,
                                                     Deadline deadline) {
  // Ours first, the URL last: libpq expands the URL in place, so what it says wins. libpq's
  // connect_timeout does not apply to PQconnectPoll: the deadline below is what bounds a connect
  // (with several hosts in the URL, all of them within it).
  TESSERA_RETURN_IF_ERROR(CheckUrl(url));
  const char* keys[] = {"application_name", "connect_timeout", "dbname", nullptr};
  const char* values[] = {"tessera", "10", url.c_str(), nullptr};
  PGconn* c = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) return Unavailable("out of memory");
  std::unique_ptr<Connection> conn(new Connection(c));
  if (PQstatus(c) == CONNECTION_BAD) {
    return Unavailable("cannot connect: " + Scrubbed(OneLine(PQerrorMessage(c)), url));
  }
  // PQconnectPoll's protocol: wait for what it asks, then call it again.
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      return Unavailable("cannot connect: " + Scrubbed(OneLine(PQerrorMessage(c)), url));
    }
    // PGRES_POLLING_ACTIVE (documented, never returned by current libpq): call again at once.
    if (state != PGRES_POLLING_ACTIVE &&
        !conn->Wait(state == PGRES_POLLING_WRITING, deadline)) {
      return Unavailable("no connection within the connect timeout");
    }
    state = PQconnectPoll(c);
  }
  if (PQsetnonblocking(c, 1) != 0) return Unavailable("cannot use non-blocking mode");
  // Notices ("relation already exists, skipping") are for people at a psql prompt; libpq's
  // default prints them on stderr.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  // The server ends a statement the client gave up on (a client timeout drops the connection;
  // this bounds what runs on meanwhile), and one waiting for a lock.
  const std::string ms = std::to_string(statement_timeout.count());
  auto set = conn->Script("SET statement_timeout = " + ms + "; SET lock_timeout = " + ms,
                          deadline);
  if (!set) return set.error();
  return conn;
}

Connection::~Connection() { PQfinish(c_); }

bool Connection::usable() const { return !broken_ && PQstatus(c_) == CONNECTION_OK; }

bool Connection::idle() const { return PQtransactionStatus(c_) == PQTRANS_IDLE; }

bool Connection::ClosedWhileIdle() {
  if (!usable()) return true;
  pollfd p{.fd = PQsocket(c_), .events = POLLIN, .revents = 0};
  if (p.fd < 0) return true;
  // Nothing to read: as we left it. An idle connection is told nothing but, before the server
  // closes it, why ("terminating connection due to administrator command"), and libpq may see
  // the message before the end of the stream: anything at all means it is going.
  return ::poll(&p, 1, 0) != 0;
}

bool Connection::Wait(bool write, Deadline deadline) {
  pollfd p{.fd = PQsocket(c_),
           .events = static_cast<short>(POLLIN | (write ? POLLOUT : 0)),
           .revents = 0};
  if (p.fd < 0) return false;
  while (true) {
    const int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
    // A timeout (each poll waits at most a minute) or a signal: on until the deadline.
    if (Clock::now() >= deadline) return false;
  }
}

Status Connection::Broken(std::string what) {
  broken_ = true;
  return Unavailable(std::move(what));
}

Status Connection::Flush(Deadline deadline) {
  while (true) {
    const int r = PQflush(c_);
    if (r == 0) return Status::Ok();
    if (r < 0) return Broken("cannot send: " + OneLine(PQerrorMessage(c_)));
    if (!Wait(/*write=*/true, deadline)) return Broken("no answer within the statement timeout");
    if (PQconsumeInput(c_) == 0) return Broken("connection lost: " + OneLine(PQerrorMessage(c_)));
  }
}

Result<Rows> Connection::Collect(Deadline deadline) {
  std::optional<Rows> last;
  std::optional<Status> error;
  while (true) {
    while (PQisBusy(c_)) {
      if (!Wait(/*write=*/false, deadline)) return Broken("no answer within the statement timeout");
      if (PQconsumeInput(c_) == 0) {
        return Broken("connection lost: " + OneLine(PQerrorMessage(c_)));
      }
    }
    PGresult* r = PQgetResult(c_);
    if (r == nullptr) break;
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      last.emplace(r);
      continue;
    }
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const std::string sqlstate = state ? state : "";
    const std::string message = OneLine(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
    PQclear(r);
    if (error) continue;  // the first error is the one that matters; drain the rest
    if (sqlstate == "23505") {
      error = Status(Code::kAlreadyExists, Reason::kStore, "postgresql: " + message);
    } else if (sqlstate == "23503") {  // foreign_key_violation: the row referred to is gone
      error = Status(Code::kNotFound, Reason::kStore, "postgresql: " + message);
    } else if (Transient(sqlstate) || sqlstate.empty()) {
      // Also PGRES_FATAL_ERROR without a SQLSTATE: libpq's own (the connection went away).
      error = Unavailable(message.empty() ? OneLine(PQerrorMessage(c_)) : message);
      // The connection itself is gone (shutdown, crash, admin termination: 57P0x).
      if (sqlstate.empty() || sqlstate.starts_with("08") || sqlstate.starts_with("57P")) {
        broken_ = true;
      }
    } else {
      error = Status(Code::kInternal, Reason::kStore,
                     "postgresql: " + message + " (SQLSTATE " + sqlstate + ")");
    }
  }
  if (PQstatus(c_) != CONNECTION_OK) broken_ = true;
  if (error) return *error;
  if (!last) return Broken("no result");
  return std::move(*last);
}

Result<Rows> Connection::Run(const Statement& st, const std::vector<Param>& params,
                             Deadline deadline) {
  if (!usable()) return Broken("connection lost");
  if (!prepared_.contains(st.name)) {
    if (PQsendPrepare(c_, st.name, st.sql, static_cast<int>(params.size()), nullptr) == 0) {
      return Broken("cannot send: " + OneLine(PQerrorMessage(c_)));
    }
    TESSERA_RETURN_IF_ERROR(Flush(deadline));
    TESSERA_ASSIGN_OR_RETURN(Rows prepared, Collect(deadline));
    (void)prepared;
    prepared_.insert(st.name);
  }
  // libpq reads text parameters up to their NUL (lengths are for binary ones), and views need
  // not end in one: hand it terminated copies. A NUL inside a value cannot be sent as text at all.
  std::vector<std::string> copies;
  std::vector<const char*> values;
  copies.reserve(params.size());
  for (const Param& p : params) {
    if (!p) {
      values.push_back(nullptr);
      continue;
    }
    if (p->find('\0') != std::string_view::npos) {
      return Status(Code::kInvalidArgument, Reason::kStore, "postgresql: a NUL byte in a value");
    }
    copies.emplace_back(*p);
    values.push_back(copies.back().c_str());
  }
  if (PQsendQueryPrepared(c_, st.name, static_cast<int>(params.size()), values.data(), nullptr,
                          nullptr, 0) == 0) {
    return Broken("cannot send: " + OneLine(PQerrorMessage(c_)));
  }
  TESSERA_RETURN_IF_ERROR(Flush(deadline));
  return Collect(deadline);
}

Result<Rows> Connection::Script(std::string_view sql, Deadline deadline) {
  if (!usable()) return Broken("connection lost");
  const std::string text(sql);
  if (PQsendQuery(c_, text.c_str()) == 0) {
    return Broken("cannot send: " + OneLine(PQerrorMessage(c_)));
  }
  TESSERA_RETURN_IF_ERROR(Flush(deadline));
  return Collect(deadline);
}

// ---- Pool -------------------------------------------------------------------------------------

Pool::~Pool() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

Result<Pool::Lease> Pool::Acquire(Deadline deadline) {
  std::unique_lock lock(mu_);
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (!c->ClosedWhileIdle()) return Lease(this, std::move(c));
      --open_;  // closed by the server while idle: drop it, try the next
    }
    if (open_ < options_.pool_size) break;
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      return Status(Code::kUnavailable, Reason::kStoreBusy,
                    "postgresql: every connection of the pool is in use");
    }
  }
  ++open_;
  lock.unlock();
  Result<std::unique_ptr<Connection>> c = InternalError(Reason::kStore, "postgresql: no connection");
  try {
    c = Connection::Open(url_, options_.statement_timeout,
                         std::min(deadline, Clock::now() + options_.connect_timeout));
  } catch (...) {
    c = InternalError(Reason::kStore, "postgresql: out of memory");
  }
  if (!c) {
    lock.lock();
    --open_;
    returned_.notify_one();
    return c.error();
  }
  return Lease(this, std::move(*c));
}

void Pool::Return(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  // Only a connection at rest goes back: not one left inside a transaction or a statement.
  if (c->usable() && c->idle()) {
    idle_.push_back(std::move(c));
  } else {
    --open_;
  }
  returned_.notify_one();
}

Result<Rows> Pool::Run(const Statement& st, const std::vector<Param>& params) {
  // One bound for the whole call, whatever it waits for: a free connection, a new one, the
  // statement. With the defaults a caller has its answer, or its 503, within 2 s.
  const Deadline end = Clock::now() + options_.connect_timeout + options_.statement_timeout;
  TESSERA_ASSIGN_OR_RETURN(Lease c, Acquire(end));
  return c->Run(st, params, std::min(end, Clock::now() + options_.statement_timeout));
}

// ---- text[] -----------------------------------------------------------------------------------

Result<std::vector<std::string>> DecodeTextArray(std::string_view text) {
  auto bad = [] { return Status(Code::kInternal, Reason::kStore, "postgresql: malformed text[]"); };
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return bad();
  std::vector<std::string> out;
  const std::string_view body = text.substr(1, text.size() - 2);
  if (body.empty()) return out;
  size_t i = 0;
  while (true) {
    std::string item;
    if (i < body.size() && body[i] == '"') {
      ++i;
      bool closed = false;
      while (i < body.size()) {
        const char ch = body[i++];
        if (ch == '"') {
          closed = true;
          break;
        }
        if (ch == '\\') {
          if (i == body.size()) return bad();
          item.push_back(body[i++]);
        } else {
          item.push_back(ch);
        }
      }
      if (!closed) return bad();
    } else {
      const size_t end = body.find(',', i);
      item.assign(body.substr(i, end == std::string_view::npos ? body.size() - i : end - i));
      // Unquoted elements are never empty and hold none of these; NULL is a NULL element.
      if (item.empty() || item.find_first_of("{}\"\\ ") != std::string::npos) return bad();
      if (item.size() == 4 && (item[0] | 0x20) == 'n' && (item[1] | 0x20) == 'u' &&
          (item[2] | 0x20) == 'l' && (item[3] | 0x20) == 'l') {
        return bad();
      }
      i += item.size();
    }
    out.push_back(std::move(item));
    if (i == body.size()) return out;
    if (body[i] != ',') return bad();
    ++i;
  }
}

std::string EncodeTextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char ch : items[i]) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

}  // namespace tessera::store::pg
