"""The peers of the GET /notes benchmark (issue 9), for Benchmarks/run.py: what each one needs, how it is built and
started, and the self-check every server passes before it is measured.

Every peer serves GET /notes with `Authorization: Bearer <access token>`: it verifies the token against the keyring
the key service publishes (the same document the notes service follows), then answers the token subject's notes
from memory in the notes service's JSON shape. The notes service reads them from SQLite on every request; the peers,
like the original Express app, keep them in memory. See README.md beside this file.
"""

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts"))
from stacklib import b64url_decode, b64url_encode, call  # noqa: E402  (scripts/stacklib.py)

VENV = os.path.join(HERE, ".venv")
SETUP = "bash Benchmarks/peers/setup.sh"
GOLANG_JWT = "/usr/share/gocode/src/github.com/golang-jwt/jwt"
NODE_MODULES = "/usr/share/nodejs"  # Debian's node-* packages; a node from elsewhere does not look there by itself


def _dpkg_version(package):
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def _node_module_version(module):
    try:
        with open(f"{NODE_MODULES}/{module}/package.json") as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def _pinned(package):
    with open(f"{HERE}/fastapi/requirements.txt") as f:
        for line in f:
            name, _, version = line.strip().partition("==")
            if name.lower() == package.lower():
                return version
    return "?"


class Peer:
    """One peer: `missing()` says why it cannot run here (None when it can), `launch()` builds it if needed and
    returns the command, environment and directory to start it with."""

    name = label = setup = ""

    def missing(self):
        raise NotImplementedError

    def versions(self):
        raise NotImplementedError

    def launch(self, work, port, files):
        raise NotImplementedError

    @staticmethod
    def environment(port, files, **extra):
        return dict(os.environ, PEER_PORT=str(port), PEER_KEYRING=files["keyring"], PEER_NOTES=files["notes"],
                    PEER_ISSUER="authstack", PEER_AUDIENCE="notes", PEER_LEEWAY="30", **extra)


class GoPeer(Peer):
    name, label, setup = "go", "Go net/http + golang-jwt", "1 process, GOMAXPROCS default (2)"

    def missing(self):
        if shutil.which("go") is None:
            return "no go (Debian golang-go)"
        if not os.path.isdir(GOLANG_JWT):
            return "no golang-jwt (Debian golang-github-golang-jwt-jwt-dev)"
        return None

    def versions(self):
        go = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
        return f"{go} + golang-jwt {_dpkg_version('golang-github-golang-jwt-jwt-dev')}"

    def launch(self, work, port, files):
        binary = f"{work}/go-notes-peer"
        # Offline: golang-jwt from Debian through go.mod's `replace`, nothing from the module proxy.
        build_env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local", GO111MODULE="on")
        build = subprocess.run(["go", "build", "-trimpath", "-o", binary, "."], cwd=f"{HERE}/go", env=build_env,
                               capture_output=True, text=True)
        if build.returncode != 0:
            raise RuntimeError(f"go build failed:\n{build.stdout}{build.stderr}")
        return [binary], self.environment(port, files), HERE


class ExpressPeer(Peer):
    name, label = "express", "Express + jose"

    def __init__(self, workers):
        self.workers = workers
        if workers > 1:
            self.name, self.setup = "express-cluster", f"node:cluster, {workers} workers + primary"
        else:
            self.setup = "1 process (as the original app)"

    def missing(self):
        if shutil.which("node") is None:
            return "no node"
        for module, package in (("express", "node-express"), ("jose", "node-jose")):
            if _node_module_version(module) is None:
                return f"no {module} (Debian {package})"
        return None

    def versions(self):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return f"node {node} + express {_node_module_version('express')} + jose {_node_module_version('jose')}"

    def launch(self, work, port, files):
        env = self.environment(port, files, PEER_WORKERS=str(self.workers), NODE_ENV="production", NODE_PATH=NODE_MODULES)
        return ["node", f"{HERE}/express/server.js"], env, HERE


class FastAPIPeer(Peer):
    name, label, setup = "fastapi", "FastAPI + PyJWT", "uvicorn --workers 2 (+ supervisor), uvloop, httptools"

    def missing(self):
        if not os.access(f"{VENV}/bin/uvicorn", os.X_OK):
            return "no Benchmarks/peers/.venv (PyPI: fastapi, PyJWT, uvicorn)"
        return None

    def versions(self):
        return (f"FastAPI {_pinned('fastapi')} + PyJWT {_pinned('PyJWT')} + uvicorn {_pinned('uvicorn')} "
                f"(uvloop {_pinned('uvloop')}, httptools {_pinned('httptools')})")

    def launch(self, work, port, files):
        command = [f"{VENV}/bin/uvicorn", "app:app", "--app-dir", f"{HERE}/fastapi", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "2", "--no-access-log", "--log-level", "warning"]
        return command, self.environment(port, files), HERE


