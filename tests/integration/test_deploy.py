#!/usr/bin/env python3
"""The deployment files agree with the binary: deploy/Dockerfile,
deploy/k8s/*.yaml (through kustomization.yaml), deploy/config/ and
deploy/build.sh.

- Every REPOEXFIL_* name in the Dockerfile, the ConfigMap, the Secret and
  the Deployment is a real setting (`repoexfil serve --help`); no secret is
  in the Dockerfile or the ConfigMap; the Dockerfile's ENV values are the
  defaults.
- Ports: the default --listen port = EXPOSE = ENV REPOEXFIL_LISTEN = the
  ConfigMap's = the containerPort = the probe ports = the Service's target.
- The probe paths answer 200 on a real `serve --listen 127.0.0.1:0` started
  with the ConfigMap's settings (secrets replaced by valid dummies), and the
  Dockerfile's HEALTHCHECK command exits 0 against it (1 with nothing
  listening).
- check-config accepts deploy/config/rules.json, the ConfigMap's rules.json
  (identical to it), the ConfigMap's settings, the example env file and the
  Dockerfile's ENV; it rejects the Secret's shipped API token placeholder.
- The rules file is mounted where REPOEXFIL_RULES points.
- terminationGracePeriodSeconds > preStop sleep + 2 x REPOEXFIL_DRAIN_SECONDS
  (the HTTP drain, then the alert dispatcher's drain), and a real stop in
  that worst case (an upload still arriving, a sink refusing connections)
  takes no longer than 2 x --drain-seconds.
- Pod hardening: runAsNonRoot, the Dockerfile's non-root uid,
  readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL,
  seccomp RuntimeDefault; resources set; HPA autoscaling/v2 on CPU.
- deploy/build.sh builds and installs a binary that runs (--version); every
  shared library it links (ldd, mapped with dpkg -S) comes from a package
  the Dockerfile's runtime stage installs or one they depend on, and the
  libraries it names directly (DT_NEEDED) from exactly the packages listed
  there (plus libc6 and ca-certificates). The Dockerfile, deploy/run.sh and
  tests/run.sh all call deploy/build.sh.

Needs python3-yaml (deploy/install-deps.sh installs it). Last line:
"N passed, M failed".
"""
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:  # a python3 without PyYAML (pyenv): try Debian's
    if (os.path.exists("/usr/bin/python3") and
            not os.environ.get("RX_DEPLOY_REEXEC") and
            os.path.realpath(sys.executable) !=
            os.path.realpath("/usr/bin/python3")):
        os.environ["RX_DEPLOY_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL python3-yaml is not installed (deploy/install-deps.sh)")
    print("0 passed, 1 failed")
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rxharness import (BIN, SRC, Server, Tally, free_port,  # noqa: E402
                       request, t)

T = Tally()
DEPLOY = os.path.join(SRC, "deploy")
K8S = os.path.join(DEPLOY, "k8s")

