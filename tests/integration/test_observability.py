"""The operator's view, live: `webtoon up` with Debian's Prometheus scraping
every process and evaluating the alerting rules, and Alertmanager receiving
them, configured the way `make run-observability` configures them
(scripts/observability.sh renders both files).

No Grafana server can run here, so the test does what Grafana would: it
drives traffic (with a compensation: a purchase rejected for lack of
points, a cancel that gives points back, a refund, a declined payment),
then evaluates every query of every panel of every dashboard in
deploy/monitoring/dashboards through Prometheus' HTTP API, for every value
of the dashboard's variables, and fails on a query that is invalid or
returns no series (and draws the dashboards into test-output/dashboards/). Every alert stays inactive while the system is healthy;
killing the webtoon service fires WebtoonServiceDown in Alertmanager once
its `for` has passed, and the alert resolves once the supervisor has
restarted the service.

Shorter windows, and why. The shipped rules wait a minute or more before
firing (`for`), and Prometheus scrapes every 5 s by default: a live test at
those settings would take minutes per alert. The `for` of each shipped rule
is tested exactly, against synthetic series, by `promtool test rules`
(tests/monitoring/test_rules.py). Here the rules are a rendered copy in
which only the `for` durations are shortened (TEST_FOR), scraped and
evaluated every second: the expressions and thresholds are the shipped
ones, and what this test checks is the wiring: scrape, rule, Alertmanager,
resolution.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests
import yaml

from api import ADMIN, Api
from harness import System, free_ports, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
MONITORING = os.path.join(ROOT, "deploy/monitoring")
DASHBOARDS = os.path.join(MONITORING, "dashboards")
TEST_FOR = 3  # seconds: the `for` of every rule in the test copy
# What Grafana would put in for its built-in variables, given the test's
# 1 s scrape interval and a run of a few minutes.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "1h"}


class Prometheus:
    """Prometheus and Alertmanager on free loopback ports, configured by
    scripts/observability.sh for <system>."""

    def __init__(self, system, tmp):
        self.tmp = tmp
        self.port, self.am_port = free_ports(2, system.port_locks)
        self.url = f"http://127.0.0.1:{self.port}"
        self.am_url = f"http://127.0.0.1:{self.am_port}"
        rules = yaml.safe_load(open(os.path.join(MONITORING, "webtoon-rules.yaml")))
        self.fors = {}
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    self.fors[rule["alert"]] = rule["for"]
                    rule["for"] = f"{TEST_FOR}s"
        (tmp / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
        env = dict(system.env(), PROMETHEUS_PORT=str(self.port), ALERTMANAGER_PORT=str(self.am_port),
                   SCRAPE_INTERVAL="1s", EVALUATION_INTERVAL="1s", RULE_FILE=str(tmp / "rules.yaml"))
        r = subprocess.run([os.path.join(ROOT, "scripts/observability.sh"), "render", str(tmp)],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.logs = []
        self.procs = [
            self._start("prometheus", f"--config.file={tmp}/prometheus.yml",
                        f"--storage.tsdb.path={tmp}/prometheus", f"--web.listen-address=127.0.0.1:{self.port}"),
            self._start("prometheus-alertmanager", f"--config.file={tmp}/alertmanager.yml",
                        f"--storage.path={tmp}/alertmanager", f"--web.listen-address=127.0.0.1:{self.am_port}",
                        "--cluster.listen-address="),
        ]
        for url in (self.url, self.am_url):
            wait_until(lambda: requests.get(url + "/-/ready", timeout=2).status_code == 200, 60,
                       what=f"{url} ready")

    def _start(self, exe, *args):
        log = open(self.tmp / f"{exe}.log", "ab")
        self.logs.append(log)
        return subprocess.Popen([exe, *args], stdout=log, stderr=subprocess.STDOUT)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        for log in self.logs:
            log.close()

    def query(self, expr):
        """The instant query's answer: (status, result or error)."""
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=30)
        body = r.json()
        if body.get("status") != "success":
            return "error", body.get("error", r.text)
        return "success", body["data"]["result"]

    def value(self, expr):
        status, result = self.query(expr)
        assert status == "success", result
        return float(result[0]["value"][1]) if result else None

    def label_values(self, label, match):
        r = requests.get(self.url + f"/api/v1/label/{label}/values", params={"match[]": match}, timeout=30)
        return r.json()["data"]

    def targets_up(self):
        r = requests.get(self.url + "/api/v1/targets", params={"state": "active"}, timeout=30)
        targets = [t for t in r.json()["data"]["activeTargets"] if t["labels"]["job"] == "webtoon"]
        return targets and all(t["health"] == "up" for t in targets) and targets

    def alerting_rules(self):
        r = requests.get(self.url + "/api/v1/rules", params={"type": "alert"}, timeout=30)
        return [rule for g in r.json()["data"]["groups"] for rule in g["rules"]]

    def alertmanager_alerts(self, name):
        r = requests.get(self.am_url + "/api/v2/alerts", params={"filter": f'alertname="{name}"'},
                         timeout=30)
        return r.json()


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """The system under `webtoon up` with traffic behind it, and the
    Prometheus watching it."""
    tmp = tmp_path_factory.mktemp("observed")
    system = System(tmp)
    prom = None
    try:
        system.start_all(WEBTOON_LEDGER_CHECK_INTERVAL_MS="1000")
        prom = Prometheus(system, tmp)
        wait_until(prom.targets_up, 60, interval=0.5, what="every process scraped")
        api = Api(system)
        drive_traffic(api)
        system.settle()
        # The saga ends are scraped, then enough samples follow for a rate.
        wait_until(lambda: (prom.value('sum(webtoon_saga_outcomes_total{outcome="rejected"})') or 0) >= 1
                   and (prom.value('sum(webtoon_saga_outcomes_total{saga="refund",outcome="refunded"})') or 0) >= 1,
                   60, interval=0.5, what="the sagas' ends scraped")
        time.sleep(5)
        yield system, api, prom
    finally:
        if prom:
            prom.stop()
        system.stop_all()
        system.cleanup()


