"""The history view on a Redis Cluster is the view the history service keeps
in its own store, and on one Redis server, from the same events.

One system runs a crowd's mixed commands with its history view on a real
three-primary Redis Cluster (one replica each: scripts/redis-cluster.sh,
CTest's redis-cluster fixture, which passes its URL in
WEBTOON_TEST_REDIS_CLUSTER and its settings in REDIS_CLUSTER_PORT and
REDIS_CLUSTER_DIR). In the middle of the run a replica is SIGKILLed, another
primary hands over to its replica (CLUSTER FAILOVER, which loses no write,
so the result is deterministic) and every node forgets its scripts (SCRIPT
FLUSH), so the client must follow MOVED and load the script again. Then the
same event log is replayed (`webtoon history rebuild`) into the store's view
(SQLite, or PostgreSQL on the real engines), into the cluster again, and,
when WEBTOON_TEST_REDIS names one (the distributed CTest entry), into a
standalone Redis; every time, the view served is the same. Entry ids are
compared only for what they promise (they order a user's timeline, newest
first, and differ where the view lives).
"""
import os
import random
import signal
import subprocess
import time
import uuid

import pytest

import invariants
from harness import REDIS, System, wait_until
from test_engines import PatientApi, script
from test_invariants import mixed_workload, seed

CLUSTER = os.environ.get("WEBTOON_TEST_REDIS_CLUSTER", "")
pytestmark = pytest.mark.skipif(not CLUSTER, reason="needs WEBTOON_TEST_REDIS_CLUSTER (CTest's redis-cluster fixture)")
SEED_PORT = CLUSTER.split("//")[-1].split(",")[0].rsplit(":", 1)[-1]  # the first node named
COMMANDS = 240


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def cluster_nodes():
    """The cluster's nodes as the first seed sees them: {port: (id, role,
    primary id)}, role "primary" (a master serving slots), "replica" or
    "empty" (a master without slots: how a seed can still see an old master
    until that node's next heartbeat), failed nodes left out."""
    nodes = {}
    for line in cli(SEED_PORT, "cluster", "nodes").splitlines():
        node_id, address, flags, primary = line.split()[:4]
        serves_slots = len(line.split()) > 8
        if "fail" not in flags.split(","):
            role = "replica" if "master" not in flags.split(",") else "primary" if serves_slots else "empty"
            nodes[int(address.split("@")[0].rsplit(":", 1)[1])] = (node_id, role, primary)
    return nodes


def primaries():
    return sorted(p for p, (_, role, _) in cluster_nodes().items() if role == "primary")


def handed_over(old, new):
    """Whether both nodes, and the seed, see <new> as the primary <old> was."""
    return role(new) == "master" and role(old) == "slave" and new in primaries() and old not in primaries()


def replica_of(primary_port):
    nodes = cluster_nodes()
    return next(p for p, (_, role, of) in nodes.items() if role == "replica" and of == nodes[primary_port][0])


def role(port):
    return cli(port, "role").splitlines()[0]


def view(api, users):
    """What the history API serves: every summary, and every user's whole
    timeline (newest first) without the entry ids, once they are shown to
    order it."""
    summaries = api.collect("/histories")
    timelines = {}
    for user in users:
        entries = api.collect(f"/histories/{user}/timeline")
        ids = [e["entryId"] for e in entries]
        assert ids == sorted(set(ids), reverse=True), f"{user}: entry ids {ids} do not order the timeline"
        timelines[user] = [{k: v for k, v in e.items() if k != "entryId"} for e in entries]
    return summaries, timelines


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The run on the cluster, its view, and what happened to the cluster."""
    system = System(tmp_path_factory.mktemp("redis-cluster"))
    on_cluster = {"WEBTOON_HISTORY_REDIS_URL": CLUSTER, "WEBTOON_REDIS_PREFIX": f"rc{uuid.uuid4().hex[:10]}:"}
    try:
        script("redis-cluster.sh", "start")  # every node up and serving, whatever a test before did
        system.start_all(**on_cluster)
        api = PatientApi(system)
        users, webtoons = seed(api)
        first, second = primaries()[:2]
        killed, promoted = replica_of(first), replica_of(second)
        sent = [0]

        def in_the_middle():
            sent[0] += 1
            if sent[0] == COMMANDS // 4:
                os.kill(int(cli(killed, "info", "server").split("process_id:")[1].split()[0]), signal.SIGKILL)
            elif sent[0] == COMMANDS // 2:
                assert cli(promoted, "cluster", "failover") == "OK"
            elif sent[0] == 3 * COMMANDS // 4:
                for p in primaries():
                    assert cli(p, "script", "flush") == "OK"

        mixed_workload(api, users, webtoons, COMMANDS, random.Random(15), on_command=in_the_middle)
        try:
            wait_until(lambda: handed_over(second, promoted), 30, what="the failover")
        except AssertionError as e:
            raise AssertionError(f"{e}; the seed's view:\n{cli(SEED_PORT, 'cluster', 'nodes')}") from None
        invariants.check(system, api)
        yield {"system": system, "api": api, "users": users, "env": on_cluster, "view": view(api, users),
               "second": second, "promoted": promoted}
    finally:
        system.stop_all()
        system.cleanup()
        script("redis-cluster.sh", "start")  # the killed replica back, for whoever comes next


def served_after_rebuild(run, **env):
    """The view served once the log is replayed into the view <env> selects."""
    system, api = run["system"], run["api"]
    if "up" in system.procs:
        assert system.procs["up"].terminate() == 0
    settings = {**run["env"], **env}
    r = system.run("history", "rebuild", **settings)
    assert r.returncode == 0, r.stderr
    system.start_all(**settings)
    system.settle()
    return view(api, run["users"])


def test_the_cluster_holds_the_view_on_every_primary_and_survived_the_failover(run):
    prefix = run["env"]["WEBTOON_REDIS_PREFIX"]
    assert handed_over(run["second"], run["promoted"]), cli(SEED_PORT, "cluster", "nodes")
    for p in primaries():
        assert cli(p, "--scan", "--pattern", f"{prefix}*"), f"no key of the view on primary {p}"
    summaries, timelines = run["view"]
    assert len(summaries) == len(run["users"]) and all(timelines.values())


def test_the_store_view_from_the_same_events_is_the_same(run):
    assert served_after_rebuild(run, WEBTOON_HISTORY_REDIS_URL="") == run["view"]


def test_a_rebuild_on_the_cluster_gives_the_same_view(run):
    assert served_after_rebuild(run) == run["view"]


@pytest.mark.skipif(not REDIS, reason="needs WEBTOON_TEST_REDIS (a standalone Redis: the distributed entry)")
def test_one_redis_server_gives_the_same_view(run):
    assert served_after_rebuild(run, WEBTOON_HISTORY_REDIS_URL=REDIS) == run["view"]
