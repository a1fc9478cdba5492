"""AuthStack access tokens in a Python service: the checks of the Swift verifier (docs/design.md §2.2), with the keys
of the key service's keyring, followed as identity and notes follow it (§4.3).

    token = read_client_token("keys/notes.token")              # a key-service client token (role verifier)
    follower = KeyringFollower("http://127.0.0.1:8083", token)  # long-polls GET /v1/keyring in a thread
    follower.start()
    verifier = AccessTokenVerifier(follower, issuer="authstack", audience="notes")
    claims = verifier.verify(token_from_the_request)            # or TokenRejected / KeyringUnavailable

What comes from where:
  PyJWT      the HMAC-SHA256 check (constant-time compare) with keys loaded as RFC 7517 JWKs (PyJWK), HS256 the one
             algorithm registered;
  this file  every other check of §2.2, in the Swift verifier's order: length, strict base64url, strict JSON (no
             member twice, valid UTF-8 without lone surrogates, nesting ≤ 32), alg, typ, crit, b64, kid, then the
             claims' types, iss, aud, iat, nbf and exp last, so that `expired` means "everything else was fine".
             PyJWT's own claim checks are not used: they compare whole seconds, check exp before iss and aud (an
             expired token for another audience would come out `token_expired`), and read the payload with
             json.loads, which keeps the last of two `exp` members.

Standard library and PyJWT only (Examples/python-verifier/requirements.txt). Thread-safe: one follower and one verifier
serve every request thread.
"""

import base64
import datetime
import http.client
import json
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse

import jwt
from jwt.exceptions import InvalidSignatureError, PyJWTError

LOG = logging.getLogger("authstack.keyring")

MAX_TOKEN_BYTES = 8192          # §2.2 step 1
MAX_NESTING = 32                # strict JSON: objects and arrays nested at most this deep, the outermost counting 1
NUMERIC_DATE_LIMIT = 2 ** 53    # |iat|, |exp|, |nbf| below this: beyond it a double no longer holds every second
DEFAULT_LEEWAY = 30.0           # seconds, for exp, iat and nbf; the Swift services accept 0–300
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")   # RFC 9068, compared case-insensitively (ASCII)

MAX_KEYRING_BYTES = 1 << 20     # a keyring body larger than this is refused (32 keys take about 10 KB)
MAX_VERIFYING_KEYS = 32
MIN_SECRET_BYTES = 32
KEY_STATUSES = ("next", "current", "previous")   # all three verify; retired and revoked keys are not in the keyring

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_KID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
# A JSON string (escapes included) or a bracket: enough to measure nesting without a parser.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")   # where a lone surrogate could come from: UTF-8 holds none


# MARK: Rejections


class TokenRejected(Exception):
    """The token failed a check. `reason` names which (for logs and tests; never send it to the client, §2.2: one
    generic answer whatever failed); `code` is the problem code a client sees: `token_expired` for a token that passed
    every check except `exp`, `invalid_token` for everything else."""

    # The reasons, as the Swift TokenRejection names them.
    TOO_LONG = "too_long"
    MALFORMED = "malformed"
    MALFORMED_HEADER = "malformed_header"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    WRONG_TYPE = "wrong_type"
    UNSUPPORTED_HEADER_PARAMETER = "unsupported_header_parameter"
    MISSING_KEY_ID = "missing_key_id"
    UNKNOWN_KEY_ID = "unknown_key_id"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED_PAYLOAD = "malformed_payload"
    MISSING_CLAIM = "missing_claim"        # reason "missing_claim:<name>"
    INVALID_CLAIM = "invalid_claim"        # reason "invalid_claim:<name>"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    ISSUED_IN_FUTURE = "issued_in_future"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason

    @property
    def code(self):
        return "token_expired" if self.reason == self.EXPIRED else "invalid_token"


class KeyringUnavailable(Exception):
    """No keyring has arrived yet: answer 503 with Retry-After, never 401 (a valid token cannot be told from a forged
    one without keys)."""


