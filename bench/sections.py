"""Shared by the HTTP benchmarks' report.py scripts: reading wrk's output, and writing their own
section of docs/benchmarks.md (from its "## " heading to the next one) in place, or appending it
when it is new."""
import pathlib
import re
import statistics


def write_section(dest, heading, section):
    dest = pathlib.Path(dest)
    text = dest.read_text() if dest.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = re.search(r"^## ", text[start + len(heading):], re.M)
        end = start + len(heading) + nxt.start() if nxt else len(text)
        text = text[:start] + section + ("\n" + text[end:] if end < len(text) else "")
    dest.write_text(text)


def seconds(value, unit):
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def parse_wrk(path):
    """One `wrk --latency` output: 2xx rate, non-2xx count, p50 and p99 (seconds), and the cores
    the server used when a PATH.cpu file (CPU seconds) sits beside it."""
    path = pathlib.Path(path)
    text = path.read_text()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    requests, duration = int(m.group(1)), seconds(m.group(2), m.group(3))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    non2xx = int(m.group(1)) if m else 0
    run = {"ok_rate": (requests - non2xx) / duration, "non2xx": non2xx}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)", text, re.M)
        run[f"p{pct}"] = seconds(m.group(1), m.group(2))
    cpu = path.with_suffix(".txt.cpu")
    run["cores"] = float(cpu.read_text()) / duration if cpu.exists() else None
    return run


def med(runs, key):
    """The median of one figure over the repetitions."""
    return statistics.median(r[key] for r in runs)


def ratio(a, b):
    """Per-repetition ratios of the 2xx rates of two series: (median, min, max)."""
    values = [x["ok_rate"] / y["ok_rate"] for x, y in zip(a, b) if y["ok_rate"]]
    return statistics.median(values), min(values), max(values)


def fmt_ratio(r):
    return f"{r[0]:.2f}x [{r[1]:.2f}–{r[2]:.2f}]"


def rate(v):
    return f"{v/1e3:.1f}k" if v >= 1e4 else f"{v:,.0f}"


def ms(v):
    return f"{v*1e3:.2f} ms"
