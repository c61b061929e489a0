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


class Jaeger:
    """Jaeger v2 (the OpenTelemetry-Collector-based cmd/jaeger) with memory
    storage, its OTLP/HTTP receiver and its query API on free loopback
    ports, and nothing else listening (no gRPC receiver, no own metrics)."""

    def __init__(self, system, tmp):
        self.otlp_port, self.query_port, self.query_grpc_port = free_ports(3, system.port_locks)
        self.otlp = f"http://127.0.0.1:{self.otlp_port}"
        self.query = f"http://127.0.0.1:{self.query_port}"
        config = tmp / "jaeger.yaml"
        config.write_text(f"""\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{self.query_port}
    grpc:
      endpoint: 127.0.0.1:{self.query_grpc_port}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{self.otlp_port}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
""")
        self.log = open(tmp / "jaeger.log", "w")
        self.proc = subprocess.Popen([JAEGER, f"--config={config}"], stdout=self.log,
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
        """The spans of <trace_id> with their service names, or [] while
        Jaeger has none."""
        r = requests.get(f"{self.query}/api/traces/{trace_id}", timeout=5)
        if r.status_code == 404:
            return []
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        if not data:
            return []
        processes = data[0]["processes"]
        spans = data[0]["spans"]
        for span in spans:
            span["service"] = processes[span["processID"]]["serviceName"]
            span["tagmap"] = {t["key"]: t["value"] for t in span.get("tags", [])}
            parents = [ref for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
            span["parent"] = parents[0]["spanID"] if parents else None
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

    def complete():
        spans = jaeger.trace(trace_id)
        kinds = {(s["service"], s["tagmap"].get("span.kind")) for s in spans}
        return spans if {("purchase", "consumer"), ("history", "consumer")} <= kinds else None
    spans = wait_until(complete, 30, interval=0.5, what="the purchase's trace in Jaeger")
    by_id = {s["spanID"]: s for s in spans}
    assert all(s["traceID"] == trace_id for s in spans)

    # The gateway continued the client's trace: its span is the only root,
    # and its parent is the span the client sent.
    roots = [s for s in spans if s["parent"] not in by_id]
    assert [(s["service"], s["parent"]) for s in roots] == [("gateway", client_span)], roots
    gateway = roots[0]
    assert gateway["operationName"] == "POST /purchases"
    assert gateway["tagmap"]["http.response.status_code"] == r.status_code

    # purchase answered the request below the gateway's span.
    server = [s for s in spans if s["service"] == "purchase" and s["tagmap"].get("span.kind") == "server"]
    assert [s["parent"] for s in server] == [gateway["spanID"]], server
    assert server[0]["operationName"].startswith("POST /purchases")

    # Every consumer span is a child of the producer span of the event it
    # applies, in another service, and starts after it.
    consumers = [s for s in spans if s["tagmap"].get("span.kind") == "consumer"]
    for c in consumers:
        p = by_id[c["parent"]]
        assert p["tagmap"].get("span.kind") == "producer", (c, p)
        assert p["service"] != c["service"] or c["service"] == "history", (c, p)
        assert c["startTime"] >= p["startTime"] - 1000, (c, p)  # microseconds; one clock

    # The saga's path, by parent links: the purchase is approved once
    # webtoon granted access, after pointer took the points.
    approved = [c for c in consumers if c["service"] == "purchase"]
    assert any(chain(spans, c) == ["gateway", "purchase", "pointer", "webtoon", "purchase"]
               for c in approved), [chain(spans, c) for c in approved]
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
