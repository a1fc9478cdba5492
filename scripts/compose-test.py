#!/usr/bin/env python3
"""`docker compose up` for real (issue 20): the repository's compose.yaml (with compose.tls.yaml) on a real Docker
engine, from nothing to a scaled, drilled, broken and restarted stack. Run through scripts/compose-test.sh, which
provides the engine, the Compose v2 binary and the images' base; on its own:

    scripts/compose-test.py --compose PATH [--project NAME] [--figures FILE] [--keep]

Phases, each failing the test with what it saw:

  build      `docker compose build` (the images as compose.yaml builds them; figure: seconds)
  up         `docker compose up -d` from nothing: the secrets service writes every secret and exits 0, every service
             becomes healthy (figure: seconds from `up` to the gateway answering /healthz with all services healthy)
  walk       the README's curl walk-through through the published gateway port: signup, login (cookie), /me, refresh
             by cookie and by body, notes created, listed, read, edited, deleted, logout
  tls        HTTPS on the published TLS port with certificate verification against the generated CA (curl
             --cacert); without the CA curl refuses; the refresh cookie is Secure and HttpOnly there
  scale      --scale identity=2 --scale notes=3: every replica healthy; the gateway's log shows reads spread over all
             notes replicas and a chain of refreshes (each using the previous one's token) over both identity replicas
  hashing    3 rounds of 8 concurrent signups (scrypt at its concurrency limit): all 201, no container killed
  drill      `authctl drill --rotations 2 --revoke` from a container on the backend network (exit 0: no valid request
             failed; its propagation figures)
  import     `authctl users import` of a bcrypt export from a container; the user logs in through the gateway
  kill       under a load of idempotent requests through the gateway, `docker kill` one notes replica, then one
             identity replica (figure: requests and failures in each; the bound is 0 failed)
  restart    `docker compose down` and `up` again: the user logs in, the note is there, the keyring holds the same
             keys, and the secrets service wrote nothing
  down       `docker compose down -v`: no container, network or volume of the project is left

Throughout, `docker stats` is sampled every few seconds: the peak memory of each service is a figure (what the
limits in compose.yaml are sized from).

Host traffic goes to 127.0.0.1 published ports only; containers talk over the networks compose made for this
project. Every wait is bounded. The project is taken down with its volumes at the end, also on failure (--keep
leaves it up for a look).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stacklib import Failure, call, check, free_ports  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "correct horse battery staple"


def say(message):
    print(f"compose-test: {message}", flush=True)


class Compose:
    """The Compose v2 binary on this project's files, with its own project name and ports."""

    def __init__(self, binary, project, environment):
        self.binary = binary
        self.project = project
        self.environment = environment
        self.files = ["-f", os.path.join(ROOT, "compose.yaml"), "-f", os.path.join(ROOT, "compose.tls.yaml")]

    def run(self, *arguments, timeout=600, check_status=True, capture=True):
        command = [self.binary, "-p", self.project, *self.files, *arguments]
        try:
            result = subprocess.run(command, cwd=ROOT, env=self.environment, timeout=timeout, text=True,
                                    stdout=subprocess.PIPE if capture else None,
                                    stderr=subprocess.STDOUT if capture else None)
        except subprocess.TimeoutExpired:
            raise Failure(f"`docker compose {' '.join(arguments)}` took over {timeout} s") from None
        if check_status and result.returncode != 0:
            output = (result.stdout or "")[-3000:]
            raise Failure(f"`docker compose {' '.join(arguments)}` exited {result.returncode}:\n{output}")
        return result

    def containers(self, service, everything=False):
        """[(name, state, health, exit code)] of `service`'s containers, by replica number."""
        arguments = ["ps", "--format", "json"] + (["-a"] if everything else []) + [service]
        output = self.run(*arguments, timeout=60).stdout.strip()
        rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        if len(rows) == 1 and isinstance(rows[0], list):
            rows = rows[0]
        rows.sort(key=lambda row: row.get("Name", ""))
        return [(row.get("Name"), row.get("State"), row.get("Health", ""), row.get("ExitCode")) for row in rows]

    def logs(self, service):
        return self.run("logs", "--no-color", "--no-log-prefix", service, timeout=60).stdout


