#!/usr/bin/env python3
"""End-to-end test of the Python verifier recipe (Examples/python-verifier: verifier.py on PyJWT, service.py on
http.server) against a real `authctl up` (issue 19, "Other languages").

Starts the stack on free loopback ports (fresh secrets and data in a temp directory; identity also issues the audience
`whoami`), and the example service with the `notes` client token (role verifier), audience `whoami`, reaching the key
service through a loopback TCP relay that the test can close: for the service, a key service that is down (connections
refused, open ones reset) while the stack runs on. Then, one line per check:

  settings       a bad setting stops the service with status 2, an unreadable token file with status 1
  first keyring  before it: /readyz and /whoami 503 with Retry-After; it arrives once the key service is reachable
  long-poll      the service's request is `GET /v1/keyring?wait=30` with If-None-Match: "v<held>", held open
  tokens         signup → /whoami 200 with the token's sub; no token → 401 missing_token; the hostile tokens every
                 benchmark peer must refuse (Benchmarks/peers/peers.py: bad MAC, alg none, HS512, typ, unknown kid,
                 crit, expired → token_expired, aud, iss, empty sub, no exp, iat and nbf ahead); and what PyJWT alone
                 would let through or decide otherwise: a member twice, b64 false, crit ["b64"], a lone surrogate,
                 the 32-level and 8 KiB limits to the byte, exp judged last, a token meant for notes only
  unknown kids   a burst of forged kids makes at most one keyring fetch per second
  rotation       two forced rotations while the service runs: tokens signed before and after are accepted, the
                 service holds each new keyring within 2 s by long-poll (no unknown-kid fetch); a verifier whose
                 follower does not long-poll (in this process) accepts the new key through one unknown-kid refresh
  revocation     the revoked key's token is refused within 2 s; the others are not
  outage         relay closed: the service keeps verifying with its last keyring, a rotation meanwhile rejects no
                 valid token (its key was published as next); relay reopened: the service catches up within 4 s
  shutdown       SIGTERM → status 0

Exits 1 at the first failure, stops everything it started by PID, and gives up after 120 s. Loopback only. Run it
through scripts/python-verifier-test.sh, which provides the pinned PyJWT:

    scripts/python-verifier-test.sh [BIN_DIR]       (default .build/debug; build first: swift build)
"""

import argparse
import hashlib
import hmac
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the work tree (scripts/, Benchmarks/peers/, Examples/)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "Examples", "python-verifier")
sys.path[:0] = [EXAMPLE, os.path.join(ROOT, "Benchmarks", "peers")]
from peers import hostile_tokens  # noqa: E402  (Benchmarks/peers/peers.py: the benchmark peers' self-check)
from stacklib import (HOST, AuthctlUp, Failure, b64url_decode, b64url_encode, call, check, free_port,  # noqa: E402
                      jwt_claims, jwt_header, kid_of, stop_processes, tail_of, wait_ready)
from verifier import AccessTokenVerifier, KeyringFollower, TokenRejected, read_client_token  # noqa: E402

NAME = "python-verifier-test"
DEADLINE = 120          # seconds for the whole run
AUDIENCE = "whoami"     # the example service's own audience; identity issues it besides identity and notes
PASSWORD = "correct horse battery staple"
PROPAGATION_BOUND = 2.0  # seconds: docs/design.md §9, a rotation or revocation reaches every follower within it
OUTAGE_BOUND = 4.0       # the same after an outage: 2 s more for the follower's backoff cap (authctl drill's rule)


def say(text):
    print(f"{NAME}: {text}", flush=True)


class Checks:
    """Counts and prints the checks: one line each."""

    def __init__(self):
        self.started = time.monotonic()
        self.passed = 0

    def ok(self, text):
        self.passed += 1
        say(f"ok  {text}")


def elapsed_ms(since):
    return f"{(time.monotonic() - since) * 1000:.0f} ms"


