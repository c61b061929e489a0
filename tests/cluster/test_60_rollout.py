"""Zero downtime: while a request loop reads through the gateway from every
service, the web server and the gateway itself, `helm upgrade` rolls every
Deployment to a new image tag (the same image under a second name, as a
re-tagged release would be), and then a values change of the ConfigMap
rolls them again through its checksum annotation. Not one request fails:
a new pod is Ready before an old one goes (maxUnavailable 0), and a stopping
pod drains (readiness 503, listener open) before the endpoints drop it."""
import time

from conftest import NOTES, timed, values_args
from kube import CHART, RELEASE, EndpointWatch, RequestLoop, ready

# Reads of each component: webtoon, web, pointer, payment, history, purchase,
# and the gateway itself in front of all of them.
PATHS = ["/webtoons", "/", "/pointers/carol", "/payments?userId=carol", "/histories/carol",
         "/purchases?userId=carol", "/libraries/carol"]


def failure_report(kube, failures):
    """What the release said while things failed: the kubelet's probe
    failures (events), every line of every pod about the failed requests
    (by request id), the gateway's answers of 500 or more and its servers
    going down or up, and the warnings and errors of every pod."""
    sel = f"app.kubernetes.io/instance={RELEASE}"
    # A request the client gave up on is logged once the gateway's server
    # timeout (30 s) ends it.
    time.sleep(32)
    ids = [f[4] for f in failures]
    events = kube.kubectl("get", "events", "--sort-by=.lastTimestamp", "-o",
                          "custom-columns=TIME:.lastTimestamp,OBJECT:.involvedObject.name,"
                          "REASON:.reason,MESSAGE:.message", check=False).stdout.splitlines()
    events = [e for e in events if "Unhealthy" in e or "Killing" in e or "BackOff" in e]
    logs = kube.kubectl("logs", "-l", sel, "--tail=-1", "--prefix", "--max-log-requests=20",
                        check=False).stdout.splitlines()
    failed = [line for line in logs if any(f'"{i}"' in line for i in ids)]
    gateway = [line for line in logs if "/gateway]" in line and
               ('"status":5' in line and "/readyz" not in line or " is DOWN" in line or " is UP" in line)]
    others = [line for line in logs if "/gateway]" not in line and
              ('"level":"warn"' in line or '"level":"error"' in line)]
    return "\n".join(["probe events:", *events[-40:], "the failed requests:", *failed[-20:],
                      "gateway:", *gateway[-40:],
                      "services' warnings and errors:", *others[-60:]])[:16000]


def upgrade_under_load(kube, gateway, reader, what, *args):
    before = {p["metadata"]["name"] for p in kube.pods()}
    targets = [(p, reader if p not in ("/webtoons", "/") else {}) for p in PATHS]
    loop = RequestLoop(gateway, targets, interval=0.02, max_seconds=400)
    # What each Service offered meanwhile, to read a failure against.
    endpoints = EndpointWatch(kube)
    endpoints.start()
    loop.start()
    try:
        with timed(f"rollout: helm upgrade --wait ({what})"):
            kube.helm("upgrade", RELEASE, CHART, *args, "--wait", "--timeout", "5m", timeout=360)
    finally:
        loop.stop()
        endpoints.stop()
    NOTES.append(f"rollout ({what}): {loop.summary()}")
    assert loop.count > 100 and not loop.failures, \
        f"{loop.summary()}; failures: {loop.failures[:20]}\nendpoints:\n{endpoints.report()}\n" \
        f"{failure_report(kube, loop.failures[:20])}"
    pods = kube.pods()
    assert all(ready(p) for p in pods)
    left = before & {p["metadata"]["name"] for p in pods}
    assert not left, f"pods not replaced by the upgrade: {left}"
    return pods


def test_upgrade_to_a_new_image_tag(kube, gateway, reader, image, release):
    new = f"{image}-next"
    kube.ctr("-n", "k8s.io", "images", "tag", "--force", image, new)
    tag = new.split(":", 1)[1]
    pods = upgrade_under_load(kube, gateway, reader, "image tag", *values_args(tag))
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {new}


def test_configmap_change_rolls_the_pods(kube, gateway, reader):
    # The image stays what it is (after the test above, the "-next" tag).
    tag = kube.pods("pointer")[0]["spec"]["containers"][0]["image"].split(":", 1)[1]
    checksum = {p["metadata"]["annotations"]["checksum/config"] for p in kube.pods()}
    pods = upgrade_under_load(kube, gateway, reader, "ConfigMap", *values_args(tag),
                              "--set", "config.LOG_LEVEL=warn")
    assert {p["metadata"]["annotations"]["checksum/config"] for p in pods}.isdisjoint(checksum)
    cm = kube.json("configmap", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
    assert any(c["data"].get("WEBTOON_LOG_LEVEL") == "warn" for c in cm), [c["data"] for c in cm]
    env = kube.kubectl("exec", f"deploy/{RELEASE}-pointer", "--", "printenv", "WEBTOON_LOG_LEVEL").stdout
    assert env.strip() == "warn"
