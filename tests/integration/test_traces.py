"""One purchase is one trace: W3C traceparent from the client, through
purchase, pointer, webtoon, purchase again and history, over the event bus
(the embedded log here; Kafka in the distributed entry), in every log line
and in the spans each process exports with OTLP/HTTP.

The collector is a throwaway HTTP receiver in this test (http.server on
127.0.0.1) that records what is POSTed to /v1/traces; the system runs with
WEBTOON_OTLP_ENDPOINT pointing at it. Spans are checked as Jaeger would
link them: the service that sent each one (its resource's service.name),
parent links that all resolve inside the trace (but the root's, which is
the client's span), the consumer spans linked to their producers, and the
hops in order. Stopping the system flushes every exporter, so what the
collector holds then is everything.

The gateway's own span (HAProxy) is not tested here: requests go straight
to the services.
"""
import http.server
import json
import re
import secrets
import threading

import pytest

from api import Api

HEX32 = re.compile(r"^[0-9a-f]{32}$")


class Collector:
    """An OTLP/HTTP receiver on a free loopback port: keeps each POSTed body."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bodies = []  # (path, content type, parsed JSON)
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with collector.lock:
                    collector.bodies.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self, trace_id=None):
        """Every span received (of <trace_id>), each with the "service" that
        sent it added."""
        out = []
        with self.lock:
            bodies = list(self.bodies)
        for path, ctype, body in bodies:
            assert path == "/v1/traces" and ctype == "application/json", (path, ctype)
            for rs in body["resourceSpans"]:
                attrs = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                service = attrs["service.name"]["stringValue"]
                for ss in rs["scopeSpans"]:
                    for span in ss["spans"]:
                        if trace_id is None or span["traceId"] == trace_id:
                            out.append(dict(span, service=service))
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.stop()


def attr(span, key):
    for a in span.get("attributes", []):
        if a["key"] == key:
            v = a["value"]
            return v.get("stringValue", v.get("intValue"))
    return None


def log_lines(proc):
    lines = []
    for line in proc.output().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def traceparent(trace_id, span_id, sampled=True):
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def new_ids():
    return secrets.token_hex(16), secrets.token_hex(8)


def funded(api, user, points):
    api.join(user)
    assert api.charge(user, points).status_code == 201
    api.wait_for(f"/pointers/{user}", lambda p: p["point"] == points, what=f"{user} funded")


def buy(api, user, webtoon, header):
    r = api.post("/purchases", {"userId": user, "webtoonId": webtoon}, key=secrets.token_hex(8),
                 headers={"traceparent": header})
    assert r.status_code == 202, r.text
    return api.final_purchase(r.json()["purchaseId"])


def test_one_purchase_is_one_trace(system, collector):
    up = system.start_all(WEBTOON_OTLP_ENDPOINT=collector.url)
    api = Api(system, base="")  # straight to the services
    api.upload("trace-1", 100)
    api.upload("trace-2", 100)
    funded(api, "tina", 600)
    system.settle()

    trace_id, client_span = new_ids()
    assert buy(api, "tina", "trace-1", traceparent(trace_id, client_span))["status"] == "approved"
    # another one, unsampled: propagated and logged, never exported
    quiet_id, quiet_span = new_ids()
    assert buy(api, "tina", "trace-2", traceparent(quiet_id, quiet_span, sampled=False))["status"] \
        == "approved"
    api.wait_for("/histories/tina", lambda h: h["myPoint"] == 400, what="the history of the purchases")
    system.settle()

    # Logs: the purchase's trace id in every service of the saga, and only
    # its ids in the lines that carry them.
    lines = log_lines(up)
    traced = [l for l in lines if l.get("traceId") == trace_id]
    assert {"purchase", "pointer", "webtoon", "history"} <= {l["service"] for l in traced}, \
        sorted({l["service"] for l in traced})
    assert all(re.fullmatch(r"[0-9a-f]{16}", l["spanId"]) for l in traced)
    assert any(l["msg"] == "request" and l.get("route") == "/purchases" and l["service"] == "purchase"
               for l in traced)
    assert any(l["msg"] == "event applied: AccessGranted" and l["eventType"] == "AccessGranted"
               and l["service"] == "purchase" for l in traced)
    quiet = {l["service"] for l in lines if l.get("traceId") == quiet_id}
    assert {"purchase", "pointer", "history"} <= quiet, sorted(quiet)

    # Spans: every process flushes its exporter when it stops.
    up.terminate(timeout=60)
    spans = collector.spans(trace_id)
    assert not collector.spans(quiet_id), "an unsampled trace was exported"
    by_id = {s["spanId"]: s for s in spans}
    assert len(by_id) == len(spans), "a span was exported twice"
    for s in spans:
        assert s["traceId"] == trace_id and re.fullmatch(r"[0-9a-f]{16}", s["spanId"])
        parent = s.get("parentSpanId")
        assert parent == client_span or parent in by_id, f"{s['service']} {s['name']}: parent {parent} not in the trace"
        assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"])
    roots = [s for s in spans if s.get("parentSpanId") == client_span]
    assert [(r["service"], r["name"], r["kind"]) for r in roots] == [("purchase", "POST /purchases", 2)]
    assert attr(roots[0], "http.response.status_code") == "202"

    def child(parent, service, name, kind):
        found = [s for s in spans if s.get("parentSpanId") == parent["spanId"]
                 and s["service"] == service and s["name"] == name and s["kind"] == kind]
        assert found, (f"no {kind} span {name!r} in {service} below {parent['service']} {parent['name']}; "
                       f"spans: {sorted((s['service'], s['name']) for s in spans)}")
        s = found[0]
        # in order (the producer's start is its row's creation, in whole ms)
        assert int(s["startTimeUnixNano"]) >= int(parent["startTimeUnixNano"]) - 1_000_000
        if kind == 5:  # a consumer follows from its producer
            assert [(l["traceId"], l["spanId"]) for l in s["links"]] == [(trace_id, parent["spanId"])]
            assert attr(s, "messaging.operation.type") == "process"
        if kind == 4:
            assert attr(s, "messaging.operation.type") == "publish"
            assert attr(s, "messaging.destination.name") == system.env().get("WEBTOON_TOPIC", "webtoon.events")
        return s

    # purchase -> pointer -> webtoon -> purchase, and history along the way
    buy_published = child(roots[0], "purchase", "publish BuyComplete", 4)
    at_pointer = child(buy_published, "pointer", "process BuyComplete", 5)
    checked = child(at_pointer, "pointer", "publish CheckCorrected", 4)
    at_webtoon = child(checked, "webtoon", "process CheckCorrected", 5)
    granted = child(at_webtoon, "webtoon", "publish AccessGranted", 4)
    child(granted, "purchase", "process AccessGranted", 5)
    child(granted, "history", "process AccessGranted", 5)
    child(buy_published, "history", "process BuyComplete", 5)
    assert {s["service"] for s in spans} >= {"purchase", "pointer", "webtoon", "history"}


def test_fresh_trace_without_a_valid_traceparent(system):
    up = system.start_all()  # no collector: contexts still propagate and are logged
    api = Api(system, base="")
    bad_id, bad_span = new_ids()
    headers = {
        "absent": {},
        "uppercase": {"traceparent": traceparent(bad_id.upper(), bad_span)},
        "zero": {"traceparent": traceparent("0" * 32, bad_span)},
        "garbage": {"traceparent": "00-" + bad_id + "-nothex!!nothex!!-01"},
    }
    for user, h in headers.items():
        r = api.post("/pointers", {"userId": user}, headers=h)
        assert r.status_code == 201, r.text
    system.settle()
    lines = log_lines(up)
    seen = set()
    # each join started a trace of its own, which the Joined event carried on
    joins = [l for l in lines if l.get("msg") == "request" and l.get("path") == "/pointers"
             and l.get("method") == "POST" and l.get("status") == 201]
    assert len(joins) == len(headers)
    for j in joins:
        assert HEX32.fullmatch(j["traceId"]) and j["traceId"] != bad_id and j["traceId"] != "0" * 32
        assert j["traceId"] not in seen
        seen.add(j["traceId"])
        downstream = {l["service"] for l in lines if l.get("traceId") == j["traceId"]}
        assert {"pointer", "payment", "webtoon", "purchase", "history"} <= downstream, \
            (j["traceId"], downstream)
    # lines outside any request or event carry no ids
    serving = [l for l in lines if l.get("msg") == "serving"]
    assert serving and not any("traceId" in l for l in serving)
