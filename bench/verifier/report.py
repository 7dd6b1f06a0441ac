#!/usr/bin/env python3
"""Writes the section "## HTTP: revocations pushed to a service (issue 15)" of docs/benchmarks.md
from bench/verifier/run's outputs, replacing the section when it is there.
   report.py OUT_DIR BENCHMARKS_MD LOADAVG REDIS_VERSION COMMAND"""
import datetime
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from sections import write_section  # noqa: E402

out, dest, loadavg, redis_version, command = sys.argv[1:6]
HEADING = "## HTTP: revocations pushed to a service (issue 15)"
TARGET_P99_MS = 10.0

cases = [("sqlite", "one tessera on SQLite; the service follows it"),
         ("redis", f"two tessera on one Redis {redis_version}; logout on A, the service follows B")]
lines = [HEADING, ""]
lines.append(f"- Date: {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}; load average "
             f"before the run: {loadavg}")
lines.append(f"- Command: `{command}`")
lines.append("- One trial: a token sign-in on tessera, `GET /orders` at examples/orders-service "
             "(200), `POST /v1/logout` on tessera; the clock starts when tessera's 204 arrives "
             "and stops at the service's first 401, the service being asked back to back over a "
             "kept-alive connection. The service verifies tokens itself (`token::Verifier`) and "
             "follows `GET /v1/revocations` (long polls, staleness bound 5 s): no call to tessera "
             "per request.\n")
lines.append("| deployment | trials | p50 | p99 | max | mean | requests to the service per trial |")
lines.append("|---|---|---|---|---|---|---|")
verdicts = []
for name, what in cases:
    path = os.path.join(out, f"{name}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    lines.append(f"| {what} | {r['trials']} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
                 f"{r['max_ms']:.2f} ms | {r['mean_ms']:.2f} ms | {r['checks_per_trial']:.1f} |")
    verdicts.append((f"p99, {name}", f"{r['p99_ms']:.2f} ms", f"< {TARGET_P99_MS:g} ms",
                     "met" if r["p99_ms"] < TARGET_P99_MS else "NOT met"))
lines.append("")
lines.append("| target | measured | goal | verdict |")
lines.append("|---|---|---|---|")
for v in verdicts:
    lines.append("| " + " | ".join(v) + " |")
lines.append("")
section = "\n".join(lines) + "\n"

write_section(dest, HEADING, section)
print(section)
