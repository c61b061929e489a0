"""Logs ready for Loki, live: `webtoon up` with WEBTOON_LOKI_URL pushing
every process's lines (the gateway's and its own included) to VictoriaLogs,
which takes Loki's push protocol (Loki itself cannot run here: AGPL, not
served), and the operator's questions answered through VictoriaLogs' query
API (LogsQL; docs/OBSERVABILITY.md#logs has the LogQL of each):

  - everything about purchase X: its request id, its purchase id, and its
    trace id once lines carry one, each finds lines of the gateway and of
    every service the saga crosses;
  - all errors of the run: an event no service can decode and a killed
    child, found by level;
  - the receiver down: `webtoon up` and its children go on answering at
    once, lines beyond the buffer are dropped and counted in a warn line
    (droppedLines), and once the receiver is back new lines arrive.

VictoriaLogs is built once by scripts/observability-tools.sh (make test
does it; CTest passes its path in WEBTOON_TEST_VICTORIALOGS). Without that
variable the file is skipped; with it, a missing binary is a failure.

How VictoriaLogs stores a Loki JSON push (checked here): the stream labels
(job, service, level) become stream fields; a line that is a JSON object is
parsed into fields of its own (requestId, purchaseId, ...); with
`?_msg_field=msg` in the push URL the line's msg becomes _msg.
"""
import json
import os
import signal
import subprocess
import uuid

import pytest
import requests

from api import ADMIN, Api
from harness import SERVICES, System, free_ports, wait_until

VICTORIALOGS = os.environ.get("WEBTOON_TEST_VICTORIALOGS", "")
if not VICTORIALOGS:
    pytest.skip("WEBTOON_TEST_VICTORIALOGS is not set (scripts/observability-tools.sh env sets it)",
                allow_module_level=True)

BUFFER_LINES = 200  # WEBTOON_LOKI_BUFFER_LINES: small, so that an outage overflows it quickly
SAGA_SERVICES = {"gateway", "purchase", "pointer", "webtoon", "history"}


