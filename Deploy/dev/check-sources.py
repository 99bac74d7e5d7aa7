#!/usr/bin/env python3
"""`make lint`: the source rules of Docs/architecture.md ("Code layout rules"), checked on Sources/.

- every `public`/`open` declaration has a `///` doc comment (above its attributes);
- no Swift file under Sources/ is longer than 450 lines;
- `errno`, `sockaddr_un`, `getgrnam_r`, `pread(` and `fsync(` appear only in the C wrapper modules;
- `Unsafe*` pointers and `withUnsafe*` appear outside those modules only in the hot codecs listed
  in HOT_CODECS;
- nothing under Sources/, Deploy/ or Docs/ points at documents outside the repository
  (DESIGN.md, LIMITS.md): what the code relies on is in Docs/.
Prints each violation as file:line and exits 1 if there is any.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
WRAPPERS = {"Redis", "Postgres", "Systemd", "TelemetryRing", "Buses", "SystemSupport", "Gzip", "Compression"}
HOT_CODECS = {
    "Sources/TelemetryCore/JSONParser.swift",      # the JSON parser walks a buffer pointer
    "Sources/TelemetryCore/Wire/HubBatch.swift",   # the batch codec's little-endian loads and stores
    "Sources/TelemetryCore/CRC32.swift",           # the CRC's table lookups
}
MAX_LINES = 450
DECLARATION = re.compile(r"^(@[\w.]+(\([^)]*\))?\s+)*(public|open)\s+(?!import\b)")
ATTRIBUTE_ONLY = re.compile(r"^(@[\w.]+(\([^)]*\))?\s*)+$")
POSIX = re.compile(r"\berrno\b|\bsockaddr_un\b|\bgetgrnam_r\b|\bpread\(|\bfsync\(")
UNSAFE = re.compile(r"\bUnsafe\w*|\bwithUnsafe\w*")


def code_of(line):
    """The line without its `//` comment (string literals containing // are rare enough here)."""
    index = line.find("//")
    return line if index < 0 else line[:index]


def main():
    problems = []
    sources = os.path.join(ROOT, "Sources")
    for folder, _, files in sorted(os.walk(sources)):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, ROOT)
            module = relative.split(os.sep)[1]
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().split("\n")
            if len(lines) - 1 > MAX_LINES:
                problems.append(f"{relative}: {len(lines) - 1} lines (at most {MAX_LINES})")
            for number, line in enumerate(lines, start=1):
                stripped = line.strip()
                code = code_of(line)
                if DECLARATION.match(stripped) and not stripped.startswith(("public extension", "extension")):
                    above = number - 2
                    while above >= 0 and ATTRIBUTE_ONLY.match(lines[above].strip()):
                        above -= 1
                    previous = lines[above].strip() if above >= 0 else ""
                    if not (previous.startswith("///") or previous.endswith("*/")):
                        problems.append(f"{relative}:{number}: public declaration without a /// doc comment: {stripped[:80]}")
                if module not in WRAPPERS and POSIX.search(code):
                    problems.append(f"{relative}:{number}: POSIX call outside the wrapper modules (use SystemSupport): {stripped[:80]}")
                if module not in WRAPPERS and relative not in HOT_CODECS and UNSAFE.search(code):
                    problems.append(f"{relative}:{number}: unsafe pointer outside the wrappers and hot codecs: {stripped[:80]}")
    outside = re.compile(r"\b(DESIGN|LIMITS)\.md\b|\bDESIGN §")
    for top in ("Sources", "Deploy", "Docs"):
        for folder, _, files in sorted(os.walk(os.path.join(ROOT, top))):
            for name in sorted(files):
                path = os.path.join(folder, name)
                if os.path.abspath(path) == os.path.abspath(__file__):
                    continue
                try:
                    with open(path, encoding="utf-8") as handle:
                        text = handle.read()
                except (UnicodeDecodeError, OSError):
                    continue
                for number, line in enumerate(text.split("\n"), start=1):
                    if outside.search(line):
                        problems.append(f"{os.path.relpath(path, ROOT)}:{number}: points outside the repository: {line.strip()[:80]}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
