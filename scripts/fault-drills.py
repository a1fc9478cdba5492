#!/usr/bin/env python3
"""Fault drills (issue 8): crash and graceful stop under write load, against the real service binaries on loopback.

    python3 scripts/fault-drills.py [BIN_DIR]        (default .build/debug; build first: swift build)

1. crash: `kill -9` of identity and of notes while clients sign up, refresh and write notes; restart both on the same
   databases; then every acknowledged write (2xx signup, refresh, note) must be there, no username twice, and
   `PRAGMA integrity_check` must say ok.
2. graceful stop: SIGTERM to notes while clients write; every request that got an answer got a complete, valid one
   (2xx or a clean refusal), nothing acknowledged is lost, and the process exits 0.
3. key-service outage: the key service is stopped (SIGTERM, process gone) for KEY_OUTAGE_SECONDS (default 30) while
   clients sign up, log in, refresh and write notes: every one of those requests must succeed (identity keeps signing
   with the keyring it holds, notes keeps verifying). Then it restarts on the same port and database, a forced
   rotation is made, and both followers must pick it up (identity signs with the new kid, notes accepts it).

Prints each drill's figures; exits 1 at the first broken promise. Standard library only; loopback only.
"""

import http.client
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
from stacklib import Failure, Services, kid_of, read_token  # noqa: E402  (scripts/stacklib.py)

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/debug")
WORK = tempfile.mkdtemp(prefix="authstack-faults-")
SERVICES = Services(BIN, WORK, IDENTITY_SCRYPT_LOG_N=12, IDENTITY_SIGNUPS_PER_IP_PER_MINUTE=100000,
                    IDENTITY_REFRESHES_PER_IP_PER_MINUTE=1000000)
processes = SERVICES.processes


def fail(message):
    print(f"fault-drills: FAIL: {message}", flush=True)
    stop_all()
    sys.exit(1)


def start(name):
    try:
        return SERVICES.start(name)
    except Failure as failure:
        fail(str(failure))


def stop_all():
    SERVICES.stop()


def call(name, method, path, body=None, token=None):
    answer = SERVICES.call(name, method, path, body=body, token=token)
    try:
        return answer.status, answer.document()
    except ValueError:
        fail(f"{method} {path} answered {answer.status} with a body that is not JSON: {answer.raw[:120]!r}")


