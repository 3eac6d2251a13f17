#!/usr/bin/env python3
"""Real-data test: `repoexfil scan` over every file of ../shared/datasets.

None of that data is exfiltration to a code repository (see its README),
so with the default rules every event must be evaluated without error and
no alert may fire. Each Windows Event XML file and its flattened NDJSON
twin (same basename, same events in the same order) must score every
event the same. The code-repository-related events listed in
coderepo_related_index.tsv must be where the index says, be read without
error and not alert.

Environment (set by ctest): REPOEXFIL_BIN, RX_DATASETS. Standard library
only. Prints `N passed, M failed` last; exits non-zero on any failure.
"""
import csv
import gzip
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RX_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
DATASETS = os.environ.get("RX_DATASETS") or os.path.join(os.path.dirname(SOURCE_DIR), "shared", "datasets")
BIN = os.environ.get("REPOEXFIL_BIN")
SANITIZE = os.environ.get("RX_SANITIZE", "").upper() in ("ON", "1", "TRUE")
TIMEOUT = 1800 if SANITIZE else 600
# Above this many events a file is scanned with --view alerts: the counts
# and alerts are all this test needs of it, and the answer stays small.
FULL_RESULTS_MAX = 20000

passed = 0
failed = 0


def ok(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
    return cond


def child_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("REPOEXFIL_")}


def open_text(path):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def data_files():
    out = []
    for root, dirs, files in os.walk(DATASETS):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".ndjson", ".ndjson.gz", ".xml")):
                out.append(os.path.join(root, f))
    return out


def line_index(path):
    """Counts the events of a file (its non-blank lines: NDJSON, and XML
    with one <Event> per line) and maps 1-based line numbers to event
    indexes. Returns (events, {lineno: index})."""
    mapping = {}
    n = 0
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                mapping[lineno] = n
                n += 1
    return n, mapping


def scan(path, view_alerts):
    args = [BIN, "scan"] + (["--view", "alerts"] if view_alerts else []) + [path]
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=child_env())
    dt = time.monotonic() - t0
    try:
        a = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        a = None
    return p.returncode, a, p.stderr.decode("utf-8", "replace"), dt


