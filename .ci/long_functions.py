#!/usr/bin/env python3
"""No function in src/ longer than LIMIT lines (tests and tables aside):
a long function is several jobs that want names. Counts from the `fn`
line to its closing brace; code after `#[cfg(test)]` is not counted.

    python3 .ci/long_functions.py [LIMIT]
"""
import pathlib
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 80
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)")

root = pathlib.Path(__file__).resolve().parent.parent / "src"
long = []
for path in sorted(root.rglob("*.rs")):
    # Braces in string and character literals do not count.
    # (A literal becomes its newlines only, so that line numbers hold.)
    blank = lambda m: "\n" * m.group(0).count("\n")
    text = re.sub(r'"(\\.|[^"\\])*"', blank, path.read_text())
    text = re.sub(r"'(\\.|[^'\\])'", blank, text)
    lines = text.split("\n")
    end = next((i for i, l in enumerate(lines) if l.startswith("#[cfg(test)]")), len(lines))
    for i in range(end):
        m = FN.match(lines[i])
        if not m:
            continue
        depth, opened, j = 0, False, i
        while j < end:
            depth += lines[j].count("{") - lines[j].count("}")
            opened = opened or "{" in lines[j]
            if (opened and depth <= 0) or (not opened and lines[j].rstrip().endswith(";")):
                break
            j += 1
        if j - i + 1 > LIMIT:
            long.append(f"{path.relative_to(root.parent)}:{i + 1} {m.group(4)}: {j - i + 1} lines")
for entry in long:
    print(entry)
print(f"{len(long)} functions over {LIMIT} lines")
sys.exit(1 if long else 0)