def drive_traffic(api):
    """The README's walk-through and its compensation cases, through the
    gateway: every saga ends at least once, in success and otherwise."""
    api.join("alice")
    api.join("bob")
    assert api.charge("alice", 600).status_code == 201
    assert api.charge("bob", 200).status_code == 201
    declined = api.charge("bob", 50, card="4000000000000002")
    assert declined.status_code == 402
    api.upload("niceguy", 100)
    api.upload("tower-2", 600)
    api.upload("ep-1", 100)
    api.wait_for("/pointers/alice", lambda p: p["point"] == 600, what="alice funded")
    api.wait_for("/pointers/bob", lambda p: p["point"] == 200, what="bob funded")
    # approved, then read
    bought = api.final_purchase(api.buy("alice", "niceguy").json()["purchaseId"])
    assert bought["status"] == "approved"
    api.wait_for("/webtoons/niceguy/readers/alice", lambda r: r["owned"], what="ownership")
    assert api.post("/webtoons/niceguy/open", {"userId": "alice"}).status_code == 200
    # the compensation case: 200 points, a 600-point episode
    rejected = api.final_purchase(api.buy("bob", "tower-2").json()["purchaseId"])
    assert rejected["status"] == "rejected" and rejected["reason"] == "not enough points"
    # a cancel gives the points back
    first = api.final_purchase(api.buy("alice", "ep-1").json()["purchaseId"])
    assert api.put(f"/purchases/{first['purchaseId']}/cancel").status_code == 202
    assert api.final_purchase(first["purchaseId"])["status"] == "cancelled"
    # a refund while the points are unspent
    extra = api.charge("bob", 100)
    assert extra.status_code == 201
    api.wait_for("/pointers/bob", lambda p: p["point"] == 300, what="bob charged again")
    assert api.put(f"/payments/{extra.json()['paymentId']}/refund").status_code == 202
    assert api.settled_payment(extra.json()["paymentId"])["status"] == "refunded"
    # reads and a refused command: 2xx and 4xx for the request panels
    for _ in range(5):
        assert api.get("/webtoons").status_code == 200
        assert api.get("/pointers/alice").status_code == 200
    assert api.get("/histories/bob").status_code == 200
    assert api.post("/pointers", {"userId": 7}, as_=ADMIN).status_code == 400


# --- dashboards ---------------------------------------------------------------------------------


def dashboards():
    return sorted(f for f in os.listdir(DASHBOARDS) if f.endswith(".json"))


def panels(dashboard):
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def variable_values(prom, dashboard):
    """Every combination of the dashboard's query variables' values, as
    Grafana would offer them (one variable at most here)."""
    combos = [{}]
    for v in dashboard["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", v["definition"])
        assert m, f"{v['name']}: only label_values(metric, label) is evaluated here"
        values = prom.label_values(m.group(2), m.group(1))
        assert values, f"variable {v['name']} has no values"
        combos = [dict(c, **{v["name"]: value}) for c in combos for value in values]
    return combos


def substitute(expr, variables):
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, f"a variable is left in {expr}"
    return expr


@pytest.mark.parametrize("name", dashboards())
def test_every_panel_query_returns_data(observed, name):
    _, _, prom = observed
    with open(os.path.join(DASHBOARDS, name)) as f:
        dashboard = json.load(f)
    failures, evaluated = [], 0
    for variables in variable_values(prom, dashboard):
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                expr = substitute(target["expr"], variables)
                status, result = prom.query(expr)
                evaluated += 1
                if status != "success":
                    failures.append(f"{panel['title']} [{variables}]: invalid: {result}\n    {expr}")
                elif not result:
                    failures.append(f"{panel['title']} [{variables}]: no series\n    {expr}")
    assert evaluated > 0
    assert not failures, f"{len(failures)} of {evaluated} queries of {name} fail:\n" + "\n".join(failures)


