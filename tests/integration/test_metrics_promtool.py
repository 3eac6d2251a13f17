#!/usr/bin/env python3
"""GET /metrics passes `promtool check metrics` (Debian package prometheus).

Starts the real binary on a free loopback port, posts a few batches (an
alert of each signal, a per-event error, a 400, a 404, a 415) so that
labelled series exist, fetches /metrics and pipes it to `promtool check
metrics`: any complaint (lint problems included) fails. Also checks the
exposition Content-Type and that the metric families of the HTTP issue
are there. Python 3 standard library only; last line "N passed, M failed".
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import Server, request, t  # noqa: E402

EVENTS = [
    {"EventID": 1, "Computer": "WS01", "Image": "C:\\Windows\\System32\\curl.exe",
     "CommandLine": "curl -X POST https://api.github.com/gists -d @a.json"},
    {"EventID": 1, "Computer": "WS01", "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
     "CommandLine": "git push https://github.com/a/b.git"},
    {"EventID": 3, "Computer": "WS01", "Image": "C:\\tools\\node.exe", "DestinationHostname": "gitlab.com"},
    {"EventID": 3, "Computer": "WS01", "Image": "C:\\tools\\node.exe", "DestinationHostname": "example.org"},
    "not xml",
]

# Families the HTTP and alert-delivery issues ask for, with their types.
EXPECTED = {
    "repoexfil_http_requests_total": "counter",             # by route and code
    "repoexfil_http_request_duration_seconds": "histogram",
    "repoexfil_http_requests_in_flight": "gauge",
    "repoexfil_events_evaluated_total": "counter",
    "repoexfil_event_errors_total": "counter",
    "repoexfil_alerts_total": "counter",                    # by signal
    "repoexfil_worker_queue_depth": "gauge",
    "repoexfil_build_info": "gauge",
    "repoexfil_notifications_total": "counter",             # by sink, outcome
}

passed = failed = 0


def check(ok, label, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {label}" + (f": {detail}" if detail else ""), flush=True)


def main():
    promtool = shutil.which("promtool")
    if not promtool:
        check(False, "promtool is installed", "apt-get install prometheus")
        print(f"{passed} passed, {failed} failed")
        return 1
    srv = None
    try:
        srv = Server("--workers", "2", name="metrics")
        deadline = time.time() + t(20)
        while request(srv.port, "GET", "/readyz").status != 200 and time.time() < deadline:
            time.sleep(0.05)
    except (RuntimeError, OSError) as e:
        if srv is not None:
            srv.kill()
        check(False, "server starts", str(e))
        print(f"{passed} passed, {failed} failed")
        return 1
    try:
        body = json.dumps(EVENTS).encode()
        for q in ("", "?notify=false", "?view=alerts"):
            a = request(srv.port, "POST", "/events" + q, body, {"Content-Type": "application/json"})
            check(a.status == 200, f"POST /events{q}", f"{a.status} {a.body[:200]!r}")
        a = request(srv.port, "POST", "/events", b"[{", {"Content-Type": "application/json"})
        check(a.status == 400, "malformed JSON is 400", str(a.status))
        a = request(srv.port, "POST", "/events", b"a=b", {"Content-Type": "application/x-www-form-urlencoded"})
        check(a.status == 415, "form body is 415", str(a.status))
        a = request(srv.port, "GET", "/nope")
        check(a.status == 404, "unknown route is 404", str(a.status))
        for path in ("/healthz", "/readyz", "/version", "/rules"):
            request(srv.port, "GET", path)

        a = request(srv.port, "GET", "/metrics")
        check(a.status == 200, "GET /metrics", str(a.status))
        ctype = (a.header("content-type") or "").replace(" ", "").lower()
        check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
              "Content-Type text/plain; version=0.0.4", repr(a.header("content-type")))
        text = a.body.decode("utf-8", "replace")
        types = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
                types[parts[2]] = parts[3]
        for name, typ in EXPECTED.items():
            check(types.get(name) == typ, f"/metrics has {name} ({typ})", f"got {types.get(name)!r}")
        series = [ln for ln in text.splitlines() if ln.startswith("repoexfil_http_requests_total{")]
        check(any('"/events"' in ln and '"200"' in ln for ln in series),
              "repoexfil_http_requests_total has a route=/events, code=200 series", "\n".join(series))
        check(any('"/events"' in ln and '"415"' in ln for ln in series),
              "repoexfil_http_requests_total counts the 415", "\n".join(series))
        p = subprocess.run([promtool, "check", "metrics"], input=a.body, capture_output=True, timeout=60)
        out = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
        check(p.returncode == 0 and not out, "promtool check metrics: no complaint",
              f"exit {p.returncode}\n{out}\n--- metrics ---\n{text[:4000]}")
        # A second scrape after more traffic must pass as well.
        request(srv.port, "POST", "/events", body, {"Content-Type": "application/json"})
        a = request(srv.port, "GET", "/metrics")
        p = subprocess.run([promtool, "check", "metrics"], input=a.body, capture_output=True, timeout=60)
        out = (p.stdout + p.stderr).decode("utf-8", "replace").strip()
        check(p.returncode == 0 and not out, "promtool check metrics, second scrape", f"exit {p.returncode}\n{out}")
    finally:
        rc = srv.stop(timeout=40)
        check(rc == 0, "exit status 0 after SIGTERM", repr(rc))
        rep = srv.sanitizer_report()
        check(rep is None, "no sanitizer report", rep or "")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
