#!/usr/bin/env python3
"""Soak: a bounded mixed load on `repoexfil serve` with its RSS sampled.

Started by tests/bench/soak.sh (not part of CI). Environment:
  REPOEXFIL_BIN   the binary (default build/repoexfil)
  RX_DATASETS     ../shared/datasets (events are read from *.ndjson[.gz])
  SOAK_SECONDS    load duration (default 300)
  SOAK_CLIENTS    concurrent clients (default 4)
  SOAK_WARMUP     seconds left out of the verdict (default 60, at most a
                  fifth of the duration)
  SOAK_SAMPLE     seconds between RSS samples (default 2)
  SOAK_MAX_SLOPE  MiB/min allowed after warm-up (default 1.0)

Load: batches of 1 to 5 000 events (log-uniform sizes) taken from the
datasets, as a JSON array, an {"events":[...]} envelope, NDJSON or a Sumo
Logic quoted {"results":"[...]"}; half with ?notify=false, the rest notify a
generic webhook receiver run here on 127.0.0.1 (so the dispatcher works
too); about 5 % invalid bodies (bad JSON, bad XML, DOCTYPE, deep nesting,
415). Every answer is checked: 200 with one result per event for valid
bodies, the expected 4xx JSON error for invalid ones; anything else counts
as an error.

Output: a summary, the RSS samples, the least-squares slope of RSS over
the post-warm-up samples, and a verdict line "SOAK PASS" / "SOAK FAIL";
exit status 0 / 1.
"""
import glob
import gzip
import http.client
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("REPOEXFIL_BIN") or os.path.join(SRC, "build",
                                                      "repoexfil")
DATASETS = os.environ.get("RX_DATASETS") or os.path.join(
    os.path.dirname(SRC), "shared", "datasets")
SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
WARMUP = min(float(os.environ.get("SOAK_WARMUP", "60")), SECONDS / 5)
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "2"))
MAX_SLOPE = float(os.environ.get("SOAK_MAX_SLOPE", "1.0"))
MAX_POOL = 60000


def load_events():
    events = []
    files = sorted(glob.glob(os.path.join(DATASETS, "**", "*.ndjson*"),
                             recursive=True))
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for i, line in enumerate(f):
                if i >= MAX_POOL // max(1, len(files)) * 2:
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict):
                    events.append(ev)
    events = events[:MAX_POOL]
    # The datasets hardly alert: mix in git pushes (score 3) from a bounded
    # set of 500 distinct ones, so the dispatcher and its suppression table
    # work too (about 1 event in 50).
    rng = random.Random(7)
    for i in range(len(events) // 50):
        u = rng.randrange(500)
        events.insert(rng.randrange(len(events)), {
            "EventID": 1, "Computer": "WS%03d" % (u % 50),
            "User": "CORP\\soak", "Image": "C:\\Program Files\\Git\\git.exe",
            "CommandLine": "git push https://github.com/soak/r%d.git" % u})
    return events, files


class Receiver:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                with outer.lock:
                    outer.count += 1
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


INVALID = [
    (b'[{"EventID":1,', "application/json", 400, "bad_json"),
    (b"<Event><System>", "application/xml", 400, "bad_xml"),
    (b'<!DOCTYPE a [<!ENTITY b "c">]><Event/>', "application/xml", 400,
     "bad_xml"),
    (b"[" * 5000, "application/json", 400, "bad_json"),
    (b"\x00\xff\xfe", "application/json", 400, "bad_json"),
    (b"[]", "image/png", 415, "unsupported_media_type"),
]


class Client(threading.Thread):
    def __init__(self, cid, port, pool, end, stats):
        super().__init__(daemon=True)
        self.rng = random.Random(1000 + cid)
        self.port, self.pool, self.end, self.stats = port, pool, end, stats

    def body(self):
        rng = self.rng
        if rng.random() < 0.05:
            b, ct, st, code = rng.choice(INVALID)
            return b, ct, st, code, 0, ""
        n = min(5000, int(math.exp(rng.uniform(0, math.log(5000)))))
        start = rng.randrange(len(self.pool))
        evs = [self.pool[(start + i) % len(self.pool)] for i in range(n)]
        kind = rng.randrange(4)
        if kind == 0:
            b, ct = json.dumps(evs), "application/json"
        elif kind == 1:
            b, ct = json.dumps({"events": evs}), "application/json"
        elif kind == 2:
            b = "\n".join(json.dumps(e) for e in evs) + "\n"
            ct = "application/x-ndjson"
        else:
            b, ct = (json.dumps({"results": json.dumps(evs)}),
                     "application/json")
        q = "?notify=false" if rng.random() < 0.5 else ""
        if rng.random() < 0.2:
            q += ("&" if q else "?") + "view=alerts"
        return b.encode(), ct, 200, None, n, q

    def run(self):
        conn = None
        while time.time() < self.end:
            b, ct, want, code, n, q = self.body()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=120)
                conn.request("POST", "/events" + q, b, {"Content-Type": ct})
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.stats.add("error", "%s" % e)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
                continue
            ok = r.status == want
            try:
                j = json.loads(data)
            except ValueError:
                j, ok = None, False
            if ok and want == 200:
                ok = (j.get("received") == n and
                      ("view=alerts" in q or len(j.get("results", [])) == n))
            elif ok:
                ok = j.get("error", {}).get("code") == code
            self.stats.add("ok" if ok else "error",
                           None if ok else "%d %r" % (r.status, data[:200]),
                           n, want != 200)
        if conn is not None:
            conn.close()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = self.events = self.invalid = self.errors = 0
        self.samples = []

    def add(self, kind, detail, n=0, invalid=False):
        with self.lock:
            self.requests += 1
            self.events += n
            self.invalid += 1 if invalid else 0
            if kind == "error":
                self.errors += 1
                if len(self.samples) < 5:
                    self.samples.append(detail)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def slope(points):
    """Least-squares slope of (t, y) points, in y units per t unit."""
    n = len(points)
    if n < 2:
        return float("nan")
    mt = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    num = sum((p[0] - mt) * (p[1] - my) for p in points)
    den = sum((p[0] - mt) ** 2 for p in points)
    return num / den if den else float("nan")


