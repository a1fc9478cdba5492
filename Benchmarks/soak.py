#!/usr/bin/env python3
"""Soak: the services' memory under a sustained load, on SQLite and on PostgreSQL (issue 23, part 2).

    python3 Benchmarks/soak.py [--bin .build/release] [--backends sqlite,postgres] [--duration 60] [--warmup 10]
        [--interval 5] [--connections 32] [--bound MiB]

For each backend, starts the key, identity and notes services on it (PostgreSQL: a throwaway cluster from Debian's
packages on loopback, the databases of services/postgres/init-databases.sql, the password read from a file as in the
containers), then runs each scenario with wrk for `warmup` + `duration` seconds:

  GET /notes      the notes service's main request: a user with 3 notes, bearer token verified locally, one read
  POST /refresh   identity's: real rotation, every request presents an unused refresh token (wrk/post-refresh.lua)

and samples every service's RSS every `interval` seconds. A service's growth is its RSS at the end minus its RSS at
the end of the warm-up (allocator arenas, caches and pools fill during the warm-up and then stay). Prints one
Markdown table row per backend and scenario, and the RSS series of the service under load.

With `--bound`, exits 1 when any service grew by more than that many MiB in any scenario: CI runs
`--bin .build/debug --bound 20`, the bound of issue 23 (the PostgreSQL pool's cancelled timers grew a notes replica
by 220 MiB in 2 minutes before its fix). Loopback only; nothing else should run while it measures.
"""

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "scripts")]
sys.dont_write_bytecode = True  # no __pycache__ left in the work tree
from run import rss_mib, wrk  # noqa: E402  (Benchmarks/run.py)
from stacklib import Failure, PostgresCluster, Services  # noqa: E402  (scripts/stacklib.py)

ROOT = os.path.dirname(HERE)
INIT_SQL = os.path.join(ROOT, "services/postgres/init-databases.sql")
PASSWORD = "soak password"


