#!/usr/bin/env python3
"""The README's "SIEM set-up" examples, checked against the real binary.

Every body in README.md that follows a marker line
`<!-- siem-example: NAME -->` (a fenced ```json block right after it) is:

- posted exactly as written to `repoexfil serve` with the Content-Type and
  the credentials that product's set-up uses (bearer token, or `?token=` on
  a server started with --allow-query-token), and its verdict compared
  with EXPECT[NAME] below: received/evaluated/errors, alert_count, each
  result's signal and score, each alert's index, Signal and SuspicionScore;
- run through `repoexfil scan` from a file, which must give the same
  verdict.

A marker without an expectation, an expectation without a marker, a
duplicate marker or a marker without a ```json block right after it fails
the test. The Wazuh examples are also delivered by
deploy/wazuh/custom-repoexfil, called the way wazuh-integratord calls it
(argv[1] alert file, argv[2] API key, argv[3] hook URL), and the script's
error exits are checked. Python 3 standard library only; environment:
REPOEXFIL_BIN, RX_SOURCE_DIR. Last line: "N passed, M failed".
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rxharness  # noqa: E402
from rxharness import BIN, SRC, Server, Tally, free_port, t  # noqa: E402

T = Tally()
README = os.path.join(SRC, "README.md")
WAZUH_SCRIPT = os.path.join(SRC, "deploy", "wazuh", "custom-repoexfil")
TOKEN_BEARER = "siem-bearer-7c2f9e1a4b"
TOKEN_QUERY = "siem-query-3d8b0f6e2c"

GP, UP, NC = ("GitPushToExternalRepo", "CodeRepoAPIUpload",
              "NetworkConnectionToCodeRepo")

# NAME -> how the product authenticates, and the verdict its body must get.
# results: (signal, score) per event in input order; alerts: (index,
# Signal, SuspicionScore) in answer order.
EXPECT = {
    "sumo-logic": dict(
        auth="bearer", received=3, evaluated=3, errors=0, alert_count=2,
        results=[(UP, 3), (GP, 3), (None, 0)],
        alerts=[(0, UP, 3), (1, GP, 3)]),
    "splunk": dict(
        auth="query", received=1, evaluated=1, errors=0, alert_count=1,
        results=[(UP, 3)],
        alerts=[(0, UP, 3)]),
    "splunk-benign": dict(
        auth="query", received=1, evaluated=1, errors=0, alert_count=0,
        results=[(GP, 0)],  # a CI build agent: scored 0
        alerts=[]),
    "elastic-kibana": dict(
        auth="bearer", received=3, evaluated=3, errors=0, alert_count=2,
        results=[(UP, 3), (NC, 2), (None, 0)],
        alerts=[(0, UP, 3), (1, NC, 2)]),
    "elastic-watcher": dict(
        auth="bearer", received=3, evaluated=3, errors=0, alert_count=2,
        results=[(UP, 3), (NC, 2), (None, 0)],
        alerts=[(0, UP, 3), (1, NC, 2)]),
    "wazuh": dict(
        auth="bearer", received=1, evaluated=1, errors=0, alert_count=1,
        results=[(UP, 3)],
        alerts=[(0, UP, 3)]),
    "wazuh-benign": dict(
        auth="bearer", received=1, evaluated=1, errors=0, alert_count=0,
        results=[(None, 0)],
        alerts=[]),
    "graylog": dict(
        auth="query", received=3, evaluated=3, errors=0, alert_count=2,
        results=[(GP, 3), (NC, 2), (None, 0)],
        alerts=[(0, GP, 3), (1, NC, 2)]),
}

# Every product of the README's SIEM set-up has at least one example.
PRODUCTS = {"sumo-logic": "Sumo Logic", "splunk": "Splunk",
            "elastic-kibana": "Elastic (Kibana)",
            "elastic-watcher": "Elastic (Watcher)", "wazuh": "Wazuh",
            "graylog": "Graylog"}

MARKER = re.compile(r"^<!-- siem-example: ([a-z0-9][a-z0-9-]*) -->$")


def read_examples(path):
    """{name: body} from the README; problems are reported as failures."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    examples = {}
    for i, line in enumerate(lines):
        if "siem-example" not in line:
            continue
        m = MARKER.match(line)
        if not T.check(m is not None, "README line %d: well-formed marker"
                       % (i + 1), repr(line)):
            continue
        name = m.group(1)
        T.check(name not in examples, "marker %s: appears once" % name,
                "again at line %d" % (i + 1))
        if not T.check(i + 1 < len(lines) and lines[i + 1] == "```json",
                       "marker %s: a ```json block follows at once" % name,
                       repr(lines[i + 1] if i + 1 < len(lines) else None)):
            continue
        body = []
        j = i + 2
        while j < len(lines) and lines[j] != "```":
            body.append(lines[j])
            j += 1
        if not T.check(j < len(lines), "marker %s: block is closed" % name):
            continue
        examples[name] = "\n".join(body) + "\n"
    return examples