def wait_for(condition, seconds, what, poll=0.02):
    """Seconds until `condition()` is true; Failure naming `what` after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise Failure(f"{what}: not within {seconds} s")
        time.sleep(poll)
    return time.monotonic() - started


# MARK: The key service behind a relay


class Relay:
    """A loopback TCP relay to the key service. The example service reaches the key service only through it, so
    `close()` is, for the service, a key service that went down: its open connections reset, new ones refused.
    `open()` again on the same port brings it back. It also notes the head of every request the service sends
    (`requests`: request line and headers, the Authorization header left out), to show how the service asks."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self.listener = None
        self.lock = threading.Lock()
        self.connections = set()
        self.requests = []

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def open(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self):
        with self.lock:
            listener, self.listener = self.listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept()
            except OSError:
                pass
            listener.close()
        with self.lock:
            connections, self.connections = self.connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                closed = self.listener is not listener   # closed while this connection was being made
                if not closed:
                    self.connections |= {client, upstream}
            if closed:
                client.close()
                upstream.close()
                return
            for source, sink, heads in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, heads), daemon=True).start()

    def _pump(self, source, sink, heads):
        pending = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
                if heads:   # the service's requests: GETs without a body, each ending in an empty line
                    *complete, pending = (pending + data).split(b"\r\n\r\n")
                    self._note(complete)
        except OSError:
            pass
        for connection in (source, sink):   # one side ended: end both, as a crashed server would
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            self.connections.discard(source)
        source.close()   # each socket is the source of exactly one pump

    def _note(self, heads):
        for head in heads:
            line, *fields = head.decode("latin-1").split("\r\n")
            headers = dict(field.split(": ", 1) for field in fields if ": " in field)
            headers.pop("Authorization", None)
            with self.lock:
                self.requests.append((time.monotonic(), line, headers))

    def requests_since(self, moment):
        with self.lock:
            return [(line, headers) for at, line, headers in self.requests if at >= moment]


# MARK: The stack and the example service


class Stack(AuthctlUp):
    """`authctl up` in a temp directory on free ports: identity issues the audience `whoami` too; a cheap scrypt."""

    def __init__(self, bin_dir):
        # The repository root as working directory: authctl finds web/ there.
        super().__init__(bin_dir, ["--log-level", "warning"], cwd=ROOT, prefix="python-verifier-test-",
                         environment=dict(IDENTITY_AUDIENCES=f"identity,notes,{AUDIENCE}", IDENTITY_SCRYPT_LOG_N=14))
        self.admin = None

    def keys(self, method, path):
        answer = call(self.ports["keys"], method, path, token=self.admin)
        check(answer.status == 200, f"{method} {path} on the key service answered {answer}")
        return answer.json

    def keyring(self):
        return self.keys("GET", "/v1/keyring")

    def rotate(self):
        return self.keys("POST", "/v1/keys/rotate?force=true")

    def identity_keyring_version(self):
        return metric(call(self.ports["identity"], "GET", "/metrics", timeout=5).raw.decode(), "keyring_version")

    def signup(self, username):
        answer = call(self.ports["identity"], "POST", "/signup", body={"username": username, "password": PASSWORD})
        check(answer.status == 201 and "access_token" in answer.json, f"signup answered {answer}")
        return answer.json["access_token"]

    def login(self, username):
        answer = call(self.ports["identity"], "POST", "/login", body={"username": username, "password": PASSWORD})
        check(answer.status == 200 and "access_token" in answer.json, f"login answered {answer}")
        return answer.json["access_token"]

    def token_signed_with(self, kid, username, version):
        """A fresh access token from identity, once identity holds keyring `version` (in which `kid` is current)."""
        wait_for(lambda: self.identity_keyring_version() >= version, PROPAGATION_BOUND,
                 f"identity holds keyring v{version}")
        token = self.login(username)
        check(kid_of(token) == kid, f"identity signed with {kid_of(token)}, expected the current key {kid}")
        return token


