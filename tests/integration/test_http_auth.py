#!/usr/bin/env python3
"""Authentication of `repoexfil serve`, over loopback: bearer tokens (right,
wrong, missing, malformed, several at once, rotation across a restart),
HMAC-SHA256 X-Signature-256 over the raw body (good, tampered body, wrong
secret, malformed, missing), ?token= only with --allow-query-token, 401
JSON with WWW-Authenticate, the open routes staying open, and no secret
ever in the logs. Last line: "N passed, M failed".
"""
import hashlib
import hmac
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import Server, Tally, raw_exchange, parse_raw_response  # noqa

T = Tally()
JSON = {"Content-Type": "application/json"}
TOK_OLD = "tok-old-6f1d2a9c8b7e"
TOK_NEW = "tok-new-0a1b2c3d4e5f"
SECRET = "hmac-secret-Zq9!x"
BODY = json.dumps([{"EventID": 1, "Image": "git.exe",
                    "CommandLine": "git push https://github.com/a/b"}])


def sign(body, secret=SECRET):
    if isinstance(body, str):
        body = body.encode()
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


def is_401(r, label):
    j = r.json() or {}
    T.check(r.status == 401, label + ": 401", "%d %r" % (r.status,
                                                         r.body[:200]))
    T.check((j.get("error") or {}).get("code") == "unauthorized",
            label + ": unauthorized JSON", repr(r.body[:200]))
    T.check((r.header("www-authenticate") or "").startswith("Bearer"),
            label + ": WWW-Authenticate", repr(r.header("www-authenticate")))
    T.check(bool(r.header("x-request-id")), label + ": X-Request-ID")


def is_ok(r, label):
    T.check(r.status == 200 and (r.json() or {}).get("alert_count") == 1,
            label + ": 200", "%d %r" % (r.status, r.body[:200]))


def open_routes(srv, label):
    for path in ("/healthz", "/readyz", "/metrics", "/version",
                 "/openapi.yaml", "/rules"):
        r = srv.request("GET", path)
        T.check(r.status == 200, "%s: %s open without credentials" %
                (label, path), "%d" % r.status)


def no_secrets(srv, secrets, label):
    text = srv.stderr_text()
    for s in secrets:
        T.check(s not in text, "%s: secret %s... never logged" %
                (label, s[:4]))


def test_tokens():
    srv = Server("--api-tokens", " %s, %s " % (TOK_OLD, TOK_NEW),
                 name="tokens")
    try:
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_OLD)), "old token")
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW)), "new token")
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="bearer " + TOK_NEW)), "scheme any case")
        is_401(srv.request("POST", "/events", BODY, JSON), "missing token")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer wrong")), "wrong token")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_OLD[:-1])), "token prefix")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_OLD + "x")), "token + 1")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Basic " + TOK_OLD)), "wrong scheme")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer")), "empty bearer")
        is_401(srv.request("POST", "/events?token=" + TOK_OLD, BODY, JSON),
               "query token refused when not allowed")
        # A 401 comes before the body is read.
        raw = raw_exchange(srv.port, b"POST /events HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Length: 1000000\r\n\r\n", read_timeout=5)
        T.check(parse_raw_response(raw)[0] == 401,
                "401 before the body is sent", repr(raw[:100]))
        # Credentials come before type checks: no hint to strangers.
        r = srv.request("POST", "/events", "x", {"Content-Type": "text/html"})
        T.check(r.status == 401, "401 before 415")
        open_routes(srv, "tokens")
        r = srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW))
        no_secrets(srv, [TOK_OLD, TOK_NEW], "tokens")
    finally:
        T.stopped_cleanly(srv, "tokens")
    # Rotation: restart with the new token only; the old one stops working.
    srv = Server(env={"REPOEXFIL_API_TOKENS": TOK_NEW}, name="rotated")
    try:
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW)), "rotated: new token")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_OLD)), "rotated: old token")
    finally:
        T.stopped_cleanly(srv, "rotated")


def test_query_token():
    srv = Server("--api-tokens", TOK_NEW, "--allow-query-token",
                 name="query")
    try:
        is_ok(srv.request("POST", "/events?token=" + TOK_NEW, BODY, JSON),
              "query token allowed")
        is_ok(srv.request("POST", "/events?notify=false&token=" + TOK_NEW,
                          BODY, JSON), "query token with notify=false")
        is_401(srv.request("POST", "/events?token=nope", BODY, JSON),
               "wrong query token")
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW)),
            "header token still works")
        no_secrets(srv, [TOK_NEW], "query")
    finally:
        T.stopped_cleanly(srv, "query")
    srv = Server("--api-tokens", TOK_NEW, "--allow-query-token=false",
                 name="query-off")
    try:
        is_401(srv.request("POST", "/events?token=" + TOK_NEW, BODY, JSON),
               "query token off")
    finally:
        T.stopped_cleanly(srv, "query-off")


def test_hmac():
    srv = Server(env={"REPOEXFIL_HMAC_SECRET": SECRET}, name="hmac")
    try:
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": sign(BODY)})), "good signature")
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": sign(BODY).upper().replace(
                "SHA256=", "sha256=")})), "upper-case hex")
        tampered = BODY.replace("github.com", "github.con")
        is_401(srv.request("POST", "/events", tampered, dict(
            JSON, **{"X-Signature-256": sign(BODY)})), "tampered body")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": sign(BODY, "other")})),
            "wrong secret")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": sign(BODY)[:-2]})), "short hex")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": "sha1=" + "0" * 40})), "sha1")
        is_401(srv.request("POST", "/events", BODY, JSON), "no signature")
        # The signature covers the raw bytes, whitespace included.
        spaced = BODY.replace(",", ", ")
        is_ok(srv.request("POST", "/events", spaced, dict(
            JSON, **{"X-Signature-256": sign(spaced)})), "raw bytes signed")
        # An empty body signs too (and is then a 400, not a 401).
        r = srv.request("POST", "/events", "", dict(
            JSON, **{"X-Signature-256": sign("")}))
        T.check(r.status == 400, "signed empty body: 400", repr(r))
        open_routes(srv, "hmac")
        no_secrets(srv, [SECRET], "hmac")
    finally:
        T.stopped_cleanly(srv, "hmac")
    # Both configured: either credential admits, a bad signature never.
    srv = Server("--api-tokens", TOK_NEW, "--hmac-secret", SECRET,
                 name="both")
    try:
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW)), "both: token")
        is_ok(srv.request("POST", "/events", BODY, dict(
            JSON, **{"X-Signature-256": sign(BODY)})), "both: signature")
        is_401(srv.request("POST", "/events", BODY, dict(
            JSON, Authorization="Bearer " + TOK_NEW,
            **{"X-Signature-256": sign("other")})),
            "both: good token, bad signature")
        is_401(srv.request("POST", "/events", BODY, JSON), "both: nothing")
    finally:
        T.stopped_cleanly(srv, "both")


def main():
    test_tokens()
    test_query_token()
    test_hmac()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