def verdict_problems(ans, exp):
    """A list of differences between an answer and an expectation."""
    if not isinstance(ans, dict):
        return ["answer is not a JSON object: %r" % (ans,)]
    bad = []
    for k in ("received", "evaluated", "errors", "alert_count"):
        if ans.get(k) != exp[k]:
            bad.append("%s %r, want %r" % (k, ans.get(k), exp[k]))
    if ans.get("threshold") != 2:
        bad.append("threshold %r, want 2" % ans.get("threshold"))
    got = [(r.get("signal"), r.get("score")) if "error" not in r
           else ("error", r.get("error")) for r in ans.get("results") or []]
    if got != exp["results"]:
        bad.append("results %r, want %r" % (got, exp["results"]))
    alerts = [(a.get("index"), a.get("Signal"), a.get("SuspicionScore"))
              for a in ans.get("alerts") or []]
    if alerts != exp["alerts"]:
        bad.append("alerts %r, want %r" % (alerts, exp["alerts"]))
    return bad


def post(srv, body, auth, token):
    path = "/events"
    headers = {"Content-Type": "application/json"}
    if auth == "query":
        path += "?token=" + token
    else:
        headers["Authorization"] = "Bearer " + token
    return srv.request("POST", path, body.encode("utf-8"), headers,
                       timeout=30)


