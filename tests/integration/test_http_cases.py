#!/usr/bin/env python3
"""POST /events against the detection cases (tests/data/cases/*.json, format
in tests/data/cases/README.md), over loopback to the real binary.

For every case: the body as given (body_text, or body serialized compactly)
with its Content-Type; the answer must match the case's expectations, and a
batch_error must come back as its HTTP status (400/413/415) with the
contract's error code. Cases with "rules" run on a server started with that
rules file. Then every JSON case whose body is an array of objects is also
posted re-wrapped in the other envelopes ({"events":[...]}, {"results":
"<array as a string>"}, Elasticsearch hits, NDJSON) and must get the same
answer; and every JSON case is compared with `repoexfil scan` on the same
bytes (same answer but request_id). Last line: "N passed, M failed".
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import BIN, TEST_DATA, Server, Tally, t  # noqa: E402

T = Tally()

STATUS = {"BADJSON": 400, "BADXML": 400, "BADBODY": 400, "EMPTY": 400,
          "TOOBIG": 413, "TOOMANY": 413, "BADTYPE": 415}
CODE = {"BADJSON": "bad_json", "BADXML": "bad_xml", "BADBODY": "bad_body",
        "EMPTY": "empty_body", "TOOBIG": "body_too_large",
        "TOOMANY": "too_many_events", "BADTYPE": "unsupported_media_type"}
JSON_TYPES = (None, "application/json")


def body_bytes(case):
    if "body_text" in case:
        return case["body_text"].encode("utf-8")
    return json.dumps(case["body"], separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def headers_for(ct, extra=None):
    h = {}
    if ct is not None:
        h["Content-Type"] = ct
    h.update(extra or {})
    return h


def subset_ok(want, got):
    """Every member of want equals got's; {"error": true} means got has an
    error string."""
    if not isinstance(got, dict):
        return False
    for k, v in want.items():
        if k == "error" and v is True:
            if not isinstance(got.get("error"), str):
                return False
        elif k not in got or got[k] != v:
            return False
    return True


def check_case(case, r, label):
    berr = case.get("batch_error")
    if not T.check(r.header("x-request-id"), label + ": X-Request-ID"):
        return
    if berr:
        T.check(r.status == STATUS[berr], label + ": status",
                "%d, want %d (%s): %r" % (r.status, STATUS[berr], berr,
                                          r.body[:200]))
        j = r.json() or {}
        err = j.get("error") or {}
        T.check(err.get("code") == CODE[berr] and err.get("message"),
                label + ": error code", repr(j)[:200])
        if berr == "BADJSON":
            T.check(isinstance(err.get("line"), int) and err["line"] >= 1 and
                    isinstance(err.get("column"), int) and err["column"] >= 1,
                    label + ": line and column", repr(err))
        return
    if not T.check(r.status == 200, label + ": status 200",
                   "%d %r" % (r.status, r.body[:300])):
        return
    j = r.json()
    if not T.check(isinstance(j, dict), label + ": JSON answer"):
        return
    T.check(j.get("request_id") == r.header("x-request-id"),
            label + ": request_id is X-Request-ID")
    for k, v in (case.get("expect") or {}).items():
        T.check(j.get(k) == v, "%s: %s" % (label, k),
                "%r, want %r" % (j.get(k), v))
    if "results" in case:
        got = j.get("results") or []
        want = case["results"]
        if T.check(len(got) == len(want), label + ": result count",
                   "%d, want %d" % (len(got), len(want))):
            for i, (w, g) in enumerate(zip(want, got)):
                T.check(subset_ok(w, g), "%s: results[%d]" % (label, i),
                        "%r, want %r" % (g, w))
    if "alerts" in case:
        got = j.get("alerts") or []
        want = case["alerts"]
        if T.check(len(got) == len(want), label + ": alert count",
                   "%d, want %d" % (len(got), len(want))):
            for i, (w, g) in enumerate(zip(want, got)):
                T.check(subset_ok(w, g), "%s: alerts[%d]" % (label, i),
                        "%r, want %r" % (g, w))


def without_id(j):
    j = dict(j)
    j.pop("request_id", None)
    return j


def envelopes(events):
    """Re-wrappings of an array of event objects that must read alike."""
    yield "events", "application/json", json.dumps({"events": events})
    yield "results-string", "application/json", json.dumps(
        {"results": json.dumps(events)})
    # Events that are themselves hits would be hits of hits.
    if not any("_source" in e for e in events):
        yield "es-hits", "application/json", json.dumps(
            {"hits": {"hits": [{"_id": str(i), "_source": e}
                               for i, e in enumerate(events)]}})
    if events:
        yield "ndjson", "application/x-ndjson", "\n".join(
            json.dumps(e) for e in events) + "\n"
        yield "ndjson-sniffed", None, "\n".join(
            json.dumps(e) for e in events) + "\n"


def scan_answer(body, rules_path, tmpdir, idx):
    path = os.path.join(tmpdir, "case%d.json" % idx)
    with open(path, "wb") as f:
        f.write(body)
    argv = [BIN, "scan"]
    if rules_path:
        argv += ["--rules", rules_path]
    argv.append(path)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=t(60))
    if p.returncode != 0:
        return None, p.stderr.decode()[:300]
    try:
        return json.loads(p.stdout), ""
    except ValueError:
        return None, p.stdout.decode()[:300]


def run_group(rules, cases, tmpdir, gi):
    args = ["--workers", "2"]
    rules_path = None
    if rules is not None:
        rules_path = os.path.join(tmpdir, "rules%d.json" % gi)
        with open(rules_path, "w") as f:
            json.dump(rules, f)
        args += ["--rules", rules_path]
    srv = Server(*args, name="cases-%d" % gi)
    try:
        conn = srv.connection()
        for idx, (fname, case) in enumerate(cases):
            label = "%s: %s" % (fname, case["name"])
            body = body_bytes(case)
            ct = case.get("content_type")
            try:
                r = srv.request("POST", "/events", body, headers_for(ct),
                                conn=conn)
            except Exception as e:  # a closed keep-alive after an error
                conn.close()
                conn = srv.connection()
                r = None
                T.check(False, label + ": request", repr(e))
            if r is None:
                continue
            if r.header("connection") == "close":
                conn.close()
                conn = srv.connection()
            check_case(case, r, label)
            if case.get("batch_error") or r.status != 200:
                continue
            base = without_id(r.json())
            # The same bytes through `repoexfil scan` (JSON bodies only:
            # scan sniffs, it has no Content-Type).
            if ct in JSON_TYPES and "body_text" not in case:
                got, err = scan_answer(body, rules_path, tmpdir, idx)
                T.check(got is not None and without_id(got) == base,
                        label + ": same answer as repoexfil scan",
                        err or "scan %r\nhttp %r" % (got, base))
            body_v = case.get("body")
            if (ct in JSON_TYPES and "body_text" not in case and
                    isinstance(body_v, list) and
                    all(isinstance(e, dict) for e in body_v)):
                for name, vct, vbody in envelopes(body_v):
                    r2 = srv.request("POST", "/events", vbody,
                                     headers_for(vct), conn=conn)
                    j2 = r2.json()
                    T.check(r2.status == 200 and isinstance(j2, dict) and
                            without_id(j2) == base,
                            "%s: same answer as %s envelope" % (label, name),
                            "%d %r\nwant %r" % (r2.status, r2.body[:300],
                                                base))
        conn.close()
    finally:
        T.stopped_cleanly(srv, "cases-%d" % gi)


def main():
    files = sorted(glob.glob(os.path.join(TEST_DATA, "cases", "*.json")))
    T.check(files, "case files exist under %s" % TEST_DATA)
    groups = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for case in json.load(fh):
                key = json.dumps(case.get("rules"), sort_keys=True)
                groups.setdefault(key, []).append(
                    (os.path.basename(f), case))
    with tempfile.TemporaryDirectory(prefix="rx-cases-") as tmpdir:
        for gi, (key, cases) in enumerate(sorted(groups.items())):
            run_group(json.loads(key), cases, tmpdir, gi)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