def main():
    if not BIN or not os.access(BIN, os.X_OK):
        print("REPOEXFIL_BIN is not set to an executable (%r)" % BIN)
        print("0 passed, 1 failed")
        return 1
    if not os.path.isdir(DATASETS):
        print("RX_DATASETS is not a directory (%r)" % DATASETS)
        print("0 passed, 1 failed")
        return 1

    files = data_files()
    ok("datasets: data files found", len(files) >= 10, "%d files under %s" % (len(files), DATASETS))
    scores = {}    # path -> list of scores (None for an error), when full results were asked
    results = {}   # path -> list of result objects
    counts = {}    # path -> (events, line mapping)
    for path in files:
        rel = os.path.relpath(path, DATASETS)
        events, mapping = line_index(path)
        counts[path] = (events, mapping)
        view_alerts = events > FULL_RESULTS_MAX
        rc, a, err, dt = scan(path, view_alerts)
        print("%s: %d events, %.1fs" % (rel, events, dt), flush=True)
        if not ok("%s: scan exits 0" % rel, rc == 0 and isinstance(a, dict), "rc=%d stderr=%s" % (rc, err[:500])):
            continue
        ok("%s: errors == 0" % rel, a.get("errors") == 0, "errors=%r first=%s" % (
            a.get("errors"), [r for r in a.get("results", []) if "error" in r][:3]))
        ok("%s: received == %d events" % (rel, events), a.get("received") == events, "received=%r" % a.get("received"))
        ok("%s: evaluated == received" % rel, a.get("evaluated") == a.get("received"),
           "evaluated=%r received=%r" % (a.get("evaluated"), a.get("received")))
        ok("%s: alert_count == 0 with default rules" % rel, a.get("alert_count") == 0 and a.get("alerts") == [],
           "alert_count=%r first alerts=%s" % (a.get("alert_count"), json.dumps(a.get("alerts", [])[:3])))
        ok("%s: threshold is the default 2" % rel, a.get("threshold") == 2, repr(a.get("threshold")))
        if not view_alerts:
            res = a.get("results", [])
            ok("%s: one result per event, in order" % rel,
               [r.get("index") for r in res] == list(range(events)), "%d results" % len(res))
            results[path] = res
            scores[path] = [r.get("score") if "error" not in r else None for r in res]

    # XML file and NDJSON twin: same score for every event index.
    twins = 0
    for path in files:
        if not path.endswith(".xml"):
            continue
        twin = path[:-len(".xml")] + ".ndjson"
        rel = os.path.relpath(path, DATASETS)
        if not ok("%s: has an NDJSON twin" % rel, twin in counts, twin):
            continue
        twins += 1
        ok("%s: same event count as its twin" % rel, counts[path][0] == counts[twin][0],
           "%d vs %d" % (counts[path][0], counts[twin][0]))
        if path in scores and twin in scores:
            a, b = scores[path], scores[twin]
            diff = [i for i in range(min(len(a), len(b))) if a[i] != b[i]]
            ok("%s: every event scores the same as in its NDJSON twin" % rel, len(a) == len(b) and not diff,
               "%d differ, first: %s" % (len(diff), [(i, a[i], b[i]) for i in diff[:5]]))
            sa = [(r.get("signal"), r.get("is_ci_system"), r.get("is_known_ide")) for r in results[path]]
            sb = [(r.get("signal"), r.get("is_ci_system"), r.get("is_known_ide")) for r in results[twin]]
            diff = [i for i in range(min(len(sa), len(sb))) if sa[i] != sb[i]]
            ok("%s: signal, is_ci_system, is_known_ide agree with the twin" % rel, not diff,
               "%d differ, first: %s" % (len(diff), [(i, sa[i], sb[i]) for i in diff[:5]]))
    ok("datasets: XML/NDJSON twins compared", twins >= 3, "%d twins" % twins)

    # coderepo_related_index.tsv: columns file, line, EventID, match, host,
    # Image, DestinationHostname, CommandLine_or_DestinationIp_or_QueryName.
    index_path = os.path.join(DATASETS, "coderepo_related_index.tsv")
    with open(index_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    ok("index: columns as documented", rows and list(rows[0].keys())[:3] == ["file", "line", "EventID"],
       repr(list(rows[0].keys()) if rows else None))
    ok("index: 143 rows (datasets README)", len(rows) == 143, "%d rows" % len(rows))
    per_file = {}
    for r in rows:
        per_file[r["file"]] = per_file.get(r["file"], 0) + 1
    # Row counts per file as the datasets README's table gives them.
    for rel, n in (("otrf-security-datasets/sd_github_atomic_eid1_3_22.ndjson", 42),
                   ("otrf-security-datasets/sd_all_eid1_3_22.ndjson.gz", 42),
                   ("evtx-attack-samples/eas_sysmon.ndjson", 51),
                   ("sigma-regression-data/sigma_regression_sysmon.ndjson", 8)):
        ok("index: %d rows for %s" % (n, rel), per_file.get(rel) == n, repr(per_file.get(rel)))

    wanted = {}
    for r in rows:
        wanted.setdefault(os.path.join(DATASETS, r["file"]), set()).add(int(r["line"]))
    lines = {}
    for path, want in wanted.items():
        if not os.path.exists(path):
            continue
        got = {}
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                if lineno in want:
                    got[lineno] = line
        lines[path] = got

    for r in rows:
        path = os.path.join(DATASETS, r["file"])
        lineno = int(r["line"])
        label = "index %s:%d" % (r["file"], lineno)
        if not ok(label + ": file exists", os.path.exists(path)):
            continue
        text = lines.get(path, {}).get(lineno)
        if not ok(label + ": line exists", text is not None and text.strip() != ""):
            continue
        try:
            ev = json.loads(text)
        except ValueError as e:
            ok(label + ": line is a JSON event", False, str(e))
            continue
        ok(label + ": EventID as indexed", str(ev.get("EventID")) == r["EventID"],
           "%r vs %r" % (ev.get("EventID"), r["EventID"]))
        if r.get("Image"):
            ok(label + ": Image as indexed", ev.get("Image") == r["Image"], "%r vs %r" % (ev.get("Image"), r["Image"]))
        idx = counts.get(path, (0, {}))[1].get(lineno)
        if path in results and idx is not None and idx < len(results[path]):
            res = results[path][idx]
            ok(label + ": read without error and does not alert", "error" not in res and res.get("alert") is False,
               json.dumps(res))
        # the XML twin holds the same event at the same line
        if path.endswith(".ndjson"):
            xml = path[:-len(".ndjson")] + ".xml"
            if xml in results and idx is not None and idx < len(results[xml]):
                ok(label + ": XML twin scores it the same", results[xml][idx].get("score") ==
                   results[path][idx].get("score"), "%r vs %r" % (results[xml][idx], results[path][idx]))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