def docker(*arguments, timeout=120):
    result = subprocess.run(["docker", *arguments], timeout=timeout, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise Failure(f"`docker {' '.join(arguments)}` exited {result.returncode}: {result.stdout[-800:]}")
    return result.stdout


def curl(url, *arguments, expect=None):
    """One request with curl: (status, headers text, body). `expect`: the status it must have."""
    result = subprocess.run(["curl", "-sS", "--max-time", "15", "-D", "-", "-o", "-", *arguments, url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if result.returncode != 0:
        raise Failure(f"curl {url} exited {result.returncode}: {result.stderr.decode(errors='replace').strip()}")
    # Bytes, decoded here: text mode would turn the CRLFs that separate the head from the body into LFs.
    head, _, body = result.stdout.decode(errors="replace").partition("\r\n\r\n")
    while re.match(r"HTTP/\S+ 100", head):  # a 100 Continue before the answer
        head, _, body = body.partition("\r\n\r\n")
    status = int(head.split()[1])
    if expect is not None:
        check(status == expect, f"{url} {' '.join(a for a in arguments if not a.startswith('Authorization'))}: "
                                f"{status}, expected {expect}: {body[:300]}")
    return status, head, body


def json_body(method, payload=None, token=None):
    arguments = ["-X", method]
    if payload is not None:
        arguments += ["-H", "Content-Type: application/json", "--data", json.dumps(payload)]
    if token is not None:
        arguments += ["-H", f"Authorization: Bearer {token}"]
    return arguments


def wait_for(description, condition, seconds, poll=1.0):
    """Polls `condition` (a truthy answer ends the wait) for at most `seconds`; returns the seconds it took."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < seconds:
        try:
            if condition():
                return time.monotonic() - started
        except (Failure, OSError) as error:
            last = error
        time.sleep(poll)
    raise Failure(f"{description}: not within {seconds} s" + (f" (last: {last})" if last else ""))


class Test:
    def __init__(self, compose, http_port, https_port, work):
        self.compose = compose
        self.http_port = http_port
        self.https_port = https_port
        self.work = work
        self.figures = {}
        self.base = f"http://127.0.0.1:{http_port}"
        self.user = f"ada_{os.getpid()}"
        self.note_id = None

    # MARK: Phases

    def build(self):
        started = time.monotonic()
        self.compose.run("build", timeout=3600, capture=False)
        self.figures["build_seconds"] = round(time.monotonic() - started, 1)
        say(f"build: {self.figures['build_seconds']} s")

    def up(self):
        started = time.monotonic()
        self.compose.run("up", "-d", timeout=600)
        self.wait_healthy({"identity": 1, "notes": 1, "keys": 1, "postgres": 1, "gateway": 1}, 300)
        self.figures["up_seconds"] = round(time.monotonic() - started, 1)
        secrets = self.compose.containers("secrets", everything=True)
        check(len(secrets) == 1 and secrets[0][1] == "exited" and secrets[0][3] == 0, f"the secrets service: {secrets}")
        written = self.compose.logs("secrets")
        for name in ("master.key", "identity.token", "notes.token", "admin.token", "postgres.password", "tls.crt"):
            check(name in written, f"the secrets service did not write {name}: {written}")
        say(f"up: every service healthy {self.figures['up_seconds']} s after `docker compose up` (first start)")

    def wait_healthy(self, replicas, seconds):
        def healthy():
            for service, count in replicas.items():
                rows = [row for row in self.compose.containers(service) if row[1] == "running"]
                if len(rows) != count or any(row[2] not in ("healthy", "") for row in rows):
                    return False
                if service != "gateway" and any(row[2] != "healthy" for row in rows):
                    return False
            return call(self.http_port, "GET", "/healthz", timeout=5).status == 200
        wait_for(f"every service healthy ({replicas})", healthy, seconds)

    def walk(self):
        base = self.base
        cookies = os.path.join(self.work, "cookies.txt")
        credentials = {"username": self.user, "password": PASSWORD}
        _, _, body = curl(f"{base}/signup", *json_body("POST", credentials), expect=201)
        check("access_token" in json.loads(body), f"signup: {body[:200]}")
        _, head, body = curl(f"{base}/login", "-c", cookies, *json_body("POST", credentials), expect=200)
        login = json.loads(body)
        check("refresh_token=" in head, "login set no refresh cookie")
        access = login["access_token"]
        _, _, body = curl(f"{base}/me", *json_body("GET", token=access), expect=200)
        check(json.loads(body).get("username") == self.user, f"/me: {body[:200]}")
        _, _, body = curl(f"{base}/refresh", "-b", cookies, "-c", cookies, "-X", "POST", expect=200)
        access = json.loads(body)["access_token"]
        _, _, body = curl(f"{base}/refresh", *json_body("POST", {"refresh_token": login["refresh_token"]}), expect=200)
        check("access_token" in json.loads(body), "refresh by body within the grace window")
        _, head, body = curl(f"{base}/notes", *json_body("POST", {"title": "Groceries", "body": "milk, eggs"}, access),
                             expect=201)
        self.note_id = json.loads(body)["id"]
        check(f"/notes/{self.note_id}" in head, f"no Location for the note: {head}")
        _, _, body = curl(f"{base}/notes", *json_body("POST", {"title": "Call Bob"}, access), expect=201)
        second = json.loads(body)["id"]
        _, _, body = curl(f"{base}/notes?limit=1", *json_body("GET", token=access), expect=200)
        page = json.loads(body)
        check(len(page["notes"]) == 1 and page["next_cursor"], f"first page: {body[:200]}")
        curl(f"{base}/notes/{second}", *json_body("PATCH", {"body": "about the lease"}, access), expect=200)
        curl(f"{base}/notes/{second}", *json_body("DELETE", token=access), expect=204)
        curl(f"{base}/notes/{second}", *json_body("GET", token=access), expect=404)
        _, head, _ = curl(f"{base}/notes", expect=401)
        check("www-authenticate: bearer" in head.lower(), "401 without a Bearer challenge")
        curl(f"{base}/v1/keyring", expect=404)  # the key service is not routed
        curl(f"{base}/logout", "-b", cookies, "-c", cookies, "-X", "POST", expect=204)
        self.access = access
        say("walk: signup, login, /me, refresh by cookie and body, notes CRUD and paging, 401 and 404, logout")

    def tls(self):
        ca = os.path.join(self.work, "ca.crt")
        self.compose.run("cp", "secrets:/run/authstack/gateway/ca.crt", ca, timeout=60)
        base = f"https://localhost:{self.https_port}"
        resolve = ["--resolve", f"localhost:{self.https_port}:127.0.0.1"]
        refused = subprocess.run(["curl", "-sS", "--max-time", "10", *resolve, f"{base}/healthz"], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        check(refused.returncode == 60, f"curl without the CA: exit {refused.returncode}, expected 60 (certificate "
                                        f"not trusted): {refused.stderr.strip()}")
        curl(f"{base}/healthz", "--cacert", ca, *resolve, expect=200)
        credentials = {"username": self.user, "password": PASSWORD}
        _, head, body = curl(f"{base}/login", "--cacert", ca, *resolve, *json_body("POST", credentials), expect=200)
        cookie = next((line for line in head.splitlines() if line.lower().startswith("set-cookie: refresh_token=")), "")
        check("; Secure" in cookie and "; HttpOnly" in cookie, f"the refresh cookie over HTTPS: {cookie}")
        ip_base = f"https://127.0.0.1:{self.https_port}"
        curl(f"{ip_base}/healthz", "--cacert", ca, expect=200)  # the certificate names the address too
        say("tls: verified against the generated CA (by name and by address), refused without it; cookie Secure")

    def scale(self):
        started = time.monotonic()
        self.compose.run("up", "-d", "--scale", "identity=2", "--scale", "notes=3", timeout=600)
        self.wait_healthy({"identity": 2, "notes": 3, "keys": 1, "postgres": 1, "gateway": 1}, 300)
        self.figures["scale_seconds"] = round(time.monotonic() - started, 1)
        addresses = self.replica_addresses()
        # nginx re-resolves the names every 10 s: wait until the gateway has sent reads to every notes replica.
        token = self.login()

        def every_replica_read():
            for _ in range(30):
                answer = call(self.http_port, "GET", "/notes", token=token, timeout=10)
                check(answer.status == 200, f"GET /notes after scaling: {answer}")
            seen = self.upstreams("GET /notes")
            return {addresses[a] for a in seen if a in addresses and addresses[a].startswith("notes")} == \
                {name for name in addresses.values() if name.startswith("notes")}
        wait_for("reads on every notes replica", every_replica_read, 60, poll=2)
        refresh = self.login(field="refresh_token")
        for _ in range(12):
            answer = call(self.http_port, "POST", "/refresh", body={"refresh_token": refresh}, timeout=10)
            check(answer.status == 200, f"refresh chain across replicas: {answer}")
            refresh = answer.json["refresh_token"]
        served = {addresses.get(a, a) for a in self.upstreams("POST /refresh")}
        identities = {name for name in addresses.values() if name.startswith("identity")}
        check(identities <= served, f"refreshes were served by {sorted(served)}, not by every one of {sorted(identities)}")
        say(f"scale: 2 identity + 3 notes healthy in {self.figures['scale_seconds']} s; reads on "
            f"{len({n for n in addresses.values() if n.startswith('notes')})} notes replicas, a 12-refresh chain "
            f"over {len(identities)} identity replicas")

    def drill(self):
        started = time.monotonic()
        result = self.compose.run("run", "--rm", "authctl", "drill", "--identity", "http://identity:8081",
                                  "--notes", "http://notes:8082", "--keys", "http://keys:8083",
                                  "--rotations", "2", "--revoke", "--clients", "4", timeout=600, check_status=False)
        output = result.stdout
        for line in output.strip().splitlines()[-12:]:
            say(f"drill | {line}")
        check(result.returncode == 0, f"authctl drill exited {result.returncode}")
        self.figures["drill_seconds"] = round(time.monotonic() - started, 1)
        self.figures["drill_output"] = [line for line in output.strip().splitlines() if line.strip()][-12:]

    def hashing(self):
        """Password hashing at its limit: 3 rounds of 8 concurrent signups through the gateway (scrypt, 128 MiB
        each, 2 at a time per replica; distinct users, since one account's concurrent attempts are throttled): all
        succeed and no container is killed for memory."""
        results = []

        def signup(name):
            try:
                results.append(call(self.http_port, "POST", "/signup", timeout=60,
                                    body={"username": name, "password": PASSWORD}).status)
            except OSError as error:
                results.append(type(error).__name__)
        started = time.monotonic()
        for round_number in range(3):
            threads = [threading.Thread(target=signup, args=(f"{self.user}_{round_number}_{n}",)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=90)
        seconds = time.monotonic() - started
        check(results.count(201) == 24, f"24 concurrent signups: {sorted(map(str, results))}")
        killed = [line for line in docker("ps", "-a", "--filter", f"label=com.docker.compose.project={self.compose.project}",
                                          "--format", "{{.Names}} {{.Status}}").splitlines() if "(137)" in line]
        check(not killed, f"killed (out of memory?): {killed}")
        self.figures["hashing"] = {"concurrent_signups": 8, "rounds": 3, "seconds": round(seconds, 1)}
        say(f"hashing: 3 rounds of 8 concurrent signups, all 201, in {seconds:.1f} s; no container killed")

    def import_users(self):
        """`authctl users import` under compose: an export of the original Express app (bcrypt) mounted into the
        authctl tool's container goes into identity's PostgreSQL database; its user logs in through the gateway
        with the old password, and a second import skips it."""
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # the C library's crypt(3) (libxcrypt): bcrypt without a PyPI package; Python ≤ 3.12
        name = f"{self.user}_imported"
        password = "an old express password"
        export = os.path.join(self.work, "users.json")
        with open(export, "w") as file:
            json.dump([{"id": 7001, "username": name,
                        "password": crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}], file)
        os.chmod(export, 0o644)
        mount = ["-v", f"{export}:/import/users.json:ro"]
        first = self.compose.run("run", "--rm", *mount, "authctl", "users", "import", "/import/users.json", timeout=120).stdout
        check("imported 1 user" in first, f"users import: {first[-400:]}")
        second = self.compose.run("run", "--rm", *mount, "authctl", "users", "import", "/import/users.json", timeout=120).stdout
        check("imported 0 user" in second and "skipped 1" in second, f"users import, again: {second[-400:]}")
        answer = call(self.http_port, "POST", "/login", body={"username": name, "password": password})
        check(answer.status == 200, f"login of the imported user: {answer}")
        say("import: `authctl users import` from a container; the imported user logs in with its bcrypt password")

    def kill(self):
        for service, path in (("notes", "/notes"), ("identity", "/me")):
            token = self.login()
            victims = [row[0] for row in self.compose.containers(service) if row[1] == "running"]
            check(len(victims) >= 2, f"{service}: {victims}, expected replicas to kill one of")
            load = Load(self.http_port, path, token, workers=4)
            load.start()
            time.sleep(2)
            docker("kill", victims[-1])
            killed_at = load.total()
            time.sleep(8)
            load.stop()
            total, failed, statuses = load.result()
            check(total - killed_at > 20, f"kill {service}: only {total - killed_at} requests after the kill")
            self.figures[f"kill_{service}"] = {"requests": total, "after_kill": total - killed_at, "failed": failed}
            say(f"kill: {victims[-1]} killed under GET {path}: {total} requests ({total - killed_at} after the kill), "
                f"{failed} failed {dict(statuses) if failed else ''}")
            check(failed == 0, f"kill {service}: {failed} idempotent requests failed: {statuses}")
        # Back to the scaled shape (a killed container of an `unless-stopped` service may or may not be restarted).
        self.compose.run("up", "-d", "--scale", "identity=2", "--scale", "notes=3", timeout=600)
        self.wait_healthy({"identity": 2, "notes": 3, "keys": 1, "postgres": 1, "gateway": 1}, 300)

    def restart(self):
        kids_before = self.kids()
        self.compose.run("down", timeout=300)
        started = time.monotonic()
        self.compose.run("up", "-d", "--scale", "identity=2", "--scale", "notes=3", timeout=600)
        self.wait_healthy({"identity": 2, "notes": 3, "keys": 1, "postgres": 1, "gateway": 1}, 300)
        self.figures["restart_seconds"] = round(time.monotonic() - started, 1)
        token = self.login()
        answer = call(self.http_port, "GET", f"/notes/{self.note_id}", token=token)
        check(answer.status == 200 and answer.json.get("title") == "Groceries", f"the note after down/up: {answer}")
        kids_after = self.kids()
        check(kids_before and kids_before == kids_after, f"keys before {kids_before}, after {kids_after}")
        last_run = self.compose.logs("secrets").strip().splitlines()
        check(not any("wrote" in line for line in last_run[-3:]), f"the secrets service wrote again: {last_run[-3:]}")
        say(f"restart: down + up in {self.figures['restart_seconds']} s; the user, its note and the "
            f"{len(kids_after)} keys survived; no secret rewritten")

    def down(self):
        self.compose.run("down", "-v", "--remove-orphans", timeout=300)
        label = f"label=com.docker.compose.project={self.compose.project}"
        left = (docker("ps", "-aq", "--filter", label) + docker("volume", "ls", "-q", "--filter", label)
                + docker("network", "ls", "-q", "--filter", label)).split()
        check(not left, f"left behind by down -v: {left}")
        say("down: containers, networks and volumes removed")

    # MARK: Helpers

    def login(self, field="access_token"):
        answer = call(self.http_port, "POST", "/login", body={"username": self.user, "password": PASSWORD})
        check(answer.status == 200, f"login: {answer}")
        return answer.json[field]

    def kids(self):
        output = self.compose.run("run", "--rm", "authctl", "keys", "list", "--json", timeout=120).stdout
        document = json.loads(output[output.index("{"):])
        return sorted(key["kid"] for key in document["keys"])

    def replica_addresses(self):
        """{edge-network address: service-N} of the identity and notes replicas."""
        addresses = {}
        for service in ("identity", "notes"):
            for name, state, _, _ in self.compose.containers(service):
                if state != "running":
                    continue
                replica = name.rsplit("-", 1)[-1]
                inspected = json.loads(docker("inspect", name))[0]
                for network in inspected["NetworkSettings"]["Networks"].values():
                    addresses[network["IPAddress"]] = f"{service}-{replica}"
        return addresses

    def upstreams(self, request):
        """The addresses (no port) of every replica the gateway sent `request` (e.g. "GET /notes") to."""
        seen = set()
        for line in self.compose.logs("gateway").splitlines():
            if f'"{request}' in line:
                for match in re.findall(r"upstream=([0-9.:, ]+?)(?= upstream_status)", line):
                    for address in match.split(","):
                        seen.add(address.strip().rsplit(":", 1)[0])
        return seen


class MemorySampler:
    """The highest memory use of each service's containers while the test runs: what the compose file's limits are
    sized from. Every 2 s: `docker stats` (the current use, page cache excluded) and, on cgroup v1, the kernel's own
    high-water mark (memory.max_usage_in_bytes, page cache included), which also catches peaks between samples,
    such as two scrypt hashes of 128 MiB that last a few hundred milliseconds."""

    UNITS = {"B": 1 / 2**20, "KiB": 1 / 1024, "kB": 1 / 1024, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024}

    def __init__(self, project):
        self.project = project
        self.peaks = {}
        self.high_water = {}
        self.running = True
        self.thread = threading.Thread(target=self.work, daemon=True)

    def start(self):
        self.thread.start()

    def service(self, name):
        match = re.match(rf"{re.escape(self.project)}-([a-z]+)-\d+$", name)
        return match.group(1) if match else None

    def work(self):
        while self.running:
            try:
                stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                                       text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout
                ids = subprocess.run(["docker", "ps", "--no-trunc", "--filter",
                                      f"label=com.docker.compose.project={self.project}", "--format", "{{.ID}} {{.Names}}"],
                                     text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout
            except subprocess.TimeoutExpired:
                continue
            for line in stats.splitlines():
                match = re.match(r"(\S+) ([0-9.]+)([A-Za-z]+) /", line)
                service = self.service(match.group(1)) if match else None
                if service and match.group(3) in self.UNITS:
                    used = float(match.group(2)) * self.UNITS[match.group(3)]
                    self.peaks[service] = max(self.peaks.get(service, 0), round(used, 1))
            for line in ids.splitlines():
                container, _, name = line.partition(" ")
                service = self.service(name)
                try:
                    with open(f"/sys/fs/cgroup/memory/docker/{container}/memory.max_usage_in_bytes") as file:
                        used = int(file.read()) / 2**20
                except (OSError, ValueError):
                    continue
                if service:
                    self.high_water[service] = max(self.high_water.get(service, 0), round(used, 1))
            time.sleep(2)

    def stop(self):
        self.running = False
        self.thread.join(timeout=40)


class Load:
    """`workers` threads sending GET `path` with a bearer token through the gateway, one connection per request
    (so that each request is balanced on its own), until stopped."""

    def __init__(self, port, path, token, workers):
        self.port, self.path, self.token = port, path, token
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(workers)]
        self.lock = threading.Lock()
        self.running = True
        self.count = 0
        self.failures = {}

    def start(self):
        for thread in self.threads:
            thread.start()

    def work(self):
        while self.running:
            try:
                status = call(self.port, "GET", self.path, token=self.token, timeout=15).status
            except OSError as error:
                status = type(error).__name__
            with self.lock:
                self.count += 1
                if status != 200:
                    self.failures[status] = self.failures.get(status, 0) + 1

    def total(self):
        with self.lock:
            return self.count

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=30)

    def result(self):
        with self.lock:
            return self.count, sum(self.failures.values()), dict(self.failures)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", required=True, help="the Docker Compose v2 binary")
    parser.add_argument("--project", default=f"authstack-test-{os.getpid()}")
    parser.add_argument("--figures", help="write the figures as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end")
    arguments = parser.parse_args()

    http_port, https_port = free_ports(2)
    work = os.path.join("/tmp", arguments.project)
    os.makedirs(work, exist_ok=True)
    environment = dict(os.environ, AUTHSTACK_HTTP_PORT=str(http_port), AUTHSTACK_HTTPS_PORT=str(https_port),
                       AUTHSTACK_IMAGE_TAG=os.environ.get("AUTHSTACK_IMAGE_TAG", "test"))
    compose = Compose(arguments.compose, arguments.project, environment)
    test = Test(compose, http_port, https_port, work)
    started = time.monotonic()
    phase = "build"
    sampler = MemorySampler(arguments.project)
    sampler.start()
    try:
        for phase in ("build", "up", "walk", "tls", "scale", "hashing", "drill", "import_users", "kill", "restart", "down"):
            if phase == "down" and arguments.keep:
                continue
            getattr(test, phase)()
    except (Failure, Exception) as failure:  # noqa: B014 - any error still takes the project down
        say(f"FAIL in {phase}: {failure if isinstance(failure, Failure) else repr(failure)}")
        for service in ("secrets", "postgres", "keys", "identity", "notes", "gateway"):
            try:
                tail = compose.run("logs", "--no-color", "--tail", "15", service, timeout=60, check_status=False).stdout
                print(tail.rstrip(), flush=True)
            except Failure:
                pass
        if not arguments.keep:
            compose.run("down", "-v", "--remove-orphans", timeout=300, check_status=False)
        return 1
    sampler.stop()
    test.figures["peak_memory_mib"] = dict(sorted(sampler.peaks.items()))
    test.figures["cgroup_high_water_mib"] = dict(sorted(sampler.high_water.items()))
    test.figures["total_seconds"] = round(time.monotonic() - started, 1)
    if arguments.figures:
        with open(arguments.figures, "w") as file:
            json.dump(test.figures, file, indent=2)
    say(f"PASS in {test.figures['total_seconds']} s: {json.dumps({k: v for k, v in test.figures.items() if k != 'drill_output'})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
