"""One purchase is one trace: `webtoon up` exporting spans with OTLP/HTTP to
a real Jaeger (built once by scripts/observability-tools.sh: its OTLP
receiver, memory storage and query API, every port on 127.0.0.1), and the
trace read back through Jaeger's query API.

The client sends a traceparent; the gateway continues that trace, and every
hop after it is a span with its parent in the same trace: the gateway's
SERVER span, purchase's SERVER span for POST /purchases, then for each event
a PRODUCER span (the outbox relay publishing it) and a CONSUMER span in each
service that applies it. The saga's path is followed by parent links:
gateway → purchase → pointer → webtoon → purchase, and history records the
story. This file runs on the embedded event log, and again on Kafka in the
distributed suite (tests/CMakeLists.txt).
"""
import os
import secrets
import subprocess

import pytest
import requests

from api import Api
from harness import System, free_ports, wait_until

JAEGER = os.environ.get("WEBTOON_TEST_JAEGER", "")
SAGA_PATH = ["gateway", "purchase", "pointer", "webtoon", "purchase"]
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../deploy/monitoring/jaeger.yaml")


class Jaeger:
    """Jaeger v2 (the OpenTelemetry-Collector-based cmd/jaeger) configured by
    deploy/monitoring/jaeger.yaml: memory storage, its OTLP/HTTP receiver and
    its query API on free loopback ports, nothing else listening."""

    def __init__(self, system, tmp):
        self.otlp_port, self.query_port, self.query_grpc_port = free_ports(3, system.port_locks)
        self.otlp = f"http://127.0.0.1:{self.otlp_port}"
        self.query = f"http://127.0.0.1:{self.query_port}"
        self.log = open(tmp / "jaeger.log", "w")
        env = dict(os.environ, JAEGER_OTLP_HTTP=f"127.0.0.1:{self.otlp_port}",
                   JAEGER_QUERY_HTTP=f"127.0.0.1:{self.query_port}",
                   JAEGER_QUERY_GRPC=f"127.0.0.1:{self.query_grpc_port}")
        self.proc = subprocess.Popen([JAEGER, f"--config=file:{CONFIG}"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until(self._ready, 60, what="Jaeger's query API")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"Jaeger exited with {self.proc.returncode}:\n"
                                 + open(self.log.name).read()[-3000:])
        try:
            return requests.get(self.query + "/api/services", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def trace(self, trace_id):
        """The spans of <trace_id> as Jaeger stored them (its API v3 answers
        in OTLP's JSON, parents and links as sent), or [] while it has none."""
        r = requests.get(f"{self.query}/api/v3/traces/{trace_id}", timeout=5)
        if r.status_code == 404:
            return []
        assert r.status_code == 200, r.text
        spans = []
        for rs in r.json().get("result", {}).get("resourceSpans", []):
            resource = {a["key"]: a["value"] for a in rs["resource"].get("attributes", [])}
            service = resource["service.name"]["stringValue"]
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    attrs = {a["key"]: next(iter(a["value"].values()), None)
                             for a in span.get("attributes", [])}
                    spans.append({"service": service, "traceID": span["traceId"],
                                  "spanID": span["spanId"], "parent": span.get("parentSpanId") or None,
                                  "name": span["name"], "kind": KINDS[span["kind"]],
                                  "start": int(span["startTimeUnixNano"]), "attrs": attrs,
                                  "links": [link["spanId"] for link in span.get("links", [])]})
        return spans

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def jaeger(system, tmp_path):
    if not JAEGER:
        pytest.skip("WEBTOON_TEST_JAEGER is not set (scripts/observability-tools.sh env sets it)")
    j = Jaeger(system, tmp_path)
    yield j
    j.stop()


def chain(spans, span):
    """The services from the root of the trace down to <span>, each hop's
    service once (a SERVER span and the PRODUCER spans it makes share one)."""
    by_id = {s["spanID"]: s for s in spans}
    path = []
    while span is not None:
        if not path or path[-1] != span["service"]:
            path.append(span["service"])
        span = by_id.get(span["parent"])
    return path[::-1]


def test_one_purchase_is_one_trace_across_the_saga(system, jaeger):
    system.start_all(WEBTOON_OTLP_ENDPOINT=jaeger.otlp)
    api = Api(system)
    api.join("alice")
    assert api.charge("alice", 300).status_code == 201
    api.upload("tracing-101", 100)
    api.wait_for("/pointers/alice", lambda p: p["point"] == 300, what="alice funded")

    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    r = api.post("/purchases", {"userId": "alice", "webtoonId": "tracing-101"}, key="trace-1",
                 headers={"traceparent": f"00-{trace_id}-{client_span}-01"})
    assert r.status_code in (201, 202), r.text
    assert api.final_purchase(r.json()["purchaseId"])["status"] == "approved"

    # Every process exports on its own, in batches of its own: wait until
    # the trace has the saga's whole path and no span misses its parent (or
    # 30 s), then check it all (saying what is missing, if anything).
    def complete():
        spans = jaeger.trace(trace_id)
        ids = {s["spanID"] for s in spans}
        kinds = {(s["service"], s["kind"]) for s in spans}
        return ({("gateway", "server"), ("purchase", "consumer"), ("history", "consumer")} <= kinds
                and all(s["parent"] in ids for s in spans if s["service"] != "gateway")
                and any(chain(spans, c) == SAGA_PATH for c in spans
                        if (c["service"], c["kind"]) == ("purchase", "consumer")))
    try:
        wait_until(complete, 30, interval=0.5, what="the purchase's whole trace in Jaeger")
    except AssertionError:
        pass  # the checks below say what is missing
    spans = jaeger.trace(trace_id)
    by_id = {s["spanID"]: s for s in spans}
    assert all(s["traceID"] == trace_id for s in spans)

    # The gateway continued the client's trace: its span is the only root,
    # and its parent is the span the client sent.
    roots = [s for s in spans if s["parent"] not in by_id]
    assert [(s["service"], s["parent"]) for s in roots] == [("gateway", client_span)], roots
    gateway = roots[0]
    assert gateway["name"] == "POST /purchases"
    assert gateway["kind"] == "server"
    assert int(gateway["attrs"]["http.response.status_code"]) == r.status_code

    # purchase answered the request below the gateway's span.
    server = [s for s in spans if s["service"] == "purchase" and s["kind"] == "server"]
    assert [s["parent"] for s in server] == [gateway["spanID"]], server
    assert server[0]["name"].startswith("POST /purchases")

    # Every consumer span is a child of (and linked to) the producer span of
    # the event it applies, and starts after it (one clock: this machine's).
    consumers = [s for s in spans if s["kind"] == "consumer"]
    for c in consumers:
        assert c["parent"] in by_id, c
        p = by_id[c["parent"]]
        assert p["kind"] == "producer" and c["links"] == [p["spanID"]], (c, p)
        assert c["start"] >= p["start"], (c, p)
    # Every other span starts within its parent's trace after the parent.
    for s in spans:
        if s["parent"] in by_id and s["kind"] != "consumer":
            assert s["start"] >= by_id[s["parent"]]["start"] - 1_000_000, s  # the gateway logs ms

    # The saga's path, by parent links: the purchase is approved once
    # webtoon granted access, after pointer took the points.
    approved = [c for c in consumers if c["service"] == "purchase"]
    assert any(chain(spans, c) == SAGA_PATH for c in approved), [chain(spans, c) for c in approved]
    histories = [c for c in consumers if c["service"] == "history"]
    assert any(chain(spans, c)[:4] == ["gateway", "purchase", "pointer", "webtoon"]
               and chain(spans, c)[-1] == "history" for c in histories), \
        [chain(spans, c) for c in histories]


def test_a_dead_collector_costs_requests_nothing(system):
    """Spans for a collector that is down are dropped and counted; the
    requests that made them are answered as usual (the client's own
    timeout would fail the test if one waited on the exporter)."""
    dead, = free_ports(1, system.port_locks)  # nothing listens there
    system.start_all(WEBTOON_OTLP_ENDPOINT=f"http://127.0.0.1:{dead}")
    api = Api(system)
    api.join("bob")
    for _ in range(20):
        assert api.get("/pointers/bob").status_code == 200

    def dropped():
        text = requests.get(system.url("pointer", "/metrics"), timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("webtoon_trace_spans_dropped_total"))
    wait_until(lambda: dropped() >= 21, 20, what="pointer's dropped spans to be counted")
