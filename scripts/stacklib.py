#!/usr/bin/env python3
"""What the AuthStack test, drill and benchmark scripts share (issue 16): free loopback ports, HTTP calls, JWT
parsing, and starting, waiting for and stopping the stack — `authctl up` whole, or its services one by one.

The Python scripts import it (a script in scripts/ has this folder on its path; Benchmarks/ adds it):

    sys.dont_write_bytecode = True   # no scripts/__pycache__ in the work tree
    import stacklib

The bash scripts (e2e.sh, check-openapi.sh) run it:

    python3 scripts/stacklib.py free-ports N              N distinct free loopback ports, on one line
    python3 scripts/stacklib.py wait-up LOG PID [SECONDS] returns once `authctl up` (process PID, writing LOG) says it
                                                          is up; exits 1 saying why if PID ends first or SECONDS
                                                          (default 120) pass
    python3 scripts/stacklib.py kid TOKEN                 the kid in a JWT's header

What is here, and who uses it:
  free_ports, free_port                       every script that starts something on loopback
  call → Answer                               one HTTP request, JSON in and out (scaled-topology, fault-drills,
                                              browser-test, Benchmarks/run.py and peers.py)
  b64url_*, jwt_header, jwt_claims, kid_of    token parsing (and the benchmark's forged tokens)
  AuthctlUp                                   `authctl up` on free ports in a temp directory (browser-test; the bash
                                              scripts start it themselves and wait with `wait-up`)
  Services                                    the three services without authctl up, each on its own, on SQLite
                                              or PostgreSQL (fault-drills, Benchmarks/run.py and soak.py)
  PostgresCluster, tool, run_tool             a throwaway PostgreSQL server on loopback (scaled-topology,
                                              Benchmarks/soak.py); a program found or its Debian package named
  wait_ready, stop_processes, tail_of         a process until /readyz answers 200; SIGTERM, bounded wait, SIGKILL;
                                              the end of its log
  Failure, check                              the first broken promise ends a script

Standard library only: it runs under Debian's python3 and inside the scripts' virtualenvs. Loopback only.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
UP_LINE = "AuthStack is up"   # what `authctl up` prints once every service is ready


class Failure(Exception):
    """A broken promise, or something a script started that did not start: the script reports it and exits 1."""


def check(condition, message):
    if not condition:
        raise Failure(message)


# MARK: Ports


def free_ports(count):
    """`count` distinct loopback ports that nothing listens on now (held together while chosen: none comes twice)."""
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.socket())
            sockets[-1].bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port():
    return free_ports(1)[0]


# MARK: HTTP


class Answer:
    """An HTTP answer: `status`, `headers` (names lower-cased), `raw` (the body's bytes)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    @property
    def json(self):
        """The body as JSON; {} when it is empty or not JSON (a check on a field then fails, saying what came)."""
        try:
            return self.document()
        except ValueError:
            return {}

    def document(self):
        """The body as JSON ({} when empty); ValueError when it is not JSON."""
        return json.loads(self.raw) if self.raw else {}

    def __repr__(self):
        return f"{self.status} {self.raw[:160]!r}"


def call(port, method, path, body=None, token=None, headers=None, source=None, timeout=10, raw_body=None):
    """One request to 127.0.0.1:`port` on a connection of its own. `body` goes as JSON, `raw_body` as it is (both with
    Content-Type: application/json unless `headers` name one); `token` as a bearer token; `source` is the local
    address to send from (another loopback address). Raises OSError or http.client.HTTPException when nothing
    answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout, source_address=(source, 0) if source else None)
    sent = dict(headers or {})
    data = json.dumps(body).encode() if body is not None else raw_body
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# MARK: Tokens


def b64url_encode(data):
    """Unpadded base64url, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    """Bytes of unpadded (or padded) base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_header(token):
    return json.loads(b64url_decode(token.split(".")[0]))


def jwt_claims(token):
    return json.loads(b64url_decode(token.split(".")[1]))


def kid_of(token):
    return jwt_header(token)["kid"]


def read_token(keys_dir, role):
    """A client token that `authctl init` wrote: keys/<role>.token (admin, identity, notes)."""
    with open(os.path.join(keys_dir, f"{role}.token")) as file:
        return file.read().strip()


# MARK: Processes


def stop_processes(processes, grace=10):
    """SIGTERM to every one of `processes` (Popen) still running, in the order given; then each has `grace` seconds
    to exit before SIGKILL."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(port, process, limit=60, path="/readyz", poll=0.05):
    """Seconds until GET `path` on `port` answers 200, asked every `poll` s while `process` runs. Failure when the
    process exits first, or after `limit` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if call(port, "GET", path, timeout=2).status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        if process.poll() is not None:
            raise Failure(f"exited during start-up ({process.returncode})")
        time.sleep(poll)
    raise Failure(f"not ready within {limit} s")


def wait_until_up(log_path, running, seconds=120, poll=0.2):
    """Returns once `authctl up` has written that it is up to `log_path`. Failure when `running()` turns false first,
    or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with open(log_path, errors="replace") as log:
                if UP_LINE in log.read():
                    return
        except FileNotFoundError:
            pass
        if not running():
            raise Failure("authctl up exited during start-up")
        if time.monotonic() >= deadline:
            raise Failure(f"the stack was not up within {seconds} s")
        time.sleep(poll)


def tail_of(path, lines=30):
    """The last `lines` lines of a log file ("" when it cannot be read): what a failing script prints of a process."""
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""


def pid_running(pid):
    """Whether process `pid` exists and has not exited (a zombie not yet reaped by its parent has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill -0 is all there is


# MARK: Tools and PostgreSQL


def tool(name, candidates=(), package=None):
    """The path of program `name`: the first executable of `candidates`, else the one on PATH. Failure naming the
    Debian package (`package`, default `name`; postgresql for its server programs) when there is none."""
    for path in list(candidates) + [shutil.which(name)]:
        if path and os.access(path, os.X_OK):
            return path
    package = package or ("postgresql" if name in ("initdb", "pg_ctl", "psql") else name)
    raise Failure(f"{name} not found (Debian: apt-get install -y {package})")


def run_tool(arguments, **options):
    """Runs a tool to its end; Failure with the end of its output when it fails."""
    result = subprocess.run(arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **options)
    if result.returncode != 0:
        raise Failure(f"{' '.join(arguments[:4])} … failed ({result.returncode}): {result.stdout.strip()[-1500:]}")
    return result.stdout


class PostgresCluster:
    """A throwaway PostgreSQL server from Debian's packages on a free loopback port, its files in `directory` (made
    here; its parent must be searchable by the `postgres` user when run as root, since PostgreSQL refuses to run as
    root). Role `authstack` with `password` (scram-sha-256) is its superuser; `init_sql`, if given, is run once
    after the first start (services/postgres/init-databases.sql: the identity, notes and keys databases).
    The scaled topology crashes and restarts it; the soak benchmark measures the services on it. The caller stops it."""

    def __init__(self, directory, password, init_sql=None, max_connections=200):
        versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True) \
            if os.path.isdir("/usr/lib/postgresql") else []
        bins = [f"/usr/lib/postgresql/{v}/bin" for v in versions]
        self.initdb = tool("initdb", [f"{b}/initdb" for b in bins])
        self.pg_ctl = tool("pg_ctl", [f"{b}/pg_ctl" for b in bins])
        self.psql = tool("psql", [f"{b}/psql" for b in bins])
        self.directory = directory
        self.password = password
        self.init_sql = init_sql
        self.max_connections = max_connections
        os.mkdir(self.directory, 0o700)
        with open(os.open(f"{self.directory}/pwfile", os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.password + "\n")
        self.as_server = []
        if os.geteuid() == 0:
            self.as_server = [tool("runuser", ["/usr/sbin/runuser", "/sbin/runuser"], package="util-linux"),
                              "-u", "postgres", "--"]
            run_tool(["chown", "-R", "postgres:postgres", self.directory])
        self.port = None
        self.options = None

    def start(self):
        run_tool(self.as_server + [self.initdb, "-D", f"{self.directory}/data", "-U", "authstack",
                                   f"--pwfile={self.directory}/pwfile", "-A", "scram-sha-256", "-E", "UTF8", "--locale=C",
                                   "--no-sync"])
        for attempt in range(3):
            port = free_port()
            # fsync off: the machine does not crash, only the server (the scaled topology's outage), and what it wrote
            # is in the OS's cache. Commits stay synchronous, as in production, so an acknowledged write survives.
            options = (f"-k {self.directory} -p {port} -c listen_addresses={HOST} "
                       f"-c max_connections={self.max_connections} -c fsync=off -c full_page_writes=off")
            result = subprocess.run(self.as_server + [self.pg_ctl, "-D", f"{self.directory}/data", "-o", options,
                                                      "-l", f"{self.directory}/server.log", "-w", "-t", "30", "start"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if result.returncode == 0:
                self.port, self.options = port, options
                break
            if attempt == 2:
                raise Failure(f"pg_ctl start failed: {result.stdout[-800:]}; {self.tail()}")
        if self.init_sql:
            self.sql_file(self.init_sql)

    def sql_file(self, path, database="postgres"):
        run_tool([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.port), "-U", "authstack",
                  "-d", database, "-f", path], env=dict(os.environ, PGPASSWORD=self.password))

    def url(self, database):
        """The database's URL without the password: the services read it from <PREFIX>_DATABASE_PASSWORD_FILE,
        as in the containers."""
        return f"postgres://authstack@{HOST}:{self.port}/{database}?sslmode=disable"

    def stop(self):
        if self.port is not None:
            subprocess.run(self.as_server + [self.pg_ctl, "-D", f"{self.directory}/data", "-m", "fast", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def crash(self):
        """What a crash or a failover looks like to the services: every backend gone at once, no goodbye."""
        run_tool(self.as_server + [self.pg_ctl, "-D", f"{self.directory}/data", "-m", "immediate", "stop"])

    def restart(self):
        run_tool(self.as_server + [self.pg_ctl, "-D", f"{self.directory}/data", "-o", self.options,
                                   "-l", f"{self.directory}/server.log", "-w", "-t", "30", "start"])

    def tail(self):
        try:
            with open(f"{self.directory}/server.log", errors="replace") as log:
                return log.read()[-800:]
        except OSError:
            return ""


# MARK: The stack


class AuthctlUp:
    """`authctl up` — the three services and the gateway — on free loopback ports, with fresh secrets and data in a
    temporary directory of its own, stopped by its PID. `start()` then `wait_until_up()`, or as a context manager:
    up on entry, stopped and removed on exit.

    `arguments` go to `authctl up` besides the directories and ports; `environment` adds variables (IDENTITY_…);
    `cwd` is where it runs (authctl finds web/ in the repository root)."""

    NAMES = ("identity", "notes", "keys", "gateway")

    def __init__(self, bin_dir, arguments=(), environment=None, cwd=None, prefix="authstack-up-"):
        self.bin_dir = os.path.abspath(bin_dir)
        self.arguments = list(arguments)
        self.environment = {k: str(v) for k, v in (environment or {}).items()}
        self.cwd = cwd
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.keys_dir = os.path.join(self.work, "keys")
        self.data_dir = os.path.join(self.work, "data")
        self.log_path = os.path.join(self.work, "up.log")
        self.ports = dict(zip(self.NAMES, free_ports(len(self.NAMES))))
        self.urls = {name: f"http://{HOST}:{port}" for name, port in self.ports.items()}
        self.process = None

    def start(self):
        command = [os.path.join(self.bin_dir, "authctl"), "up", "--bin-dir", self.bin_dir, *self.arguments,
                   "--keys-dir", self.keys_dir, "--data-dir", self.data_dir]
        for name, port in self.ports.items():
            command += [f"--{name}-port", str(port)]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=self.cwd, env={**os.environ, **self.environment}, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_until_up(self, seconds=120, poll=0.2):
        wait_until_up(self.log_path, lambda: self.process.poll() is None, seconds, poll)

    def token(self, role="admin"):
        return read_token(self.keys_dir, role)

    def tail(self, lines=30):
        return tail_of(self.log_path, lines)

    def stop(self, grace=15):
        """SIGTERM, then SIGKILL after `grace` seconds. The exit status (None if it was never started)."""
        if self.process is None:
            return None
        stop_processes([self.process], grace)
        return self.process.returncode

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        try:
            self.start()
            self.wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        self.stop()
        self.remove()


class Services:
    """The key, identity and notes services as processes of their own, not under `authctl up`: each on a free port and
    a SQLite file in `work`, with the secrets of `authctl init` in `work`/keys — for drills and benchmarks that stop,
    kill or measure one service at a time. `environment` adds variables for all three (LOG_LEVEL is warning unless
    it says otherwise); `timeout` is `call`'s default. `start` raises Failure naming the service and its log.

    With `postgres` (a started PostgresCluster whose databases are services/postgres/init-databases.sql's) and
    `password_file` (its password, alone in a file), each service uses its database on that server instead of a
    SQLite file, the password read from `password_file` by the services themselves, as in the containers."""

    BINARIES = {"keys": "key-service", "identity": "identity-service", "notes": "notes-service"}
    PREFIXES = {"keys": "KEYS", "identity": "IDENTITY", "notes": "NOTES"}

    def __init__(self, bin_dir, work, timeout=10, postgres=None, password_file=None, **environment):
        self.bin_dir = os.path.abspath(bin_dir)
        self.work = work
        self.timeout = timeout
        self.postgres = postgres
        self.password_file = password_file
        self.keys_dir = os.path.join(work, "keys")
        self.common = {"LOG_LEVEL": "warning", **{k: str(v) for k, v in environment.items()}}
        self.ports = dict(zip(self.BINARIES, free_ports(len(self.BINARIES))))
        self.processes = {}   # name -> Popen, the latest start of each
        self.ready = {}       # name -> seconds from its latest start to /readyz 200

    def init(self):
        """`authctl init`: the master key and the client tokens, in keys_dir."""
        subprocess.run([os.path.join(self.bin_dir, "authctl"), "init", "--keys-dir", self.keys_dir], check=True,
                       stdout=subprocess.DEVNULL)

    def url(self, name):
        return f"http://{HOST}:{self.ports[name]}"

    def environment(self, name):
        w, keys = self.work, self.url("keys")
        own = {
            "keys": {"KEYS_PORT": self.ports["keys"], "KEYS_DATABASE_PATH": f"{w}/keys.sqlite", "KEYS_SECRETS_DIR": self.keys_dir},
            "identity": {"IDENTITY_PORT": self.ports["identity"], "IDENTITY_DATABASE_PATH": f"{w}/identity.sqlite",
                         "IDENTITY_KEYS_URL": keys, "IDENTITY_KEYS_TOKEN_FILE": f"{self.keys_dir}/identity.token"},
            "notes": {"NOTES_PORT": self.ports["notes"], "NOTES_DATABASE_PATH": f"{w}/notes.sqlite",
                      "NOTES_KEYS_URL": keys, "NOTES_KEYS_TOKEN_FILE": f"{self.keys_dir}/notes.token"},
        }[name]
        if self.postgres is not None:
            prefix = self.PREFIXES[name]
            del own[f"{prefix}_DATABASE_PATH"]
            own[f"{prefix}_DATABASE_URL"] = self.postgres.url(name)
            own[f"{prefix}_DATABASE_PASSWORD_FILE"] = self.password_file
        return {**os.environ, **self.common, **{k: str(v) for k, v in own.items()}}

    def start(self, name, limit=60, poll=0.05):
        """Starts service `name` (again: same port and database) and returns the seconds until /readyz said 200."""
        log_path = os.path.join(self.work, f"{name}.log")
        started = time.monotonic()
        with open(log_path, "ab") as log:
            binary = os.path.join(self.bin_dir, self.BINARIES[name])
            process = subprocess.Popen([binary], env=self.environment(name),
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.processes[name] = process
        try:
            wait_ready(self.ports[name], process, limit, poll=poll)
        except Failure as failure:
            raise Failure(f"{name} {failure}; see {log_path}") from None
        self.ready[name] = time.monotonic() - started
        return self.ready[name]

    def call(self, name, method, path, **options):
        return call(self.ports[name], method, path, **{"timeout": self.timeout, **options})

    def pid(self, name):
        return self.processes[name].pid

    def stop(self):
        stop_processes(self.processes.values())


# MARK: For bash


def main(arguments):
    usage = ("usage: stacklib.py free-ports N | wait-up LOG PID [SECONDS] | kid TOKEN\n"
             "(see the docstring of scripts/stacklib.py)")
    command, rest = (arguments[0], arguments[1:]) if arguments else (None, [])
    if command == "free-ports" and len(rest) == 1:
        print(" ".join(str(port) for port in free_ports(int(rest[0]))))
    elif command == "wait-up" and len(rest) in (2, 3):
        pid = int(rest[1])
        try:
            wait_until_up(rest[0], lambda: pid_running(pid), int(rest[2]) if len(rest) == 3 else 120)
        except Failure as failure:
            print(f"stacklib: {failure}", file=sys.stderr)
            return 1
    elif command == "kid" and len(rest) == 1:
        print(kid_of(rest[0]))
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
