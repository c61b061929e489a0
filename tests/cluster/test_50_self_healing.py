"""Self-healing: the pointer service's process is killed with SIGKILL from
the host (by its PID, which containerd reports for the container: a
process cannot SIGKILL the PID 1 of its own namespace from inside). The
kubelet restarts the container (restartCount + 1); the pod leaves the
Service's endpoints until its readiness probe passes again; a request loop
through the gateway meanwhile gets no 5xx and no connection error (the
other replica serves, the gateway retries a refused connection)."""
import os
import signal
import time
from datetime import datetime, timezone

from conftest import NOTES, timed
from kube import RequestLoop, ready, wait_until


def container_pid(kube, pod):
    cid = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("containerd://")
    for line in kube.ctr("-n", "k8s.io", "tasks", "ls").stdout.splitlines()[1:]:
        task, pid, status = line.split()
        if task == cid:
            assert status == "RUNNING", line
            return int(pid)
    raise AssertionError(f"no containerd task for {cid}")


def ready_since(pod):
    for c in pod["status"]["conditions"]:
        if c["type"] == "Ready" and c["status"] == "True":
            return datetime.fromisoformat(c["lastTransitionTime"].replace("Z", "+00:00"))
    return None


def test_killed_process_is_restarted_without_failing_requests(kube, gateway, reader):
    pods = kube.pods("pointer")
    assert len(pods) == 2 and all(ready(p) for p in pods), "pointer needs two Ready replicas"
    victim = pods[0]
    name = victim["metadata"]["name"]
    restarts = victim["status"]["containerStatuses"][0]["restartCount"]
    pid = container_pid(kube, victim)
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    assert b"serve" in cmdline and b"pointer" in cmdline, cmdline

    loop = RequestLoop(gateway, [("/pointers/carol", reader)], interval=0.02, max_seconds=90)
    loop.start()
    time.sleep(2)  # requests flowing before the kill
    killed_at = datetime.now(timezone.utc).replace(microsecond=0)
    with timed("self-healing: SIGKILL to Ready again"):
        os.kill(pid, signal.SIGKILL)
        seen_unready = False

        def back():
            nonlocal seen_unready
            p = kube.json("pod", name)
            s = p["status"]["containerStatuses"][0]
            seen_unready |= not ready(p)
            return s["restartCount"] == restarts + 1 and ready(p) and p
        pod = wait_until(f"{name} to restart and be Ready", back, 60, interval=0.2)
    time.sleep(2)  # and requests flowing after it
    loop.stop()
    NOTES.append(f"self-healing: {loop.summary()}")
    assert not loop.server_errors(), f"{loop.summary()}; failures: {loop.failures[:20]}"
    assert loop.statuses[200] == loop.count, f"{loop.summary()}; failures: {loop.failures[:20]}"
    # Readiness gated it: its Ready condition went false and came back
    # after the kill (the Service dropped it meanwhile).
    assert seen_unready or ready_since(pod) >= killed_at, pod["status"]["conditions"]
    assert container_pid(kube, pod) != pid