# Settings that hold secrets: only in the Secret, never in an image or a
# ConfigMap.
SECRET_SETTINGS = {
    "REPOEXFIL_API_TOKENS", "REPOEXFIL_HMAC_SECRET",
    "REPOEXFIL_SLACK_WEBHOOK_URL", "REPOEXFIL_PAGERDUTY_ROUTING_KEY",
    "REPOEXFIL_WEBHOOK_URL", "REPOEXFIL_WEBHOOK_HEADERS",
    "REPOEXFIL_WEBHOOK_SECRET",
}
# Valid stand-ins for the secrets (no traffic leaves 127.0.0.1).
DUMMY_SECRETS = {
    "REPOEXFIL_API_TOKENS": "dummy-token-1,dummy-token-2",
    "REPOEXFIL_HMAC_SECRET": "dummy-hmac-secret",
    "REPOEXFIL_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack",
    "REPOEXFIL_PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
    "REPOEXFIL_WEBHOOK_URL": "http://127.0.0.1:9/webhook",
    "REPOEXFIL_WEBHOOK_HEADERS": "X-Dummy: 1",
    "REPOEXFIL_WEBHOOK_SECRET": "dummy-webhook-secret",
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def clean_env(extra=None):
    """The caller's environment without REPOEXFIL_* settings, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REPOEXFIL_") or k == "REPOEXFIL_BIN"}
    env.update(extra or {})
    return env


def run(argv, env=None, timeout=120):
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=t(timeout))


def check_config(env, args=(), label=""):
    """Runs `repoexfil check-config ARGS` with env (on a clean slate);
    returns the CompletedProcess."""
    return run([BIN, "check-config"] + list(args), env=clean_env(env))


def port_of(listen):
    m = re.match(r"^(?:\[[^\]]*\]|[^:]*):(\d+)$", listen or "")
    return int(m.group(1)) if m else None


# ---- the binary's settings --------------------------------------------

def settings_from_help():
    """{ENV_NAME: default text} from `repoexfil serve --help`."""
    r = run([BIN, "serve", "--help"], env=clean_env())
    T.check(r.returncode == 0, "serve --help exits 0", r.stderr[-300:])
    out = {}
    for line in r.stdout.decode().splitlines():
        m = re.match(r"^\s+--[a-z0-9-]+\s+(REPOEXFIL_[A-Z0-9_]+)\s+(\S.*?)\s*$",
                     line)
        if m:
            out[m.group(1)] = m.group(2)
    T.check(len(out) >= 20 and "REPOEXFIL_LISTEN" in out,
            "serve --help lists the settings", repr(sorted(out))[:300])
    return out


# ---- Dockerfile -------------------------------------------------------

def parse_dockerfile(path):
    """Stages: [{"from": image, "name": alias, "ins": [(KEYWORD, text)]}]."""
    lines, cur = [], ""
    for raw in read(path).splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    if cur:
        lines.append(cur)
    stages = []
    for line in lines:
        kw, _, rest = line.partition(" ")
        kw = kw.upper()
        rest = rest.strip()
        if kw == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            stages.append({"from": parts[0],
                           "name": parts[2] if len(parts) > 2 and
                           parts[1].upper() == "AS" else None,
                           "ins": []})
        elif stages:
            stages[-1]["ins"].append((kw, rest))
    return stages


def instr(stage, kw):
    return [rest for k, rest in stage["ins"] if k == kw]


def env_of_stage(stage):
    env = {}
    for rest in instr(stage, "ENV"):
        toks = shlex.split(rest)
        if len(toks) >= 2 and "=" not in toks[0]:  # ENV NAME value
            env[toks[0]] = " ".join(toks[1:])
            continue
        for tok in toks:
            k, _, v = tok.partition("=")
            env[k] = v
    return env


def apt_packages(stage):
    """Packages named after `apt-get install` in the stage's RUN lines."""
    pkgs = []
    for rest in instr(stage, "RUN"):
        for cmd in re.split(r"&&|;|\|\|", rest):
            toks = shlex.split(cmd)
            if "apt-get" in toks and "install" in toks:
                after = toks[toks.index("install") + 1:]
                pkgs += [p for p in after if not p.startswith("-")]
    return pkgs


def json_form(rest):
    try:
        v = json.loads(rest)
        return v if isinstance(v, list) else None
    except ValueError:
        return None


# ---- Kubernetes -------------------------------------------------------

def load_k8s():
    kust = yaml.safe_load(read(os.path.join(K8S, "kustomization.yaml")))
    T.check(kust.get("kind") == "Kustomization", "kustomization.yaml kind")
    files = kust.get("resources") or []
    present = sorted(f for f in os.listdir(K8S)
                     if f.endswith((".yaml", ".yml")) and
                     f != "kustomization.yaml")
    T.check(sorted(files) == present,
            "kustomization lists every manifest in deploy/k8s",
            "%r vs %r" % (files, present))
    # kubectl's built-in kustomize renders offline (no cluster contacted).
    if shutil.which("kubectl"):
        r = run(["kubectl", "kustomize", K8S], env=clean_env())
        T.check(r.returncode == 0, "kubectl kustomize deploy/k8s renders",
                r.stderr.decode()[-300:])
    docs = []
    for f in files:
        p = os.path.join(K8S, f)
        try:
            for d in yaml.safe_load_all(read(p)):
                if d is not None:
                    docs.append(d)
            T.check(True, "%s parses" % f)
        except (OSError, yaml.YAMLError) as e:
            T.check(False, "%s parses" % f, str(e))
    for d in docs:
        T.check(isinstance(d, dict) and d.get("apiVersion") and
                d.get("kind") and (d.get("metadata") or {}).get("name"),
                "manifest has apiVersion, kind, metadata.name", repr(d)[:120])
    return kust, docs


def one(docs, kind, name=None):
    found = [d for d in docs if d.get("kind") == kind and
             (name is None or d["metadata"]["name"] == name)]
    T.check(len(found) == 1, "exactly one %s%s" %
            (kind, " " + name if name else ""), "found %d" % len(found))
    return found[0] if found else {}


def resolve_port(container, port):
    """A probe's or Service's port (number or name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def cpu_cores(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def prestop_seconds(container):
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return int(pre["sleep"].get("seconds", 0))
    cmd = (pre.get("exec") or {}).get("command") or []
    text = " ".join(str(c) for c in cmd)
    m = re.search(r"\bsleep\s+(\d+)", text)
    return int(m.group(1)) if m else 0


# ---- ldd / dpkg -------------------------------------------------------

def dpkg_owner(path):
    """The package owning a library path, trying the usr-merged aliases."""
    cands = []
    for p in (path, os.path.realpath(path)):
        cands.append(p)
        if p.startswith("/usr/lib/"):
            cands.append(p[4:])
        elif p.startswith("/lib/") or p.startswith("/lib64/"):
            cands.append("/usr" + p)
    # The symlink's own directory resolved, the file name kept.
    d = os.path.realpath(os.path.dirname(path))
    cands.append(os.path.join(d, os.path.basename(path)))
    for c in cands:
        r = run(["dpkg", "-S", c])
        if r.returncode == 0:
            line = r.stdout.decode().splitlines()[0]
            return line.split(":")[0].strip()
    return None


def depends_closure(roots):
    """roots plus everything they depend on, as installed here (Debian 12,
    the runtime image's release). For "a | b" the first installed
    alternative, as apt would pick."""
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        r = run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", p])
        if r.returncode != 0:
            continue
        for dep in r.stdout.decode().split(","):
            dep = dep.strip()
            if not dep:
                continue
            for alt in dep.split("|"):
                name = alt.strip().split()[0].split(":")[0]
                if run(["dpkg-query", "-W", name]).returncode == 0:
                    todo.append(name)
                    break
    return seen


def ldd_libs(binary):
    r = run(["ldd", binary])
    libs = []
    for line in r.stdout.decode().splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if m:
            libs.append(m.group(1))
        elif line.strip().startswith("/"):
            libs.append(line.strip().split()[0])  # the loader
    return r.returncode, libs


def needed_libs(binary):
    r = run(["readelf", "-d", binary])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                      r.stdout.decode())


def worst_case_stop(drain):
    """Seconds from SIGTERM to exit with an upload in progress and an alert
    queued for a sink that refuses connections."""
    srv = Server("--drain-seconds", str(drain), "--pagerduty-routing-key",
                 DUMMY_SECRETS["REPOEXFIL_PAGERDUTY_ROUTING_KEY"],
                 "--pagerduty-url", "http://127.0.0.1:%d/x" % free_port(),
                 name="drain")
    sock = None
    try:
        ev = json.dumps([{"EventID": 1, "Image": "git.exe",
                          "CommandLine": "git push https://github.com/a/b"}])
        r = srv.request("POST", "/events", ev,
                        {"Content-Type": "application/json"})
        T.check(r.status == 200 and (r.json() or {}).get("alert_count") == 1,
                "drain: an alert is queued", repr(r))
        body = (ev * 50).encode()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        sock.sendall(b"POST /events?notify=false HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.2)
        t0 = time.time()
        srv.send_signal()
        for i in range(10, len(body)):  # a byte every 0.2 s, until closed
            if srv.proc.poll() is not None:
                break
            try:
                sock.send(body[i:i + 1])
            except OSError:
                break
            time.sleep(0.2)
        rc = srv.wait(timeout=4 * drain + 10)
        took = time.time() - t0
        T.check(rc == 0, "drain: exit 0", repr(rc))
        return took if rc is not None else None
    finally:
        if sock:
            sock.close()
        srv.kill()


# ---- the checks -------------------------------------------------------

def main():
    settings = settings_from_help()
    default_port = port_of(settings.get("REPOEXFIL_LISTEN"))
    T.check(default_port == 8080, "default --listen port is 8080",
            repr(settings.get("REPOEXFIL_LISTEN")))

    # -- Dockerfile
    stages = parse_dockerfile(os.path.join(DEPLOY, "Dockerfile"))
    T.check(len(stages) >= 2, "Dockerfile is multi-stage", repr(len(stages)))
    build, final = stages[0], stages[-1]
    T.check(build["from"] == "debian:bookworm", "build stage is debian:bookworm",
            build["from"])
    T.check(final["from"] == "debian:bookworm-slim",
            "runtime stage is debian:bookworm-slim", final["from"])
    build_runs = " ".join(instr(build, "RUN"))
    T.check("rx_install_deps build" in build_runs,
            "build stage installs deploy/install-deps.sh's build set")
    T.check(re.search(r"deploy/build\.sh\s+\S+\s+\S+", build_runs),
            "build stage builds with deploy/build.sh BUILD_DIR PREFIX",
            build_runs)
    copies = [c for c in instr(final, "COPY") if "--from=" + str(build["name"])
              in c]
    T.check(any(c.split()[-1] in ("/usr/local/bin/repoexfil",
                                  "/usr/bin/repoexfil", "/usr/local/bin/")
                for c in copies),
            "runtime stage copies the binary onto PATH", repr(copies))
    T.check(json_form(" ".join(instr(final, "ENTRYPOINT"))) == ["repoexfil"],
            "ENTRYPOINT [\"repoexfil\"]", repr(instr(final, "ENTRYPOINT")))
    T.check(json_form(" ".join(instr(final, "CMD"))) == ["serve"],
            "CMD [\"serve\"]", repr(instr(final, "CMD")))
    T.check(instr(final, "STOPSIGNAL") == ["SIGTERM"], "STOPSIGNAL SIGTERM",
            repr(instr(final, "STOPSIGNAL")))
    users = instr(final, "USER")
    uid = None
    if users:
        u = users[-1].split(":")[0]
        uid = int(u) if u.isdigit() else None
    T.check(uid is not None and uid != 0,
            "Dockerfile USER is a numeric non-root uid", repr(users))
    exposed = [int(p.split("/")[0]) for e in instr(final, "EXPOSE")
               for p in e.split()]
    T.check(exposed == [default_port], "EXPOSE is the default port",
            repr(exposed))
    denv = env_of_stage(final)
    T.check(port_of(denv.get("REPOEXFIL_LISTEN")) == default_port,
            "ENV REPOEXFIL_LISTEN on the exposed port",
            repr(denv.get("REPOEXFIL_LISTEN")))
    for k, v in sorted(denv.items()):
        if not k.startswith("REPOEXFIL_"):
            continue
        T.check(k in settings, "Dockerfile ENV %s is a setting" % k)
        T.check(k not in SECRET_SETTINGS, "Dockerfile ENV %s is no secret" % k)
        if k in settings:
            T.check(v == settings[k], "Dockerfile ENV %s is the default" % k,
                    "%r vs %r" % (v, settings[k]))
    T.check("REPOEXFIL_THRESHOLD" not in denv,
            "Dockerfile leaves REPOEXFIL_THRESHOLD to the rules file")
    r = check_config({k: v for k, v in denv.items()
                      if k.startswith("REPOEXFIL_")})
    T.check(r.returncode == 0, "check-config accepts the Dockerfile's ENV",
            r.stderr.decode()[-300:])
    hc = instr(final, "HEALTHCHECK")
    hc_cmd = None
    if hc:
        m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc[-1])
        hc_cmd = json_form(m.group(1)) if m else None
    T.check(hc_cmd is not None and hc_cmd[:2] == ["repoexfil", "healthcheck"],
            "HEALTHCHECK runs `repoexfil healthcheck` (exec form)", repr(hc))
    runtime_pkgs = apt_packages(final)
    T.check(runtime_pkgs and not any(p.endswith("-dev") for p in runtime_pkgs),
            "runtime stage installs packages, no -dev ones",
            repr(runtime_pkgs))
    for p in runtime_pkgs:
        r = run(["apt-cache", "show", p])
        T.check(r.returncode == 0, "runtime package %s exists in Debian" % p)

    # -- Kubernetes manifests
    kust, docs = load_k8s()
    dep = one(docs, "Deployment")
    svc = one(docs, "Service")
    hpa = one(docs, "HorizontalPodAutoscaler")
    secret = one(docs, "Secret")
    cms = {d["metadata"]["name"]: d for d in docs if d.get("kind") ==
           "ConfigMap"}
    pod = ((dep.get("spec") or {}).get("template") or {})
    podspec = pod.get("spec") or {}
    containers = podspec.get("containers") or [{}]
    T.check(len(containers) == 1, "one container", repr(len(containers)))
    c = containers[0]
    psc = podspec.get("securityContext") or {}
    csc = c.get("securityContext") or {}

    T.check((dep["spec"].get("selector") or {}).get("matchLabels", {}).items()
            <= (pod.get("metadata") or {}).get("labels", {}).items(),
            "Deployment selector matches the pod labels")
    T.check(podspec.get("enableServiceLinks") is False,
            "enableServiceLinks false (no REPOEXFIL_* service variables)")

    # Environment sources
    env_cm, env_secret = {}, {}
    for src in c.get("envFrom") or []:
        if "configMapRef" in src:
            name = src["configMapRef"]["name"]
            T.check(name in cms, "envFrom ConfigMap %s exists" % name)
            env_cm.update((cms.get(name) or {}).get("data") or {})
        if "secretRef" in src:
            name = src["secretRef"]["name"]
            T.check(name == secret["metadata"]["name"],
                    "envFrom Secret %s exists" % name)
            sd = dict(secret.get("stringData") or {})
            T.check(not secret.get("data"),
                    "Secret uses stringData placeholders")
            env_secret.update(sd)
    T.check(env_cm and env_secret, "env from a ConfigMap and the Secret")
    env_direct = {e["name"]: e.get("value") for e in c.get("env") or []}
    for where, keys in (("ConfigMap", env_cm), ("Secret", env_secret),
                        ("Deployment", env_direct)):
        for k in keys:
            T.check(k in settings, "%s names a real setting: %s" % (where, k))
    # Any REPOEXFIL_* name anywhere in the manifests or the Dockerfile's
    # instructions (comments aside) is a setting too.
    mentioned = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, str):
            mentioned.update(re.findall(r"\bREPOEXFIL_[A-Z0-9_]+", x))
    walk(docs)
    for st in stages:
        walk([rest for _, rest in st["ins"]])
    mentioned.discard("REPOEXFIL_BIN")
    T.check(mentioned and mentioned <= set(settings),
            "every REPOEXFIL_* name in the manifests and Dockerfile is a "
            "setting", repr(sorted(mentioned - set(settings))))
    for k in env_cm:
        T.check(k not in SECRET_SETTINGS, "ConfigMap holds no secret: %s" % k)
    T.check("REPOEXFIL_THRESHOLD" not in env_cm,
            "ConfigMap leaves REPOEXFIL_THRESHOLD to the rules file")
    for k, v in env_cm.items():
        T.check(isinstance(v, str), "ConfigMap value %s is a string" % k,
                repr(v))
    pod_env = dict(env_cm)
    pod_env.update(env_secret)
    pod_env.update({k: v for k, v in env_direct.items() if v is not None})

    # Ports
    ports = c.get("ports") or []
    cport = ports[0].get("containerPort") if ports else None
    T.check(cport == default_port, "containerPort is the default --listen port",
            repr(cport))
    T.check(port_of(pod_env.get("REPOEXFIL_LISTEN", settings[
        "REPOEXFIL_LISTEN"])) == cport,
        "REPOEXFIL_LISTEN in the pod listens on the containerPort",
        repr(pod_env.get("REPOEXFIL_LISTEN")))
    probes = {}
    for kind, want in (("livenessProbe", "/healthz"),
                       ("readinessProbe", "/readyz")):
        hg = ((c.get(kind) or {}).get("httpGet")) or {}
        probes[kind] = hg.get("path")
        T.check(hg.get("path") == want, "%s path %s" % (kind, want),
                repr(hg))
        T.check(resolve_port(c, hg.get("port")) == cport,
                "%s port is the containerPort" % kind, repr(hg.get("port")))
    sp = (svc.get("spec") or {}).get("ports") or [{}]
    T.check(sp[0].get("port") == 80, "Service port 80", repr(sp))
    T.check(resolve_port(c, sp[0].get("targetPort")) == cport,
            "Service targetPort is the containerPort", repr(sp))
    T.check((svc["spec"].get("selector") or {}).items() <=
            (pod.get("metadata") or {}).get("labels", {}).items(),
            "Service selector matches the pods")

    # HPA
    T.check(hpa.get("apiVersion") == "autoscaling/v2", "HPA autoscaling/v2")
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    T.check(ref.get("kind") == "Deployment" and
            ref.get("name") == dep["metadata"]["name"],
            "HPA scales the Deployment", repr(ref))
    metrics = (hpa.get("spec") or {}).get("metrics") or []
    T.check(any((m.get("resource") or {}).get("name") == "cpu"
                for m in metrics), "HPA on CPU", repr(metrics))
    T.check(1 <= hpa["spec"].get("minReplicas", 1) <=
            hpa["spec"].get("maxReplicas", 0), "HPA min <= max")
    T.check("replicas" not in dep["spec"],
            "Deployment leaves replicas to the HPA")

    # Resources
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r_ in ("cpu", "memory"):
            T.check(r_ in (res.get(part) or {}),
                    "resources.%s.%s set" % (part, r_))
    try:
        limit = math.ceil(cpu_cores(res["limits"]["cpu"]))
        workers = int(pod_env.get("REPOEXFIL_WORKERS", "0"))
        T.check(1 <= workers <= max(limit, 1),
                "REPOEXFIL_WORKERS set, within the CPU limit",
                "%r workers, limit %r" % (workers, limit))
    except (KeyError, ValueError) as e:
        T.check(False, "REPOEXFIL_WORKERS and the CPU limit", repr(e))

    # Security
    def sc(key):
        return csc.get(key, psc.get(key))
    T.check(sc("runAsNonRoot") is True, "runAsNonRoot true")
    T.check(sc("runAsUser") == uid and uid not in (None, 0),
            "runAsUser is the Dockerfile's non-root uid",
            "%r vs %r" % (sc("runAsUser"), uid))
    T.check(csc.get("readOnlyRootFilesystem") is True,
            "readOnlyRootFilesystem true")
    T.check(csc.get("allowPrivilegeEscalation") is False,
            "allowPrivilegeEscalation false")
    T.check((csc.get("capabilities") or {}).get("drop") == ["ALL"],
            "capabilities drop ALL", repr(csc.get("capabilities")))
    T.check((sc("seccompProfile") or {}).get("type") == "RuntimeDefault",
            "seccompProfile RuntimeDefault")
    T.check(podspec.get("automountServiceAccountToken") is False,
            "no service account token mounted")

    # Image name agrees with the kustomization
    image = c.get("image", "")
    names = [i.get("name") for i in kust.get("images") or []]
    T.check(image.split(":")[0] in names,
            "container image is the one kustomization.yaml sets", image)

    # Drain and grace period
    drain = int(pod_env.get("REPOEXFIL_DRAIN_SECONDS",
                            settings["REPOEXFIL_DRAIN_SECONDS"]))
    grace = podspec.get("terminationGracePeriodSeconds", 30)
    pre = prestop_seconds(c)
    T.check(grace > 2 * drain + pre,
            "terminationGracePeriodSeconds > preStop + 2 x drain",
            "grace %r, drain %r, preStop %r" % (grace, drain, pre))

    # The rules file: mounted where REPOEXFIL_RULES points
    rules_path = pod_env.get("REPOEXFIL_RULES", "")
    mounted = None
    vols = {v["name"]: v for v in podspec.get("volumes") or []}
    for vm in c.get("volumeMounts") or []:
        v = vols.get(vm.get("name")) or {}
        cmref = v.get("configMap") or {}
        if not cmref:
            continue
        items = cmref.get("items") or [
            {"key": k, "path": k}
            for k in ((cms.get(cmref.get("name")) or {}).get("data") or {})]
        for it in items:
            if os.path.join(vm["mountPath"], it["path"]) == rules_path:
                mounted = (cmref.get("name"), it["key"])
                T.check(vm.get("readOnly") is True, "rules mount read-only")
    T.check(mounted is not None,
            "REPOEXFIL_RULES points into a mounted ConfigMap", rules_path)
    cm_rules = None
    if mounted:
        cm_rules = ((cms.get(mounted[0]) or {}).get("data") or {}).get(
            mounted[1])
    T.check(isinstance(cm_rules, str), "ConfigMap holds the rules file")

    tmp = tempfile.mkdtemp(prefix="rx-deploy-")
    try:
        example_rules = os.path.join(DEPLOY, "config", "rules.json")
        r = check_config({}, ["--rules", example_rules])
        T.check(r.returncode == 0, "check-config --rules deploy/config/rules.json",
                r.stderr.decode()[-300:])
        cm_rules_file = os.path.join(tmp, "rules.json")
        with open(cm_rules_file, "w") as f:
            f.write(cm_rules or "")
        r = check_config({}, ["--rules", cm_rules_file])
        T.check(r.returncode == 0, "check-config accepts the ConfigMap's rules",
                r.stderr.decode()[-300:])
        try:
            same = json.loads(cm_rules or "null") == json.loads(
                read(example_rules))
        except ValueError:
            same = False
        T.check(same, "ConfigMap rules.json equals deploy/config/rules.json")

        # The ConfigMap's settings, secrets as valid dummies
        cfg_env = dict(env_cm)
        cfg_env.update({k: DUMMY_SECRETS.get(k, "dummy") for k in env_secret})
        cfg_env.update({k: v for k, v in env_direct.items() if v is not None})
        cfg_env["REPOEXFIL_RULES"] = cm_rules_file
        r = check_config(cfg_env)
        T.check(r.returncode == 0,
                "check-config accepts the ConfigMap's settings (dummy secrets)",
                r.stderr.decode()[-300:])
        # The Secret as shipped: its API token placeholder must not start.
        shipped = dict(cfg_env)
        shipped.update(env_secret)
        r = check_config(shipped)
        T.check(r.returncode != 0 and b"REPOEXFIL_API_TOKENS" in r.stderr,
                "the Secret's placeholder token stops start-up (fail closed)",
                "rc %d: %s" % (r.returncode, r.stderr.decode()[-200:]))

        # The example env file
        efile = {}
        for line in read(os.path.join(DEPLOY, "config",
                                      "repoexfil.env")).splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                k, _, v = line.partition("=")
                efile[k.strip()] = v
        for k in efile:
            T.check(k in settings, "repoexfil.env names a setting: %s" % k)
            T.check(k not in SECRET_SETTINGS,
                    "repoexfil.env holds no secret: %s" % k)
        eenv = dict(efile)
        if "REPOEXFIL_RULES" in eenv:
            eenv["REPOEXFIL_RULES"] = example_rules
        r = check_config(eenv)
        T.check(r.returncode == 0, "check-config accepts repoexfil.env",
                r.stderr.decode()[-300:])

        # A real server with the pod's settings answers the probes, and
        # the Dockerfile's HEALTHCHECK command passes against it.
        srv = Server(env=cfg_env, name="pod-settings")
        try:
            for kind, path in probes.items():
                resp = request(srv.port, "GET", path or "/")
                T.check(resp.status == 200, "%s %s answers 200" % (kind, path),
                        repr(resp))
            if hc_cmd:
                argv = [BIN] + hc_cmd[1:]
                r = run(argv, env=clean_env(
                    {"REPOEXFIL_LISTEN": "0.0.0.0:%d" % srv.port}))
                T.check(r.returncode == 0,
                        "HEALTHCHECK command passes on a running service",
                        r.stderr.decode()[-200:])
                r = run(argv, env=clean_env(
                    {"REPOEXFIL_LISTEN": "127.0.0.1:%d" % free_port()}))
                T.check(r.returncode == 1,
                        "HEALTHCHECK command fails with nothing listening",
                        "rc %d" % r.returncode)
        finally:
            T.stopped_cleanly(srv, "pod-settings server", timeout=t(60))

        # The worst case the grace period must cover: an upload still
        # trickling in holds the HTTP drain to its deadline, then an
        # unreachable sink holds the dispatcher's drain to its own.
        stop_s = worst_case_stop(2)
        print("worst-case stop with --drain-seconds 2: %s s" %
              ("%.1f" % stop_s if stop_s is not None else "none"), flush=True)
        T.check(stop_s is not None and stop_s <= 2 * 2 + 1.5 * t(1),
                "worst-case stop takes at most 2 x drain (+1.5 s)",
                "%r s with --drain-seconds 2" % stop_s)

        # deploy/build.sh: the Dockerfile's build step, into a temp dir
        bdir, prefix = os.path.join(tmp, "build"), os.path.join(tmp, "prefix")
        r = run(["bash", os.path.join(DEPLOY, "build.sh"), bdir, prefix],
                env=clean_env(), timeout=600)
        T.check(r.returncode == 0, "deploy/build.sh BUILD_DIR PREFIX",
                (r.stdout + r.stderr).decode()[-800:])
        built = os.path.join(prefix, "bin", "repoexfil")
        r = run([built, "--version"]) if os.path.exists(built) else None
        T.check(r is not None and r.returncode == 0 and
                r.stdout.startswith(b"repoexfil "),
                "the installed binary runs --version",
                repr(r and (r.stdout + r.stderr)[-300:]))
        for path, what in (("deploy/run.sh", "deploy/run.sh"),
                           ("tests/run.sh", "tests/run.sh")):
            T.check("deploy/build.sh" in read(os.path.join(SRC, path)),
                    "%s builds with deploy/build.sh" % what)

        # Its shared libraries come from the runtime stage's packages
        if not (shutil.which("dpkg") and shutil.which("ldd") and
                os.path.exists(built)):
            T.check(False, "ldd, dpkg and the built binary are available")
        else:
            rc, libs = ldd_libs(built)
            T.check(rc == 0 and libs, "ldd lists the libraries", repr(libs))
            closure = depends_closure(runtime_pkgs + ["libc6"])
            owners = {}
            for lib in libs:
                owner = dpkg_owner(lib)
                owners[os.path.basename(lib)] = owner
                T.check(owner in closure,
                        "%s (%s) comes with the runtime packages" %
                        (os.path.basename(lib), owner))
            direct = set()
            for so in needed_libs(built):
                owner = owners.get(so)
                T.check(owner is not None, "DT_NEEDED %s resolved" % so)
                if owner:
                    direct.add(owner)
            want = direct - {"libc6"}
            listed = set(runtime_pkgs) - {"ca-certificates"}
            T.check(want == listed,
                    "runtime stage lists exactly the packages of the "
                    "binary's direct libraries",
                    "needed %r, listed %r" % (sorted(want), sorted(listed)))
            T.check("ca-certificates" in runtime_pkgs,
                    "runtime stage installs ca-certificates (TLS to sinks)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # an unexpected error is a failure, not a crash
        import traceback
        traceback.print_exc()
        T.check(False, "test_deploy ran to the end", repr(e))
    sys.exit(T.finish())