class KeyringError(ValueError):
    """The key service sent a keyring that cannot be used. The message names what is wrong, never a secret."""


class FetchError(Exception):
    """A keyring fetch that reached the key service and failed there (a status other than 200 or 304, or an unusable
    keyring)."""


# MARK: Strict decoding


def b64url_decode_strict(text):
    """The bytes of unpadded base64url `text`, or None unless it is the one canonical spelling of those bytes: no
    padding, nothing outside the alphabet, the unused low bits of the last character zero."""
    if len(text) % 4 == 1 or not _BASE64URL.fullmatch(text):
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") == text else None


class _NotStrict(ValueError):
    pass


def _unique_members(pairs):
    """json.loads' hook for every object: a member name twice (after unescaping, so "\\u0065xp" is "exp") is refused,
    where json.loads alone would keep the last."""
    members = {}
    for name, value in pairs:
        if name in members:
            raise _NotStrict("a member name twice")
        members[name] = value
    return members


def _no_constant(name):
    raise _NotStrict(f"{name} is not JSON")


def _integer(text):
    # Up to 20 characters as an exact int; longer ones, far beyond any NumericDate, as a float (the Swift parser reads
    # every number as a double), which also keeps Python's limit on the digits of an int out of the way.
    return int(text) if len(text) <= 20 else float(text)


def _nesting_within_limit(text):
    if text.count("{") + text.count("[") <= MAX_NESTING:
        return True
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == "{" or token == "[":
            depth += 1
            if depth > MAX_NESTING:
                return False
        elif token == "}" or token == "]":
            depth -= 1
    return True


def _has_lone_surrogate(value):
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(name) or _has_lone_surrogate(member) for name, member in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(element) for element in value)
    return False


def strict_json_object(data):
    """`data` (bytes) as a dict when it is one strict JSON object: RFC 8259 grammar (no NaN or Infinity), valid UTF-8,
    no lone surrogate in a \\u escape, nesting of at most 32 levels, no member name twice at any level; else None."""
    try:
        text = data.decode("utf-8")   # strict: no overlong forms, no encoded surrogates, nothing above U+10FFFF
    except UnicodeDecodeError:
        return None
    if not _nesting_within_limit(text):
        return None
    try:
        value = json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant, parse_int=_integer)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or (_SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value)):
        return None
    return value


# MARK: Keyring


class KeyringKey:
    """One key of the keyring: its kid, status and timestamps, and the secret loaded as a PyJWK (HS256)."""

    __slots__ = ("kid", "status", "created_at", "activated_at", "retire_at", "jwk")

    def __init__(self, kid, status, created_at, activated_at, retire_at, jwk):
        self.kid = kid
        self.status = status
        self.created_at = created_at
        self.activated_at = activated_at
        self.retire_at = retire_at
        self.jwk = jwk

    def __repr__(self):   # never the secret
        return f"KeyringKey(kid={self.kid!r}, status={self.status!r})"


