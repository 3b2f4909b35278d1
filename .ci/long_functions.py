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

def code_only(text):
    """`text` with comments and the insides of string and character
    literals blanked (newlines kept), so that only code braces count."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        raw = re.match(r'b?r(#*)"', text[i:])
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + raw.group(1), i + raw.end())
            end = n if end < 0 else end + 1 + len(raw.group(1))
            out.append("\n" * text.count("\n", i, end))
            i = end
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("\n" * text.count("\n", i, j + 1))
            i = j + 1
            continue
        char = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
        if c == "'" and char:
            i += char.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


root = pathlib.Path(__file__).resolve().parent.parent / "src"
long = []
for path in sorted(root.rglob("*.rs")):
    text = code_only(path.read_text())
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
