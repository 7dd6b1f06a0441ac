#!/usr/bin/env python3
"""Turns the wrk outputs of bench/http/run into the sections "## HTTP: session checks and sign-in
(issue 3)" and "## HTTP: bearer tokens and refresh (issue 4)" of docs/benchmarks.md: medians over
the repetitions, ratios taken within each repetition (the runs compared were made one after the
other, minutes apart at most), and each target of the issues with its verdict. Replaces only the
sections whose scenarios ran (meta.txt's scenarios=); the rest of the file is kept.
    bench/http/report.py RESULTS_DIR DOC"""
import datetime
import json
import pathlib
import platform
import re
import statistics
import sys

HEADING = "## HTTP: session checks and sign-in (issue 3)"
TOKEN_HEADING = "## HTTP: bearer tokens and refresh (issue 4)"
# bench/http/notes.md: what is above this line goes under the session section, the rest under the
# bearer tokens section.
NOTES_SPLIT = "<!-- issue 4: bearer tokens and refresh -->"

results, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
meta = dict(line.split("=", 1)
            for line in (results / "meta.txt").read_text().splitlines() if "=" in line)
reps = int(meta["reps"])
auth_s, login_s = meta["auth_seconds"], meta["login_seconds"]
login_c, mixed_c = meta["login_connections"], meta["mixed_connections"]
scenarios = set(meta.get("scenarios", "session").split(","))
notes_path = pathlib.Path(__file__).with_name("notes.md")
notes_text = notes_path.read_text() if notes_path.exists() else ""
session_notes, _, token_notes = (re.sub(r"<!--.*?-->\n?", "", part, flags=re.S)
                                  for part in notes_text.partition(NOTES_SPLIT))