class Keyring:
    """The keys a verifier holds, from the key service's `GET /v1/keyring` document (§5.4):
    `{"version", "current_kid", "keys": [JWK + status, created_at, activated_at, retire_at]}`. Immutable; the follower
    replaces it as a whole. Valid by construction, as the Swift `Keyring` is: 1–32 keys with unique kids of 1–64
    characters of [A-Za-z0-9._~-], secrets of at least 32 bytes, exactly one `current`, named by `current_kid`."""

    def __init__(self, version, current_kid, keys):
        self.version = version
        self.current_kid = current_kid
        self.keys = keys   # kid -> KeyringKey: next, current and previous keys; each of them verifies

    @classmethod
    def from_document(cls, body):
        try:
            document = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise KeyringError("not JSON") from None
        if not isinstance(document, dict):
            raise KeyringError("not a JSON object")
        version, current_kid, entries = document.get("version"), document.get("current_kid"), document.get("keys")
        if not isinstance(version, int) or isinstance(version, bool):
            raise KeyringError("version: expected an integer")
        if not isinstance(current_kid, str):
            raise KeyringError("current_kid: expected a string")
        if not isinstance(entries, list):
            raise KeyringError("keys: expected an array")
        if len(entries) > MAX_VERIFYING_KEYS:
            raise KeyringError(f"more than {MAX_VERIFYING_KEYS} keys")
        keys = {}
        for index, entry in enumerate(entries):
            key = cls._key(index, entry)
            if key.kid in keys:
                raise KeyringError(f"kid {key.kid} twice")
            keys[key.kid] = key
        current = [key for key in keys.values() if key.status == "current"]
        if len(current) != 1:
            raise KeyringError(f"{len(current)} current keys, expected exactly one")
        if current[0].kid != current_kid:
            raise KeyringError("current_kid does not name the current key")
        return cls(version, current_kid, keys)

    @staticmethod
    def _key(index, entry):
        if not isinstance(entry, dict):
            raise KeyringError(f"keys.{index}: expected an object")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise KeyringError(f"keys.{index}: kid must be 1-64 characters of [A-Za-z0-9._~-]")
        if entry.get("kty") != "oct":
            raise KeyringError(f"key {kid}: kty must be oct")
        if entry.get("alg", "HS256") not in ("HS256", None):
            raise KeyringError(f"key {kid}: alg must be HS256")
        if entry.get("use", "sig") not in ("sig", None):
            raise KeyringError(f"key {kid}: use must be sig")
        status = entry.get("status")
        if status not in KEY_STATUSES:
            raise KeyringError(f"key {kid}: unknown status")
        k = entry.get("k")
        secret = b64url_decode_strict(k) if isinstance(k, str) else None
        if secret is None:
            raise KeyringError(f"key {kid}: k is not base64url")
        if len(secret) < MIN_SECRET_BYTES:
            raise KeyringError(f"key {kid}: secret shorter than {MIN_SECRET_BYTES} bytes")
        created_at = _timestamp(entry, "created_at", kid, required=True)
        activated_at = _timestamp(entry, "activated_at", kid)
        retire_at = _timestamp(entry, "retire_at", kid)
        try:
            jwk = jwt.PyJWK({"kty": "oct", "kid": kid, "k": k}, algorithm="HS256")
        except PyJWTError:
            raise KeyringError(f"key {kid}: PyJWT cannot load it") from None
        return KeyringKey(kid, status, created_at, activated_at, retire_at, jwk)


def _timestamp(entry, name, kid, required=False):
    """An RFC 3339 timestamp member of a key (the key service writes whole seconds in UTC, `2025-01-31T12:00:00Z`)."""
    value = entry.get(name)
    if value is None and not required:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except (AttributeError, TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise KeyringError(f"key {kid}: {name} is not an RFC 3339 timestamp")
    return moment


# MARK: Following the key service


def parse_key_service_url(url):
    """(scheme, host, port, base path) of the key service's base URL: http:// or https://, a host, no query, fragment or
    credentials; trailing slashes dropped. ValueError otherwise."""
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or parts.username is not None or port == -1 or port == 0):
        raise ValueError("expected an http:// or https:// URL such as http://127.0.0.1:8083")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), parts.path


