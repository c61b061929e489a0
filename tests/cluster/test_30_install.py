"""`helm install --wait` with the local cluster's values: every component's
pods Running and Ready through their probes, the Services resolvable by
the cluster DNS from inside a pod (the gateway finds each service by its
Service name), and the history autoscaler fed by metrics-server."""
from kube import COMPONENTS, RELEASE, ready, wait_until


def test_every_pod_is_ready_through_its_probes(kube, release):
    pods = kube.pods()
    seen = {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods}
    assert seen == set(COMPONENTS), seen
    for p in pods:
        name = p["metadata"]["name"]
        assert p["status"]["phase"] == "Running" and ready(p), f"{name}: {p['status']}"
        assert p["spec"]["containers"][0]["image"] == f"localhost/webtoon:{release}"
        for c in p["spec"]["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{name}/{c['name']} has no {probe}"
        for s in p["status"]["containerStatuses"]:
            assert s["ready"] and s["restartCount"] == 0, f"{name}: {s}"
    for d in kube.json("deployments", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]:
        st = d["status"]
        assert st.get("availableReplicas") == st.get("replicas") == d["spec"]["replicas"], \
            f"{d['metadata']['name']}: {st}"


def test_services_resolve_in_the_cluster(kube, release):
    for c in ("pointer", "auth"):
        ip = kube.service_ip(f"{RELEASE}-{c}")
        for name in (f"{RELEASE}-{c}", f"{RELEASE}-{c}.{kube.ns}.svc.cluster.local"):
            out = kube.kubectl("exec", f"deploy/{RELEASE}-gateway", "--", "getent", "hosts", name).stdout
            assert out.split()[0] == ip, f"{name} resolved to {out!r}, its Service is {ip}"


def test_history_autoscaler_has_metrics(kube, release):
    def current():
        hpa = kube.json("hpa", f"{RELEASE}-history")
        metrics = hpa["status"].get("currentMetrics") or []
        return metrics and metrics[0]["resource"]["current"].get("averageUtilization") is not None and hpa
    hpa = wait_until("the history HPA to read CPU from metrics-server", current, 90, interval=2)
    assert hpa["spec"]["minReplicas"] == 1 and hpa["status"]["currentReplicas"] == 1
