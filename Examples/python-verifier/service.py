#!/usr/bin/env python3
"""A small HTTP service that trusts AuthStack access tokens: the recipe of README.md beside this file, on the standard
library's http.server and verifier.py (PyJWT).

    GET /whoami    Authorization: Bearer <access token>
                   200 {"sub", "username", "sid", "exp"} for a valid token;
                   401 application/problem+json for anything else, with a WWW-Authenticate challenge:
                     no token             missing_token   Bearer realm="<audience>"
                     a token that fails   invalid_token   Bearer realm="<audience>", error="invalid_token"
                     only its exp fails   token_expired   (same challenge): refresh and retry
                   503 service_unavailable, Retry-After: 1, until the first keyring has arrived
    GET /healthz   200 while the process serves
    GET /readyz    200 once it holds a keyring, 503 before
    GET /metrics   the keyring follower's figures, with the Swift services' series names (Prometheus text)

Settings (environment; an invalid one stops it with status 2 and one line naming the variable, an unreadable client
token file with status 1):

    VERIFIER_HOST             127.0.0.1                address to listen on
    VERIFIER_PORT             8090                     1-65535
    VERIFIER_KEYS_URL         http://127.0.0.1:8083    the key service (http:// or https://, no query)
    VERIFIER_KEYS_TOKEN_FILE  keys/notes.token         a key-service client token with the verifier role
    VERIFIER_KEYS_WAIT        30                       seconds one keyring long-poll may wait, 1-60
    VERIFIER_ISSUER           authstack                the iss every token must carry (IDENTITY_ISSUER)
    VERIFIER_AUDIENCE         notes                    this service's name, which aud must contain (add it to
                                                       IDENTITY_AUDIENCES)
    VERIFIER_LEEWAY           30                       seconds of clock leeway for exp, iat, nbf, 0-300
    LOG_LEVEL                 info                     trace, debug, info, notice, warning, error or critical

Logs are JSON lines on standard output; never a token. SIGTERM or SIGINT stops it (status 0).
"""

import datetime
import http.server
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.parse

from verifier import (AccessTokenVerifier, KeyringFollower, KeyringUnavailable, TokenRejected, bearer_token,
                      parse_key_service_url, read_client_token)

NAME = "python-verifier"
LOG = logging.getLogger(NAME)
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}