def read_client_token(path):
    """The key-service client token in `path` (`authctl init` writes keys/notes.token, role verifier). OSError or
    ValueError, saying which file and what to do, when it cannot be read or is empty."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise OSError(f"cannot read the key service client token file {path} "
                      f"({getattr(error, 'strerror', None) or error}); run `authctl init`") from None
    if not token:
        raise ValueError(f"the key service client token file {path} is empty; run `authctl init`")
    return token


class KeyringFollower:
    """Holds the last keyring in memory and keeps it current, as the Swift KeyringFollower does (§4.3):

    - Long-poll: a thread asks `GET /v1/keyring?wait=<wait>` with `If-None-Match: "v<version>"`; the key service
      answers as soon as the keyring changes (200), or 304 when the wait ends. The first fetch does not wait.
    - Unknown kid: `refresh_for_unknown_kid()` fetches once with wait=0. Concurrent callers share that fetch, and a
      new one starts at most once per `unknown_kid_cooldown` (1 s), so forged kids cannot make it hammer the key
      service: at most one request per second per process.
    - Outage: the last keyring stays in use. Retries back off exponentially with full jitter, from 0.1 s, capped at
      2 s (the cap bounds how long a restarted key service waits for its followers). The first failure and every
      30th are logged; the client token never is.
    - Versions only move forward, except a lower version answered to the long-poll when nothing was installed since
      it was sent: the key service's database was replaced, and its answer is the truth (logged as a warning).
    - Transport: redirects are not followed (the token never goes to another host); bodies over 1 MiB are refused.

    `current()` is the per-request read: no lock. `stats()` gives the figures the Swift services export as metrics."""

    def __init__(self, url, token, wait=30, unknown_kid_cooldown=1.0, initial_backoff=0.1, maximum_backoff=2.0,
                 connect_timeout=2.0, request_timeout=5.0):
        if not 1 <= wait <= 60:
            raise ValueError("wait must be 1-60 seconds (the key service allows at most 60)")
        self._scheme, self._host, self._port, base_path = parse_key_service_url(url)
        self._path = base_path + "/v1/keyring"
        self._token = token
        self.wait = wait
        self.unknown_kid_cooldown = unknown_kid_cooldown
        self.initial_backoff = initial_backoff
        self.maximum_backoff = maximum_backoff
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._keyring = None                 # replaced whole, read without a lock
        self._lock = threading.Lock()        # everything below
        self._installs = 0                   # keyrings installed so far: tells a long-poll answer whether it is stale
        self._last_confirmed = None          # monotonic time of the key service's last 200 or 304
        self._refresh_flight = None          # an Event while an unknown-kid fetch runs
        self._last_refresh_started = None
        self._counts = {"fetch_failures": 0, "updates": 0, "fetched": 0, "coalesced": 0, "cooldown": 0}
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._thread = None
        self._connection = None              # the long-poll's keep-alive connection, closed by stop()

    # MARK: Reading

    def current(self):
        """The keyring held now; None until a first one has arrived."""
        return self._keyring

    def wait_until_ready(self, timeout):
        """True once a first keyring has arrived, False after `timeout` seconds without one."""
        return self._ready.wait(timeout)

    def stats(self):
        """version (0 before the first keyring), age_seconds (since the key service last confirmed the held keyring;
        -1 before), fetch_failures, updates, and unknown_kid_refreshes by result: fetched, coalesced, cooldown."""
        with self._lock:
            counts = dict(self._counts)
            confirmed = self._last_confirmed
        keyring = self._keyring
        return {
            "version": keyring.version if keyring else 0,
            "age_seconds": time.monotonic() - confirmed if confirmed is not None else -1.0,
            "fetch_failures": counts["fetch_failures"],
            "updates": counts["updates"],
            "unknown_kid_refreshes": {result: counts[result] for result in ("fetched", "coalesced", "cooldown")},
        }

    # MARK: Running

    def start(self):
        """Starts following in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="keyring-follower", daemon=True)
            self._thread.start()

    def stop(self, timeout=5.0):
        """Stops following: ends an open long-poll at once and waits up to `timeout` seconds for the thread."""
        self._stopped.set()
        with self._lock:
            sock = self._connection.sock if self._connection is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def refresh_for_unknown_kid(self):
        """Asks the key service once (wait=0) because a token named a kid that is not held; returns the keyring held
        afterwards (the same object when nothing changed). Concurrent callers share one fetch; within the cooldown
        after the last one started, no fetch is made. (A follower that was never started loads its first keyring
        this way too.)"""
        with self._lock:
            if self._stopped.is_set():
                return self._keyring
            flight = self._refresh_flight
            leader = flight is None
            if not leader:
                self._counts["coalesced"] += 1
            else:
                now = time.monotonic()
                last = self._last_refresh_started
                if last is not None and now - last < self.unknown_kid_cooldown:
                    self._counts["cooldown"] += 1
                    return self._keyring
                self._counts["fetched"] += 1
                self._last_refresh_started = now
                flight = self._refresh_flight = threading.Event()
        if not leader:
            flight.wait(self.connect_timeout + self.request_timeout + 1)
            return self._keyring
        try:
            connection = self._new_connection()
            try:
                self._fetch(connection, wait=0, from_long_poll=False)
            finally:
                connection.close()
        except Exception as error:  # noqa: BLE001 — OSError, HTTPException, FetchError, or a fault: reported the same
            with self._lock:
                self._counts["fetch_failures"] += 1
            LOG.warning("keyring refresh for an unknown kid failed: %s", _describe(error))
        finally:
            with self._lock:
                self._refresh_flight = None
            flight.set()
        return self._keyring

    def _follow(self):
        failures = 0
        while not self._stopped.is_set():
            try:
                connection = self._long_poll_connection()
                outcome = self._fetch(connection, wait=0 if self._keyring is None else self.wait, from_long_poll=True)
                if failures:
                    LOG.info("key service reachable again after %d failed attempts", failures)
                failures = 0
                if outcome == "unchanged":
                    # A 200 that changed nothing means the server did not long-poll: never spin on it.
                    self._stopped.wait(self.initial_backoff)
            except Exception as error:  # noqa: BLE001 — whatever failed, the thread must go on following
                self._drop_long_poll_connection()
                if self._stopped.is_set():
                    return
                failures += 1
                with self._lock:
                    self._counts["fetch_failures"] += 1
                # The first failure and then every 30th: an outage must not flood the log.
                if failures == 1 or failures % 30 == 0:
                    keyring = self._keyring
                    LOG.warning("cannot fetch the keyring; keeping the last one (%s; failed attempts %d; "
                                "keyring version %s)", _describe(error), failures,
                                keyring.version if keyring else "none")
                self._stopped.wait(self.backoff(failures))
        self._drop_long_poll_connection()

    def backoff(self, attempt):
        """Full-jitter exponential backoff: uniform in [0, min(cap, initial × 2^(attempt−1))]."""
        return random.uniform(0, min(self.maximum_backoff, self.initial_backoff * 2 ** min(attempt - 1, 30)))

    # MARK: Fetching

    def _new_connection(self):
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.connect_timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout)

    def _long_poll_connection(self):
        with self._lock:
            if self._connection is None:
                self._connection = self._new_connection()
            return self._connection

    def _drop_long_poll_connection(self):
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _fetch(self, connection, wait, from_long_poll):
        """One GET /v1/keyring on `connection`: "installed", "unchanged" (a 200 with nothing newer) or "not_modified"
        (304). OSError or HTTPException when the key service cannot be reached, FetchError when it answers otherwise."""
        held = self._keyring
        with self._lock:
            installs_at_send = self._installs
        headers = {"Authorization": "Bearer " + self._token, "Accept": "application/json"}
        if held is not None:
            headers["If-None-Match"] = f'"v{held.version}"'
        if connection.sock is None:
            connection.connect()                                       # within connect_timeout
        connection.sock.settimeout(wait + self.request_timeout)        # each read: the long-poll's wait and then some
        connection.request("GET", self._path + (f"?wait={wait}" if wait > 0 else ""), headers=headers)
        response = connection.getresponse()
        body = response.read(MAX_KEYRING_BYTES + 1)
        if len(body) > MAX_KEYRING_BYTES:
            connection.close()
            raise FetchError(f"the keyring is larger than {MAX_KEYRING_BYTES} bytes")
        if response.status == 200:
            try:
                keyring = Keyring.from_document(body)
            except KeyringError as error:
                raise FetchError(f"the key service sent an unusable keyring: {error}") from None
            return self._install(keyring, from_long_poll, installs_at_send)
        if response.status == 304:
            with self._lock:
                self._last_confirmed = time.monotonic()
            return "not_modified"
        if response.status in (401, 403):
            raise FetchError(f"the key service refused this client's token (HTTP {response.status}); "
                             "check the token file and the client's role")
        raise FetchError(f"the key service answered HTTP {response.status}")

    def _install(self, keyring, from_long_poll, installs_at_send):
        with self._lock:
            held = self._keyring.version if self._keyring is not None else None
            self._last_confirmed = time.monotonic()
            if held is not None:
                if keyring.version == held:
                    return "unchanged"
                if keyring.version < held and not (from_long_poll and self._installs == installs_at_send):
                    return "unchanged"   # an answer that raced with a newer install: stale
            self._installs += 1
            self._counts["updates"] += 1
            self._keyring = keyring
        self._ready.set()
        kids = ",".join(keyring.keys)
        if held is not None and keyring.version < held:
            LOG.warning("keyring version went backwards (%d -> %d); the key service's database was replaced",
                        held, keyring.version)
        else:
            LOG.info("keyring updated to version %d (current kid %s, kids %s)", keyring.version, keyring.current_kid,
                     kids)
        return "installed"