def scan(body, tmpdir, name):
    path = os.path.join(tmpdir, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    p = subprocess.run(rxharness.WRAPPER + [BIN, "scan", path],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=t(60))
    try:
        ans = json.loads(p.stdout)
    except ValueError:
        ans = None
    return p.returncode, ans, p.stderr.decode("utf-8", "replace")


def run_script(args, timeout=60):
    p = subprocess.run([sys.executable, WAZUH_SCRIPT] + args,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=t(timeout))
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def batch_logs(srv, after):
    """The server's request log lines for POST /events after the first
    `after` log entries."""
    return [o for o in srv.logs[after:]
            if o.get("msg") == "request" and o.get("method") == "POST"]


def wait_logs(srv, after, n=1, seconds=10):
    deadline = time.time() + t(seconds)
    while time.time() < deadline:
        got = batch_logs(srv, after)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return batch_logs(srv, after)


_sync_no = [0]


def log_mark(srv):
    """The index in srv.logs after which only later requests log: the log
    line of a request may be read from the server's stderr after its
    answer came back, so a marker request is made and waited for first."""
    _sync_no[0] += 1
    rid = "siem-sync-%d" % _sync_no[0]
    srv.request("GET", "/healthz", headers={"X-Request-ID": rid})
    deadline = time.time() + t(10)
    while time.time() < deadline:
        for i, o in enumerate(srv.logs):
            if o.get("request_id") == rid:
                return i + 1
        time.sleep(0.02)
    return len(srv.logs)


def check_wazuh_script(srv, examples, tmpdir):
    T.check(os.path.isfile(WAZUH_SCRIPT), "wazuh: %s exists" % WAZUH_SCRIPT)
    T.check(os.access(WAZUH_SCRIPT, os.X_OK), "wazuh: script is executable")
    with open(WAZUH_SCRIPT, encoding="utf-8") as f:
        first = f.readline()
    T.check(first.startswith("#!") and "python3" in first,
            "wazuh: python3 shebang", repr(first))
    url = "http://127.0.0.1:%d/events" % srv.port

    for name in ("wazuh", "wazuh-benign"):
        if name not in examples:
            continue
        exp = EXPECT[name]
        alert_file = os.path.join(tmpdir, "alert-%s.json" % name)
        with open(alert_file, "w", encoding="utf-8") as f:
            f.write(examples[name])
        mark = log_mark(srv)
        rc, out = run_script([alert_file, TOKEN_BEARER, url])
        T.check(rc == 0, "wazuh script %s: exit 0" % name,
                "exit %d: %s" % (rc, out))
        T.check("received=%d alert_count=%d" % (exp["received"],
                                                exp["alert_count"]) in out,
                "wazuh script %s: reports the verdict" % name, out)
        T.check(TOKEN_BEARER not in out, "wazuh script %s: token not printed"
                % name, out)
        logs = wait_logs(srv, mark)
        ok = (len(logs) == 1 and logs[0].get("status") == 200 and
              logs[0].get("received") == exp["received"] and
              logs[0].get("alerts") == exp["alert_count"])
        T.check(ok, "wazuh script %s: the server scored the alert" % name,
                repr(logs))

    alert_file = os.path.join(tmpdir, "alert-wazuh.json")
    if os.path.exists(alert_file):
        mark = log_mark(srv)
        rc, out = run_script([alert_file, "wrong-token", url])
        T.check(rc == 8, "wazuh script: wrong token exits 8",
                "exit %d: %s" % (rc, out))
        T.check("401" in out and "wrong-token" not in out,
                "wazuh script: 401 reported, token not printed", out)
        logs = wait_logs(srv, mark)
        T.check([o.get("status") for o in logs] == [401],
                "wazuh script: wrong token is one 401 (no retry)", repr(logs))

        rc, out = run_script([alert_file, TOKEN_BEARER,
                              "http://127.0.0.1:%d/events" % free_port()])
        T.check(rc == 9, "wazuh script: unreachable hook exits 9",
                "exit %d: %s" % (rc, out))

    rc, out = run_script([os.path.join(tmpdir, "no-such-alert.json"),
                          TOKEN_BEARER, url])
    T.check(rc == 6, "wazuh script: missing alert file exits 6",
            "exit %d: %s" % (rc, out))
    bad = os.path.join(tmpdir, "not-json.alert")
    with open(bad, "w") as f:
        f.write("** Alert 1714576845.4410213: - sysmon,\n")
    rc, out = run_script([bad, TOKEN_BEARER, url])
    T.check(rc == 7, "wazuh script: non-JSON alert file exits 7",
            "exit %d: %s" % (rc, out))
    rc, out = run_script([bad])
    T.check(rc == 2, "wazuh script: missing arguments exit 2",
            "exit %d: %s" % (rc, out))


def main():
    examples = read_examples(README)
    names = set(examples)
    for name in sorted(names - set(EXPECT)):
        T.check(False, "marker %s has an expectation in this test" % name)
    for name in sorted(set(EXPECT) - names):
        T.check(False, "expectation %s has a marker in README.md" % name)
    for name, label in sorted(PRODUCTS.items()):
        T.check(name in names, "README has an example for %s" % label)

    for name, body in sorted(examples.items()):
        try:
            json.loads(body)
            ok = True
        except ValueError as e:
            ok = e
        T.check(ok is True, "example %s: the body is JSON" % name, str(ok))

    with tempfile.TemporaryDirectory(prefix="rx-siem-") as tmpdir, \
            Server("--api-tokens", TOKEN_BEARER, "--workers", "2",
                   name="bearer") as sb, \
            Server("--api-tokens", TOKEN_QUERY, "--allow-query-token",
                   "--workers", "2", name="query-token") as sq:
        servers = {"bearer": (sb, TOKEN_BEARER), "query": (sq, TOKEN_QUERY)}

        for name in sorted(names & set(EXPECT)):
            exp = EXPECT[name]
            body = examples[name]
            srv, token = servers[exp["auth"]]

            r = post(srv, body, exp["auth"], token)
            ans = r.json()
            T.check(r.status == 200, "POST %s: 200" % name,
                    "%d %r" % (r.status, r.body[:300]))
            bad = verdict_problems(ans, exp)
            T.check(not bad, "POST %s: verdict" % name, "; ".join(bad))

            # The credentials are what let it in.
            r = srv.request("POST", "/events", body.encode("utf-8"),
                            {"Content-Type": "application/json"}, timeout=30)
            T.check(r.status == 401, "POST %s without credentials: 401" % name,
                    "%d" % r.status)

            rc, sans, err = scan(body, tmpdir, name)
            T.check(rc == 0, "scan %s: exit 0" % name,
                    "exit %d: %s" % (rc, err))
            bad = verdict_problems(sans, exp)
            T.check(not bad, "scan %s: same verdict" % name, "; ".join(bad))
            if isinstance(ans, dict) and isinstance(sans, dict):
                ans.pop("request_id", None)
                T.check(ans == sans, "scan %s: the whole answer equals the "
                        "HTTP answer" % name)

        # Splunk and Graylog cannot send a header: without
        # --allow-query-token their ?token= is refused.
        for name in ("splunk", "graylog"):
            if name in examples:
                r = sb.request("POST", "/events?token=" + TOKEN_BEARER,
                               examples[name].encode("utf-8"),
                               {"Content-Type": "application/json"})
                T.check(r.status == 401, "%s: ?token= refused without "
                        "--allow-query-token" % name, "%d" % r.status)

        check_wazuh_script(sb, examples, tmpdir)

        for srv in (sb, sq):
            text = srv.stderr_text()
            T.check(TOKEN_BEARER not in text and TOKEN_QUERY not in text,
                    "%s: no token in the logs" % srv.name)
            T.stopped_cleanly(srv, srv.name)

    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
