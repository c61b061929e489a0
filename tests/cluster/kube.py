"""Helpers of the cluster suite: kubectl, helm and ctr against the local
single-node cluster (scripts/cluster/cluster.sh), bounded waits, and a
request loop that runs beside a disruption and counts every answer.

Every wait has a limit and fails with what it was waiting for and what it
last saw; every loop is bounded in time and in requests.
"""
import collections
import json
import os
import subprocess
import threading
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CLUSTER = os.path.join(ROOT, "scripts/cluster/cluster.sh")
CHART = os.path.join(ROOT, "deploy/helm/webtoon")
EXAMPLES = os.path.join(ROOT, "deploy/helm/examples")
HERE = os.path.dirname(os.path.abspath(__file__))

RELEASE = "webtoon"
NAMESPACE = "webtoon"
COMPONENTS = ("auth", "pointer", "payment", "history", "webtoon", "purchase", "web", "gateway")


def cluster_env():
    """The environment of `cluster.sh env` (PATH with the toolchain,
    KUBECONFIG, containerd's socket), or None when the cluster is down."""
    if subprocess.run([CLUSTER, "status"], capture_output=True).returncode != 0:
        return None
    out = subprocess.run(["sh", "-c", f'eval "$("{CLUSTER}" env)" && env -0'], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return dict(line.split("=", 1) for line in out.split("\0") if "=" in line)


class Kube:
    """kubectl, helm and ctr on the cluster, in the release's namespace."""

    def __init__(self, env, namespace=NAMESPACE):
        self.env = env
        self.ns = namespace

    def run(self, *args, check=True, timeout=120, input=None):
        out = subprocess.run(list(args), env=self.env, capture_output=True, text=True,
                             timeout=timeout, input=input)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {out.returncode}:\n{out.stderr[-3000:]}")
        return out

    def kubectl(self, *args, **kw):
        return self.run("kubectl", "-n", self.ns, *args, **kw)

    def json(self, *args):
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def helm(self, *args, **kw):
        return self.run("helm", "-n", self.ns, *args, **kw)

    def ctr(self, *args, **kw):
        return self.run("ctr", *args, **kw)

    def pods(self, component=None, terminating=False):
        """The release's pods (of <component>), without those on their way
        out unless <terminating>."""
        sel = f"app.kubernetes.io/instance={RELEASE}"
        if component:
            sel += f",app.kubernetes.io/component={component}"
        return [p for p in self.json("pods", "-l", sel)["items"]
                if terminating or not p["metadata"].get("deletionTimestamp")]

    def service_ip(self, name):
        return self.json("service", name)["spec"]["clusterIP"]

    def token(self, user, admin=False):
        """An access token from the built-in issuer, minted in its pod as
        the chart's NOTES say."""
        args = ["exec", f"deploy/{RELEASE}-auth", "--", "webtoon", "token", user]
        if admin:
            args.append("--admin")
        return self.kubectl(*args).stdout.strip()


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions", []))


def wait_until(what, check, timeout, interval=0.5):
    """Polls <check> until it returns something truthy (returned) or
    <timeout> seconds pass (fails with <what> and the last value seen)."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = check()
        except (AssertionError, subprocess.SubprocessError, requests.RequestException, KeyError) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}"[:3000])
        time.sleep(interval)


class RequestLoop(threading.Thread):
    """GETs through the gateway, one new connection each (so each one is
    routed afresh by the Service), round-robin over <targets> (path,
    headers), every <interval> seconds, until stop() or <max_seconds> or
    <max_requests>. Counts answers by status; a connection error or a
    timeout counts as a failure too."""

    def __init__(self, base, targets, interval=0.05, max_seconds=300, max_requests=20000):
        super().__init__(daemon=True)
        self.base = base
        self.targets = targets
        self.interval = interval
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.statuses = collections.Counter()
        self.failures = []  # (seconds since start, path, status or error, detail, request id)
        self.count = 0
        self._halt = threading.Event()
        self.started = None

    def run(self):
        self.started = time.monotonic()
        while (not self._halt.is_set() and self.count < self.max_requests
               and time.monotonic() - self.started < self.max_seconds):
            path, headers = self.targets[self.count % len(self.targets)]
            self.count += 1
            t = round(time.monotonic() - self.started, 2)
            # Its own request id, so a failure can be found in every log.
            rid = f"loop-{id(self) % 10000}-{self.count}"
            try:
                r = requests.get(self.base + path, timeout=10,
                                 headers={**headers, "Connection": "close", "X-Request-Id": rid})
                self.statuses[r.status_code] += 1
                if r.status_code >= 400:
                    self.failures.append((t, path, r.status_code, r.text[:200], rid))
            except requests.RequestException as e:
                self.statuses["error"] += 1
                self.failures.append((t, path, "error", str(e)[:200], rid))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the request loop did not stop"

    def server_errors(self):
        return [f for f in self.failures if f[2] == "error" or f[2] >= 500]

    def summary(self):
        return f"{self.count} requests, statuses {dict(self.statuses)}"


class EndpointWatch(threading.Thread):
    """Beside a disruption: every <interval> seconds, which pods each of the
    release's Services sends to (its EndpointSlices: ready, serving,
    terminating), kept as a timeline of changes, so that a failed request
    can be read against what the Service offered at that moment. Bounded
    in time like the request loop."""

    def __init__(self, kube, interval=0.5, max_seconds=400):
        super().__init__(daemon=True)
        self.kube = kube
        self.interval = interval
        self.max_seconds = max_seconds
        self.timeline = []  # (seconds since start, service, "pod:flags ..." or error)
        self._last = {}
        self._halt = threading.Event()

    def snapshot(self):
        slices = self.kube.json("endpointslices", "-l", f"app.kubernetes.io/instance={RELEASE}")
        state = collections.defaultdict(list)
        for s in slices["items"]:
            service = s["metadata"]["labels"].get("kubernetes.io/service-name", "?")
            for e in s.get("endpoints") or []:
                c = e.get("conditions", {})
                flags = "".join(f for f, key in (("R", "ready"), ("S", "serving"), ("T", "terminating"))
                                if c.get(key))
                pod = e.get("targetRef", {}).get("name", "?").rsplit("-", 1)[-1]
                state[service].append(f"{pod}@{e['addresses'][0]}:{flags or '-'}")
        return {k: " ".join(sorted(v)) for k, v in state.items()}

    def run(self):
        started = time.monotonic()
        while not self._halt.is_set() and time.monotonic() - started < self.max_seconds:
            t = round(time.monotonic() - started, 1)
            try:
                state = self.snapshot()
            except (AssertionError, subprocess.SubprocessError, ValueError) as e:
                state = {"?": f"error: {str(e)[:200]}"}
            for service in sorted(set(state) | set(self._last)):
                now = state.get(service, "none")
                if self._last.get(service) != now:
                    self.timeline.append((t, service, now))
            self._last = state
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(timeout=30)

    def report(self):
        return "\n".join(f"{t:6.1f} s  {service}: {state}" for t, service, state in self.timeline)