def _describe(error):
    """An error for the log: its type and message (neither ever holds the client token)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# MARK: Verifying


class AccessTokenVerifier:
    """Verifies AuthStack access tokens as every AuthStack service does (§2.2), against the keyring of `keyring_source`
    (a KeyringFollower, or anything with `current()` and `refresh_for_unknown_kid()`).

    `issuer` must equal `iss`; `audience` is this service's own name, which `aud` must contain (identity writes the
    names of IDENTITY_AUDIENCES); `leeway` (seconds) is applied to exp, iat and nbf; `clock` gives the time in
    seconds since the epoch."""

    def __init__(self, keyring_source, issuer="authstack", audience="notes", leeway=DEFAULT_LEEWAY, clock=time.time):
        self.keyring_source = keyring_source
        self.issuer = issuer
        self.audience = audience
        self.leeway = float(leeway)
        self.clock = clock
        # PyJWT with one algorithm registered: whatever a header says, nothing but HMAC-SHA256 can verify.
        self._jws = jwt.PyJWS(algorithms=["HS256"], options={"enforce_minimum_key_length": True})

    def verify(self, token):
        """The claims (a dict) of `token` (str), or TokenRejected saying why not; KeyringUnavailable before the first
        keyring. A token naming a kid that is not held asks the follower for one refresh, then is judged against what
        it holds afterwards."""
        held = self.keyring_source.current()
        if held is None:
            raise KeyringUnavailable("no keyring from the key service yet")
        try:
            return self.verify_with(token, held, self.clock())
        except TokenRejected as rejection:
            if rejection.reason != TokenRejected.UNKNOWN_KEY_ID:
                raise
        refreshed = self.keyring_source.refresh_for_unknown_kid()
        if refreshed is None or refreshed is held:
            raise TokenRejected(TokenRejected.UNKNOWN_KEY_ID)
        return self.verify_with(token, refreshed, self.clock())

    def verify_with(self, token, keyring, now):
        """The checks of §2.2 in their order, against one keyring at time `now`, with no refresh."""
        reject = TokenRejected
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise reject(reject.TOO_LONG)
        segments = token.split(".")
        if len(segments) != 3:
            raise reject(reject.MALFORMED)
        decoded = [b64url_decode_strict(segment) for segment in segments]
        if any(part is None for part in decoded):     # an empty segment fails too: the alphabet needs one character
            raise reject(reject.MALFORMED)
        key = self._key_for_header(decoded[0], keyring)
        try:
            # PyJWT: HMAC-SHA256 of the first two segments against the signature, compared in constant time. The alg
            # is already known to be HS256; the key is bound to HS256 too.
            self._jws.decode_complete(token, key.jwk, algorithms=["HS256"])
        except InvalidSignatureError:
            raise reject(reject.BAD_SIGNATURE) from None
        except PyJWTError:
            raise reject(reject.MALFORMED) from None
        claims = strict_json_object(decoded[1])   # read only once the MAC has matched
        if claims is None:
            raise reject(reject.MALFORMED_PAYLOAD)
        self._check_claims(claims, now)
        return claims

    @staticmethod
    def _key_for_header(header_bytes, keyring):
        reject = TokenRejected
        header = strict_json_object(header_bytes)
        if header is None:
            raise reject(reject.MALFORMED_HEADER)
        if header.get("alg") != "HS256":   # exactly: none, HS512, RS256, hs256 … are all refused
            raise reject(reject.UNSUPPORTED_ALGORITHM)
        typ = header.get("typ")
        if not isinstance(typ, str) or not typ.isascii() or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise reject(reject.WRONG_TYPE)
        if "crit" in header:   # no extension is understood (RFC 7515 §4.1.11), so none may be critical
            raise reject(reject.UNSUPPORTED_HEADER_PARAMETER)
        if "b64" in header and header["b64"] is not True:   # RFC 7797: an unencoded payload is not an access token
            raise reject(reject.UNSUPPORTED_HEADER_PARAMETER)
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise reject(reject.MISSING_KEY_ID)
        # jku, x5u, jwk and x5c are ignored: keys come only from the keyring.
        key = keyring.keys.get(kid)
        if key is None:
            raise reject(reject.UNKNOWN_KEY_ID)
        return key

    def _check_claims(self, claims, now):
        reject = TokenRejected
        issuer = _string_claim(claims, "iss", required=True)
        audience = claims.get("aud")
        if "aud" not in claims:
            raise reject(f"{reject.MISSING_CLAIM}:aud")
        if isinstance(audience, str):
            audience = [audience]
        elif not isinstance(audience, list) or not all(isinstance(name, str) for name in audience):
            raise reject(f"{reject.INVALID_CLAIM}:aud")
        subject = _string_claim(claims, "sub", required=True)
        if not subject or "\x00" in subject:   # the row key of the user: never empty, never holding U+0000
            raise reject(f"{reject.INVALID_CLAIM}:sub")
        issued_at = _numeric_date(claims, "iat", required=True)
        expires_at = _numeric_date(claims, "exp", required=True)
        for name in ("username", "sid", "jti"):
            _string_claim(claims, name)
        not_before = _numeric_date(claims, "nbf")
        if issuer != self.issuer:
            raise reject(reject.WRONG_ISSUER)
        if self.audience not in audience:
            raise reject(reject.WRONG_AUDIENCE)
        if issued_at > now + self.leeway:
            raise reject(reject.ISSUED_IN_FUTURE)
        if not_before is not None and not_before > now + self.leeway:
            raise reject(reject.NOT_YET_VALID)
        if not now < expires_at + self.leeway:   # last: `expired` means every other check passed
            raise reject(reject.EXPIRED)


def _string_claim(claims, name, required=False):
    """A string claim; None when absent and optional. A null or any other type is invalid."""
    if name not in claims:
        if required:
            raise TokenRejected(f"{TokenRejected.MISSING_CLAIM}:{name}")
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise TokenRejected(f"{TokenRejected.INVALID_CLAIM}:{name}")
    return value


def _numeric_date(claims, name, required=False):
    """A NumericDate: a finite JSON number (fractions allowed, true and false are not numbers), |value| < 2^53."""
    if name not in claims:
        if required:
            raise TokenRejected(f"{TokenRejected.MISSING_CLAIM}:{name}")
        return None
    value = claims[name]
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or abs(value) >= NUMERIC_DATE_LIMIT):
        raise TokenRejected(f"{TokenRejected.INVALID_CLAIM}:{name}")
    return value


def bearer_token(authorization):
    """The credentials of an `Authorization: Bearer <token>` header value (the scheme in any case, then one or more
    spaces), or None for no header, another scheme or no credentials (answer 401 `missing_token` then)."""
    if authorization is None or len(authorization) <= 7 or not authorization[:7].isascii() \
            or authorization[:6].lower() != "bearer" or authorization[6] != " ":
        return None
    token = authorization[7:].lstrip(" ")
    return token or None