def metric(text, series):
    """The value of one series (name with its labels, as written) in Prometheus text; 0 when absent."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


class ExampleService:
    """Examples/python-verifier/service.py as a process of its own, with this interpreter (the venv's PyJWT)."""

    def __init__(self, work, **settings):
        self.port = free_port()
        self.log_path = os.path.join(work, "python-verifier.log")
        self.work = work
        self.environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "VERIFIER_HOST": HOST,
                            "VERIFIER_PORT": str(self.port), **{k: str(v) for k, v in settings.items()}}
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, os.path.join(EXAMPLE, "service.py")],
                                            env=self.environment, cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    def whoami(self, token=None, headers=None):
        return call(self.port, "GET", "/whoami", token=token, headers=headers)

    def metrics(self):
        answer = call(self.port, "GET", "/metrics")
        check(answer.status == 200, f"/metrics answered {answer}")
        return answer.raw.decode()

    def version(self):
        return metric(self.metrics(), "keyring_version")

    def holds(self, version):
        """Seconds until the service holds keyring `version` (or a later one); Failure after the propagation bound."""
        return wait_for(lambda: self.version() >= version, PROPAGATION_BOUND, f"the service holds keyring v{version}")

    def unknown_kid_refreshes(self):
        text = self.metrics()
        return {result: metric(text, f'keyring_unknown_kid_refreshes_total{{result="{result}"}}')
                for result in ("fetched", "coalesced", "cooldown")}

    def tail(self, lines=30):
        return tail_of(self.log_path, lines)

    def stop(self):
        if self.process is not None:
            stop_processes([self.process])


def refused_settings(work, checks):
    """service.py's start-up errors: one line, naming what is wrong, status 2 for a setting, 1 for the token file."""
    cases = [
        ("a bad setting", {"VERIFIER_PORT": "http"}, 2, "VERIFIER_PORT"),
        ("a bad key service URL", {"VERIFIER_KEYS_URL": "ftp://127.0.0.1:1"}, 2, "VERIFIER_KEYS_URL"),
        ("an unreadable client token file", {"VERIFIER_KEYS_TOKEN_FILE": os.path.join(work, "absent.token")}, 1,
         "absent.token"),
    ]
    for case, settings, status, named in cases:
        result = subprocess.run([sys.executable, os.path.join(EXAMPLE, "service.py")], capture_output=True, text=True,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **settings}, timeout=20, cwd=work)
        lines = result.stderr.strip().splitlines()
        check(result.returncode == status and len(lines) == 1 and named in lines[0],
              f"{case}: status {result.returncode}, stderr {result.stderr!r}")
        checks.ok(f"{case} stops the service with status {status} and one line: {lines[0]}")


# MARK: Forging