class VictoriaLogs:
    """VictoriaLogs on 127.0.0.1:<port> (its only listener), storing in <tmp>."""

    def __init__(self, tmp, port):
        assert os.access(VICTORIALOGS, os.X_OK), \
            f"WEBTOON_TEST_VICTORIALOGS={VICTORIALOGS} is not an executable (run scripts/observability-tools.sh)"
        self.tmp, self.port = tmp, port
        self.url = f"http://127.0.0.1:{port}"
        self.push_url = f"{self.url}/insert/loki/api/v1/push?_msg_field=msg"
        self.proc = None
        self.log = open(tmp / "victoria-logs.log", "ab")

    def start(self):
        self.proc = subprocess.Popen(
            [VICTORIALOGS, f"-storageDataPath={self.tmp}/victoria-logs-data",
             f"-httpListenAddr=127.0.0.1:{self.port}", "-retentionPeriod=1d",
             "-loggerOutput=stdout"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: requests.get(self.url + "/health", timeout=1).status_code == 200, 30,
                   what="VictoriaLogs healthy")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def query(self, logsql, limit=1000):
        """The entries matching <logsql>, as dicts of their fields."""
        r = requests.post(self.url + "/select/logsql/query",
                          data={"query": logsql, "limit": str(limit)}, timeout=30)
        assert r.status_code == 200, f"{logsql}: {r.status_code} {r.text}"
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

    def wait_for(self, logsql, predicate, what, timeout=30):
        """Queries <logsql> until <predicate>(entries) holds; returns the entries."""
        seen = []

        def check():
            seen[:] = self.query(logsql)
            return predicate(seen)
        try:
            wait_until(check, timeout, interval=0.5, what=what)
        except AssertionError:
            raise AssertionError(f"{what}: {logsql} gave {len(seen)} entries: {seen[:20]}") from None
        return seen


def services(entries):
    return {e.get("service") for e in entries}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """VictoriaLogs, and `webtoon up` pushing to it, with one purchase done
    through the gateway."""
    tmp = tmp_path_factory.mktemp("logs")
    system = System(tmp)
    [port] = free_ports(1, system.port_locks)
    vl = VictoriaLogs(tmp, port)
    try:
        vl.start()
        up = system.start_all(WEBTOON_LOKI_URL=vl.push_url, WEBTOON_LOKI_BUFFER_LINES=str(BUFFER_LINES))
        api = Api(system)
        user, webtoon = f"reader-{uuid.uuid4().hex[:8]}", f"toon-{uuid.uuid4().hex[:8]}"
        api.join(user)
        assert api.charge(user, 300).status_code == 201
        api.upload(webtoon, 100)
        api.wait_for(f"/pointers/{user}", lambda p: p["point"] == 300, what="points charged")
        r = api.buy(user, webtoon)
        assert r.status_code == 202, r.text
        purchase = {"id": r.json()["purchaseId"], "requestId": r.headers["X-Request-Id"],
                    "user": user, "webtoon": webtoon}
        assert api.final_purchase(purchase["id"])["status"] == "approved"
        system.settle()  # every service has applied the saga's events
        yield system, up, api, vl, purchase
    finally:
        system.stop_all()
        vl.stop()
        vl.log.close()
        system.cleanup()


def test_everything_about_a_purchase(shipped):
    """Its request id finds the gateway's and the purchase service's request
    lines; its purchase id the saga's steps in every service it crosses;
    its trace id, on lines that have one, all of them together."""
    system, up, api, vl, purchase = shipped
    by_request = vl.wait_for(f'requestId:="{purchase["requestId"]}"',
                             lambda es: {"gateway", "purchase"} <= services(es),
                             "the buy request's lines in the gateway and the purchase service")
    for e in by_request:
        assert e["job"] == "webtoon" and e["level"] == "info", e
        assert e["_msg"] == "request", e  # msg became _msg (?_msg_field=msg)
        assert e["path"].startswith("/purchases"), e

    by_purchase = vl.wait_for(f'purchaseId:="{purchase["id"]}"',
                              lambda es: {"purchase", "pointer", "webtoon", "history"} <= services(es),
                              "the purchase's events applied in every service of its saga")
    for e in by_purchase:
        assert e["_msg"].startswith("event applied"), e
        assert e["userId"] == purchase["user"], e

    # Every line written while a request or an event is handled carries the
    # request's trace: one query finds the purchase's whole story.
    traces = {e.get("traceId") for e in by_request}
    assert len(traces) == 1, by_request  # the gateway's line and purchase's: one trace
    trace = traces.pop()
    assert trace and len(trace) == 32 and all(c in "0123456789abcdef" for c in trace), trace
    by_trace = vl.wait_for(f'traceId:="{trace}"', lambda es: SAGA_SERVICES <= services(es),
                           "the purchase's trace in every process it crossed")
    assert {e.get("requestId") for e in by_trace} & {purchase["requestId"]}, by_trace
    assert {e.get("eventId") for e in by_trace} >= {e["eventId"] for e in by_purchase
                                                     if e["service"] != "history"}, by_trace

    # Every line printed on up's stdout is whole: each JSON one parses.
    for line in up.output().splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_all_errors_of_the_run(shipped):
    """An event nobody can decode (an error in each service that reads its
    type) and a killed child (a warn from the supervisor): the run's errors
    and warnings found by level."""
    system, up, api, vl, purchase = shipped
    bad = str(uuid.uuid4())
    system.publish_raw(bad, purchase["user"], "PaymentComplete", "{this is not json")
    victim = int(os.popen(f"pgrep -P {up.pid} -f 'serve webtoon$'").read().split()[0])
    os.kill(victim, signal.SIGKILL)
    # Each process ships its own lines: wait for the pointer's, not the first.
    errors = vl.wait_for("_time:1h level:=error",
                         lambda es: any(e.get("eventId") == bad and e.get("service") == "pointer"
                                        for e in es),
                         "the pointer's dead letter among the run's errors")
    dead = [e for e in errors if e.get("eventId") == bad]
    assert {e["service"] for e in dead} >= {"pointer"}, dead
    assert all(e["_msg"] == "event cannot be applied; kept as a dead letter" for e in dead), dead
    assert all(e["level"] == "error" for e in errors), errors
    warnings = vl.wait_for('_time:1h level:=warn service:=up',
                           lambda es: any(e.get("child") == "webtoon" for e in es),
                           "the supervisor's warning about the killed child")
    killed = [e for e in warnings if e.get("child") == "webtoon"]
    assert killed[0]["signal"] == str(int(signal.SIGKILL)), killed
    system.wait_healthy("webtoon", up, timeout=20)  # restarted


def test_receiver_down_costs_nothing_and_drops_are_counted(shipped):
    """With VictoriaLogs stopped, requests through the gateway are still
    answered, the buffer overflows, the supervisor says how many
    lines it dropped; once VictoriaLogs is back, new lines arrive again."""
    system, up, api, vl, purchase = shipped
    gateway = system.url("gateway", "/webtoons")

    # Nothing waits for the receiver: a child that blocked on its log pipe
    # (or a supervisor that blocked on the push) would leave these requests
    # unanswered, and the client's timeout fails the test. How fast they
    # are is a benchmark's question, not this test's (a shared machine).
    def answered(n):
        for _ in range(n):
            assert requests.get(gateway, timeout=5).status_code == 200

    answered(20)
    vl.stop()
    # Two lines per request (gateway and webtoon), 4 * BUFFER_LINES in all.
    # At most 2 * BUFFER_LINES of them are kept: the buffer, and the batch
    # the pusher retries, which it took out of the buffer (so as many again).
    answered(2 * BUFFER_LINES)
    for s in ["auth"] + SERVICES + ["web", "gateway"]:
        assert requests.get(system.url(s, "/healthz"), timeout=5).status_code == 200

    def dropped():
        counts = []
        for line in up.output().splitlines():
            if line.startswith("{") and '"droppedLines"' in line:
                entry = json.loads(line)
                if entry["service"] == "up" and entry["level"] == "warn" and entry["droppedLines"] > 0:
                    counts.append(entry["droppedLines"])
        return counts
    # Each warn line gives the total so far, and they come at most every
    # LOGSHIP_WARN_INTERVAL_MS: the first may have been written while the
    # requests above were still overflowing the buffer, so wait for the
    # total they make (2 * BUFFER_LINES at least; half of that is asked).
    wait_until(lambda: [c for c in dropped() if c >= BUFFER_LINES], 30, interval=0.5,
               what=f"a warn line counting at least {BUFFER_LINES} dropped lines")
    counts = dropped()
    assert counts == sorted(counts), counts  # a running total

    vl.start()
    marker = f"after-{uuid.uuid4().hex[:8]}"
    assert requests.get(system.url("gateway", f"/webtoons/{marker}"), timeout=5).status_code == 404
    back = vl.wait_for(f'path:="/webtoons/{marker}"', lambda es: {"gateway", "webtoon"} <= services(es),
                       "a request made after VictoriaLogs came back", timeout=60)
    assert all(e["job"] == "webtoon" for e in back), back
    # The supervisor's own lines arrive too: it said pushing works again.
    vl.wait_for('service:=up "pushing log lines again"', lambda es: len(es) >= 1,
                "the supervisor's line saying the push works again", timeout=30)
    assert api.get("/webtoons").status_code == 200
    # At the stop, the count is said once more.
    assert up.terminate() == 0
    last = [json.loads(l) for l in up.output().splitlines() if l.startswith("{") and "log shipping stopped" in l]
    assert last and last[-1]["droppedLines"] >= counts[-1], last


def test_a_bad_push_url_is_refused_at_start(system):
    """A misconfiguration stops `webtoon up` at once, naming the setting."""
    r = system.run("up", WEBTOON_LOKI_URL="ftp://127.0.0.1/loki/api/v1/push")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "invalid WEBTOON_LOKI_URL" in r.stdout and "not an http: or https: URL" in r.stdout, r.stdout


def test_children_stop_when_up_is_killed(system):
    """With the push on, a child's stdout is a pipe to `up`: when `up` is
    SIGKILLed its children are told to stop (their stop signal, not a
    SIGPIPE on their next line) and every port is free again."""
    [dead] = free_ports(1, system.port_locks)  # nothing listens there: the push fails, harmlessly
    up = system.start_all(WEBTOON_LOKI_URL=f"http://127.0.0.1:{dead}/loki/api/v1/push")
    children = [int(p) for p in os.popen(f"pgrep -P {up.pid}").read().split()]
    assert len(children) == len(SERVICES) + 3, children  # auth, web, gateway
    up.kill()

    def gone(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split()[2] == "Z"
        except FileNotFoundError:
            return True
    wait_until(lambda: all(gone(p) for p in children), 20, interval=0.1, what="every child stopped")
    for s in ["auth"] + SERVICES + ["web", "gateway"]:
        with pytest.raises(requests.ConnectionError):
            requests.get(system.url(s, "/healthz"), timeout=1)
