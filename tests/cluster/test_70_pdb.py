"""A PodDisruptionBudget refuses an eviction that would break it: the
Eviction API answers 429 for the only payment pod (minAvailable 1), while
it lets one of pointer's two pods go, and then refuses the second."""
import json

from kube import RELEASE, ready, wait_until


def evict(kube, pod):
    body = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                       "metadata": {"name": pod, "namespace": kube.ns}})
    # -v=6 logs the answer's HTTP status.
    return kube.run("kubectl", "-v=6", "create", "--raw", f"/api/v1/namespaces/{kube.ns}/pods/{pod}/eviction",
                    "-f", "-", input=body, check=False)


def settled(kube, component, healthy):
    pdb = kube.json("pdb", f"{RELEASE}-{component}")
    st = pdb.get("status", {})
    ok = (st.get("observedGeneration") == pdb["metadata"]["generation"]
          and st.get("currentHealthy") == healthy)
    return ok and pdb


def test_eviction_that_would_break_the_budget_is_refused(kube, release):
    pdb = wait_until("payment's PDB status", lambda: settled(kube, "payment", 1), 60)
    assert pdb["spec"]["minAvailable"] == 1 and pdb["status"]["disruptionsAllowed"] == 0
    [pod] = kube.pods("payment")
    out = evict(kube, pod["metadata"]["name"])
    assert out.returncode != 0 and " 429 Too Many Requests" in out.stderr, out.stderr
    assert "disruption budget" in out.stderr, out.stderr
    assert ready(kube.json("pod", pod["metadata"]["name"])), "the refused eviction took the pod"


def test_eviction_within_the_budget_is_allowed_once(kube, release):
    wait_until("pointer's PDB status", lambda: settled(kube, "pointer", 2), 60)
    first, second = (p["metadata"]["name"] for p in kube.pods("pointer"))
    out = evict(kube, first)
    assert out.returncode == 0 and " 201 Created" in out.stderr, out.stderr
    out = evict(kube, second)
    assert out.returncode != 0 and " 429 Too Many Requests" in out.stderr, out.stderr
    wait_until("pointer back at two Ready pods",
               lambda: len([p for p in kube.pods("pointer") if ready(p)]) == 2, 90)
