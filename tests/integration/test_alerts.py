"""Alert delivery through the real binary (issue 4): local receivers on
127.0.0.1 stand in for Slack, PagerDuty and a webhook.

- POST /events latency does not grow while a sink hangs.
- SIGTERM with alerts still queued: every one is delivered before exit.
- Exactly one PagerDuty event and one webhook row per distinct alert, and
  repeats inside the suppression window are counted, not sent.
- POST /alerts/test reports each sink; /metrics counts every outcome.

Python 3 standard library only; prints "N passed, M failed" last.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import Server, Tally, t  # noqa: E402

T = Tally()
KEY = "0123456789abcdef0123456789abcdef"


class Receiver:
    """Records every POST. /hang/* holds the answer until released (at
    most 60 s); /slow/* answers after `delay` seconds; /slack* answers
    "ok"; everything else 202 "{}"."""

    def __init__(self, delay=0.0):
        self.requests = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.delay = delay
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append((self.path, dict(self.headers),
                                           body, time.time()))
                if self.path.startswith("/hang"):
                    outer.release.wait(60)
                    self.close_connection = True
                    return
                if self.path.startswith("/slow") and outer.delay:
                    time.sleep(outer.delay)
                out = b"ok" if self.path.startswith("/slack") else b"{}"
                self.send_response(200 if out == b"ok" else 202)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def bodies(self, prefix):
        with self.lock:
            return [json.loads(b) for p, _, b, _ in self.requests
                    if p.startswith(prefix)]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def push_event(n):
    """A git push that alerts (score 3); n makes its dedup key distinct."""
    return {"EventID": 1, "_messageTime": 1700000000000 + n,
            "Computer": "WS%02d" % (n % 7), "User": "CORP\\al",
            "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
            "CommandLine": "git.exe push https://github.com/al/r%d.git" % n,
            "ParentImage": "C:\\Windows\\explorer.exe"}


def post_events(srv, events, query=""):
    t0 = time.time()
    r = srv.request("POST", "/events" + query, json.dumps(events),
                    {"Content-Type": "application/json"})
    return r, time.time() - t0


def metric(srv, series):
    r = srv.request("GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def wait_for(pred, timeout):
    end = time.time() + t(timeout)
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def pctl(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def hanging_sink_latency():
    """Webhook and Slack hang; /events answers stay as fast as without."""
    rec = Receiver()
    srv = Server("--webhook-url", rec.url("/hang/hook"),
                 "--slack-webhook-url", rec.url("/hang/slack"),
                 "--drain-seconds", "2", "--workers", "2", name="hang")
    try:
        base = [post_events(srv, [push_event(i)], "?notify=false")[1]
                for i in range(40)]
        slow = []
        for i in range(40):
            r, dt = post_events(srv, [push_event(1000 + i)])
            T.check(r.status == 200, "hang: POST /events answers 200",
                    repr(r))
            slow.append(dt)
        T.check(wait_for(lambda: len(rec.requests) >= 2, 10),
                "hang: the sinks were called (and hang)")
        # A few more while the sinks certainly hang.
        for i in range(40):
            slow.append(post_events(srv, [push_event(2000 + i)])[1])
        b95, s95 = pctl(base, 0.95), pctl(slow, 0.95)
        print("hanging sink: /events p95 %.1f ms (notify=false %.1f ms), "
              "p50 %.1f ms vs %.1f ms" % (s95 * 1000, b95 * 1000,
                                          pctl(slow, 0.5) * 1000,
                                          pctl(base, 0.5) * 1000))
        T.check(s95 < max(3 * b95, t(0.05)),
                "hang: /events p95 does not grow while sinks hang",
                "%.1f ms vs %.1f ms" % (s95 * 1000, b95 * 1000))
        rec.release.set()
    finally:
        T.stopped_cleanly(srv, "hang")
        rec.close()


def drain_on_sigterm():
    """Alerts still queued at SIGTERM are all delivered before exit, once
    each; repeats within the window are suppressed and counted."""
    rec = Receiver(delay=0.02)
    srv = Server("--webhook-url", rec.url("/slow/hook"),
                 "--pagerduty-routing-key", KEY,
                 "--pagerduty-url", rec.url("/slow/pd"),
                 "--pagerduty-rate-per-minute", "600000",
                 "--drain-seconds", "30", "--workers", "2", name="drain")
    n = 150
    try:
        for i in range(n):
            r, _ = post_events(srv, [push_event(i)])
            T.check(r.status == 200 and r.json()["alert_count"] == 1,
                    "drain: alert %d accepted" % i, repr(r))
        # The same alerts again: suppressed (default window 600 s).
        r, _ = post_events(srv, [push_event(i) for i in range(10)])
        T.check(r.status == 200, "drain: repeats accepted")
        T.check(wait_for(lambda: (metric(srv, 'repoexfil_notifications_total'
                                        '{sink="pagerduty",'
                                        'outcome="suppressed"}') or 0) >= 10,
                         10),
                "drain: repeats counted as suppressed")
        pending = metric(srv, 'repoexfil_notifications_pending'
                              '{sink="pagerduty"}')
        t0 = time.time()
        rc = srv.stop(timeout=60)
        took = time.time() - t0
        T.check(rc == 0, "drain: exits 0", "rc %r" % rc)
        pd = rec.bodies("/slow/pd")
        rows = [a for b in rec.bodies("/slow/hook") for a in b["alerts"]]
        print("sigterm: %s PagerDuty events pending at SIGTERM; exit after "
              "%.2f s with %d PagerDuty events and %d webhook rows "
              "delivered" % (pending, took, len(pd), len(rows)))
        T.check(pending is not None and pending > 0,
                "drain: alerts were still pending at SIGTERM", repr(pending))
        keys = [e["dedup_key"] for e in pd]
        T.check(len(pd) == n and len(set(keys)) == n,
                "drain: every PagerDuty event delivered exactly once",
                "%d events, %d keys" % (len(pd), len(set(keys))))
        idx = sorted(a["CommandLine"] for a in rows)
        T.check(len(rows) == n and len(set(idx)) == n,
                "drain: every webhook row delivered exactly once",
                "%d rows" % len(rows))
        T.check(all(e["routing_key"] == KEY and
                    e["event_action"] == "trigger" for e in pd),
                "drain: PagerDuty events are triggers with the key")
        text = srv.stderr_text()
        T.check(KEY not in text and rec.url("/") not in text,
                "drain: no routing key or sink URL in the logs")
        rep = srv.sanitizer_report()
        T.check(rep is None, "drain: no sanitizer report", rep or "")
    finally:
        srv.kill()
        rec.close()


def test_endpoint_and_metrics():
    rec = Receiver()
    srv = Server("--slack-webhook-url", rec.url("/slack"),
                 "--webhook-url", rec.url("/hook"), name="test")
    try:
        r = srv.request("POST", "/alerts/test", b"")
        j = r.json() or {}
        sinks = j.get("sinks", {})
        T.check(r.status == 200, "alerts/test: 200", repr(r))
        T.check(sinks.get("slack", {}).get("outcome") == "sent",
                "alerts/test: slack sent", json.dumps(j))
        T.check(sinks.get("webhook", {}).get("outcome") == "sent",
                "alerts/test: webhook sent", json.dumps(j))
        T.check(sinks.get("pagerduty", {}).get("outcome") ==
                "not_configured", "alerts/test: pagerduty not_configured",
                json.dumps(j))
        r, _ = post_events(srv, [push_event(1), push_event(2)])
        T.check(wait_for(lambda: (metric(
            srv, 'repoexfil_notifications_total{sink="slack",'
                 'outcome="sent"}') or 0) >= 2, 10),
                "metrics: slack sent counted per alert")
        slack = rec.bodies("/slack")
        T.check(len(slack) == 2 and
                len(slack[-1]["blocks"]) == 4,  # header, 2 alerts, context
                "slack: one message for the batch, a section per alert",
                json.dumps(slack[-1:])[:300])
    finally:
        T.stopped_cleanly(srv, "test")
        rec.close()


def main():
    for case in (hanging_sink_latency, drain_on_sigterm,
                 test_endpoint_and_metrics):
        try:
            case()
        except Exception as e:  # a crash is a failure, not a traceback
            T.check(False, case.__name__, repr(e))
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
