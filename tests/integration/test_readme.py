"""The README's walk-through works as written: its shell block runs against
a fresh `webtoon up` (the gateway's port and this build's binary put in),
every request is signed in, and the scenarios end where the README says."""
import os
import re
import subprocess

from api import ADMIN, Api
from harness import BIN

README = os.path.join(os.path.dirname(__file__), "../../README.md")


def walk_through():
    text = open(README).read()
    section = text.split("## Walk-through", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walk_through(system):
    system.start_all()
    script = walk_through()
    script = script.replace("build/release/webtoon", BIN)
    script = script.replace("localhost:8088", f"127.0.0.1:{system.ports['gateway']}")
    script = script.replace("events tail --from-beginning --verbose",
                            "events tail --from-beginning --verbose --exit-at-end")
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=system.env(), cwd=system.dir,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/problems/unauthenticated" not in out.stdout and "/problems/invalid-token" not in out.stdout
    # bob may not read alice's account, and says so once
    assert out.stdout.count("/problems/forbidden") == 1, out.stdout
    api = Api(system)
    api.wait_for("/pointers/alice", lambda p: p["point"] == 500, what="alice's 500 points")
    bought = api.get("/purchases?userId=bob", as_=ADMIN).json()["_embedded"]["purchases"]
    assert [p["status"] for p in bought] == ["rejected"] and bought[0]["reason"] == "not enough points"
    assert api.balance("bob") == 200
    assert api.get("/libraries/alice").json()["owned"]