def forge(secret, header, claims=None, payload=None):
    """A token with `header` and `claims` (or the raw `payload` bytes), HMAC-SHA256-signed with `secret`."""
    payload = payload if payload is not None else json.dumps(claims, separators=(",", ":")).encode()
    signing_input = f"{b64url_encode(json.dumps(header, separators=(',', ':')).encode())}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def sized_token(secret, header, claims, length):
    """A valid token of exactly `length` bytes: a `pad` claim and, for the lengths base64url cannot reach that way,
    a `pad` header member, grown until the token has that length."""
    for header_pad in range(4):
        extended = dict(header, pad="x" * header_pad) if header_pad else header
        base = len(forge(secret, extended, dict(claims, pad="")))
        low = max(0, (length - base) * 3 // 4 - 4)
        for size in range(low, low + 12):
            token = forge(secret, extended, dict(claims, pad="x" * size))
            if len(token) == length:
                return token
    raise Failure(f"no token of {length} bytes")


def with_member(claims, member):
    """The payload bytes of `claims` with one more member, written as it is (`"exp":1` again, or a nested array)."""
    return json.dumps(claims).encode()[:-1] + b"," + member.encode() + b"}"


def nested(depth):
    """A member whose deepest array is `depth` levels down, the payload's object counting 1."""
    return '"x":' + "[" * (depth - 1) + "]" * (depth - 1)


# MARK: The run


def check_problem(answer, code, case):
    """A 401 problem as the Swift services write it: the code, its challenge, problem+json, no-store."""
    body = answer.json
    check(answer.status == 401 and body.get("code") == code and body.get("status") == 401
          and body.get("type") == f"urn:authstack:problem:{code}" and body.get("title"),
          f"{case}: expected 401 {code}, got {answer}")
    check(answer.headers.get("content-type") == "application/problem+json", f"{case}: {answer.headers}")
    check(answer.headers.get("cache-control") == "no-store", f"{case}: no Cache-Control: no-store")
    challenge = answer.headers.get("www-authenticate", "")
    expected = f'Bearer realm="{AUDIENCE}"' + (', error="invalid_token"' if code != "missing_token" else "")
    check(challenge == expected, f"{case}: WWW-Authenticate {challenge!r}, expected {expected!r}")


def run(stack, service, relay, checks):
    # First keyring: the service starts while the key service is out of its reach.
    service.start()
    started = time.monotonic()
    wait_for(lambda: _answers(service.port), 20, "the example service listens")
    ready = call(service.port, "GET", "/readyz")
    early = service.whoami("some.token.here")
    check(ready.status == 503 and early.status == 503 and early.json.get("code") == "service_unavailable"
          and early.headers.get("retry-after") == "1", f"before the first keyring: /readyz {ready}, /whoami {early}")
    relay.open()
    opened = time.monotonic()
    wait_ready(service.port, service.process, OUTAGE_BOUND)
    checks.ok(f"before its first keyring the service answers 503 + Retry-After: 1; ready {elapsed_ms(opened)} after "
              f"the key service became reachable (started {time.monotonic() - started:.1f} s ago)")

    token_a = stack.signup("ada")
    claims = jwt_claims(token_a)
    answer = service.whoami(token_a)
    check(answer.status == 200 and answer.json.get("sub") == claims["sub"] and answer.json.get("username") == "ada",
          f"/whoami with the signup token answered {answer}")
    checks.ok(f"signup → GET /whoami 200 with the token's sub {claims['sub']} (kid {kid_of(token_a)})")

    quiet = time.monotonic()
    time.sleep(1.0)
    asked = relay.requests_since(relay.requests[0][0])
    line, headers = asked[-1]
    check(line == "GET /v1/keyring?wait=30 HTTP/1.1" and headers.get("If-None-Match") == f'"v{service.version():.0f}"'
          and len(relay.requests_since(quiet)) == 0, f"the service's keyring requests: {asked}")
    checks.ok(f"{len(asked)} keyring requests since the key service became reachable, the last {line!r} with "
              f"If-None-Match: {headers['If-None-Match']}, held open: none in the last second")

    check_problem(service.whoami(), "missing_token", "no Authorization")
    check_problem(service.whoami(headers={"Authorization": f"Basic {token_a}"}), "missing_token", "Basic scheme")
    checks.ok(f'no token, or another scheme → 401 missing_token, WWW-Authenticate: Bearer realm="{AUDIENCE}"')

    keyring = stack.keyring()
    for case, token, status in hostile_tokens(token_a, keyring):
        if token is None:
            continue   # checked above, with its challenge
        answer = service.whoami(token)
        if status == 200:
            check(answer.status == 200 and answer.json.get("sub") == claims["sub"], f"{case}: {answer}")
            checks.ok(f"{case} → 200")
        else:
            code = "token_expired" if case.startswith("expired") else "invalid_token"
            check_problem(answer, code, case)
            checks.ok(f"{case} → 401 {code}")

    header = jwt_header(token_a)
    secret = b64url_decode(next(key["k"] for key in keyring["keys"] if key["kid"] == header["kid"]))
    now = int(time.time())
    strict_cases = [
        ('typ "Application/AT+JWT" (RFC 9068 spelling, any case)',
         forge(secret, dict(header, typ="Application/AT+JWT"), claims), 200),
        ("a token for identity and notes only (a valid notes token)",
         forge(secret, header, dict(claims, aud=["identity", "notes"])), 401),
        ("exp twice, the last one valid (json.loads keeps the last)",
         forge(secret, header, payload=with_member(dict(claims, exp=now - 3600), f'"exp":{now + 600}')), 401),
        ("b64 false in the header", forge(secret, dict(header, b64=False), claims), 401),
        ('crit ["b64"] with b64 true (PyJWT understands b64, AuthStack no extension)',
         forge(secret, dict(header, crit=["b64"], b64=True), claims), 401),
        ("a lone surrogate in username",
         forge(secret, header, payload=json.dumps(dict(claims, username="\ud800")).encode()), 401),
        ("JSON nested 32 levels", forge(secret, header, payload=with_member(claims, nested(32))), 200),
        ("JSON nested 33 levels", forge(secret, header, payload=with_member(claims, nested(33))), 401),
        ("a token of 8192 bytes", sized_token(secret, header, claims, 8192), 200),
        ("a token of 8193 bytes", sized_token(secret, header, claims, 8193), 401),
        ("expired and for another audience (exp is judged last)",
         forge(secret, header, dict(claims, exp=now - 3600, aud="else")), 401),
        ("iat with a fraction (now + 0.5 s, within the leeway)",
         forge(secret, header, dict(claims, iat=now + 0.5)), 200),
    ]
    for case, token, status in strict_cases:
        answer = service.whoami(token)
        if status == 200:
            check(answer.status == 200 and answer.json.get("sub") == claims["sub"], f"{case}: {answer}")
            checks.ok(f"{case} → 200")
        else:
            check_problem(answer, "invalid_token", case)
            checks.ok(f"{case} → 401 invalid_token")

    # Unknown kids: each one may ask the key service, but together at most once per second. The burst starts after a
    # cooldown (the hostile "kid not in the keyring" above made a fetch), so its first kid fetches and the rest may not.
    time.sleep(1.05)
    before, burst_started = service.unknown_kid_refreshes(), time.monotonic()
    for index in range(20):
        check(service.whoami(forge(secret, dict(header, kid=f"forged-{index}"), claims)).status == 401, "a forged kid")
    seconds, after = time.monotonic() - burst_started, service.unknown_kid_refreshes()
    fetched = after["fetched"] - before["fetched"]
    check(sum(after.values()) - sum(before.values()) == 20 and 1 <= fetched <= math.ceil(seconds),
          f"20 forged kids in {seconds:.2f} s: refreshes {before} → {after}")
    fetches_said = f"{fetched:.0f} keyring fetch{'es' * (fetched > 1)}"
    checks.ok(f"20 tokens with forged kids in {seconds:.2f} s: all 401, {fetches_said} "
              f"({after['cooldown'] - before['cooldown']:.0f} within the 1 s cooldown)")

    # A verifier in this process whose follower does not long-poll: new keys reach it only by the unknown-kid refresh.
    follower = KeyringFollower(stack.urls["keys"], read_client_token(os.path.join(stack.keys_dir, "notes.token")))
    verifier = AccessTokenVerifier(follower, audience=AUDIENCE)
    loaded = follower.refresh_for_unknown_kid()
    loaded_at = time.monotonic()
    check(loaded is not None and loaded.version == keyring["version"], "the in-process follower's first keyring")

    def fetches():
        return follower.stats()["unknown_kid_refreshes"]["fetched"]

    # Rotation 1: next (B) becomes current, A previous. Every follower already holds B.
    kid_a, unknown_before = kid_of(token_a), service.unknown_kid_refreshes()["fetched"]
    rotated = stack.rotate()
    kid_b = rotated["current_kid"]
    took = service.holds(rotated["version"])
    wait_for(lambda: relay.requests[-1][2].get("If-None-Match") == f'"v{rotated["version"]}"', PROPAGATION_BOUND,
             "the service's next long-poll names the new version")
    checks.ok(f"rotation 1 (current {kid_a} → {kid_b}): the service holds keyring v{rotated['version']} "
              f"{took * 1000:.0f} ms after the key service answered (long-poll), then long-polls with "
              f"If-None-Match: {relay.requests[-1][2]['If-None-Match']}")
    check(service.whoami(token_a).status == 200, "the pre-rotation token after rotation 1")
    token_b = stack.token_signed_with(kid_b, "ada", rotated["version"])
    check(service.whoami(token_b).status == 200, f"the token signed with {kid_b}")
    check(verifier.verify(token_b)["sub"] == claims["sub"] and fetches() == 1,
          "in-process: the token signed with the old next key")
    checks.ok(f"tokens signed before ({kid_a}, now previous) and after ({kid_b}) rotation 1 → 200; in process, "
              f"{kid_b} verifies with no fetch (it was published as next)")

    # Rotation 2: C, created by rotation 1, becomes current; the in-process keyring predates it.
    rotated = stack.rotate()
    kid_c = rotated["current_kid"]
    took = service.holds(rotated["version"])
    token_c = stack.token_signed_with(kid_c, "ada", rotated["version"])
    for token in (token_a, token_b, token_c):
        check(service.whoami(token).status == 200, f"a token signed with {kid_of(token)} after rotation 2")
    check(service.unknown_kid_refreshes()["fetched"] == unknown_before,
          "the service needed an unknown-kid fetch for a rotated key: the long-poll did not deliver it")
    checks.ok(f"rotation 2 (current {kid_c}): the service holds keyring v{rotated['version']} {took * 1000:.0f} ms "
              f"after; tokens of {kid_a}, {kid_b}, {kid_c} → 200, without one unknown-kid fetch")
    check(kid_c not in loaded.keys, f"{kid_c} was already in the in-process keyring")
    time.sleep(max(0.0, follower.unknown_kid_cooldown + 0.05 - (time.monotonic() - loaded_at)))
    check(verifier.verify(token_c)["sub"] == claims["sub"], "in-process: the token signed with the new key")
    check(fetches() == 2 and follower.current().version == rotated["version"], f"in-process: {follower.stats()}")
    checks.ok(f"in process, without long-poll: {kid_c} (unknown to keyring v{loaded.version}) verifies after one "
              f"unknown-kid refresh to v{rotated['version']}")

    # 20 threads at once, a cooldown after the last fetch: one fetches, the others join it or find the cooldown.
    time.sleep(follower.unknown_kid_cooldown + 0.05)
    forged = [forge(secret, dict(header, kid=f"in-process-{index}"), claims) for index in range(20)]
    reasons, threads, burst_started = [], [], time.monotonic()
    for token in forged:
        threads.append(threading.Thread(target=lambda t=token: reasons.append(_rejection(verifier, t))))
        threads[-1].start()
    for thread in threads:
        thread.join(10)
    seconds, stats = time.monotonic() - burst_started, follower.stats()["unknown_kid_refreshes"]
    check(reasons == [TokenRejected.UNKNOWN_KEY_ID] * 20 and 1 <= fetches() - 2 <= math.ceil(seconds)
          and sum(stats.values()) == 22, f"20 concurrent forged kids in process in {seconds:.2f} s: {reasons}, {stats}")
    checks.ok(f"in process, 20 concurrent forged kids in {seconds:.2f} s: all unknown_key_id, {fetches() - 2} fetch, "
              f"{stats['coalesced']} coalesced, {stats['cooldown']} within the cooldown")

    # Revocation of A (previous): gone from the keyring, its tokens refused everywhere within the bound.
    revoked = stack.keys("POST", f"/v1/keys/{kid_a}/revoke")
    took = wait_for(lambda: service.whoami(token_a).status == 401, PROPAGATION_BOUND,
                    f"the token of revoked {kid_a} refused")
    check_problem(service.whoami(token_a), "invalid_token", f"the token of revoked {kid_a}")
    for token in (token_b, token_c):
        check(service.whoami(token).status == 200, f"the token of {kid_of(token)} after the revocation of {kid_a}")
    checks.ok(f"revoke {kid_a} (keyring v{revoked['version']}): its token → 401 invalid_token after "
              f"{took * 1000:.0f} ms (bound {PROPAGATION_BOUND:.0f} s); tokens of {kid_b} and {kid_c} → 200")

    # Outage: the key service out of the service's reach; identity and the key service go on.
    failures = metric(service.metrics(), "keyring_fetch_failures_total")
    relay.close()
    wait_for(lambda: metric(service.metrics(), "keyring_fetch_failures_total") > failures, OUTAGE_BOUND,
             "the follower notices the outage")
    held = service.version()
    for token in (token_b, token_c):
        check(service.whoami(token).status == 200, f"the token of {kid_of(token)} during the outage")
    check(call(service.port, "GET", "/readyz").status == 200, "/readyz during the outage")
    check_problem(service.whoami(forge(secret, dict(header, kid="forged-outage"), claims)), "invalid_token",
                  "a forged kid during the outage")
    rotated = stack.rotate()
    kid_d = rotated["current_kid"]
    token_d = stack.token_signed_with(kid_d, "ada", rotated["version"])
    check(service.whoami(token_d).status == 200 and service.version() == held,
          f"the token of {kid_d} during the outage")
    checks.ok(f"key service unreachable ({metric(service.metrics(), 'keyring_fetch_failures_total') - failures:.0f} "
              f"failed fetches so far): the service keeps keyring v{held:.0f}, /readyz 200, tokens of {kid_b}, "
              f"{kid_c} → 200; after rotation 3 identity signs with {kid_d}, published as next before: 200 too")

    relay.open()
    reopened, target = time.monotonic(), stack.keyring()["version"]
    wait_for(lambda: service.version() >= target, OUTAGE_BOUND, f"the service catches up to keyring v{target}")
    checks.ok(f"key service reachable again: the service holds keyring v{target} {elapsed_ms(reopened)} later "
              f"(bound {OUTAGE_BOUND:.0f} s: the follower's backoff is capped at 2 s)")

    stopping = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        status = service.process.wait(10)
    except subprocess.TimeoutExpired:
        raise Failure("the service did not stop within 10 s of SIGTERM") from None
    check(status == 0, f"the service exited with status {status} after SIGTERM")
    checks.ok(f"SIGTERM → the service exits 0 after {elapsed_ms(stopping)}")


def _answers(port):
    try:
        call(port, "GET", "/healthz", timeout=1)
        return True
    except OSError:
        return False


def _rejection(verifier, token):
    try:
        verifier.verify(token)
        return "accepted"
    except TokenRejected as rejection:
        return rejection.reason


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", nargs="?", default=os.path.join(ROOT, ".build", "debug"))
    bin_dir = os.path.abspath(parser.parse_args().bin_dir)
    if not os.access(os.path.join(bin_dir, "authctl"), os.X_OK):
        print(f"{NAME}: no authctl in {bin_dir} (build first: swift build)", file=sys.stderr)
        return 2

    def out_of_time(*_):
        raise Failure(f"the run took longer than {DEADLINE} s")
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(DEADLINE)

    checks = Checks()
    stack = service = relay = None
    try:
        stack = Stack(bin_dir)
        refused_settings(stack.work, checks)
        stack.start()
        stack.wait_until_up(60, poll=0.1)
        stack.admin = stack.token("admin")
        checks.ok(f"authctl up on free loopback ports ({time.monotonic() - checks.started:.1f} s)")
        # The service gets a key-service client of its own, as a deployment's own service would (docs/design.md §5.4).
        token_file = os.path.join(stack.work, "whoami.token")
        subprocess.run([os.path.join(bin_dir, "authctl"), "clients", "add", "whoami", "--role", "verifier",
                        "--token-file", token_file, "--url", stack.urls["keys"], "--keys-dir", stack.keys_dir],
                       check=True, stdout=subprocess.DEVNULL, timeout=30)
        check(os.stat(token_file).st_mode & 0o777 == 0o600, "authctl clients add wrote the token file with mode 0600")
        checks.ok("authctl clients add whoami --role verifier: the service's own client token, in a 0600 file")
        relay = Relay(stack.ports["keys"])
        service = ExampleService(stack.work, VERIFIER_KEYS_URL=relay.url, VERIFIER_AUDIENCE=AUDIENCE,
                                 VERIFIER_KEYS_TOKEN_FILE=token_file)
        run(stack, service, relay, checks)
        signal.alarm(0)
        say(f"PASS in {time.monotonic() - checks.started:.1f} s")
        say(f"{checks.passed} passed, 0 failed")
        return 0
    except Exception as error:  # noqa: BLE001 — every failure is reported the same way, then cleaned up
        signal.alarm(0)
        print(f"{NAME}: FAIL: {type(error).__name__}: {error}", file=sys.stderr)
        if service:
            print("--- last lines of the example service ---", file=sys.stderr)
            print(service.tail(), file=sys.stderr)
        if stack:
            print("--- last lines of authctl up ---", file=sys.stderr)
            print(stack.tail(), file=sys.stderr)
        say(f"{checks.passed} passed, 1 failed")
        return 1
    finally:
        signal.alarm(0)
        if service:
            service.stop()
        if relay:
            relay.close()
        if stack:
            stack.stop()
            stack.remove()


if __name__ == "__main__":
    sys.exit(main())
