#!/usr/bin/env python3
"""Scaled-topology test (issue 7): `docker compose up --scale identity=2 --scale notes=3`, without containers.

    python3 scripts/scaled-topology.py [BIN_DIR]        (default .build/debug; build first: swift build)

On loopback: a throwaway PostgreSQL cluster (password authentication, the databases of
services/postgres/init-databases.sql), one key service, two identity and three notes replicas, each reading its
database password from a file (<PREFIX>_DATABASE_PASSWORD_FILE, as in compose) with secrets from
`authctl init --compose`, and nginx in front with the compose gateway's own routes (services/gateway/routes.conf)
over `upstream` blocks instead of Docker's DNS. Through the gateway it checks:

1. routing: only the public paths pass; the key service's /v1/ API, /readyz and /metrics are 404 problems; body
   limits as the services'; / redirects to the web client;
2. a refresh token issued by one identity replica refreshes at the other; a retry within the grace window at the
   other replica gets the same successor; reuse after it revokes the session on both;
3. a note written through one notes replica reads back through every other;
4. a key rotation reaches every replica, and a revocation rejects the old key's tokens on every notes replica, within
   the propagation bound (2 s);
5. per-address login limits count the client the gateway saw, and a forged X-Forwarded-For changes nothing; a
   login from the gateway's own origin passes and one from another origin is 403 origin_not_allowed;
6. `kill -9` of a notes replica under load loses no idempotent request (nginx retries them on another replica), and
   every acknowledged write is there afterwards; the replica restarts and gets traffic again;
7. PostgreSQL crashes under load for a few seconds: requests that need it get 503 + Retry-After within about a
   second (never 500, never a hang), a forged token is still 401, every replica serves again once it is back, and no
   acknowledged write is lost;
8. no service wrote a file in its working directory (all state in PostgreSQL: the containers' root is read-only);
9. with every notes replica gone, the gateway answers a 502 bad_gateway problem and identity still works.

Prints figures for each; exits 1 at the first broken promise, 2 when a tool is missing. Everything it started is
stopped by PID at the end, however it ends. Standard library only; loopback only; about 40 s.
"""

import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
import stacklib  # noqa: E402  (scripts/stacklib.py)
from stacklib import Failure, check, free_port, kid_of, read_token, stop_processes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/debug"))
ROUTES = os.path.join(ROOT, "services/gateway/routes.conf")
INIT_SQL = os.path.join(ROOT, "services/postgres/init-databases.sql")
PROPAGATION_BOUND = 2.0   # docs/design.md §9
TIME_LIMIT = 240          # the whole run, start-up included; normally about 40 s
GRACE = 2                 # IDENTITY_REFRESH_GRACE here, so that reuse can be shown without a 10 s wait
FAILURES_PER_IP = 5       # IDENTITY_LOGIN_FAILURES_PER_IP here
OUTAGE = 4  # seconds PostgreSQL is away in check_database_outage
# Like compose, which trusts the private ranges its networks (and possibly its clients) live in: the whole loopback
# range, the test's clients included. Only the gateway replacing X-Forwarded-For then keeps forged values out.
TRUSTED_PROXIES = "127.0.0.0/8"
WORK = tempfile.mkdtemp(prefix="authstack-topology-")
AS_ROOT = os.geteuid() == 0

started_processes = []    # (label, Popen), stopped in reverse order
cleanups = []             # callables run after the processes are stopped


def say(message):
    print(f"scaled-topology: {message}", flush=True)


run = stacklib.run_tool


def tool(name, candidates=()):
    try:
        return stacklib.tool(name, candidates)
    except Failure as failure:
        print(f"scaled-topology: {failure}", file=sys.stderr)
        sys.exit(2)


# ---------------------------------------------------------------------------------------------------------------------
# HTTP


class Answer(stacklib.Answer):
    """An answer through the test gateway, which names the replicas nginx tried."""

    @property
    def upstream(self):
        """The replica(s) nginx tried, as the test gateway reports them (`a, b` after a retry)."""
        return self.headers.get("x-upstream-addr", "")

    @property
    def replica(self):
        """The replica that answered: the last one tried."""
        return self.upstream.split(",")[-1].strip()


def call(port, method, path, **options):
    answer = stacklib.call(port, method, path, **options)
    return Answer(answer.status, answer.headers, answer.raw)


