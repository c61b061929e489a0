"""Start and stop real `webtoon` processes for integration tests.

Every test gets its own data directory and free loopback ports, so tests
never see each other's state. Processes are started exactly as a user would
start them (`webtoon serve <service>`, `webtoon up`), talked to over HTTP,
and stopped with SIGTERM (or SIGKILL when a test means to crash them).

With WEBTOON_TEST_ENGINES=distributed every process runs on the real
engines instead of the embedded ones: Kafka at WEBTOON_TEST_KAFKA (host:port)
PostgreSQL at WEBTOON_TEST_PG (the URL of a database where tests may
create databases), the history view in Redis at WEBTOON_TEST_REDIS, and,
with WEBTOON_TEST_KEYCLOAK (a realm's issuer URL), Keycloak as the issuer,
and, with WEBTOON_S3_ENDPOINT and WEBTOON_TEST_S3_KEYS (the keys file of
scripts/s3.sh), the blobs in S3. Each System then gets a topic, five
databases, a Redis key prefix and a bucket of its own, and state is read
from PostgreSQL and Kafka instead of SQLite files.
"""
import fcntl
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import requests

SERVICES = ["pointer", "payment", "history", "webtoon", "purchase"]
BIN = os.environ.get("WEBTOON_BIN", os.path.join(os.path.dirname(__file__), "../../build/debug/webtoon"))
DISTRIBUTED = os.environ.get("WEBTOON_TEST_ENGINES") == "distributed"
KAFKA = os.environ.get("WEBTOON_TEST_KAFKA", "")
PG = os.environ.get("WEBTOON_TEST_PG", "")
REDIS = os.environ.get("WEBTOON_TEST_REDIS", "")
KEYCLOAK = os.environ.get("WEBTOON_TEST_KEYCLOAK", "")  # the issuer URL of a realm
KEYCLOAK_SECRET_FILE = os.environ.get("WEBTOON_TEST_KEYCLOAK_SECRET_FILE", "")
S3_KEYS_FILE = os.environ.get("WEBTOON_TEST_S3_KEYS", "")  # access_key=... / secret_key=... lines
if DISTRIBUTED:
    import psycopg2  # Debian's python3-psycopg2
    DB_ERRORS = (sqlite3.Error, psycopg2.Error)
else:
    DB_ERRORS = (sqlite3.Error,)


class BusUnavailable(Exception):
    """The CLI could not reach the event bus (a broker still starting, say):
    a wait treats it like a refused connection, as "not yet"."""


def s3_keys():
    """The S3 credentials scripts/s3.sh generated, as WEBTOON_S3_* settings."""
    with open(S3_KEYS_FILE) as f:
        keys = dict(line.strip().split("=", 1) for line in f if "=" in line)
    return {"WEBTOON_S3_ACCESS_KEY": keys["access_key"], "WEBTOON_S3_SECRET_KEY": keys["secret_key"]}


# Below the kernel's ephemeral ports (32768-60999), above the fixed ports of
# the engines (tests/CMakeLists.txt) and of the cluster suite's control plane
# (scripts/cluster/cluster.sh: 20249-22380), which runs beside these tests.
PORT_RANGE = (23000, 32000)
PORT_LOCKS = os.path.join(os.environ.get("TMPDIR", "/tmp"), "webtoon-test-ports")
REPLICA_STEP, MAX_REPLICAS = 100, 3  # `webtoon up --replicas N`: port + 100 * r


