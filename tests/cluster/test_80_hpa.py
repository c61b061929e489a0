"""The original's autoscaling demo: a bounded load on history through the
gateway (wrk, at most two minutes) makes its HorizontalPodAutoscaler, fed
by metrics-server with the pods' real CPU, go from 1 to at least 3
replicas; after the load, the short scale-down window of the test values
(30 s) brings it back to 1."""
import signal
import subprocess
import time

from conftest import NOTES, TIMINGS
from kube import RELEASE, wait_until


def replicas(kube):
    hpa = kube.json("hpa", f"{RELEASE}-history")
    dep = kube.json("deployment", f"{RELEASE}-history")
    util = (hpa["status"].get("currentMetrics") or [{}])[0].get("resource", {}).get("current", {})
    return hpa["status"].get("currentReplicas"), dep["status"].get("readyReplicas"), util.get("averageUtilization")


def test_history_scales_out_under_load_and_back(kube, gateway, reader):
    wait_until("history at 1 replica before the load", lambda: replicas(kube)[:2] == (1, 1), 120, interval=2)
    t0 = time.monotonic()
    timeline = []
    # One thread, four connections: far more than the HPA needs (history
    # requests 50m), and it leaves the machine's other core to the suites
    # that run beside this one.
    wrk = subprocess.Popen(["wrk", "-t1", "-c4", "-d120s", "--timeout", "5s",
                            "-H", f"Authorization: {reader['Authorization']}",
                            f"{gateway}/histories/carol"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def scaled_out():
            r = replicas(kube)
            timeline.append((round(time.monotonic() - t0), *r))
            return (r[0] or 0) >= 3 and (r[1] or 0) >= 3
        wait_until("history's HPA at 3 replicas, Ready, under load", scaled_out, 110, interval=2)
        out_at = time.monotonic() - t0
    finally:
        wrk.send_signal(signal.SIGINT)
        report = wrk.communicate(timeout=30)[0]
    TIMINGS.append(("hpa: load start to 3 history replicas, Ready", out_at))
    NOTES.append(f"hpa scale-out timeline (s, hpa replicas, ready, CPU %): {timeline}")
    NOTES.append("hpa load (wrk): " + " | ".join(line.strip() for line in report.splitlines()
                                              if "Requests/sec" in line or "requests in" in line
                                              or "Non-2xx" in line or "Socket errors" in line))
    assert "Non-2xx" not in report, report

    t1 = time.monotonic()
    down = []

    def scaled_in():
        r = replicas(kube)
        down.append((round(time.monotonic() - t1), *r))
        return r[0] == 1 and r[1] == 1
    wait_until("history back to 1 replica after the load", scaled_in, 180, interval=3)
    TIMINGS.append(("hpa: load end to 1 history replica", time.monotonic() - t1))
    NOTES.append(f"hpa scale-in timeline (s, hpa replicas, ready, CPU %): {down}")
