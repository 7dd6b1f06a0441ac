#!/usr/bin/env python3
"""The unit's system call filter against what `tessera serve` really calls.

tessera.service allows SystemCallFilter=@system-service minus @privileged and @resources; a call
outside that set kills nothing (SystemCallErrorNumber=EPERM) but fails, which would break the
server only under systemd, where CI never starts it. So: run the packaged binary under strace
through a start, /readyz, a sign-in (Argon2 in its arena), /v1/me, forward-auth, a logout, a
malformed request, SIGHUP (reopening the logs) and SIGTERM, and check every system call it made
against the set systemd-analyze expands the filter to.

  tests/packaging/syscalls.py TESSERA_BINARY WORK_DIR UNIT_FILE
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def fail(message):
    print(f"syscalls: {message}", file=sys.stderr)
    sys.exit(1)


def filter_groups():
    """Every @group systemd knows, with its members (system calls and nested @groups)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif current is not None and line.startswith("    ") and not line.strip().startswith("#"):
            current.add(line.strip())
    return groups


def expand(name, groups, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    calls = set()
    for member in groups.get(name, ()):
        calls |= expand(member, groups, seen)
    return calls


def allowed_by(unit_file, groups):
    """The set the unit's SystemCallFilter= lines leave allowed (allow lists, then ~deny lists)."""
    allowed = None
    for line in open(unit_file, encoding="utf-8"):
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        deny = value.startswith("~")
        names = value.lstrip("~").split()
        calls = set().union(*(expand(n, groups) for n in names))
        if deny:
            allowed = (allowed or set()) - calls
        else:
            allowed = (allowed or set()) | calls
    if not allowed:
        fail(f"no SystemCallFilter= in {unit_file}")
    return allowed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def tessera_pid(strace_pid):
    """The traced tessera: strace's child."""
    with open(f"/proc/{strace_pid}/task/{strace_pid}/children", encoding="ascii") as f:
        return int(f.read().split()[0])


def main():
    binary, work, unit = sys.argv[1:4]
    data = os.path.join(work, "data")
    password = "syscall filter check 7"
    # The unit runs tessera as its own user, never root; as root, SQLite would fchown each new
    # file (a call the filter refuses and the service never makes). So as root, run as nobody.
    as_user = []
    if os.geteuid() == 0:
        as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        os.chmod(work, 0o777)
    subprocess.run(as_user + [binary, "user", "add", "alice", "--data", data, "--password-stdin"],
                   input=password + "\n", text=True, check=True, capture_output=True)
    port = free_port()
    trace = os.path.join(work, "trace")
    access_log = os.path.join(work, "access.log")
    env = dict(os.environ, TESSERA_SERVER_ACCESS_LOG=access_log, TESSERA_COOKIE_SECURE="false",
               TESSERA_COOKIE_NAME="tessera_session")
    server = subprocess.Popen(["strace", "-f", "-qq", "-o", trace] + as_user + [binary, "serve", "--listen",
                               f"127.0.0.1:{port}", "--data", data], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                fail("the server did not become ready: " + server.stderr.read().decode()[-2000:])
            time.sleep(0.1)
        origin = {"Origin": f"http://127.0.0.1:{port}"}
        status, headers, body = request(port, "POST", "/v1/login",
                                        {"username": "alice", "password": password}, origin)
        if status != 200:
            fail(f"sign-in: {status} {body[:200]}")
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        csrf = json.loads(body)["csrf_token"]
        if request(port, "GET", "/v1/me", headers={"Cookie": cookie})[0] != 200:
            fail("/v1/me")
        if request(port, "GET", "/v1/auth", headers={"Cookie": cookie})[0] != 200:
            fail("/v1/auth")
        if request(port, "POST", "/v1/login", b"{", origin)[0] != 400:
            fail("a malformed body was not refused with 400")
        os.rename(access_log, access_log + ".1")
        os.kill(tessera_pid(server.pid), signal.SIGHUP)
        deadline = time.time() + 10
        while not os.path.exists(access_log):
            if time.time() > deadline:
                fail("SIGHUP did not reopen the access log")
            time.sleep(0.05)
        status = request(port, "POST", "/v1/logout", {},
                         dict(origin, Cookie=cookie, **{"X-CSRF-Token": csrf}))[0]
        if status != 204:
            fail(f"logout: {status}")
    finally:
        # Signals go to tessera itself: strace, its parent here, would not pass them on.
        try:
            os.kill(tessera_pid(server.pid), signal.SIGTERM)
        except (OSError, IndexError):
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            fail("the server did not stop on SIGTERM")
    if server.returncode != 0:
        fail(f"the server exited {server.returncode}")

    allowed = allowed_by(unit, filter_groups())
    call = re.compile(r"^\d+\s+([a-z_0-9]+)\(")
    # What starts the program (strace's execve, setpriv's change of user) comes before tessera
    # runs under the unit's filter: count from tessera's own execve on.
    used = set()
    started = False
    for line in open(trace, encoding="utf-8", errors="replace"):
        if not started:
            started = re.match(r'^\d+\s+execve\("[^"]*' + re.escape(os.path.basename(binary)) + '"',
                               line) is not None
            continue
        m = call.match(line)
        if m:
            used.add(m.group(1))
    if not started:
        fail("the trace does not show tessera starting")
    outside = sorted(used - allowed)
    if outside:
        fail("tessera serve calls what the unit's SystemCallFilter refuses: " + ", ".join(outside))
    print(f"syscalls: tessera serve used {len(used)} system calls, all allowed by the unit's filter")


if __name__ == "__main__":
    main()