# The titles of docs/design.md §5.6 (Sources/AuthStackCore/Problems/ProblemCode.swift), for the codes sent here.
PROBLEMS = {
    "missing_token": (401, "An access token is required"),
    "invalid_token": (401, "The access token is invalid"),
    "token_expired": (401, "The access token has expired"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "service_unavailable": (503, "The service is temporarily unavailable"),
}


# MARK: Settings


class InvalidSetting(Exception):
    def __init__(self, variable, reason):
        super().__init__(f"{variable}: {reason}")


def read_settings(environment):
    """The settings from `environment` (a mapping), or InvalidSetting naming the first variable that is wrong."""

    def text(variable, default, no_spaces=False):
        value = environment.get(variable, default)
        if not value or (no_spaces and any(c.isspace() for c in value)):
            raise InvalidSetting(variable, f"expected a non-empty value{' without spaces' if no_spaces else ''}")
        return value

    def number(variable, default, low, high, integer=True):
        value = environment.get(variable)
        if value is None:
            return default
        try:
            parsed = int(value) if integer else float(value)
        except ValueError:
            parsed = None
        if parsed is None or not low <= parsed <= high:
            kind = "an integer" if integer else "a number"
            raise InvalidSetting(variable, f"expected {kind} from {low} to {high}, got {value!r}")
        return parsed

    keys_url = text("VERIFIER_KEYS_URL", "http://127.0.0.1:8083")
    try:
        parse_key_service_url(keys_url)
    except ValueError as error:
        raise InvalidSetting("VERIFIER_KEYS_URL", str(error)) from None
    level = environment.get("LOG_LEVEL", "info")
    if level.lower() not in LOG_LEVELS:
        raise InvalidSetting("LOG_LEVEL", f"expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return {
        "host": text("VERIFIER_HOST", "127.0.0.1", no_spaces=True),
        "port": number("VERIFIER_PORT", 8090, 1, 65535),
        "keys_url": keys_url,
        "token_file": text("VERIFIER_KEYS_TOKEN_FILE", "keys/notes.token"),
        "keys_wait": number("VERIFIER_KEYS_WAIT", 30, 1, 60),
        "issuer": text("VERIFIER_ISSUER", "authstack", no_spaces=True),
        "audience": text("VERIFIER_AUDIENCE", "notes", no_spaces=True),
        "leeway": number("VERIFIER_LEEWAY", 30.0, 0, 300, integer=False),
        "log_level": LOG_LEVELS[level.lower()],
    }


# MARK: Logging


class JSONLines(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, and the record's `fields`, if any."""

    def format(self, record):
        moment = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": NAME,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONLines())
    logging.basicConfig(level=level, handlers=[handler], force=True)


# MARK: HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    """The routes of the module docstring. `server.verifier` and `server.follower` are set by main()."""

    protocol_version = "HTTP/1.1"   # keep-alive, every answer with a Content-Length
    server_version = NAME
    sys_version = ""
    timeout = 75                    # seconds an idle connection is kept, as the Swift services do

    ROUTES = {"/whoami": "whoami", "/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_OPTIONS(self):
        self.dispatch()

    def dispatch(self):
        self.started = time.monotonic()
        path = urllib.parse.urlsplit(self.path).path
        self.route = path if path in self.ROUTES else None
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True   # no route reads a body: the connection cannot be reused after one
        if self.route is None:
            self.send_problem("not_found", "No such route.")
        elif self.command != "GET":
            self.send_problem("method_not_allowed", "Only GET is served here.", {"Allow": "GET"})
        else:
            getattr(self, self.ROUTES[self.route])()

    def whoami(self):
        token = bearer_token(self.headers.get("Authorization"))
        realm = self.server.verifier.audience
        if token is None:
            self.send_problem("missing_token", "Send an access token as `Authorization: Bearer <token>`.",
                              {"WWW-Authenticate": f'Bearer realm="{realm}"'})
            return
        try:
            claims = self.server.verifier.verify(token)
        except KeyringUnavailable:
            self.send_problem("service_unavailable", "The service has no signing keys yet; retry shortly.",
                              {"Retry-After": "1"})
            return
        except TokenRejected as rejection:
            # One generic detail whatever failed (no oracle for forgers); the reason goes to the log only.
            detail = ("The access token has expired; refresh it." if rejection.code == "token_expired"
                      else "The access token is not valid here.")
            challenge = f'Bearer realm="{realm}", error="invalid_token"'
            self.send_problem(rejection.code, detail, {"WWW-Authenticate": challenge}, log={"reason": rejection.reason})
            return
        self.send_json(200, {name: claims.get(name) for name in ("sub", "username", "sid", "exp")})

    def healthz(self):
        self.send_json(200, {"status": "ok"})

    def readyz(self):
        if self.server.follower.current() is None:
            self.send_problem("service_unavailable", "No keyring from the key service yet.", {"Retry-After": "1"})
        else:
            self.send_json(200, {"status": "ready"})

    def metrics(self):
        stats = self.server.follower.stats()
        lines = [
            "# HELP keyring_version Version of the keyring this service holds (0 before the first)",
            "# TYPE keyring_version gauge",
            f"keyring_version {stats['version']}",
            "# HELP keyring_age_seconds Seconds since the key service last confirmed the held keyring (-1 before)",
            "# TYPE keyring_age_seconds gauge",
            f"keyring_age_seconds {stats['age_seconds']:.3f}",
            "# HELP keyring_fetch_failures_total Failed keyring fetches from the key service",
            "# TYPE keyring_fetch_failures_total counter",
            f"keyring_fetch_failures_total {stats['fetch_failures']}",
            "# HELP keyring_updates_total Keyrings installed",
            "# TYPE keyring_updates_total counter",
            f"keyring_updates_total {stats['updates']}",
            "# HELP keyring_unknown_kid_refreshes_total Tokens with an unknown kid, by what the follower did",
            "# TYPE keyring_unknown_kid_refreshes_total counter",
        ]
        lines += [f'keyring_unknown_kid_refreshes_total{{result="{result}"}} {count}'
                  for result, count in stats["unknown_kid_refreshes"].items()]
        self.send_body(200, "text/plain; version=0.0.4; charset=utf-8", ("\n".join(lines) + "\n").encode())

    # MARK: Answers

    def send_json(self, status, value):
        self.send_body(status, "application/json", json.dumps(value, separators=(",", ":")).encode(),
                       {"Cache-Control": "no-store"})

    def send_problem(self, code, detail, headers=None, log=None):
        """An RFC 9457 problem, as the Swift services write it: {type, title, status, detail, code}."""
        status, title = PROBLEMS[code]
        body = {"code": code, "detail": detail, "status": status, "title": title,
                "type": f"urn:authstack:problem:{code}"}
        self.send_body(status, "application/problem+json", json.dumps(body, sort_keys=True).encode(),
                       {"Cache-Control": "no-store", **(headers or {})}, log)

    def send_body(self, status, content_type, body, headers=None, log=None):
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        # One line per request: method, route (never the raw path or query), status, duration. Never a header.
        fields = {"method": self.command, "route": self.route or "unmatched", "status": status,
                  "duration_ms": round((time.monotonic() - self.started) * 1000, 3), **(log or {})}
        LOG.info("request", extra={"fields": fields})

    def log_message(self, format, *args):   # http.server's own messages (malformed requests, timeouts)
        LOG.debug(format % args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True   # a connection left open does not hold up the exit
    allow_reuse_address = True

    def __init__(self, address, verifier, follower):
        super().__init__(address, Handler)
        self.verifier = verifier
        self.follower = follower


# MARK: Main


def main():
    try:
        settings = read_settings(os.environ)
    except InvalidSetting as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        return 2
    configure_logging(settings["log_level"])
    try:
        token = read_client_token(settings["token_file"])
    except (OSError, ValueError) as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        return 1
    follower = KeyringFollower(settings["keys_url"], token, wait=settings["keys_wait"])
    verifier = AccessTokenVerifier(follower, issuer=settings["issuer"], audience=settings["audience"],
                                   leeway=settings["leeway"])
    try:
        server = Server((settings["host"], settings["port"]), verifier, follower)
    except OSError as error:
        address = f"{settings['host']}:{settings['port']}"
        print(f"{NAME}: cannot listen on {address}: {error.strerror or error}", file=sys.stderr)
        return 1

    def stop(signum, _frame):
        LOG.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        threading.Thread(target=server.shutdown, daemon=True).start()   # shutdown() waits for serve_forever()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    follower.start()
    LOG.info("listening", extra={"fields": {"address": f"http://{settings['host']}:{server.server_address[1]}",
                                            "audience": settings["audience"], "keys_url": settings["keys_url"]}})
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        follower.stop()
        server.server_close()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