def seconds(value, unit):
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def parse(path):
    """One wrk output: requests, duration, req/s, p50/p99 (s), non-2xx, socket errors."""
    text = path.read_text()
    run = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    run["requests"], run["duration"] = int(m.group(1)), seconds(m.group(2), m.group(3))
    run["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)", text, re.M)
        run[f"p{pct}"] = seconds(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    run["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    run["errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"chains broken: (\d+) of (\d+)", text)  # bench/http/refresh.lua
    run["broken"] = int(m.group(1)) if m else None
    run["ok_rate"] = (run["requests"] - run["non2xx"]) / run["duration"]
    cpu = path.with_suffix(".cpu")
    run["cpu"] = float(cpu.read_text()) if cpu.exists() else None
    run["cores"] = run["cpu"] / run["duration"] if cpu.exists() else None
    ok = run["requests"] - run["non2xx"]
    run["cpu_per_ok"] = run["cpu"] / ok if cpu.exists() and ok else None
    return run


def series(case, server):
    return [parse(results / f"{case}-{server}-{r}.txt") for r in range(1, reps + 1)]


def series_if_run(case, server):
    """The runs of CASE against SERVER, or None when it was not run (a skipped variant)."""
    if not (results / f"{case}-{server}-1.txt").exists():
        return None
    return series(case, server)


def med(runs, key):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def ratio(a, b, key):
    """Median over the repetitions of a/b, each repetition's pair measured side by side."""
    values = [x[key] / y[key] for x, y in zip(a, b) if y[key]]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt_ratio(r, digits=2):
    if r is None:
        return "n/a"
    return f"{r[0]:.{digits}f}x [{r[1]:.{digits}f}–{r[2]:.{digits}f}]"


def fmt_rate(v):
    return f"{v/1e3:.1f}k" if v >= 1e4 else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def fmt_ms(v):
    return f"{v*1e3:.2f} ms" if v < 0.01 else f"{v*1e3:.0f} ms"


def spread(runs, key):
    values = [r[key] for r in runs]
    return f"{fmt_rate(min(values))}–{fmt_rate(max(values))}"


names = {"tessera": "tessera", "nginx": "nginx `return 200`", "node": "express + express-session"}
NGINX = ("nginx from Debian in its own prefix (`bench/http/nginx.conf.in`: "
         f"`worker_processes {meta['nginx_workers']}` = {meta['nginx_worker_processes']} workers, "
         "`access_log off`, `keepalive_requests 1000000`, `return 200` on every path)")
now = datetime.datetime.now(datetime.timezone.utc)
date = meta.get("date") or now.strftime("%Y-%m-%d %H:%M UTC")


def host_line():
    return (f"- Date: {date}; "
            f"host: {meta['nproc']} CPUs, {platform.platform()}, load average "
            f"{meta.get('loadavg', '?')} before the run; tessera {meta['tessera']}; "
            f"{meta['wrk']}; nginx {meta['nginx']}; Node {meta['node']} with {meta['peers']}.")


def targets_table(lines, targets):
    """TARGETS: (what, measured, goal, verdict) with verdict True, False or None (not run)."""
    lines.append("### Targets\n")
    lines.append("| target | measured | goal | verdict |")
    lines.append("|---|---|---|---|")
    for d, val, goal, ok in targets:
        verdict = "not run" if ok is None else "met" if ok else "NOT met"
        lines.append(f"| {d} | {val} | {goal} | {verdict} |")
    lines.append("")


def session_section():
    """The section of issue 3: cookie checks, sign-ins, and checks during sign-ins."""
    data = {
        "auth": {s: series("auth", s) for s in ("tessera", "nginx", "node")},
        "login": {s: series("login", s) for s in ("tessera", "node")},
        "auth16": {s: series("auth16", s) for s in ("tessera", "node")},
        "mixed-auth": {s: series("mixed-auth", s) for s in ("tessera", "node")},
        "mixed-login": {s: series("mixed-login", s) for s in ("tessera", "node")},
    }

    lines = [HEADING, "", host_line()]
    lines.append(
        f"- Generated by `make bench` (bench/http/run, bench/http/report.py); raw wrk output in "
        f"`build/bench-http/`. Every figure is the median of {reps} runs; the runs of the servers "
        f"being compared alternate within each repetition, and a ratio is the median of the "
        f"per-repetition ratios (range in brackets). Nothing is pinned: wrk (one thread, about one "
        f"core) and the server share the machine's {meta['nproc']} cores, as on a small host.")
    lines.append(
        "- Servers, all on 127.0.0.1 and started fresh by the script: `tessera serve` with "
        "default configuration (SQLite session and user stores in a new data directory, one "
        "user, one HTTP I/O thread per core, Argon2id m=19456 KiB, t=2, p=1 on a pool of one "
        "thread per core with a queue of 64); " + NGINX + "; the Node peer "
        "`bench/peers/server.mjs`, one process: express-session with its MemoryStore, "
        "`GET /v1/auth` answers 200 with X-Auth-User/-Subject/-Roles when the session holds a "
        "user and 401 otherwise, `POST /v1/login` verifies with @node-rs/argon2 at the same "
        "Argon2id parameters against a hash made at start-up and regenerates the session.")
    lines.append("- Commands (COOKIE from one login with curl; PORT the server's):")
    lines.append("")
    lines.append("  ```sh")
    lines.append(f"  wrk -t1 -c64 -d{auth_s}s --latency -H 'Cookie: __Host-tessera_session=COOKIE' "
                 "http://127.0.0.1:PORT/v1/auth      # tessera")
    lines.append(f"  wrk -t1 -c64 -d{auth_s}s --latency http://127.0.0.1:PORT/v1/auth"
                 "                                          # nginx")
    lines.append(f"  wrk -t1 -c64 -d{auth_s}s --latency -H 'Cookie: sid=COOKIE' "
                 "http://127.0.0.1:PORT/v1/auth                     # Node peer")
    lines.append(f"  wrk -t1 -c{login_c} -d{login_s}s --latency -s bench/http/login.lua "
                 "http://127.0.0.1:PORT/v1/login             # both")
    lines.append(f"  # under sign-in load: the login command for {int(auth_s) + 2}s, and 1s into "
                 "it:")
    lines.append(f"  wrk -t1 -c{mixed_c} -d{auth_s}s --latency -H 'Cookie: ...' "
                 "http://127.0.0.1:PORT/v1/auth")
    lines.append("  ```")
    lines.append("")
    lines.append(
        f"- Sign-in load uses {login_c} connections: at most {login_c} logins in flight, so "
        "tessera's password queue (64 places) never fills and no request is turned away with 503; "
        "the non-2xx column counts any that were (and any 401).")
    lines.append("")

    lines.append("| what | server | req/s | range | p50 | p99 | non-2xx | server CPU |")
    lines.append("|---|---|---|---|---|---|---|---|")

    def row(label, server, runs, rate_key="rps"):
        non2xx = sum(r["non2xx"] for r in runs)
        errors = sum(r["errors"] for r in runs)
        cores, per_ok = med(runs, "cores"), med(runs, "cpu_per_ok")
        cpu = "" if cores is None else f"{cores:.2f} cores"
        if per_ok is not None and rate_key == "ok_rate":
            cpu += f", {per_ok*1e3:.1f} ms per login"
        lines.append(
            f"| {label} | {names[server]} | {fmt_rate(med(runs, rate_key))} | "
            f"{spread(runs, rate_key)} | {fmt_ms(med(runs, 'p50'))} | {fmt_ms(med(runs, 'p99'))} | "
            f"{non2xx}{f' (+{errors} socket errors)' if errors else ''} | "
            f"{cpu} |")

    for s in ("tessera", "nginx", "node"):
        row("GET /v1/auth, -c64", s, data["auth"][s])
    for s in ("tessera", "node"):
        row(f"POST /v1/login, -c{login_c} (logins/s)", s, data["login"][s], "ok_rate")
    for s in ("tessera", "node"):
        row(f"GET /v1/auth, -c{mixed_c}, alone", s, data["auth16"][s])
    for s in ("tessera", "node"):
        row(f"GET /v1/auth, -c{mixed_c}, during sign-ins", s, data["mixed-auth"][s])
    for s in ("tessera", "node"):
        row(f"POST /v1/login, -c{login_c}, beside it (logins/s)", s, data["mixed-login"][s],
            "ok_rate")
    lines.append("")
    lines.append(
        "non-2xx: responses other than 2xx/3xx summed over the runs (for logins, 503 from a full "
        "queue or 401); logins/s counts only the 2xx. Server CPU: CPU time the server process "
        "(nginx: master and workers; Node: all its threads, Argon2 included) used during the run, "
        "divided by the run's length, and for sign-ins divided by the logins.")
    lines.append("")

    # Targets of issue 3.
    auth = data["auth"]
    t_rps = med(auth["tessera"], "rps")
    t_p99 = med(auth["tessera"], "p99")
    vs_nginx = ratio(auth["tessera"], auth["nginx"], "rps")
    vs_node = ratio(auth["tessera"], auth["node"], "rps")
    vs_login = ratio(data["login"]["tessera"], data["login"]["node"], "ok_rate")
    mixed_p99 = med(data["mixed-auth"]["tessera"], "p99")
    targets = [
        ("GET /v1/auth with a cookie", f"{fmt_rate(t_rps)} req/s", ">= 50k req/s", t_rps >= 50e3),
        # Issue 16 raised these from 0.5x and 12x (issue 3).
        ("... against nginx", fmt_ratio(vs_nginx), ">= 0.6x nginx", vs_nginx[0] >= 0.6),
        ("... against the Node peer", fmt_ratio(vs_node, 1), ">= 15x", vs_node[0] >= 15),
        ("... p99 at -c64", fmt_ms(t_p99), "< 2 ms", t_p99 < 2e-3),
        ("logins/s against the Node peer",
         f"{fmt_rate(med(data['login']['tessera'], 'ok_rate'))} vs "
         f"{fmt_rate(med(data['login']['node'], 'ok_rate'))}: {fmt_ratio(vs_login)}", ">= 1.25x",
         vs_login[0] >= 1.25),  # issue 16; 1x in issue 3
        (f"GET /v1/auth p99 while sign-ins saturate the pool (-c{mixed_c})", fmt_ms(mixed_p99),
         "< 5 ms", mixed_p99 < 5e-3),
    ]
    targets_table(lines, targets)
    perf_section(lines, results / "perf-tessera-auth.txt",
                 "### Where tessera's time goes in GET /v1/auth",
                 "`perf record -F 499 --call-graph dwarf -p TESSERA` for 3 s during one more -c64 "
                 "run (not one of the measured ones; PERF=0 skips it).")
    if session_notes.strip():
        lines.append(session_notes.strip())
        lines.append("")
    return lines


def perf_section(lines, perf, title, how):
    """Appends a table of the profile that bench/http/run wrote to PERF, when there is one."""
    if not perf.exists():
        return
    part, dsos, frames = None, [], []
    for line in perf.read_text().splitlines():
        if line.startswith("## "):
            part = line[3:]
            continue
        cols = line.split()
        if part == "self by shared object" and len(cols) >= 2 and cols[0].endswith("%"):
            dsos.append((cols[0], " ".join(cols[1:])))
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(.*)", line)
        if part == "inclusive by symbol" and m:
            frames.append((float(m.group(1)), float(m.group(2)), m.group(4)))
    keep = {"__libc_sendmsg": "sendmsg (kernel TCP loopback, both ends)",
            "__libc_recvmsg": "recvmsg",
            "__fcntl64_nocancel_adjusted": "fcntl (SQLite file locks)",
            "__GI___lll_lock_wait": "mutex wait (futex)",
            "__GI___lll_lock_wake": "mutex wake (futex)",
            "sqlite3_step": "sqlite3_step",
            "EVP_PKEY_verify": "EVP_PKEY_verify (OpenSSL signature check)",
            "ossl_ecdsa_simple_verify_sig": "ossl_ecdsa_simple_verify_sig (OpenSSL ECDSA)",
            "crypto_sign_verify_detached": "crypto_sign_verify_detached (libsodium Ed25519)"}
    rows, seen = [], set()
    for incl, self_pct, sym in frames:
        name = sym.replace("(anonymous namespace)::", "")
        name = re.split(r"[(<]", name)[0].strip()
        if name.startswith("tessera::") and incl >= 3 and not name.endswith("::Run") \
                and not name.startswith("tessera::cli::"):
            label = f"`{name}`"
        elif sym.strip() in keep and incl >= 1:
            label = keep[sym.strip()]
        else:
            continue
        if label in seen:
            continue
        seen.add(label)
        rows.append((incl, self_pct, label))
    lines.append(title + "\n")
    lines.append(
        how + " Share of tessera's own CPU samples; inclusive = the frame and everything it "
        "calls. Self time by shared object: " +
        ", ".join(f"{name} {pct}" for pct, name in dsos[:6]) + ".\n")
    lines.append("| frame | inclusive | self |")
    lines.append("|---|---|---|")
    for incl, self_pct, label in sorted(rows, key=lambda r: -r[0])[:18]:
        lines.append(f"| {label} | {incl:.1f}% | {self_pct:.1f}% |")
    lines.append("")


def jose_floor():
    """(floor ns, tessera ns) per ES256 verify on one core from the JOSE benchmark JSON the run
    kept, or None."""
    path = results / "jose-es256.json"
    if not path.exists():
        return None
    found = {}
    for b in json.loads(path.read_text())["benchmarks"]:
        name = b["run_name"]
        if name not in ("BM_Verify/ES256/floor", "BM_Verify/ES256/tessera"):
            continue
        # The median when there are repetitions; a single run stands for it otherwise.
        if b.get("aggregate_name") == "median" or \
                (b.get("run_type") == "iteration" and name not in found):
            found[name] = b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b.get("time_unit", "ns")]
    if "BM_Verify/ES256/floor" not in found:
        return None
    return found["BM_Verify/ES256/floor"], found.get("BM_Verify/ES256/tessera")


