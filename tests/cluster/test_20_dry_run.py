"""What only a real API server catches (kubeconform passes them: a selector
that misses its template's labels, minReplicas above maxReplicas, a PDB with
both minAvailable and maxUnavailable, unknown fields, Istio enums): every
object the chart renders, for the default values, the Istio example and the
local cluster's, goes through `kubectl apply --dry-run=server`, with
Istio's CRDs installed."""
import os

import pytest

from conftest import VALUES, timed
from kube import CHART, EXAMPLES, RELEASE

VALUE_SETS = {
    "default": [],
    "istio": [os.path.join(EXAMPLES, "istio.yaml")],
    "local-cluster": VALUES,
}


@pytest.fixture(scope="module")
def istio_crds(kube):
    with timed("dry run: Istio CRDs (kubectl apply --server-side)"):
        kube.run("kubectl", "apply", "--server-side", "-f", kube.env["ISTIO_CRDS"], timeout=120)
        kube.run("kubectl", "wait", "--for=condition=Established", "crd", "-l", "app=istio-pilot",
                 "--timeout=60s", timeout=90)
    # The CRDs are cluster-wide and harmless to the release, which has
    # Istio off: they stay until the cluster stops.


@pytest.mark.parametrize("name", VALUE_SETS)
def test_server_side_dry_run(kube, namespace, istio_crds, name):
    args = []
    for v in VALUE_SETS[name]:
        args += ["-f", v]
    rendered = kube.helm("template", RELEASE, CHART, *args).stdout
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    kinds = rendered.count("\nkind: ") + rendered.startswith("kind: ")
    assert lines and all("(server dry run)" in line for line in lines), out
    assert len(lines) == kinds, f"{len(lines)} objects accepted, {kinds} rendered:\n{out}"
    if name == "istio":
        assert any(line.startswith("virtualservice.networking.istio.io/") for line in lines), out


# Schema-valid, so kubeconform passes them; the API server refuses each.
REFUSED = {
    "selector not matching the template's labels": ("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: localhost/webtoon:x}]}
""", "selector` does not match template `labels`"),
    "PDB with minAvailable and maxUnavailable": ("""
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: broken}
spec: {minAvailable: 1, maxUnavailable: 1, selector: {matchLabels: {app: a}}}
""", "minAvailable and maxUnavailable cannot be both set"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_server_side_dry_run_refuses_a_broken_object(kube, namespace, case):
    manifest, message = REFUSED[case]
    out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest, check=False)
    assert out.returncode != 0 and message in out.stderr, out.stderr