# ---------------------------------------------------------------------------------------------------------------------
# The topology


class Service:
    """One replica: a service binary, in an empty working directory."""

    def __init__(self, label, binary, prefix, variables):
        self.label = label
        self.binary = binary
        self.prefix = prefix
        self.port = free_port()
        self.directory = os.path.join(WORK, "run", label)
        os.makedirs(self.directory)
        self.log = os.path.join(WORK, f"{label}.log")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "NOTES_", "KEYS_", "AUTHSTACK_"))}
        self.environment = dict(base, LOG_LEVEL="warning", **{f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(self.port)},
                                **{k: str(v) for k, v in variables.items()})
        self.process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        log = open(self.log, "ab")
        self.process = subprocess.Popen([os.path.join(BIN, self.binary)], cwd=self.directory,
                                        env=self.environment, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        started_processes.append((self.label, self.process))

    def wait_ready(self, limit=60):
        try:
            return stacklib.wait_ready(self.port, self.process, limit)
        except Failure as failure:
            raise Failure(f"{self.label} {failure}: {self.tail()}") from None

    def keyring_version(self):
        text = call(self.port, "GET", "/metrics", timeout=2).raw.decode()
        match = re.search(r"^keyring_version(?:\{[^}]*\})? (\S+)$", text, re.M)
        return int(float(match.group(1))) if match else -1

    def tail(self):
        try:
            return open(self.log, errors="replace").read()[-1200:]
        except OSError:
            return ""


class Gateway:
    """nginx with the compose gateway's routes, the replicas as `upstream` blocks."""

    def __init__(self, identities, notes):
        self.nginx = tool("nginx", ["/usr/sbin/nginx"])
        self.port = free_port()
        self.directory = os.path.join(WORK, "nginx")
        os.makedirs(f"{self.directory}/temp")
        www = os.path.join(WORK, "www")
        os.makedirs(www)
        if os.path.isdir(os.path.join(ROOT, "web")):
            shutil.copytree(os.path.join(ROOT, "web"), os.path.join(www, "app"))
        temp = " ".join(f"{kind}_temp_path {self.directory}/temp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        identity_servers = " ".join(f"server {s.address};" for s in identities)
        notes_servers = " ".join(f"server {s.address};" for s in notes)
        # One worker: nginx keeps its round-robin position per worker, and one makes the replica sequence predictable
        # for the cross-replica checks. Everything inside `server` but the names is compose's nginx.conf.
        self.config = os.path.join(self.directory, "nginx.conf")
        with open(self.config, "w") as f:
            f.write(f"""
worker_processes 1;
error_log {self.directory}/error.log warn;
pid {self.directory}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$remote_addr "$request" $status upstream=$upstream_addr/$upstream_status $request_time';
    access_log {self.directory}/access.log upstreams;
    {temp}
    upstream identity_replicas {{ {identity_servers} }}
    upstream notes_replicas {{ {notes_servers} }}
    server {{
        listen 127.0.0.1:{self.port};
        set $identity_upstream identity_replicas;
        set $notes_upstream notes_replicas;
        root {www};
        # Test instrumentation only: which replicas nginx tried for this request.
        add_header X-Upstream-Addr $upstream_addr always;
        include {ROUTES};
    }}
}}
""")
        self.process = None

    def start(self):
        run([self.nginx, "-t", "-q", "-p", self.directory + "/", "-c", self.config])
        log = open(os.path.join(self.directory, "stderr.log"), "ab")
        self.process = subprocess.Popen([self.nginx, "-p", self.directory + "/", "-c", self.config, "-g", "daemon off;"],
                                        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        started_processes.append(("nginx", self.process))
        try:
            stacklib.wait_ready(self.port, self.process, limit=5, path="/healthz")
        except Failure:
            raise Failure(f"nginx did not start: {open(os.path.join(self.directory, 'error.log')).read()[-800:] if os.path.exists(os.path.join(self.directory, 'error.log')) else ''}") from None

    def __call__(self, method, path, **kwargs):
        return call(self.port, method, path, **kwargs)


def stop_everything():
    stop_processes(process for _, process in reversed(started_processes))
    for cleanup in reversed(cleanups):
        cleanup()
    started_processes.clear()
    cleanups.clear()


# ---------------------------------------------------------------------------------------------------------------------
# The checks


def check_routing(gateway, keys, keys_dir):
    admin, notes_token = read_token(keys_dir, "admin"), read_token(keys_dir, "notes")
    version_before = call(keys.port, "GET", "/v1/keys", token=admin).json["version"]
    blocked = [("GET", "/v1/keyring", notes_token), ("GET", "/v1/keys", admin), ("POST", "/v1/keys/rotate?force=true", admin),
               ("GET", "/readyz", None), ("GET", "/metrics", None), ("GET", "/notes/a/b", None), ("GET", "/signupx", None)]
    for method, path, token in blocked:
        answer = gateway(method, path, token=token)
        check(answer.status == 404 and answer.headers.get("content-type") == "application/problem+json"
              and answer.json.get("code") == "not_found" and not answer.upstream,
              f"{method} {path} through the gateway: expected the gateway's own 404 problem, got {answer} from '{answer.upstream}'")
    check(call(keys.port, "GET", "/v1/keys", token=admin).json["version"] == version_before,
          "a rotation sent to the gateway reached the key service")
    answer = gateway("GET", "/")
    check(answer.status == 302 and answer.headers.get("location", "").endswith("/app/"), f"/ should redirect to /app/: {answer}")
    check(gateway("GET", "/healthz").json == {"status": "ok"}, "the gateway's /healthz")
    index = os.path.join(ROOT, "web", "index.html")
    if os.path.exists(index):
        answer = gateway("GET", "/app/")
        check(answer.status == 200 and answer.raw == open(index, "rb").read() and answer.headers.get("content-type", "").startswith("text/html"),
              f"/app/ should serve web/index.html as text/html: {answer.status} {answer.headers.get('content-type')}")
        policy = answer.headers.get("content-security-policy", "")
        check("default-src 'none'" in policy and "frame-ancestors 'none'" in policy and answer.headers.get("x-content-type-options") == "nosniff",
              f"/app/ without the web client's security headers: {answer.headers}")
        web = "/app/ serves web/index.html with its Content-Security-Policy"
    else:
        web = "web/ not in this tree yet: /app/ not checked"
    # Body limits: the gateway refuses what the services would refuse, and passes everything they would judge.
    limits = []
    for path, limit in (("/signup", 64 * 1024), ("/notes", 1024 * 1024)):
        over = gateway("POST", path, raw_body=b"{" + b" " * limit)
        check(over.status == 413 and over.json.get("code") == "payload_too_large" and not over.upstream,
              f"POST {path} of {limit + 1} bytes: expected the gateway's 413 problem, got {over}")
        under = gateway("POST", path, raw_body=b'{"x":"' + b"a" * (limit - 8) + b'"}')
        check(under.upstream != "", f"POST {path} of {limit} bytes should reach a replica, got {under}")
        limits.append(f"{path} {limit // 1024} KiB passes, +1 byte is 413")
    say(f"routing: {len(blocked)} non-public paths (key service /v1/ with valid admin and verifier tokens, /readyz, "
        f"/metrics, unknown) are the gateway's 404 problem and never reach a service; {'; '.join(limits)}; / → /app/; {web}")


def check_refresh_across_replicas(gateway, identities):
    name = f"topo-{random.randrange(10**9)}"
    password = "correct horse battery staple"
    answer = gateway("POST", "/signup", body={"username": name, "password": password})
    check(answer.status == 201, f"signup through the gateway: {answer}")
    token, issuer = answer.json["refresh_token"], answer.replica
    for attempt in range(6):
        answer = gateway("POST", "/refresh", body={"refresh_token": token})
        check(answer.status == 200, f"refresh #{attempt + 1} (token from {issuer}, at {answer.replica}): {answer}")
        previous, previous_issuer = token, issuer
        token, issuer = answer.json["refresh_token"], answer.replica
        if issuer != previous_issuer:
            break
    check(issuer != previous_issuer, f"six refreshes all answered by {issuer}: is the second identity replica in the gateway?")
    say(f"refresh: a token issued by identity {previous_issuer} refreshed at identity {issuer} (attempt {attempt + 1})")
    # The retry of a lost answer, at the other replica, within the grace window: the same successor.
    for attempt in range(4):
        replay = gateway("POST", "/refresh", body={"refresh_token": previous})
        check(replay.status == 200 and replay.json.get("refresh_token") == token,
              f"retry within the grace window at {replay.replica}: expected the same successor, got {replay}")
        if replay.replica != issuer:
            break
    check(replay.replica != issuer, "the grace-window retry never reached the other replica")
    # After the grace window the same replay is reuse: the session is revoked on every replica.
    time.sleep(GRACE + 0.5)
    reuse = gateway("POST", "/refresh", body={"refresh_token": previous})
    check(reuse.status == 401 and reuse.json.get("code") == "refresh_token_reused", f"replay after the grace window: {reuse}")
    revoked = [gateway("POST", "/refresh", body={"refresh_token": token}) for _ in identities]
    check(all(a.status == 401 for a in revoked) and {a.replica for a in revoked} == {s.address for s in identities},
          f"the successor after reuse detection should be refused by every replica: {[(a.replica, a.status) for a in revoked]}")
    say(f"refresh: the grace-window retry at identity {replay.replica} got the same successor; reuse after "
        f"{GRACE} s at {reuse.replica} revoked the session, and both replicas refuse its newest token")
    return name, password


def login(gateway, name, password, source=None):
    answer = gateway("POST", "/login", body={"username": name, "password": password}, source=source)
    check(answer.status == 200, f"login through the gateway: {answer}")
    return answer


def check_notes_across_replicas(gateway, notes, access):
    title, body = f"written through the gateway {random.randrange(10**9)}", "read back through every replica"
    created = gateway("POST", "/notes", body={"title": title, "body": body}, token=access)
    check(created.status == 201, f"POST /notes: {created}")
    note_id, writer = created.json["id"], created.replica
    readers = {}
    for _ in range(3 * len(notes)):
        answer = gateway("GET", f"/notes/{note_id}", token=access)
        check(answer.status == 200 and answer.json.get("title") == title and answer.json.get("body") == body,
              f"note {note_id} written via notes {writer}, read via {answer.replica}: {answer}")
        readers[answer.replica] = readers.get(answer.replica, 0) + 1
        if len(readers) == len(notes):
            break
    check(set(readers) == {s.address for s in notes}, f"reads reached only {sorted(readers)}")
    labels = {service.address: service.label for service in notes}
    say(f"notes: a note written via {labels[writer]} read back via all {len(notes)} replicas "
        f"({', '.join(f'{labels[a]} ×{n}' for a, n in sorted(readers.items()))})")


def wait_until(predicate, limit):
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            return None
        time.sleep(0.01)


def propagation_times(services, arrived, what):
    """Seconds until `arrived(service)` held for each replica, all polled together from now (the key service's
    answer); fails past the bound."""
    started = time.monotonic()
    times, pending = {}, list(services)
    while pending and time.monotonic() - started < PROPAGATION_BOUND + 3:
        for service in list(pending):
            if arrived(service):
                times[service.label] = time.monotonic() - started
                pending.remove(service)
        time.sleep(0.005)
    check(not pending, f"{what} did not reach {[s.label for s in pending]} within {PROPAGATION_BOUND + 3} s")
    slow = {k: round(v, 3) for k, v in times.items() if v > PROPAGATION_BOUND}
    check(not slow, f"{what} propagated beyond the {PROPAGATION_BOUND} s bound: {slow}")
    return ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in times.items())


def check_key_propagation(gateway, keys, identities, notes, keys_dir, name, password):
    admin = read_token(keys_dir, "admin")
    old_access = login(gateway, name, password).json["access_token"]
    old_kid = kid_of(old_access)
    rotated = call(keys.port, "POST", "/v1/keys/rotate?force=true", token=admin)
    check(rotated.status == 200, f"rotation: {rotated}")
    version, new_kid = rotated.json["version"], rotated.json["current_kid"]
    check(new_kid != old_kid, "the rotation did not change the current key")
    times = propagation_times(identities + notes, lambda service: service.keyring_version() >= version, f"keyring version {version}")
    say(f"rotation: keyring version {version} held by every replica after: {times} (bound {PROPAGATION_BOUND} s)")
    # Every identity replica signs with the new key, and every notes replica accepts it, through the gateway.
    signers, verifiers = {}, {}
    for _ in range(4 * len(identities)):
        answer = login(gateway, name, password)
        signers[answer.replica] = kid_of(answer.json["access_token"])
        new_access = answer.json["access_token"]
        if len(signers) == len(identities):
            break
    check(set(signers) == {s.address for s in identities} and set(signers.values()) == {new_kid},
          f"identity replicas should all sign with {new_kid}: {signers}")
    for _ in range(4 * len(notes)):
        answer = gateway("GET", "/notes?limit=1", token=new_access)
        check(answer.status == 200, f"a token of the new key at notes {answer.replica}: {answer}")
        verifiers[answer.replica] = answer.status
        if len(verifiers) == len(notes):
            break
    check(set(verifiers) == {s.address for s in notes}, f"new-key token checked only by {sorted(verifiers)}")
    # Revoking the old key: its tokens are refused by every notes replica within the bound.
    revoked = call(keys.port, "POST", f"/v1/keys/{old_kid}/revoke", token=admin)
    check(revoked.status == 200, f"revocation: {revoked}")
    refused = propagation_times(notes, lambda service: call(service.port, "GET", "/notes?limit=1", token=old_access).status == 401,
                                f"the revocation of {old_kid}")
    say(f"revocation: tokens of the revoked {old_kid} refused by every notes replica after: {refused} (bound {PROPAGATION_BOUND} s); "
        f"new-key tokens signed by both identity replicas and accepted by all three notes replicas through the gateway")


def check_client_addresses(gateway):
    """Five failed logins from 127.0.0.2, each with a different forged X-Forwarded-For, exhaust 127.0.0.2's budget;
    127.0.0.3 keeps its own. A gateway that passed the forged header on, or an identity that did not believe the
    gateway, fails one of the two."""
    statuses = []
    for attempt in range(FAILURES_PER_IP + 1):
        answer = gateway("POST", "/login", body={"username": f"nobody-{random.randrange(10**9)}", "password": "wrong password"},
                         source="127.0.0.2", headers={"X-Forwarded-For": f"198.51.100.{attempt + 1}"})
        statuses.append(answer.status)
    check(statuses == [401] * FAILURES_PER_IP + [429],
          f"failed logins from 127.0.0.2 with forged X-Forwarded-For: expected {FAILURES_PER_IP} × 401 then 429, got {statuses}")
    other = gateway("POST", "/login", body={"username": "nobody-else", "password": "wrong password"}, source="127.0.0.3")
    check(other.status == 401, f"127.0.0.3 should have its own budget, got {other}")
    say(f"client addresses: {FAILURES_PER_IP} failed logins from 127.0.0.2 under 6 forged X-Forwarded-For values → "
        f"{statuses[-1]} on the next; 127.0.0.3 still gets {other.status}")


def check_origin(gateway, name, password):
    """Through nginx, identity's cookie endpoints take a browser request from the gateway's own origin (nginx forwards
    the Host with its port as X-Forwarded-Host) and refuse one from another origin with 403 origin_not_allowed."""
    own = f"http://127.0.0.1:{gateway.port}"
    same = gateway("POST", "/login", body={"username": name, "password": password},
                   headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    check(same.status == 200, f"a login from the gateway's own origin {own}: {same}")
    evil = gateway("POST", "/login", body={"username": name, "password": password},
                   headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    check(evil.status == 403 and evil.json.get("code") == "origin_not_allowed", f"a login from another origin: {evil}")
    say(f"origin: a login from {own} → {same.status}, from https://evil.example → {evil.status} {evil.json.get('code')}")


def check_database_outage(gateway, postgres, services, access):
    """PostgreSQL crashes (pg_ctl stop -m immediate) under load and comes back after OUTAGE seconds. While it is away,
    requests that need it are answered 503 with Retry-After within about a second, never 500 and never a hang; a
    forged token is still 401; every process stays up; once it is back every replica serves again, and every
    acknowledged write is there."""
    stop = threading.Event()
    lock = threading.Lock()
    answers = []  # (phase, what, status, seconds, retry_after)
    phase = ["before"]
    written = []

    def worker(what, request):
        while not stop.is_set():
            started = time.monotonic()
            answer = request()
            elapsed = time.monotonic() - started
            with lock:
                answers.append((phase[0], what, answer.status, elapsed, answer.headers.get("retry-after")))
                if what == "write" and answer.status == 201:
                    written.append(answer.json["id"])
            time.sleep(0.02)

    workers = [
        threading.Thread(target=worker, args=("read", lambda: gateway("GET", "/notes?limit=5", token=access)), daemon=True),
        threading.Thread(target=worker, args=("write", lambda: gateway("POST", "/notes", body={"title": "outage", "body": "x"},
                                                                     token=access)), daemon=True),
        threading.Thread(target=worker, args=("me", lambda: gateway("GET", "/me", token=access)), daemon=True),
    ]
    for thread in workers:
        thread.start()
    time.sleep(1)
    postgres.crash()
    crashed = time.monotonic()
    with lock:
        phase[0] = "outage"
    forged = gateway("GET", "/notes", token=access[:-4] + "AAAA")
    time.sleep(OUTAGE)
    postgres.restart()
    restarted = time.monotonic()
    with lock:
        phase[0] = "after"
    recovered = None
    while time.monotonic() - restarted < 30:
        if gateway("GET", "/notes?limit=1", token=access).status == 200 and gateway("GET", "/me", token=access).status == 200:
            recovered = time.monotonic() - restarted
            break
        time.sleep(0.1)
    time.sleep(1)
    stop.set()
    for thread in workers:
        thread.join(timeout=30)

    outage = [a for a in answers if a[0] == "outage"]
    refused = [a for a in outage if a[2] == 503]
    check(forged.status == 401, f"a forged token during the outage: {forged}")
    check(all(a[2] in (200, 201, 503) for a in answers), f"answers other than 200/201/503: "
          f"{sorted({(a[1], a[2]) for a in answers if a[2] not in (200, 201, 503)})}")
    check(refused and all(a[4] for a in refused), "503s during the outage must carry Retry-After")
    slowest = max(a[3] for a in outage) if outage else 0
    # nginx tries up to 3 replicas for a GET: each waits at most the acquire timeout (1 s) for a connection.
    check(slowest < 5, f"the slowest answer during the outage took {slowest:.2f} s")
    check(recovered is not None, "the replicas did not serve again within 30 s of PostgreSQL's restart")
    for service in services:
        check(service.process.poll() is None, f"{service.label} exited during the outage")
    missing = [note for note in written if gateway("GET", f"/notes/{note}", token=access).status != 200]
    check(not missing, f"{len(missing)} acknowledged notes are gone: {missing[:5]}")
    first_refusal = min((a[3] for a in refused), default=0)
    say(f"database outage: PostgreSQL crashed for {OUTAGE} s under load; {len(outage)} answers during it: "
        f"{len(refused)} × 503 with Retry-After (slowest {slowest:.2f} s, fastest {first_refusal:.3f} s), "
        f"{len(outage) - len(refused)} served before the crash was noticed, 0 × 500; forged token 401; every replica "
        f"serving again {recovered:.2f} s after the restart; {len(written)} acknowledged writes all present")


def check_replica_loss(gateway, notes, access):
    known = []
    for index in range(20):
        answer = gateway("POST", "/notes", body={"title": f"load {index}", "body": "x" * 200}, token=access)
        check(answer.status == 201, f"seeding notes: {answer}")
        known.append(answer.json["id"])
    victim = notes[1]
    labels = {service.address: service.label for service in notes}
    stop = threading.Event()
    lock = threading.Lock()
    figures = {"reads": 0, "read_failures": [], "retried": 0, "writes": 0, "acknowledged": {}, "write_failures": [],
               "by_replica": {}, "victim_back": None}

    def reader(seed):
        generator = random.Random(seed)
        while not stop.is_set():
            path = f"/notes/{generator.choice(known)}" if generator.random() < 0.7 else "/notes?limit=5"
            try:
                answer = gateway("GET", path, token=access, timeout=15)
                outcome = answer.status
            except (OSError, http.client.HTTPException) as error:
                answer, outcome = None, f"{type(error).__name__}"
            with lock:
                figures["reads"] += 1
                if outcome != 200:
                    figures["read_failures"].append((path, outcome))
                if answer is not None:
                    if "," in answer.upstream:
                        figures["retried"] += 1
                    figures["by_replica"][answer.replica] = figures["by_replica"].get(answer.replica, 0) + 1
                    if answer.replica == victim.address and figures["victim_back"] is None and restarted_at[0] is not None:
                        figures["victim_back"] = time.monotonic()

    def writer():
        index = 0
        while not stop.is_set():
            index += 1
            title = f"written under load {index}"
            try:
                answer = gateway("POST", "/notes", body={"title": title}, token=access, timeout=15)
                outcome = answer.status
            except (OSError, http.client.HTTPException) as error:
                answer, outcome = None, type(error).__name__
            with lock:
                figures["writes"] += 1
                if outcome == 201:
                    figures["acknowledged"][answer.json["id"]] = title
                else:
                    figures["write_failures"].append(outcome)
            time.sleep(0.01)

    restarted_at = [None]
    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        killed = time.monotonic()
        victim.process.kill()
        victim.process.wait()
        kill_time = time.monotonic() - killed
        time.sleep(2)
        restarted = time.monotonic()
        for attempt in range(5):
            # Same port, as a replaced container keeps its name: a bind refused while the old socket lets go is retried.
            victim.start()
            try:
                victim.wait_ready()
                break
            except Failure:
                if attempt == 4 or victim.process.poll() is None:
                    raise
                time.sleep(0.5)
        ready = time.monotonic() - restarted
        restarted_at[0] = time.monotonic()
        # nginx sends a failed replica no traffic for fail_timeout (10 s, compose's default too), then tries it again.
        back = wait_until(lambda: figures["victim_back"] is not None, 15)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    check(back is not None, f"the restarted {victim.label} got no traffic through the gateway within 15 s of being ready")
    check(not figures["read_failures"], f"idempotent requests lost while {victim.label} was killed: "
          f"{len(figures['read_failures'])} of {figures['reads']}, e.g. {figures['read_failures'][:5]}")
    check(figures["retried"] > 0, "no request was retried on another replica: was the replica really killed under load?")
    # Every acknowledged write is there, read back through the gateway (any replica).
    for note_id, title in figures["acknowledged"].items():
        answer = gateway("GET", f"/notes/{note_id}", token=access)
        check(answer.status == 200 and answer.json.get("title") == title, f"acknowledged note {note_id} lost: {answer}")
    check(all(f in (502, 503) for f in figures["write_failures"]),
          f"writes that failed while a replica died must fail cleanly (502/503 problem), got {figures['write_failures']}")
    say(f"replica loss: kill -9 of {victim.label} under load (4 readers, 1 writer): {figures['reads']} idempotent "
        f"requests, 0 failed, {figures['retried']} retried on another replica; {figures['writes']} writes, "
        f"{len(figures['acknowledged'])} acknowledged and all present, {len(figures['write_failures'])} refused "
        f"{figures['write_failures']}; killed in {kill_time * 1000:.0f} ms, down 2 s, ready {ready:.2f} s after restart, "
        f"back in the gateway's rotation {back:.2f} s after that; answers by replica "
        f"{ {labels.get(address, address): count for address, count in sorted(figures['by_replica'].items())} }")


def check_all_replicas_down(gateway, notes, access):
    """With every notes replica gone the gateway answers for them, and identity is unaffected."""
    for service in notes:
        service.process.kill()
        service.process.wait()
    answer = gateway("GET", "/notes", token=access)
    check(answer.status == 502 and answer.headers.get("content-type") == "application/problem+json"
          and answer.json.get("code") == "bad_gateway" and answer.headers.get("retry-after") == "1",
          f"GET /notes with no notes replica: expected the gateway's 502 bad_gateway problem, got {answer} {answer.headers}")
    me = gateway("GET", "/me", token=access)
    check(me.status == 200, f"identity through the gateway while notes is down: {me}")
    say("outage: with all notes replicas killed, /notes is the gateway's 502 bad_gateway problem (Retry-After: 1); /me still 200")


def check_no_local_files(services):
    # Compose runs the services on a read-only root file system: with PostgreSQL they must write nothing locally.
    for service in services:
        written = sorted(os.listdir(service.directory))
        check(not written, f"{service.label} wrote {written} in its working directory: not all of its state is in PostgreSQL")
    say(f"files: none of the {len(services)} replicas wrote a file (all state in PostgreSQL; read-only root is fine)")


# ---------------------------------------------------------------------------------------------------------------------


def main():
    started = time.monotonic()
    if AS_ROOT:
        os.chmod(WORK, 0o755)  # the postgres server user and nginx's workers look inside
    keys_dir = os.path.join(WORK, "keys")
    run([os.path.join(BIN, "authctl"), "init", "--compose", "--keys-dir", keys_dir])
    modes = {name: os.stat(os.path.join(keys_dir, name)).st_mode & 0o777 for name in sorted(os.listdir(keys_dir))}
    check(os.stat(keys_dir).st_mode & 0o777 == 0o700 and set(modes.values()) == {0o644} and "postgres.password" in modes,
          f"authctl init --compose: expected 0644 files in a 0700 directory, got {oct(os.stat(keys_dir).st_mode & 0o777)} {modes}")
    password_file = os.path.join(keys_dir, "postgres.password")

    with open(password_file) as f:
        postgres = stacklib.PostgresCluster(os.path.join(WORK, "pg"), f.read().strip(), init_sql=INIT_SQL)
    postgres.start()
    cleanups.append(postgres.stop)

    def database(prefix, name):
        return {f"{prefix}_DATABASE_URL": postgres.url(name), f"{prefix}_DATABASE_PASSWORD_FILE": password_file}

    keys = Service("keys", "key-service", "KEYS", dict(database("KEYS", "keys"), KEYS_SECRETS_DIR=keys_dir))
    keys.start()
    keys.wait_ready()
    keys_url = f"http://{keys.address}"
    identities = [Service(f"identity-{i}", "identity-service", "IDENTITY", dict(
        database("IDENTITY", "identity"), IDENTITY_KEYS_URL=keys_url,
        IDENTITY_KEYS_TOKEN_FILE=os.path.join(keys_dir, "identity.token"), IDENTITY_TRUSTED_PROXIES=TRUSTED_PROXIES,
        IDENTITY_SCRYPT_LOG_N=12, IDENTITY_REFRESH_GRACE=GRACE, IDENTITY_LOGIN_FAILURES_PER_IP=FAILURES_PER_IP,
        IDENTITY_SIGNUPS_PER_IP_PER_MINUTE=100000, IDENTITY_REFRESHES_PER_IP_PER_MINUTE=100000)) for i in (1, 2)]
    notes = [Service(f"notes-{i}", "notes-service", "NOTES", dict(
        database("NOTES", "notes"), NOTES_KEYS_URL=keys_url,
        NOTES_KEYS_TOKEN_FILE=os.path.join(keys_dir, "notes.token"))) for i in (1, 2, 3)]
    for service in identities + notes:
        service.start()
    for service in identities + notes:
        service.wait_ready()
    gateway = Gateway(identities, notes)
    gateway.start()
    say(f"up in {time.monotonic() - started:.1f} s: PostgreSQL :{postgres.port}, keys :{keys.port}, identity "
        f"{', '.join(':' + str(s.port) for s in identities)}, notes {', '.join(':' + str(s.port) for s in notes)}, "
        f"gateway :{gateway.port} (nginx, services/gateway/routes.conf)")

    check_routing(gateway, keys, keys_dir)
    name, password = check_refresh_across_replicas(gateway, identities)
    access = login(gateway, name, password).json["access_token"]
    check_notes_across_replicas(gateway, notes, access)
    check_key_propagation(gateway, keys, identities, notes, keys_dir, name, password)
    check_client_addresses(gateway)
    check_origin(gateway, name, password)
    access = login(gateway, name, password).json["access_token"]
    check_replica_loss(gateway, notes, access)
    check_database_outage(gateway, postgres, [keys] + identities + notes, access)
    check_no_local_files([keys] + identities + notes)
    check_all_replicas_down(gateway, notes, access)
    say(f"PASS in {time.monotonic() - started:.1f} s")


def on_signal(number, _frame):
    raise Failure(f"stopped by signal {number}")


def on_alarm(_number, _frame):
    raise Failure(f"not finished within {TIME_LIMIT} s")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    if not os.access(os.path.join(BIN, "authctl"), os.X_OK):
        print(f"scaled-topology: no authctl in {BIN} (build first: swift build)", file=sys.stderr)
        sys.exit(2)
    failed = True
    try:
        main()
        failed = False
    except Failure as failure:
        say(f"FAIL: {failure}")
    finally:
        signal.alarm(0)
        stop_everything()
        if failed:
            say(f"logs kept in {WORK}")
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if failed else 0)