def token_section():
    """The section of issue 4: bearer checks for each algorithm, with and without tessera's
    verified-token cache, against jsonwebtoken and nginx; refresh-token rotation."""
    bearer_c = meta.get("bearer_connections", "64")
    refresh_c = meta.get("refresh_connections", "8")
    refresh_s = meta.get("refresh_seconds", auth_s)
    skipped = {}
    f = results / "bearer-skipped.txt"
    for line in (f.read_text().splitlines() if f.exists() else []):
        if line.strip():
            skipped[line.split(" ", 1)[0]] = line.split(": ", 1)[1] if ": " in line else line
    f = results / "refresh-skipped.txt"
    refresh_skipped = f.read_text().strip() if f.exists() else ""
    jwt_version = re.search(r"jsonwebtoken ([\w.]+)", meta["peers"])
    jwt_version = jwt_version.group(1) if jwt_version else "?"

    lines = [TOKEN_HEADING, "", host_line()]
    lines.append(
        f"- Generated by `make bench` (bench/http/run, bench/http/report.py, scenarios "
        f"{', '.join(sorted(scenarios & {'bearer', 'refresh'}))}); raw wrk output in "
        f"`build/bench-http/`. Every figure is the median of {reps} runs; within each repetition "
        f"the targets run one after the other, each repetition starting at a different one, and "
        f"a ratio is the median of the per-repetition ratios (range in brackets). Nothing is "
        f"pinned: wrk and the server share the machine's {meta['nproc']} cores.")
    lines.append(
        "- tessera: one `tessera serve` per configuration, each started fresh with its own data "
        "directory (keys made at first start, one user, SQLite stores, defaults otherwise), "
        "`TESSERA_TOKEN_ACCESS_TTL=1h` so that no token expires during the run; the access "
        "token comes from one `POST /v1/login` with `\"mode\":\"token\"`. `TESSERA_TOKEN_ALG` "
        "ES256 (verified-token cache on, 65536 entries, the default), ES256 with "
        "`TESSERA_TOKEN_VERIFY_CACHE=0` (every request verifies the signature), HS256, EdDSA. "
        "All instances are up for the whole run; those not being measured are idle. " + NGINX +
        ", sent the same `Authorization` header as tessera's ES256 runs. The Node peer "
        f"`bench/peers/server.mjs`: express with jsonwebtoken {jwt_version} "
        "(`GET /v1/auth-jwt/hs256` and `/es256`: `jwt.verify` with the algorithm pinned, issuer "
        "and audience required, keys as KeyObjects made at start-up, no cache; 200 with "
        "X-Auth-* headers from the claims), tokens from its `POST /v1/login-jwt/ALG` with the "
        "claims tessera's carry.")
    lines.append("- Commands (TOKEN from one login with curl, RTS a file of refresh tokens from "
                 f"{refresh_c} logins made before each run; PORT the server's):")
    lines.append("")
    lines.append("  ```sh")
    lines.append(f"  wrk -t1 -c{bearer_c} -d{auth_s}s --latency -H 'Authorization: Bearer TOKEN' "
                 "http://127.0.0.1:PORT/v1/auth            # tessera, nginx")
    lines.append(f"  wrk -t1 -c{bearer_c} -d{auth_s}s --latency -H 'Authorization: Bearer TOKEN' "
                 "http://127.0.0.1:PORT/v1/auth-jwt/es256  # Node peer (and hs256)")
    lines.append(f"  BENCH_REFRESH_TOKENS=RTS wrk -t{refresh_c} -c{refresh_c} -d{refresh_s}s "
                 "--latency -s bench/http/refresh.lua http://127.0.0.1:PORT/v1/token")
    lines.append("  ```")
    lines.append("")

    targets = []
    if "bearer" in scenarios:
        kinds = [("tessera-es256", "ES256, verify cache on", "tessera", "node-es256"),
                 ("tessera-es256-nocache", "ES256, verify cache off", "tessera", "node-es256"),
                 ("tessera-hs256", "HS256", "tessera", "node-hs256"),
                 ("tessera-eddsa", "EdDSA", "tessera", None),
                 ("node-es256", "ES256", "express + jsonwebtoken", None),
                 ("node-hs256", "HS256", "express + jsonwebtoken", None),
                 ("nginx", "(ignored)", "nginx `return 200`", None)]
        data = {t: series_if_run("bearer", t) for t, *_ in kinds}
        lines.append("### Bearer tokens: GET /v1/auth\n")
        lines.append("| token | server | req/s | range | p50 | p99 | non-2xx | server CPU | "
                     "req per CPU-second | vs nginx | vs Node |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for t, label, server, node in kinds:
            runs = data[t]
            if runs is None:
                why = skipped.get(t, "not run")
                why = why if len(why) <= 200 else why[:200] + "…"
                lines.append(f"| {label} | {server} | not run: {why} |  |  |  |  |  |  |  |  |")
                continue
            non2xx = sum(r["non2xx"] for r in runs)
            errors = sum(r["errors"] for r in runs)
            cores, per_ok = med(runs, "cores"), med(runs, "cpu_per_ok")
            vs_nginx = "" if t == "nginx" else fmt_ratio(ratio(runs, data["nginx"], "ok_rate"))
            if node is None:
                vs_node = "" if t.startswith("node") or t == "nginx" else \
                    "n/a (jsonwebtoken has no EdDSA)"
            else:
                vs_node = fmt_ratio(ratio(runs, data[node], "ok_rate"), 1) if data[node] else ""
            lines.append(
                f"| {label} | {server} | {fmt_rate(med(runs, 'ok_rate'))} | "
                f"{spread(runs, 'ok_rate')} | {fmt_ms(med(runs, 'p50'))} | "
                f"{fmt_ms(med(runs, 'p99'))} | "
                f"{non2xx}{f' (+{errors} socket errors)' if errors else ''} | "
                f"{'' if cores is None else f'{cores:.2f} cores'} | "
                f"{'' if not per_ok else fmt_rate(1 / per_ok)} | {vs_nginx} | {vs_node} |")
        lines.append("")
        lines.append(
            "req/s counts 2xx answers only (non-2xx: any other answer, summed over the runs). "
            "Server CPU: CPU time the server process (nginx: master and workers; Node: all its "
            "threads) used during the run divided by its length; req per CPU-second: 2xx answers "
            "divided by that CPU time, i.e. what one fully busy core would answer. vs nginx, vs "
            "Node: the median of the per-repetition ratios of req/s (the Node peer's route with "
            "the same algorithm).")
        lines.append("")

        # The uncached rate per core against one core's ES256 verify floor.
        floor = jose_floor()
        uncached = data["tessera-es256-nocache"]
        floor_ratio = None
        source = meta.get("floor_source") or "none"
        if floor and uncached:
            floor_ns, tessera_ns = floor
            values = [(1 / r["cpu_per_ok"]) * floor_ns * 1e-9 for r in uncached if r["cpu_per_ok"]]
            if values:
                floor_ratio = (statistics.median(values), min(values), max(values))
            per_core = 1 / med(uncached, "cpu_per_ok")
            rest_us = (1 / per_core - floor_ns * 1e-9) * 1e6
            lines.append(
                f"Uncached ES256 against the verify floor: one ES256 verify takes "
                f"{floor_ns / 1e3:.1f} µs of CPU on one core (`BM_Verify/ES256/floor`: one "
                f"OpenSSL verify with a parsed key and a prepared context, "
                f"{fmt_rate(1e9 / floor_ns)} verifies per CPU-second"
                + (f"; tessera's whole JWT verify, `BM_Verify/ES256/tessera`: "
                   f"{tessera_ns / 1e3:.1f} µs" if tessera_ns else "") +
                f"; from {source}). tessera without the cache answered {fmt_rate(per_core)} "
                f"requests per CPU-second of its own, {fmt_ratio(floor_ratio)} of the floor "
                f"rate" + (
                    f": the rest of each request (HTTP, token parsing and claim checks, "
                    f"revocation lookup, access log) costs {rest_us:.1f} µs of CPU beside the "
                    f"signature." if rest_us > 0 else ".") +
                f" In wall-clock terms it answered {fmt_rate(med(uncached, 'ok_rate'))} req/s on "
                f"{med(uncached, 'cores'):.2f} cores, "
                f"{med(uncached, 'ok_rate') * floor_ns * 1e-9:.2f}x one core's floor rate.")
        else:
            lines.append(
                "Uncached ES256 against the verify floor: not computed ("
                + ("no ES256 verify floor: run `make bench`, or build "
                   "build/bench/tessera_bench" if not floor else "the uncached run was skipped")
                + ").")
        lines.append("")

        cached = data["tessera-es256"]
        vs = ratio(cached, data["nginx"], "ok_rate") if cached and data["nginx"] else None
        targets.append(("bearer GET /v1/auth, ES256 with the cache, against nginx",
                        fmt_ratio(vs), ">= 0.5x nginx", None if vs is None else vs[0] >= 0.5))
        targets.append((
            "bearer GET /v1/auth, ES256 without the cache: requests per CPU-second against one "
            "core's ES256 verify floor", fmt_ratio(floor_ratio), ">= 0.9x (within 10%)",
            None if floor_ratio is None else floor_ratio[0] >= 0.9))

    if "refresh" in scenarios:
        runs = series_if_run("refresh", "tessera")
        lines.append("### Refresh-token rotation: POST /v1/token\n")
        lines.append(
            f"{refresh_c} chains, one per connection and wrk thread (`-t{refresh_c} "
            f"-c{refresh_c}`), each from its own login: every request presents the refresh token "
            "that the chain's previous answer returned (bench/http/refresh.lua), so none is "
            "reused; each run starts new chains. tessera ES256, cache on (the verify cache plays "
            "no part here).\n")
        lines.append("| what | server | rotations/s | range | p50 | p99 | non-2xx | server CPU | "
                     "chains broken |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        if runs is None:
            lines.append(f"| POST /v1/token | tessera | not run: {refresh_skipped or 'not run'} "
                         "|  |  |  |  |  |  |")
            targets.append(("refresh-token rotations", "not run", ">= 1,000/s", None))
        else:
            non2xx = sum(r["non2xx"] for r in runs)
            errors = sum(r["errors"] for r in runs)
            cores, per_ok = med(runs, "cores"), med(runs, "cpu_per_ok")
            broken = [r["broken"] for r in runs if r["broken"] is not None]
            rate = med(runs, "ok_rate")
            lines.append(
                f"| POST /v1/token, {refresh_c} chains | tessera ES256 | {fmt_rate(rate)} | "
                f"{spread(runs, 'ok_rate')} | {fmt_ms(med(runs, 'p50'))} | "
                f"{fmt_ms(med(runs, 'p99'))} | "
                f"{non2xx}{f' (+{errors} socket errors)' if errors else ''} | "
                f"{'' if cores is None else f'{cores:.2f} cores'}"
                f"{'' if not per_ok else f', {per_ok * 1e6:.0f} µs per rotation'} | "
                f"{sum(broken) if broken else '?'} of {int(refresh_c) * len(runs)} |")
            lines.append("")
            lines.append("rotations/s counts 200 answers only; a chain breaks at its first "
                         "refused refresh and its later requests count as non-2xx.")
            targets.append(("refresh-token rotations", f"{fmt_rate(rate)}/s", ">= 1,000/s",
                            rate >= 1000 and not any(broken)))
        lines.append("")

    targets_table(lines, targets)
    perf_section(lines, results / "perf-tessera-bearer-nocache.txt",
                 "### Where tessera's time goes in bearer GET /v1/auth without the cache",
                 f"`perf record -F 499 --call-graph dwarf -p TESSERA` for 3 s during one more "
                 f"-c{bearer_c} run of the ES256 instance without the cache (not one of the "
                 f"measured ones; PERF=0 skips it).")
    if token_notes.strip():
        lines.append(token_notes.strip())
        lines.append("")
    return lines


def put_section(text, heading, section, after=None):
    """TEXT with the section under HEADING (up to the next "## ") replaced by SECTION; a new
    section goes right after the section AFTER when there is one, else at the end."""
    start = text.find(heading + "\n")
    if start < 0:
        start = end = len(text.rstrip("\n")) + 1
        text = text.rstrip("\n") + "\n"
        if after and text.find(after + "\n") >= 0:
            a = text.find(after + "\n")
            nxt = re.search(r"^## ", text[a + len(after):], re.M)
            if nxt:
                start = end = a + len(after) + nxt.start()
    else:
        nxt = re.search(r"^## ", text[start + len(heading):], re.M)
        end = start + len(heading) + nxt.start() if nxt else len(text)
    before, rest = text[:start].rstrip("\n"), text[end:]
    return before + "\n\n" + section + ("\n" + rest if rest else "")


text = dest.read_text() if dest.exists() else "# Benchmarks\n"
written = []
if "session" in scenarios:
    written.append("\n".join(session_section()).rstrip("\n") + "\n")
    text = put_section(text, HEADING, written[-1])
if scenarios & {"bearer", "refresh"}:
    written.append("\n".join(token_section()).rstrip("\n") + "\n")
    text = put_section(text, TOKEN_HEADING, written[-1], after=HEADING)
dest.write_text(text)
print("\n".join(written))
