#!/usr/bin/env python3
"""Writes the section "## HTTP: accounts in PostgreSQL (issue 14)" of docs/benchmarks.md from
the outputs bench/postgres/run left in OUT (wrk runs login-SERVER-R.txt, cold /v1/me runs
me-SERVER-R.json). Medians over the repetitions; the login ratio is taken per repetition, between
runs made one after the other, and its median reported with the range.
  report.py OUT DEST REPS LOGIN_SECONDS LOGIN_CONNECTIONS USERS LOADAVG PG_VERSION"""
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from sections import parse_wrk, write_section  # noqa: E402

out, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
reps, login_s, login_c, users = (int(x) for x in sys.argv[3:7])
loadavg, pg_version = sys.argv[7:9]
HEADING = "## HTTP: accounts in PostgreSQL (issue 14)"
SERVERS = ("postgres", "sqlite")




login = {s: [parse_wrk(out / f"login-{s}-{r}.txt") for r in range(1, reps + 1)] for s in SERVERS}
me = {s: [json.loads((out / f"me-{s}-{r}.json").read_text()) for r in range(1, reps + 1)]
      for s in SERVERS}
ratios = [p["ok_rate"] / q["ok_rate"] for p, q in zip(login["postgres"], login["sqlite"])]
med = statistics.median

lines = [HEADING, ""]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines.append(
    f"- Date: {date}; host: {os.cpu_count()} CPUs, {platform.platform()}, load average {loadavg} "
    f"before the run; PostgreSQL {pg_version} (Debian's, a fresh initdb, fsync on, loopback TCP "
    "with SCRAM).")
lines.append(
    "- Command: `make bench` (bench/postgres/run; alone: `bench/postgres/run build`). Two "
    "`tessera serve` from one binary, each with its own data directory and sessions in SQLite: "
    "accounts in PostgreSQL (`users.store = \"postgresql://…\"`, default pool and timeouts) and "
    f"accounts in SQLite. Sign-ins: wrk `-t1 -c{login_c} -d{login_s}s -s bench/http/login.lua` "
    f"(one account, Argon2id m=19 MiB t=2), {reps} repetitions alternating the two. Cold /v1/me: "
    f"{users} accounts signed in once each, the server restarted (empty session and account "
    "caches), then each cookie's first GET /v1/me one after the other (Node fetch, keep-alive), "
    f"{reps} repetitions.")
lines.append("")
lines.append("| work | accounts in PostgreSQL | accounts in SQLite | PostgreSQL / SQLite |")
lines.append("|---|---|---|---|")
lines.append(
    f"| POST /v1/login, sign-ins/s (median) | {med(r['ok_rate'] for r in login['postgres']):.1f} | "
    f"{med(r['ok_rate'] for r in login['sqlite']):.1f} | {med(ratios):.2f}× "
    f"({min(ratios):.2f} to {max(ratios):.2f}) |")
lines.append(
    f"| POST /v1/login, p99 (median) | {med(r['p99'] for r in login['postgres']) * 1e3:.0f} ms | "
    f"{med(r['p99'] for r in login['sqlite']) * 1e3:.0f} ms | |")
for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
    p = med(r[key] for r in me["postgres"])
    q = med(r[key] for r in me["sqlite"])
    lines.append(f"| GET /v1/me on cold caches, {label} (median) | {p:.2f} ms | {q:.2f} ms | "
                 f"{p / q:.2f}× |")
errors = sum(r["non2xx"] for s in SERVERS for r in login[s])
lines.append("")
lines.append(
    f"- Target: PostgreSQL lowers sign-in throughput by at most 10% (ratio ≥ 0.90): "
    f"{'met' if med(ratios) >= 0.90 else 'NOT met'} at {med(ratios):.2f}×. Argon2id bounds a "
    "sign-in; the account read is one prepared SELECT on a pooled connection. Non-2xx answers "
    f"during the sign-in runs: {errors}.")
lines.append(
    "- A cold /v1/me reads the session (SQLite in both) and the account (one round trip to "
    "PostgreSQL, or a local SQLite read); a warm one reads neither (the caches).")
section = "\n".join(lines) + "\n"

write_section(dest, HEADING, section)
print(section)