def free_ports(n, held=None):
    """<n> distinct loopback ports that nothing listens on and that no other
    test process will hand out while <held> (a list the caller keeps, closed
    when done) keeps them: each port, with its replica ports (+100, +200), is
    locked with flock on a file of its own. The ports come from below the
    ephemeral range: a port the kernel picked for us (bind to 0) is free now
    but may be some outgoing connection's a moment later."""
    os.makedirs(PORT_LOCKS, exist_ok=True)
    held = [] if held is None else held
    ports, rng = [], random.Random()
    while len(ports) < n:
        base = rng.randrange(*PORT_RANGE)
        family = [base + REPLICA_STEP * r for r in range(MAX_REPLICAS)]
        locks = []
        try:
            for port in family:
                f = open(os.path.join(PORT_LOCKS, str(port)), "w")
                locks.append(f)
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:  # locked by another test, or in use
            for f in locks:
                f.close()
            continue
        held.extend(locks)
        ports.append(base)
    return ports


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls <predicate> until it returns a truthy value; fails after <timeout>."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (requests.RequestException, OSError, BusUnavailable) + DB_ERRORS as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Process:
    """One running webtoon process, with its output captured to a file."""

    def __init__(self, args, env, log_path):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([BIN] + args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.proc.pid

    def terminate(self, timeout=15):
        """SIGTERM, then the exit status (a clean drain returns 0)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class System:
    """A set of webtoon processes sharing one data directory."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.data_dir = str(tmp_path / "var")
        names = SERVICES + ["web", "gateway", "auth"]
        self.port_locks = []
        self.ports = dict(zip(names, free_ports(len(names), self.port_locks)))
        # A stand-in issuer with keys of its own (tokens.py), for tests of
        # the checks themselves; None: the real one (identity.py).
        self.issuer = None
        self.procs = {}
        self.counter = 0
        if DISTRIBUTED:
            self.tag = "t" + uuid.uuid4().hex[:12]
            self.topic = f"webtoon.{self.tag}"
            for name in SERVICES:
                self.pg_admin(f"CREATE DATABASE {self.tag}_{name}")

    def env(self, **extra):
        env = dict(os.environ)
        env["WEBTOON_DATA_DIR"] = self.data_dir
        env["WEBTOON_POLL_INTERVAL_MS"] = "200"
        if DISTRIBUTED:
            env["WEBTOON_KAFKA_BROKERS"] = KAFKA
            env["WEBTOON_TOPIC"] = self.topic
            env["WEBTOON_STORE_URL"] = self.pg_url("{service}")
            env["WEBTOON_HISTORY_REDIS_URL"] = REDIS
            env["WEBTOON_REDIS_PREFIX"] = f"{self.tag}:"
            if KEYCLOAK:  # the services take the keys from its discovery document
                env["WEBTOON_AUTH_ISSUER"] = KEYCLOAK
                env["WEBTOON_AUTH_CLI_SECRET_FILE"] = KEYCLOAK_SECRET_FILE
            if S3_KEYS_FILE and env.get("WEBTOON_S3_ENDPOINT"):
                env["WEBTOON_BLOB_URL"] = f"s3://{self.tag}"  # created at the first open
                env.update(s3_keys())
        # Tests stop processes often; those about draining set their own delay.
        env["WEBTOON_DRAIN_DELAY_MS"] = "0"
        env["WEBTOON_GATEWAY_RATE_LIMIT"] = "1000000"
        if self.issuer is not None:
            env["WEBTOON_AUTH_JWKS_URL"] = self.issuer.url
        for name, port in self.ports.items():
            env[f"WEBTOON_{name.upper()}_PORT"] = str(port)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def url(self, service, path):
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def run(self, *args, **env):
        """Runs a short webtoon command to completion."""
        return subprocess.run([BIN] + list(args), env=self.env(**env), capture_output=True, text=True, timeout=60)

    def start(self, service, wait=True, **env):
        self.counter += 1
        p = Process(["serve", service], self.env(**env), self.dir / f"{service}-{self.counter}.log")
        self.procs[service] = p
        if wait:
            self.wait_healthy(service, p)
        return p

    def start_up(self, *args, **env):
        self.counter += 1
        p = Process(["up", *args], self.env(**env), self.dir / f"up-{self.counter}.log")
        self.procs["up"] = p
        return p

    def wait_healthy(self, service, proc=None, timeout=10):
        def healthy():
            if proc is not None and proc.proc.poll() is not None:
                raise AssertionError(f"{service} exited with {proc.proc.returncode}:\n{proc.output()}")
            return requests.get(self.url(service, "/healthz"), timeout=1).status_code == 200
        wait_until(healthy, timeout, what=f"{service} /healthz")

    def start_all(self, *args, **env):
        """`webtoon up` (the built-in issuer unless another is configured,
        services, web server, gateway), every one healthy. `up` gives each
        child 15 s to start, and the gateway starts once all the others
        answer: the waits here allow as much."""
        up = self.start_up(*args, **env)
        issuer = [] if self.env(**env).get("WEBTOON_AUTH_ISSUER") else ["auth"]
        for s in issuer + SERVICES + ["web", "gateway"]:
            self.wait_healthy(s, up, timeout=20)
        return up

    def settled(self):
        """True when every outbox is empty and every group consumed the log."""
        if DISTRIBUTED:
            out = self.run("events", "lag", *SERVICES)
            # A restarted broker answers metadata seconds before its group
            # coordinator has loaded the committed offsets.
            if out.returncode != 0 and "Event bus unavailable" in out.stderr:
                raise BusUnavailable(out.stderr.strip())
            assert out.returncode == 0, out.stderr
            if any(int(line.split()[1]) for line in out.stdout.splitlines()):
                return False
            return all(self.query(s, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0
                       for s in SERVICES)
        log = os.path.join(self.data_dir, "events.db")
        if not os.path.exists(log):
            return True
        with sqlite3.connect(log, timeout=10) as con:
            last = con.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
            done = dict(con.execute("SELECT grp, last_seq FROM consumer_offsets").fetchall())
        if any(done.get(s, 0) != last for s in SERVICES):
            return False
        return all(self.query(s, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0
                   for s in SERVICES)

    def settle(self, timeout=30):
        """Waits until nothing is in flight anywhere (checked twice)."""
        wait_until(lambda: self.settled() and (time.sleep(0.05) or self.settled()), timeout,
                   what="the system to settle")

    def stop_all(self):
        for p in self.procs.values():
            if p.proc.poll() is None:
                p.terminate()

    # --- identity --------------------------------------------------------------

    def token(self, user, admin=False):
        """An access token for <user> (with the admin role when <admin>),
        from the issuer this system trusts (identity.py), or from its
        stand-in issuer when it has one."""
        if self.issuer is not None:
            return self.issuer.token(user, ("reader", "admin") if admin else ("reader",))
        from identity import issuer_for
        return issuer_for(self).token(user, admin=admin)

    def auth(self, user, admin=False):
        """Headers acting as <user>."""
        return {"Authorization": "Bearer " + self.token(user, admin)}

    # --- HTTP ----------------------------------------------------------------

    def _headers(self, method, path, body, kw):
        from api import acting_user
        headers = dict(kw.pop("headers", {}) or {})
        as_ = kw.pop("as_", "auto")
        user, admin = acting_user(method, path, body, {}) if as_ == "auto" else (as_, as_ == "operator")
        if user is not None and "Authorization" not in headers:
            headers.update(self.auth(user, admin))
        return headers

    def post(self, service, path, body=None, **kw):
        headers = self._headers("POST", path, body, kw)
        return requests.post(self.url(service, path), json=body, headers=headers, timeout=10, **kw)

    def get(self, service, path, **kw):
        headers = self._headers("GET", path, None, kw)
        return requests.get(self.url(service, path), headers=headers, timeout=10, **kw)

    def put(self, service, path, body=None, **kw):
        headers = self._headers("PUT", path, body, kw)
        return requests.put(self.url(service, path), json=body, headers=headers, timeout=10, **kw)

    # --- state, read directly from the files ----------------------------------

    def db(self, name):
        if DISTRIBUTED:
            return psycopg2.connect(self.pg_url(name), connect_timeout=10)
        return sqlite3.connect(os.path.join(self.data_dir, f"{name}.db"), timeout=10)

    def query(self, name, sql, *args):
        """Rows of <sql> on the database of service <name>; `?` placeholders."""
        if DISTRIBUTED:
            con = self.db(name)
            try:
                with con.cursor() as cur:
                    cur.execute(sql.replace("?", "%s"), args)
                    return cur.fetchall()
            finally:
                con.close()
        with self.db(name) as con:
            return con.execute(sql, args).fetchall()

    def execute(self, name, *statements):
        """Runs <statements> on the database of service <name>, committed."""
        con = self.db(name)
        try:
            cur = con.cursor()
            for sql in statements:
                cur.execute(sql)
            con.commit()
        finally:
            con.close()

    def redis(self, *args):
        """A redis-cli command on the history view's Redis (distributed mode)."""
        host, port = REDIS.split("//")[1].split("/")[0].split(":")
        r = subprocess.run(["redis-cli", "-h", host, "-p", port, *args], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    # --- the real engines (distributed mode) ------------------------------------

    def pg_url(self, name):
        """URL of this system's database for service <name>."""
        return f"{PG.rsplit('/', 1)[0]}/{self.tag}_{name}"

    @staticmethod
    def pg_admin(sql):
        con = psycopg2.connect(PG, connect_timeout=10)
        con.autocommit = True  # CREATE/DROP DATABASE refuse transactions
        try:
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    def cleanup(self):
        """Drops what the system kept outside its directory (its databases,
        its hold on its ports)."""
        for f in self.port_locks:
            f.close()
        if DISTRIBUTED:
            for name in SERVICES:
                self.pg_admin(f"DROP DATABASE IF EXISTS {self.tag}_{name} WITH (FORCE)")

    def events(self, type_=None):
        """Every event in the log, oldest first, as parsed payloads (on Kafka:
        in order per user, and an event republished after a crash may appear
        twice, as consumers would see it)."""
        args = ["events", "tail", "--from-beginning", "--exit-at-end"]
        if type_:
            args += ["--type", type_]
        out = self.run(*args)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def publish_raw(self, event_id, key, type_, payload):
        """Appends one event to the log as another producer would (on Kafka
        with kcat, else straight into the embedded log), bypassing every
        outbox: for events a service never emitted, or emitted differently."""
        if DISTRIBUTED:
            r = subprocess.run(["kcat", "-P", "-b", KAFKA, "-t", self.topic, "-k", key, "-X", "partitioner=murmur2_random",
                                "-H", f"type={type_}", "-H", f"id={event_id}"],
                               input=payload, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            return
        log = os.path.join(self.data_dir, "events.db")
        with sqlite3.connect(log, timeout=10) as con:
            con.execute("INSERT INTO events (event_id, topic, key, type, payload, appended_at)"
                        " VALUES (?, 'webtoon.events', ?, ?, ?, ?)",
                        (event_id, key, type_, payload, int(time.time() * 1000)))
        os.utime(log + ".notify")  # wakes the consumers

    def metric(self, service, name, labels=""):
        """Value of one series from /metrics, or None."""
        text = self.get(service, "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + "{") and labels in line:
                return float(line.rsplit(" ", 1)[1])
        return None