def test_the_dashboards_can_be_drawn(observed):
    """scripts/dashboard-snapshot.py draws every dashboard from the live
    queries (as docs/OBSERVABILITY.md shows them), into
    test-output/dashboards/ for a look after the run."""
    _, _, prom = observed
    out = os.path.join(ROOT, "test-output", "dashboards")
    r = subprocess.run([os.path.join(ROOT, "scripts/dashboard-snapshot.py"), "--prometheus", prom.url,
                        "--minutes", "5", out], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name in dashboards():
        with open(os.path.join(out, name[:-5] + ".svg")) as f:
            svg = f.read()
        assert svg.startswith("<svg") and "<polyline" in svg, name
        assert "No data" not in svg, f"{name}: a panel drew no data"


# --- alerts -----------------------------------------------------------------------------------


def test_every_alert_stays_inactive_while_healthy(observed):
    system, api, prom = observed
    for _ in range(3):
        assert api.get("/webtoons").status_code == 200
    time.sleep(TEST_FOR + 2)  # longer than any `for` of the test copy
    rules = prom.alerting_rules()
    names = {r["name"] for r in rules}
    assert {"WebtoonServiceDown", "WebtoonErrorBudgetBurn", "WebtoonLatencyP99High",
            "WebtoonConsumerLagGrowing", "WebtoonDeadLetters", "WebtoonOutboxStuck",
            "WebtoonSagasStuck", "WebtoonLedgerInvariantViolated"} <= names
    for r in rules:
        assert r["health"] == "ok", f"{r['name']}: {r.get('lastError')}"
        assert r["state"] == "inactive" and not r["alerts"], f"{r['name']} is {r['state']}: {r['alerts']}"
    assert [a for a in requests.get(prom.am_url + "/api/v2/alerts", timeout=30).json()
            if a["labels"]["alertname"].startswith("Webtoon")] == []


def child_pid(system, service):
    out = subprocess.run(["pgrep", "-P", str(system.procs["up"].pid), "-a"], capture_output=True, text=True)
    return next(int(line.split()[0]) for line in out.stdout.splitlines() if line.endswith(f"serve {service}"))


def service_down_rule(prom):
    return next(r for r in prom.alerting_rules() if r["name"] == "WebtoonServiceDown")


def test_killing_a_service_fires_service_down_and_a_restart_resolves_it(observed):
    system, _, prom = observed
    up = system.procs["up"]
    victim = child_pid(system, "webtoon")
    os.kill(up.pid, signal.SIGSTOP)  # the supervisor would restart it at once
    try:
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)

        def firing_in_alertmanager():
            alerts = [a for a in prom.alertmanager_alerts("WebtoonServiceDown")
                      if a["labels"].get("service") == "webtoon" and a["status"]["state"] == "active"]
            return alerts[0] if alerts else None

        fired = wait_until(firing_in_alertmanager, 60 + TEST_FOR, interval=0.2,
                           what="WebtoonServiceDown in Alertmanager")
        seen_at = time.time()
        assert fired["labels"]["severity"] == "critical"
        assert fired["labels"]["job"] == "webtoon"
        assert fired["annotations"]["summary"].startswith("webtoon at 127.0.0.1:")
        # It went pending after the kill (Prometheus' record of the alert
        # says when), and reached Alertmanager only once `for` had passed.
        rule = service_down_rule(prom)
        assert rule["state"] == "firing", rule
        (alert,) = [a for a in rule["alerts"] if a["labels"]["service"] == "webtoon"]
        pending_since = parse_time(alert["activeAt"])
        # (activeAt is the evaluation's scheduled time, and the failed
        # scrape's sample is stamped when that scrape began: up to one
        # scrape and one evaluation interval before the kill)
        assert pending_since >= killed_at - 2.0, (alert["activeAt"], killed_at)
        assert seen_at >= pending_since + TEST_FOR, (alert["activeAt"], seen_at)
        # nothing else went down with it
        assert [a["labels"]["service"] for a in rule["alerts"]] == ["webtoon"]
    finally:
        os.kill(up.pid, signal.SIGCONT)

    system.wait_healthy("webtoon", timeout=30)
    assert child_pid(system, "webtoon") != victim

    def resolved():
        active = [a for a in prom.alertmanager_alerts("WebtoonServiceDown")
                  if a["status"]["state"] == "active" and parse_time(a["endsAt"]) > time.time()]
        return not active and service_down_rule(prom)["state"] == "inactive"

    wait_until(resolved, 60, interval=0.2, what="WebtoonServiceDown resolved")


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds."""
    from datetime import datetime
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float(m.group(2) or 0)
