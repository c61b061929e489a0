"""The Grafana dashboards (deploy/monitoring/dashboards/*.json) and the
local provisioning folder, checked without a Grafana: each dashboard is
valid JSON of the shape Grafana provisions (unique uid, panels on the
24-column grid with unique ids), takes its data source from a
`datasource` variable and never from a name, and every query parses as
PromQL (promtool, on a rule file made of them). That every query returns
data from the running system is tests/integration/test_observability.py's
part."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MONITORING = os.path.normpath(os.path.join(HERE, "../../deploy/monitoring"))
DASHBOARDS = os.path.join(MONITORING, "dashboards")
PROVISIONING = os.path.join(MONITORING, "grafana", "provisioning")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's built-in variables, as some value, to parse the queries.
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
EXPECTED = {"webtoon-overview.json", "webtoon-sagas.json", "webtoon-service.json", "webtoon-events.json"}


def names():
    return sorted(f for f in os.listdir(DASHBOARDS) if f.endswith(".json"))


def load(name):
    with open(os.path.join(DASHBOARDS, name)) as f:
        return json.load(f)


def panels(d):
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def test_the_four_dashboards_are_there():
    assert set(names()) == EXPECTED
    uids = [load(n)["uid"] for n in names()]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", u) for u in uids)


@pytest.mark.parametrize("name", names())
def test_shape(name):
    d = load(name)
    assert d["title"].startswith("Webtoon / ") and d["schemaVersion"] >= 36 and "webtoon" in d["tags"]
    ids = [p["id"] for p in panels(d)]
    assert len(set(ids)) == len(ids)
    for p in panels(d):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] != "row":
            assert p["targets"], f"{p['title']} has no query"
            assert p["title"] and "description" in p


@pytest.mark.parametrize("name", names())
def test_the_data_source_is_a_variable(name):
    d = load(name)
    (var,) = [v for v in d["templating"]["list"] if v["name"] == "datasource"]
    assert var["type"] == "datasource" and var["query"] == "prometheus"
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"] == DATASOURCE, v["name"]
    for p in panels(d):
        if p["type"] == "row":
            continue
        assert p["datasource"] == DATASOURCE, p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, p["title"]
    # no data source named anywhere
    text = json.dumps(d)
    assert "Prometheus (webtoon)" not in text and "webtoon-prometheus" not in text


def queries(d):
    for p in panels(d):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *\w+\)", v["definition"])
            assert m, v["definition"]
            yield v["name"], m.group(1)


@pytest.mark.parametrize("name", names())
def test_every_query_parses(tmp_path, name):
    d = load(name)
    variables = {"$" + v["name"]: "x" for v in d["templating"]["list"] if v["type"] == "query"}
    rules = []
    for i, (title, expr) in enumerate(queries(d)):
        for k, v in {**BUILTINS, **variables}.items():
            expr = expr.replace(k, v)
        assert "$" not in expr, f"{title}: unknown variable in {expr}"
        rules.append({"record": f"dashboard:query{i}", "expr": expr})
    (tmp_path / "q.yaml").write_text(yaml.safe_dump({"groups": [{"name": name, "rules": rules}]}))
    r = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "q.yaml")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_parse_check_catches_a_broken_query(tmp_path):
    """The check above fails on a query that does not parse."""
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(
        {"groups": [{"name": "x", "rules": [{"record": "r", "expr": "sum(rate(x[1m])"}]}]}))
    r = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "q.yaml")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0


def test_provisioning_folder():
    with open(os.path.join(PROVISIONING, "datasources", "webtoon.yaml")) as f:
        ds = yaml.safe_load(f)
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://127.0.0.1:9090"  # `make run-observability`'s default
    with open(os.path.join(PROVISIONING, "dashboards", "webtoon.yaml")) as f:
        providers = yaml.safe_load(f)["providers"]
    (provider,) = providers
    assert provider["type"] == "file" and provider["options"]["path"] == "${WEBTOON_DASHBOARDS}"
