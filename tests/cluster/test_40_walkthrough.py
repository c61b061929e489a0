"""The README's walk-through, as written, through the gateway's Service
(its ClusterIP, from the host): tokens minted in the issuer's pod, the
event stream read from inside a service's pod (it is on Kafka). Join,
charge 600, buy niceguy: 500 left; bob's 600-point episode with 200 points
is rejected and his points are unchanged (the compensation)."""
import os
import re
import subprocess

import requests

from kube import RELEASE, ROOT, wait_until

README = os.path.join(ROOT, "README.md")


def walk_through():
    section = open(README).read().split("## Walk-through", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walk_through(kube, gateway):
    ns = kube.ns
    script = walk_through()
    script = script.replace("build/release/webtoon events tail --from-beginning --verbose",
                            f"kubectl -n {ns} exec deploy/{RELEASE}-history -- "
                            "webtoon events tail --from-beginning --verbose --exit-at-end")
    script = script.replace("W=build/release/webtoon", f'W="kubectl -n {ns} exec deploy/{RELEASE}-auth -- webtoon"')
    script = script.replace("localhost:8088", gateway.removeprefix("http://"))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=kube.env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout[-2000:]
    assert "/problems/unauthenticated" not in out.stdout and "/problems/invalid-token" not in out.stdout
    assert out.stdout.count("/problems/forbidden") == 1, out.stdout  # bob may not read alice's account
    assert "Joined" in out.stdout, "the event stream shows no Joined event:\n" + out.stdout[-2000:]

    admin = {"Authorization": f"Bearer {kube.token('operator', admin=True)}"}

    def get(path):
        r = requests.get(gateway + path, headers=admin, timeout=10)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        return r.json()

    wait_until("alice's 500 points", lambda: get("/pointers/alice")["point"] == 500, 30)
    bought = wait_until("bob's purchase to be decided", lambda: [
        p for p in get("/purchases?userId=bob")["_embedded"]["purchases"] if p["status"] != "pending"], 30)
    assert [p["status"] for p in bought] == ["rejected"] and bought[0]["reason"] == "not enough points"
    assert get("/pointers/bob")["point"] == 200
    assert get("/libraries/alice")["owned"]
