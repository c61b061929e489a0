"""The alerting rules (deploy/monitoring/webtoon-rules.yaml) with Debian's
promtool: they load (`promtool check rules`), their unit tests pass
(`promtool test rules`), every alert has tests that fire it and keep it
quiet, and a broken copy of a rule makes those checks fail: a copy that
can never fire, one that always fires, one that fires before its `for`,
and one that does not parse."""
import copy
import os
import shutil
import subprocess

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MONITORING = os.path.normpath(os.path.join(HERE, "../../deploy/monitoring"))
RULES = os.path.join(MONITORING, "webtoon-rules.yaml")
TESTS = os.path.join(MONITORING, "tests", "webtoon-rules.test.yaml")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# What a PrometheusRule's spec.groups accepts (monitoring.coreos.com/v1).
GROUP_KEYS = {"name", "interval", "rules", "limit", "partial_response_strategy"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def promtool(*args, cwd=None):
    assert os.path.exists(PROMTOOL), "promtool is missing: scripts/deps.sh installs Debian's prometheus"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def alerts(rules):
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_rules_load():
    r = promtool("check", "rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_unit_tests_pass():
    r = promtool("test", "rules", TESTS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_fit_a_prometheus_rule_spec():
    """The file's groups go into a PrometheusRule's spec.groups as they are;
    every alert says how bad it is and what it means."""
    rules = load(RULES)
    assert set(rules) == {"groups"}
    names = [g["name"] for g in rules["groups"]]
    assert len(names) == len(set(names))
    for g in rules["groups"]:
        assert set(g) <= GROUP_KEYS, g["name"]
        for r in g["rules"]:
            assert set(r) <= RULE_KEYS, r
            if "alert" in r:
                assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
                assert {"summary", "description"} <= set(r["annotations"]), r["alert"]
    assert len({a["alert"] for a in alerts(rules)}) == len(alerts(rules))


def test_every_alert_is_tested():
    """Each alert has a case where it fires and one where it stays quiet;
    one with a `for` is also checked quiet while that has not passed (the
    case's evaluation just before it fires)."""
    cases = load(TESTS)["tests"]
    fired, quiet = set(), set()
    for case in cases:
        for t in case.get("alert_rule_test", []):
            (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    for a in alerts(load(RULES)):
        assert a["alert"] in fired, f"no test makes {a['alert']} fire"
        assert a["alert"] in quiet, f"no test keeps {a['alert']} quiet"


# --- broken copies fail ---------------------------------------------------------------------


def broken_copy(tmp_path, mutate):
    """Writes a copy of the rules changed by <mutate>(rules) and a copy of
    the unit tests reading it; returns the test file's path."""
    rules = copy.deepcopy(load(RULES))
    mutate(rules)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    tests = load(TESTS)
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return str(tmp_path / "tests.yaml")


def rule(rules, name):
    return next(a for a in alerts(rules) if a["alert"] == name)


def alert_names():
    return [a["alert"] for a in alerts(load(RULES))]


def alerts_with_for():
    return [a["alert"] for a in alerts(load(RULES)) if "for" in a]


def test_a_faithful_copy_passes(tmp_path):
    """The harness below changes nothing by itself."""
    r = promtool("test", "rules", broken_copy(tmp_path, lambda rules: None), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", alert_names())
def test_an_alert_that_never_fires_fails(tmp_path, name):
    def never(rules):
        rule(rules, name)["expr"] = f"({rule(rules, name)['expr']}) > Inf"
    r = promtool("test", "rules", broken_copy(tmp_path, never), cwd=tmp_path)
    assert r.returncode != 0, f"the tests of {name} pass even when it never fires"


@pytest.mark.parametrize("name", alert_names())
def test_an_alert_that_always_fires_fails(tmp_path, name):
    def always(rules):
        rule(rules, name)["expr"] = f"({rule(rules, name)['expr']}) or vector(1)"
    r = promtool("test", "rules", broken_copy(tmp_path, always), cwd=tmp_path)
    assert r.returncode != 0, f"the tests of {name} pass even when it always fires"


@pytest.mark.parametrize("name", alerts_with_for())
def test_an_alert_that_fires_before_its_for_fails(tmp_path, name):
    def eager(rules):
        del rule(rules, name)["for"]
    r = promtool("test", "rules", broken_copy(tmp_path, eager), cwd=tmp_path)
    assert r.returncode != 0, f"the tests of {name} pass even without its `for`"


def test_a_rule_that_does_not_parse_fails(tmp_path):
    def garbled(rules):
        rule(rules, "WebtoonServiceDown")["expr"] = 'up{job=~"webtoon.*" == 0'
    tests = broken_copy(tmp_path, garbled)
    r = promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert r.returncode != 0, r.stdout
    assert promtool("test", "rules", tests, cwd=tmp_path).returncode != 0
    # and a file that is not even a rule file
    (tmp_path / "rules.yaml").write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        for: 1m\n")
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode != 0
