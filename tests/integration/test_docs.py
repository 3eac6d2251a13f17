#!/usr/bin/env python3
"""The README says what the code does: its settings table matches
`repoexfil serve --help` (flag, environment variable, default), its routes
and error codes match openapi/openapi.yaml, and its scan usage matches
`repoexfil scan --help`. A change to one without the other fails here.

Environment (set by ctest): REPOEXFIL_BIN, RX_SOURCE_DIR. Prints
`N passed, M failed` last.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("RX_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ["REPOEXFIL_BIN"]
passed = failed = 0


def check(cond, name, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def section(text, title):
    i = text.index(title + "\n")
    j = text.find("\n### ", i + len(title))
    k = text.find("\n## ", i + len(title))
    ends = [e for e in (j, k) if e != -1]
    return text[i:min(ends) if ends else len(text)]


readme = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
openapi = open(os.path.join(SRC, "openapi", "openapi.yaml"),
               encoding="utf-8").read()

# Settings: README table rows against the help text.
help_text = subprocess.run([BIN, "serve", "--help"], capture_output=True,
                           text=True, timeout=30).stdout
helped = {}
for m in re.finditer(r"^  (--[a-z-]+)\s+(REPOEXFIL_[A-Z_]+)\s+(.+?)\s*$",
                     help_text, re.M):
    helped[m.group(1)] = (m.group(2), m.group(3))
documented = {}
for m in re.finditer(r"^\| `(--[a-z-]+)` \| `(REPOEXFIL_[A-Z_]+)` \| ([^|]+?) \|",
                     section(readme, "### Settings"), re.M):
    documented[m.group(1)] = (m.group(2), m.group(3).strip("` "))
check(len(helped) >= 25, "serve --help lists the settings", str(len(helped)))
check(set(helped) == set(documented), "README settings == serve --help",
      "only in help: %s; only in README: %s" % (
          sorted(set(helped) - set(documented)),
          sorted(set(documented) - set(helped))))
for flag in sorted(set(helped) & set(documented)):
    check(helped[flag] == documented[flag], "setting %s" % flag,
          "help %r, README %r" % (helped[flag], documented[flag]))

# Routes: README table against the contract's paths.
routes = set(re.findall(r"^\| `(?:GET|POST) (/[a-z/.]+)` \|",
                        section(readme, "### Routes"), re.M))
paths = set(re.findall(r"^  (/[a-z/.]+):\s*$", openapi, re.M))
check(len(paths) >= 8, "openapi declares the routes", str(sorted(paths)))
check(routes == paths, "README routes == openapi paths",
      "README %s, openapi %s" % (sorted(routes), sorted(paths)))

# Error codes: README table against the contract's enum.
codes = set(re.findall(r"`([a-z_]+)`",
                       " ".join(re.findall(r"^\| [0-9]{3} \| ([^|]+) \|",
                                           section(readme, "### Routes"),
                                           re.M))))
m = re.search(r"code:\s*\n\s*type: string\s*\n\s*enum:\s*\n((?:\s*- [a-z_]+\n)+)",
              openapi)
enum = set(re.findall(r"- ([a-z_]+)", m.group(1))) if m else set()
check(len(enum) >= 10, "openapi lists the error codes", str(sorted(enum)))
check(codes == enum, "README error codes == openapi enum",
      "README %s, openapi %s" % (sorted(codes), sorted(enum)))

# scan: the README's usage line names the options scan --help has.
scan_help = subprocess.run([BIN, "scan", "--help"], capture_output=True,
                           text=True, timeout=30).stdout
opts = set(re.findall(r"(--[a-z-]+)", scan_help.split("\n\n")[0]))
usage = re.search(r"`scan (\[[^`]+)`", readme.replace("\n", " "))
doc_opts = set(re.findall(r"(--[a-z-]+)", usage.group(1))) if usage else set()
check(opts and opts == doc_opts, "README scan usage == scan --help",
      "help %s, README %s" % (sorted(opts), sorted(doc_opts)))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