class Ledger:
    """What the services acknowledged: every 2xx answer, as the clients saw it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}      # username -> (password, user id)
        self.notes = {}      # note id -> (owner username, title)
        self.refreshes = 0
        self.answers = {}    # status -> count
        self.errors = 0      # connection refused/reset: the service was down

    def answered(self, status):
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1


def client(index, ledger, stop, prefix):
    round_ = 0
    tokens = None
    name = password = None
    while not stop.is_set():
        round_ += 1
        try:
            if tokens is None:
                name, password = f"{prefix}-{index}-{round_}", f"password {index} {round_}"
                status, data = call("identity", "POST", "/signup", {"username": name, "password": password})
                ledger.answered(status)
                if status == 201:
                    with ledger.lock:
                        ledger.users[name] = (password, None)
                    tokens = data
                elif status == 409:
                    # A signup acknowledged just before a crash whose answer was lost: the name exists, log in.
                    status, data = call("identity", "POST", "/login", {"username": name, "password": password})
                    ledger.answered(status)
                    if status == 200:
                        with ledger.lock:
                            ledger.users[name] = (password, None)
                        tokens = data
                continue
            title = f"note {index}-{round_}"
            status, data = call("notes", "POST", "/notes", {"title": title, "body": "fault drill"}, token=tokens["access_token"])
            ledger.answered(status)
            if status == 201:
                with ledger.lock:
                    ledger.notes[data["id"]] = (name, title)
            if round_ % 20 == 0:
                tokens = None  # a new user now and then, so that signups are in flight when the crash comes
                continue
            if round_ % 3 == 0:
                status, data = call("identity", "POST", "/refresh", {"refresh_token": tokens["refresh_token"]})
                ledger.answered(status)
                if status == 200:
                    tokens = data
                    with ledger.lock:
                        ledger.refreshes += 1
                elif status == 401:
                    tokens = None  # the session is gone (a refresh lost in a crash looks like reuse): start over
        except (OSError, http.client.HTTPException):
            with ledger.lock:
                ledger.errors += 1
            time.sleep(0.02)


def run_load(seconds_before, action, clients=6, prefix="crash"):
    ledger, stop = Ledger(), threading.Event()
    threads = [threading.Thread(target=client, args=(i, ledger, stop, prefix)) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds_before)
    result = action()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    return ledger, result


def stop_and_restart(name, down=0.0):
    """SIGTERM to service `name`, `down` seconds with it gone, then its restart on the same port and database:
    (exit status, seconds from SIGTERM to exit, seconds gone, seconds from the restart to ready)."""
    process = processes[name]
    process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    code = process.wait(30)
    exited = time.monotonic()
    time.sleep(down)
    gone = time.monotonic() - exited
    return code, exited - signalled, gone, start(name)


def verify(ledger, label):
    missing_users = []
    for name, (password, _) in ledger.users.items():
        status, _ = call("identity", "POST", "/login", {"username": name, "password": password})
        if status != 200:
            missing_users.append((name, status))
    owners = {}
    for note_id, (owner, title) in ledger.notes.items():
        owners.setdefault(owner, []).append((note_id, title))
    missing_notes = []
    for owner, notes in owners.items():
        status, data = call("identity", "POST", "/login", {"username": owner, "password": ledger.users[owner][0]})
        token = data.get("access_token")
        for note_id, title in notes:
            status, data = call("notes", "GET", f"/notes/{note_id}", token=token)
            if status != 200 or data.get("title") != title:
                missing_notes.append((note_id, status))
    if missing_users or missing_notes:
        fail(f"{label}: acknowledged writes lost: users {missing_users[:5]}, notes {missing_notes[:5]}")
    for database in ("identity", "notes"):
        with sqlite3.connect(f"{WORK}/{database}.sqlite") as connection:
            result = connection.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                fail(f"{label}: {database} integrity_check: {result}")
    with sqlite3.connect(f"{WORK}/identity.sqlite") as connection:
        duplicates = connection.execute("SELECT username_key, COUNT(*) FROM users GROUP BY username_key HAVING COUNT(*) > 1").fetchall()
        if duplicates:
            fail(f"{label}: duplicate users {duplicates[:5]}")


def main():
    SERVICES.init()
    for name in ("keys", "identity", "notes"):
        start(name)

    # 1. Crash.
    def crash():
        figures = {}
        for name in ("identity", "notes"):
            processes[name].kill()  # SIGKILL: no graceful anything
            processes[name].wait()
            time.sleep(0.3)
            figures[name] = start(name)
        return figures

    ledger, restart = run_load(3, crash)
    if any(status >= 500 and status != 503 for status in ledger.answers):
        fail(f"crash: server errors {ledger.answers}")
    verify(ledger, "crash")
    print(f"fault-drills: crash: kill -9 of identity and notes under load from 6 clients; restarted in "
          f"{restart['identity']:.2f} s and {restart['notes']:.2f} s; acknowledged {len(ledger.users)} signups, "
          f"{ledger.refreshes} refreshes, {len(ledger.notes)} notes — all present; no duplicate user; integrity ok; "
          f"answers {dict(sorted(ledger.answers.items()))}, {ledger.errors} connection errors while down", flush=True)

    # 2. Graceful stop of notes under load: in-flight requests complete, then the process exits 0.
    ledger, (code, elapsed, _, restarted) = run_load(2, lambda: stop_and_restart("notes"), prefix="graceful")
    if code != 0:
        fail(f"graceful stop: notes exited {code} after SIGTERM")
    # 503 + Retry-After is the designed, clean refusal of a service that is starting (no keyring yet); any other 5xx is a bug.
    if any(status >= 500 and status != 503 for status in ledger.answers):
        fail(f"graceful stop: server errors {ledger.answers}")
    verify(ledger, "graceful stop")
    print(f"fault-drills: graceful stop: SIGTERM to notes under load; exited 0 in {elapsed:.2f} s, back in {restarted:.2f} s; "
          f"{len(ledger.notes)} acknowledged notes all present; answers {dict(sorted(ledger.answers.items()))}, "
          f"{ledger.errors} refused connections while down", flush=True)
    # 3. Key-service outage under load: nothing that identity or notes answers may fail while it is gone.
    outage_seconds = float(os.environ.get("KEY_OUTAGE_SECONDS", "30"))
    ledger, (code, _, down_for, restarted) = run_load(2, lambda: stop_and_restart("keys", outage_seconds), prefix="outage")
    if code != 0:
        fail(f"key-service outage: the key service exited {code} after SIGTERM")
    failed = {status: count for status, count in ledger.answers.items() if status >= 400}
    if failed or ledger.errors:
        fail(f"key-service outage: valid requests failed while the key service was down: answers {ledger.answers}, "
             f"{ledger.errors} connection errors")
    verify(ledger, "key-service outage")
    answered = sum(ledger.answers.values())

    # The followers resume: a forced rotation reaches identity (it signs with the new kid) and notes (it accepts it).
    admin = read_token(SERVICES.keys_dir, "admin")
    user, password = f"resume-{os.getpid()}", "password resume"
    status, _ = call("identity", "POST", "/signup", {"username": user, "password": password})
    if status != 201:
        fail(f"key-service outage: signup after the restart answered {status}")
    status, rotated = call("keys", "POST", "/v1/keys/rotate?force=true", token=admin)
    if status != 200:
        fail(f"key-service outage: forced rotation after the restart answered {status}")
    rotated_at, resumed = time.monotonic(), None
    while time.monotonic() - rotated_at < 10:
        status, tokens = call("identity", "POST", "/login", {"username": user, "password": password})
        if status == 200 and kid_of(tokens["access_token"]) == rotated["current_kid"]:
            if call("notes", "GET", "/notes", token=tokens["access_token"])[0] == 200:
                resumed = time.monotonic() - rotated_at
                break
        time.sleep(0.05)
    if resumed is None:
        fail("key-service outage: 10 s after the restart's rotation, identity and notes had not both picked it up")
    print(f"fault-drills: key-service outage: key service stopped for {down_for:.1f} s under load from 6 clients; "
          f"{answered} requests answered, all 2xx ({len(ledger.users)} signups, {ledger.refreshes} refreshes, "
          f"{len(ledger.notes)} notes — all present), 0 failed, 0 connection errors; restarted in {restarted:.2f} s; "
          f"a forced rotation then reached identity and notes in {resumed:.2f} s (login + notes request included)",
          flush=True)
    stop_all()
    print("fault-drills: PASS", flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
