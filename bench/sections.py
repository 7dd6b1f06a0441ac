"""The sections of docs/benchmarks.md that the HTTP benchmark scripts own: each report.py writes
its section (from its "## " heading to the next one) in place, or appends it when it is new."""
import pathlib
import re


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
