"""The API against its own document, the way a new user would check it:
`webtoon up` (services, gateway and all, with the demo catalog), then
schemathesis, installed by scripts/schemathesis.sh, run through the gateway
against the document the gateway serves, with every check and every phase,
signed in as an admin:

  schemathesis run http://127.0.0.1:<gateway>/openapi.json --checks all \\
      --phases examples,coverage,fuzzing,stateful -n <examples> \\
      --header "Authorization: Bearer $(webtoon token operator --admin)"

and 0 failures expected. The only settings (schemathesis.toml beside this
file) are the two documented answers that depend on state rather than data.

Bounded for a 2-core machine: WEBTOON_SCHEMATHESIS_EXAMPLES examples per
operation (50 by default: about half a minute here) and a fixed seed
(WEBTOON_SCHEMATHESIS_SEED; "random" for a new one each run), so a failure
replays. The whole output is kept in the test's temporary directory and
printed on failure; the last line is the summary.

Run by CTest as integration/schemathesis (tests/CMakeLists.txt), not picked
up by the test_*.py glob."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
EXAMPLES = int(os.environ.get("WEBTOON_SCHEMATHESIS_EXAMPLES", "50"))
SEED = os.environ.get("WEBTOON_SCHEMATHESIS_SEED", "20261201")
TIME_LIMIT = 270  # seconds for schemathesis itself, well inside CTest's 600


def install():
    out = subprocess.run([os.path.join(ROOT, "scripts", "schemathesis.sh")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, f"scripts/schemathesis.sh failed:\n{out.stderr}"
    sys.stderr.write(out.stderr)
    return out.stdout.strip().splitlines()[-1]


def test_schemathesis_finds_no_failure(system, tmp_path):
    exe = install()
    system.start_all("--demo")
    args = [exe, "--config-file", CONFIG, "--no-color", "run", system.url("gateway", "/openapi.json"),
            "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", str(EXAMPLES), "--request-timeout", "10",
            # no example database in the working directory (or anywhere)
            "--generation-database", "none",
            # as an admin (who may read everything; a body naming another
            # user is a documented 403); schemathesis also tries each
            # operation without it and expects the documented 401
            "--header", "Authorization: Bearer " + system.token("operator", admin=True),
            "--report", "junit", "--report-dir", str(tmp_path / "report")]
    if SEED != "random":
        args += ["--seed", SEED]
    # cwd: the test's own directory, so nothing lands in the repository
    out = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_LIMIT)
    (tmp_path / "schemathesis.txt").write_text(out.stdout + out.stderr)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else "(no output)"
    print(summary)
    assert out.returncode == 0 and "failure" not in summary and "error" not in summary, \
        f"schemathesis: {summary}\n{out.stdout[-30000:]}\n{out.stderr[-5000:]}"
