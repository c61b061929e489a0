"""Last: `helm uninstall` removes the release, and with it every pod."""
from conftest import memory_note, timed
from kube import RELEASE, wait_until


def test_uninstall_removes_every_pod(kube, release):
    memory_note(kube, "before uninstall")
    with timed("uninstall: helm uninstall --wait"):
        kube.helm("uninstall", RELEASE, "--wait", "--timeout", "120s", timeout=180)
    wait_until("the release's pods to be gone", lambda: not kube.pods(terminating=True), 120)
    assert kube.helm("status", RELEASE, check=False).returncode != 0