def main():
    pool, files = load_events()
    if len(pool) < 100:
        print("soak: too few events under %s (%d)" % (DATASETS, len(pool)))
        return 2
    rec = Receiver()
    log = open(os.environ.get("SOAK_LOG", "/tmp/repoexfil-soak.log"), "wb")
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--workers", "2",
         "--webhook-url", "http://127.0.0.1:%d/hook" % rec.port],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    port = None
    deadline = time.time() + 30
    while time.time() < deadline and port is None:
        line = proc.stderr.readline()
        if not line:
            break
        log.write(line)
        try:
            o = json.loads(line)
            if o.get("msg") == "listening":
                port = o["port"]
        except ValueError:
            pass
    if port is None:
        print("soak: the server did not start")
        proc.kill()
        return 2

    def drain():
        for line in proc.stderr:
            log.write(line)
    threading.Thread(target=drain, daemon=True).start()

    print("soak: %s, %d events from %d files, %d clients, %.0f s, warm-up "
          "%.0f s, pid %d" % (BIN, len(pool), len(files), CLIENTS, SECONDS,
                               WARMUP, proc.pid), flush=True)
    stats = Stats()
    t0 = time.time()
    end = t0 + SECONDS
    clients = [Client(i, port, pool, end, stats) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    samples = []
    while time.time() < end and proc.poll() is None:
        samples.append((time.time() - t0, rss_kib(proc.pid)))
        el = samples[-1][0]
        if len(samples) % max(1, int(30 / SAMPLE)) == 1:
            print("  t=%5.0fs rss=%7.1f MiB requests=%d events=%d errors=%d"
                  % (el, samples[-1][1] / 1024.0, stats.requests,
                     stats.events, stats.errors), flush=True)
        time.sleep(max(0.0, SAMPLE - (time.time() - t0 - el)))
    for c in clients:
        c.join(180)
    alive = proc.poll() is None
    samples.append((time.time() - t0, rss_kib(proc.pid) if alive else 0))
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = None
    took = time.time() - t0
    post = [(s / 60.0, k / 1024.0) for s, k in samples if s >= WARMUP and k]
    sl = slope(post)
    # RSS swings by tens of MiB with the big batches in flight; the floor
    # (each 30 s window's minimum) shows what stays.
    win = {}
    for s, k in samples:
        if s >= WARMUP and k:
            w = int((s - WARMUP) // 30)
            win[w] = min(win.get(w, k), k)
    floor = [((WARMUP + 30 * w + 15) / 60.0, k / 1024.0)
             for w, k in sorted(win.items())]
    fsl = slope(floor)
    rss = [k / 1024.0 for _, k in samples if k]
    print("soak: %d requests (%d invalid), %d events in %.0f s (%.0f "
          "events/s); %d errors; %d webhook posts received" %
          (stats.requests, stats.invalid, stats.events, took,
           stats.events / max(1.0, took), stats.errors, rec.count))
    for s in stats.samples:
        print("  error: %s" % s)
    print("soak: RSS min %.1f / max %.1f / last %.1f MiB; after warm-up "
          "(%d samples from t=%.0f s) least-squares slope %.3f MiB/min; "
          "exit status %r" % (min(rss), max(rss), rss[-1], len(post),
                              WARMUP, sl, rc))
    print("soak: 30 s window minima after warm-up (MiB): %s; their slope "
          "%.3f MiB/min" % (" ".join("%.1f" % k for _, k in floor), fsl))
    print("soak: samples (s, MiB): " + " ".join(
        "%.0f:%.1f" % (s, k / 1024.0) for s, k in samples))
    good = (alive and rc == 0 and stats.errors == 0 and
            not math.isnan(sl) and sl < MAX_SLOPE)
    print("SOAK %s (slope %.3f MiB/min < %.1f, %d errors, exit %r)" %
          ("PASS" if good else "FAIL", sl, MAX_SLOPE, stats.errors, rc))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