def start_stack(binaries, work, backend):
    """The three services on `backend`, ready; and the cluster to stop afterwards (None on SQLite)."""
    postgres = None
    options = {}
    if backend == "postgres":
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user and needs to reach its directory
        password = secrets.token_urlsafe(24)
        password_file = os.path.join(work, "postgres.password")
        with open(os.open(password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(password + "\n")
        postgres = PostgresCluster(os.path.join(work, "pg"), password, init_sql=INIT_SQL)
        postgres.start()
        options = {"postgres": postgres, "password_file": password_file}
    stack = Services(binaries, work, timeout=30, **options, IDENTITY_ACCESS_TTL=3600,
                     # Every request comes from 127.0.0.1: the per-address limits would measure the throttle.
                     IDENTITY_SIGNUPS_PER_IP_PER_MINUTE=10000000, IDENTITY_REFRESHES_PER_IP_PER_MINUTE=10000000,
                     IDENTITY_LOGIN_FAILURES_PER_IP=10000000, IDENTITY_SCRYPT_LOG_N=12)
    try:
        stack.init()
        for name in ("keys", "identity", "notes"):
            stack.start(name, limit=60)
    except BaseException:
        stack.stop()
        if postgres:
            postgres.stop()
        raise
    return stack, postgres


def soak(stack, service, url, script, env, warmup, duration, interval, connections):
    """Runs `script` against `url` for warmup + duration seconds; samples every service's RSS meanwhile."""
    pids = {name: stack.pid(name) for name in stack.processes}
    result = {}

    def load():
        try:
            result["figures"] = wrk(url, script, warmup + duration, connections, env)
        except SystemExit as failure:  # run.wrk exits on a wrk failure: report it from the main thread
            result["failure"] = str(failure)

    samples = []  # (seconds since the start, {service: RSS MiB})
    started = time.monotonic()
    thread = threading.Thread(target=load)
    thread.start()
    baseline = None
    next_sample = 0.0
    while thread.is_alive():
        now = time.monotonic() - started
        if now >= next_sample:
            samples.append((now, {name: rss_mib(pid) for name, pid in pids.items()}))
            if baseline is None and now >= warmup:
                baseline = samples[-1]
            next_sample += interval
        time.sleep(0.05)
    thread.join()
    if "failure" in result:
        raise Failure(result["failure"])
    end = (time.monotonic() - started, {name: rss_mib(pid) for name, pid in pids.items()})
    samples.append(end)
    baseline = baseline or samples[0]
    figures = result["figures"]
    failed = sum(figures[k] for k in ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "service": service,
        "figures": figures,
        "failed": failed,
        "samples": samples,
        "baseline": baseline[1],
        "end": end[1],
        "growth": {name: end[1][name] - baseline[1][name] for name in pids},
    }


def refresh_tokens(stack, work, count):
    """`count` refresh tokens of fresh sessions, one per line, for wrk/post-refresh.lua."""
    path = os.path.join(work, "refresh.tokens")
    with open(path, "w") as f:
        for _ in range(count):
            answer = stack.call("identity", "POST", "/login", body={"username": "soak", "password": PASSWORD})
            if answer.status != 200:
                raise Failure(f"login answered {answer}")
            f.write(answer.document()["refresh_token"] + "\n")
    return path


def run_backend(binaries, backend, arguments):
    work = tempfile.mkdtemp(prefix=f"authstack-soak-{backend}-")
    stack = postgres = None
    try:
        stack, postgres = start_stack(binaries, work, backend)
        time.sleep(1)
        idle = {name: rss_mib(stack.pid(name)) for name in stack.processes}
        answer = stack.call("identity", "POST", "/signup", body={"username": "soak", "password": PASSWORD})
        if answer.status != 201:
            raise Failure(f"signup answered {answer}")
        access = answer.document()["access_token"]
        for i in range(3):
            answer = stack.call("notes", "POST", "/notes", body={"title": f"note {i}", "body": "soak"}, token=access)
            if answer.status != 201:
                raise Failure(f"POST /notes answered {answer}")
        shape = (arguments.warmup, arguments.duration, arguments.interval, arguments.connections)
        runs = [
            ("GET /notes", soak(stack, "notes", f"{stack.url('notes')}/notes", "get-notes.lua", {"WRK_TOKEN": access}, *shape)),
            ("POST /refresh", soak(stack, "identity", f"{stack.url('identity')}/refresh", "post-refresh.lua",
                                   {"WRK_TOKENS_FILE": refresh_tokens(stack, work, arguments.connections + 2)}, *shape)),
        ]
        for name, process in stack.processes.items():
            if process.poll() is not None:
                raise Failure(f"{name} exited ({process.returncode}) during the soak; see {work}/{name}.log")
        return idle, runs
    finally:
        if stack:
            stack.stop()
        if postgres:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma list of sqlite, postgres")
    parser.add_argument("--duration", type=int, default=60, help="seconds of measured load per scenario")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of load before the baseline sample")
    parser.add_argument("--interval", type=int, default=5, help="seconds between RSS samples")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bound", type=float, help="MiB: exit 1 when a service grows by more in any scenario")
    arguments = parser.parse_args()
    backends = [b.strip() for b in arguments.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        sys.exit(f"soak: --backends takes sqlite and/or postgres, not {arguments.backends!r}")
    if shutil.which("wrk") is None:
        sys.exit("soak: wrk is missing (Debian: apt-get install -y wrk)")
    binaries = os.path.abspath(arguments.bin)
    if not os.access(os.path.join(binaries, "authctl"), os.X_OK):
        sys.exit(f"soak: no authctl in {binaries} (build first: swift build -c release)")

    print(f"soak: {binaries}; wrk 1 thread, {arguments.connections} connections, {arguments.warmup} s warm-up + "
          f"{arguments.duration} s measured per scenario; RSS every {arguments.interval} s", flush=True)
    results = []
    try:
        for backend in backends:
            idle, runs = run_backend(binaries, backend, arguments)
            results.append((backend, idle, runs))
            for scenario, run in runs:
                series = " ".join(f"{sample[1][run['service']]:.0f}" for sample in run["samples"])
                print(f"soak: {backend} {scenario}: {run['figures']['requests']:,} requests; {run['service']} RSS MiB "
                      f"every {arguments.interval} s: {series}", flush=True)
    except Failure as failure:
        sys.exit(f"soak: {failure}")

    print("\n| backend | scenario | requests | req/s | failed | service under load: idle → after warm-up → end, MiB "
          "| growth, MiB (every service) |")
    print("|---|---|---:|---:|---:|---|---|")
    over = []
    for backend, idle, runs in results:
        for scenario, run in runs:
            s, f = run["service"], run["figures"]
            growth = ", ".join(f"{name} {value:+.1f}" for name, value in run["growth"].items())
            print(f"| {backend} | {scenario} | {f['requests']:,} | {f['rps']:,.0f} | {run['failed']} | "
                  f"{idle[s]:.1f} → {run['baseline'][s]:.1f} → {run['end'][s]:.1f} | {growth} |")
            if arguments.bound is not None:
                over += [f"{backend} {scenario}: {name} grew {value:.1f} MiB" for name, value in run["growth"].items()
                         if value > arguments.bound]
            if run["failed"]:
                over.append(f"{backend} {scenario}: {run['failed']} requests failed")
    if over:
        print(f"\nsoak: FAIL (bound {arguments.bound} MiB per service): " + "; ".join(over), file=sys.stderr)
        sys.exit(1)
    if arguments.bound is not None:
        print(f"\nsoak: PASS: no service grew by more than {arguments.bound:g} MiB")


if __name__ == "__main__":
    main()