class NginxPeer(Peer):
    """The ceiling: a fixed answer with the notes service's bytes, no token check."""

    name, label, setup = "nginx", "nginx, fixed body (ceiling)", "worker_processes 2 (+ master)"

    def missing(self):
        return None if self.binary() else "no nginx (Debian nginx)"

    @staticmethod
    def binary():
        return shutil.which("nginx") or (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx") or None

    def versions(self):
        return f"nginx {_dpkg_version('nginx') or _dpkg_version('nginx-core') or '?'}"

    def launch(self, work, port, files):
        body = files["body"].decode()
        # The body goes into a single-quoted nginx string: escape quotes and backslashes; `$` would be a variable.
        if "$" in body:
            raise RuntimeError("the notes body contains `$`, which an nginx return string cannot hold literally")
        quoted = body.replace("\\", "\\\\").replace("'", "\\'")
        prefix = f"{work}/nginx"
        os.makedirs(prefix, exist_ok=True)
        with open(f"{HERE}/nginx/nginx.conf.template") as f:
            config = f.read().replace("@PORT@", str(port)).replace("@WORK@", prefix).replace("@BODY@", quoted)
        with open(f"{prefix}/nginx.conf", "w") as f:
            f.write(config)
        return [self.binary(), "-c", f"{prefix}/nginx.conf", "-p", prefix, "-e", f"{prefix}/error.log"], dict(os.environ), HERE


def all_peers():
    return [GoPeer(), ExpressPeer(1), ExpressPeer(2), FastAPIPeer(), NginxPeer()]


# MARK: Self-check


def _json(value):
    return json.dumps(value, separators=(",", ":")).encode()


def hostile_tokens(token, keyring):
    """(case, token, expected status) for the real token and for tokens that every verifier must refuse. Besides
    the real token, a copy re-signed here must be accepted: that proves the forged variants below differ from a
    valid token only in what each one names."""
    header_segment, payload_segment, signature = token.split(".")
    header, claims = json.loads(b64url_decode(header_segment)), json.loads(b64url_decode(payload_segment))
    secrets = {key["kid"]: b64url_decode(key["k"]) for key in keyring["keys"]}
    secret = secrets[header["kid"]]
    now = int(time.time())

    def signed(header_changes=None, claim_changes=None, drop=(), digest=hashlib.sha256):
        h = dict(header, **(header_changes or {}))
        c = {k: v for k, v in dict(claims, **(claim_changes or {})).items() if k not in drop}
        signing_input = f"{b64url_encode(_json(h))}.{b64url_encode(_json(c))}"
        return f"{signing_input}.{b64url_encode(hmac.new(secret, signing_input.encode(), digest).digest())}"

    # A character in the middle of the MAC: the last one also carries 2 unused bits, which lenient decoders ignore.
    flipped = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]
    unknown_kid = "not-a-held-kid"
    assert unknown_kid not in secrets
    return [
        ("the real access token", token, 200),
        ("the same claims re-signed by the harness", signed(), 200),
        ("no Authorization header", None, 401),
        ("MAC altered", f"{header_segment}.{payload_segment}.{flipped}", 401),
        ("payload altered (other sub), MAC kept", f"{header_segment}.{b64url_encode(_json(dict(claims, sub='someone-else')))}.{signature}", 401),
        ("alg none, no MAC", f"{b64url_encode(_json(dict(header, alg='none')))}.{payload_segment}.", 401),
        ("alg HS512 with the same secret", signed({"alg": "HS512"}, digest=hashlib.sha512), 401),
        ("typ JWT", signed({"typ": "JWT"}), 401),
        ("kid not in the keyring", signed({"kid": unknown_kid}), 401),
        ("crit header", signed({"crit": ["exp"]}), 401),
        ("expired (exp 2 min ago, beyond the 30 s leeway)", signed(claim_changes={"iat": now - 1000, "exp": now - 120}), 401),
        ("aud without notes", signed(claim_changes={"aud": ["identity"]}), 401),
        ("iss of another issuer", signed(claim_changes={"iss": "someone-else"}), 401),
        ("empty sub", signed(claim_changes={"sub": ""}), 401),
        ("no exp", signed(drop=("exp",)), 401),
        ("iat 10 min ahead", signed(claim_changes={"iat": now + 600}), 401),
        ("nbf 10 min ahead", signed(claim_changes={"nbf": now + 600}), 401),
    ]


def get_notes(port, token):
    answer = call(port, "GET", "/notes", token=token)
    return answer.status, answer.raw


def self_check(port, token, keyring, expected_page, checks_tokens=True, problem_codes=False):
    """The failures of one server (empty: passed): every case answered with its expected status, and the notes of
    every 200 equal to `expected_page` (as JSON values; the serialisations differ in spacing and escapes). A server
    that does not check tokens (the nginx ceiling) is only asked for the page. With `problem_codes` (the notes
    service), the expired token must be answered `token_expired`, which docs/design.md §2 gives only to a token that
    passes every other check: proof that the forged expiry is the only thing wrong with it."""
    failures = []
    for case, candidate, expected in hostile_tokens(token, keyring):
        if not checks_tokens and expected != 200:
            continue
        try:
            status, body = get_notes(port, candidate)
        except OSError as error:
            failures.append(f"{case}: {error}")
            continue
        if status != expected:
            failures.append(f"{case}: answered {status}, expected {expected}")
        elif problem_codes and case.startswith("expired") and b'"token_expired"' not in body:
            failures.append(f"{case}: answered {body[:200]!r}, expected the problem code token_expired")
        elif status == 200:
            try:
                page = json.loads(body)
            except ValueError:
                page = None
            if page != expected_page:
                failures.append(f"{case}: 200 with a body other than the notes service's: {body[:200]!r}")
    return failures
