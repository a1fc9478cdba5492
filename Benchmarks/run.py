#!/usr/bin/env python3
"""HTTP benchmarks of the AuthStack services (issue 9): release builds, loopback, wrk.

    swift build -c release && python3 Benchmarks/run.py [--bin .build/release] [--duration 10] [--connections 32]

Starts the key, identity and notes services from BIN on SQLite in a temporary directory (nothing else shares their
files), then measures, one scenario at a time:

  GET /notes      a user with 3 notes, bearer token verified locally, one SQLite read
  POST /notes     one durable insert
  POST /refresh   real rotation: every request presents an unused refresh token (see Benchmarks/wrk/post-refresh.lua)
  POST /login     one password hash per request; and POST /refresh latency while logins flood the hashing pool

For each: requests/s, p50/p99 latency (wrk --latency), server CPU per request (utime + stime of the service process
from /proc, divided by the requests answered), RSS after the run; plus RSS when idle and the time from process start
to /readyz = 200. Prints a Markdown table (paste it into docs/benchmarks.md with the machine details it prints).
Throughput figures are only comparable within one run on one machine: nothing else should be running.
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Stack:
    def __init__(self, binaries, work):
        self.binaries, self.work = binaries, work
        self.ports = {"keys": free_port(), "identity": free_port(), "notes": free_port()}
        self.processes, self.ready = {}, {}

    def environment(self, name):
        w, p = self.work, self.ports
        common = {"LOG_LEVEL": "warning", "IDENTITY_ACCESS_TTL": "3600",
                  # Every request comes from 127.0.0.1: the per-address limits would measure the throttle, not the path.
                  "IDENTITY_SIGNUPS_PER_IP_PER_MINUTE": "10000000", "IDENTITY_REFRESHES_PER_IP_PER_MINUTE": "10000000",
                  "IDENTITY_LOGIN_FAILURES_PER_IP": "10000000"}
        own = {
            "keys": {"KEYS_PORT": p["keys"], "KEYS_DATABASE_PATH": f"{w}/keys.sqlite", "KEYS_SECRETS_DIR": f"{w}/keys"},
            "identity": {"IDENTITY_PORT": p["identity"], "IDENTITY_DATABASE_PATH": f"{w}/identity.sqlite",
                         "IDENTITY_KEYS_URL": f"http://127.0.0.1:{p['keys']}", "IDENTITY_KEYS_TOKEN_FILE": f"{w}/keys/identity.token"},
            "notes": {"NOTES_PORT": p["notes"], "NOTES_DATABASE_PATH": f"{w}/notes.sqlite",
                      "NOTES_KEYS_URL": f"http://127.0.0.1:{p['keys']}", "NOTES_KEYS_TOKEN_FILE": f"{w}/keys/notes.token"},
        }[name]
        return dict(os.environ, **common, **{k: str(v) for k, v in own.items()})

    def start(self, name, binary):
        log = open(f"{self.work}/{name}.log", "ab")
        started = time.monotonic()
        process = subprocess.Popen([f"{self.binaries}/{binary}"], env=self.environment(name), stdout=log, stderr=log)
        self.processes[name] = process
        while time.monotonic() - started < 30:
            try:
                if self.call(name, "GET", "/readyz")[0] == 200:
                    self.ready[name] = time.monotonic() - started
                    return
            except OSError:
                pass
            if process.poll() is not None:
                sys.exit(f"bench: {name} exited during start-up; see {self.work}/{name}.log")
            time.sleep(0.005)
        sys.exit(f"bench: {name} not ready within 30 s")

    def call(self, name, method, path, body=None, token=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.ports[name], timeout=30)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, (json.loads(raw) if raw else {})

    def pid(self, name):
        return self.processes[name].pid

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wrk(url, script, duration, connections, env):
    command = ["wrk", "--latency", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "-s", f"{HERE}/wrk/{script}", url]
    result = subprocess.run(command, env=dict(os.environ, WRK_LUA_DIR=f"{HERE}/wrk", **env), capture_output=True, text=True)
    line = next((l for l in result.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        sys.exit(f"bench: wrk failed: {result.stdout}{result.stderr}")
    figures = json.loads(line[len("WRK_JSON "):])
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def measure(stack, service, url, script, duration, connections, env):
    pid = stack.pid(service)
    before = cpu_seconds(pid)
    figures = wrk(url, script, duration, connections, env)
    figures["cpu_us"] = (cpu_seconds(pid) - before) / max(figures["requests"], 1) * 1e6
    figures["rss_mib"] = rss_mib(pid)
    return figures


def row(name, f, note=""):
    failed = f["non2xx"] + f["connect_errors"] + f["read_errors"] + f["write_errors"] + f["timeouts"]
    return (f"| {name} | {f['rps']:,.0f} | {f['p50_us'] / 1000:.2f} | {f['p99_us'] / 1000:.2f} | {f['cpu_us']:.0f} | "
            f"{f['rss_mib']:.1f} | {failed} | {note} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()
    binaries = os.path.abspath(arguments.bin)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is missing (Debian: apt-get install -y wrk)")
    work = tempfile.mkdtemp(prefix="authstack-bench-")
    stack = Stack(binaries, work)
    try:
        subprocess.run([f"{binaries}/authctl", "init", "--keys-dir", f"{work}/keys"], check=True, stdout=subprocess.DEVNULL)
        for name, binary in (("keys", "key-service"), ("identity", "identity-service"), ("notes", "notes-service")):
            stack.start(name, binary)
        time.sleep(1)
        idle = {name: rss_mib(stack.pid(name)) for name in stack.processes}

        password = "benchmark password"
        status, tokens = stack.call("identity", "POST", "/signup", {"username": "bench", "password": password})
        assert status == 201, status
        access = tokens["access_token"]
        for i in range(3):
            assert stack.call("notes", "POST", "/notes", {"title": f"note {i}", "body": "seed"}, token=access)[0] == 201
        # One login's wall time ≈ one hash (sequential, nothing else running).
        hashes = []
        for _ in range(7):
            started = time.monotonic()
            assert stack.call("identity", "POST", "/login", {"username": "bench", "password": password})[0] == 200
            hashes.append(time.monotonic() - started)
        one_login = sorted(hashes)[len(hashes) // 2]

        d, c = arguments.duration, arguments.connections
        notes_url, identity_url = f"http://127.0.0.1:{stack.ports['notes']}", f"http://127.0.0.1:{stack.ports['identity']}"
        results = {}
        results["GET /notes"] = measure(stack, "notes", f"{notes_url}/notes", "get-notes.lua", d, c, {"WRK_TOKEN": access})
        results["POST /notes"] = measure(stack, "notes", f"{notes_url}/notes", "post-notes.lua", d, c, {"WRK_TOKEN": access})

        def refresh_tokens(count, prefix):
            path = f"{work}/{prefix}.tokens"
            with open(path, "w") as f:
                for _ in range(count):
                    status, data = stack.call("identity", "POST", "/login", {"username": "bench", "password": password})
                    assert status == 200, status
                    f.write(data["refresh_token"] + "\n")
            return path

        results["POST /refresh"] = measure(stack, "identity", f"{identity_url}/refresh", "post-refresh.lua", d, c,
                                           {"WRK_TOKENS_FILE": refresh_tokens(c + 2, "refresh")})
        for i in range(16):
            assert stack.call("identity", "POST", "/signup", {"username": f"login-{i}", "password": password})[0] == 201
        login_env = {"WRK_USERNAME": "login", "WRK_PASSWORD": password, "WRK_ACCOUNTS": "16"}
        results["POST /login"] = measure(stack, "identity", f"{identity_url}/login", "post-login.lua", d, 8, login_env)

        # Refresh latency while logins flood the hashing pool: both wrk runs at once.
        tokens_path = refresh_tokens(4 + 2, "flood")
        flood = subprocess.Popen(["wrk", "-t", "1", "-c", "16", "-d", f"{d + 2}s", "-s", f"{HERE}/wrk/post-login.lua", f"{identity_url}/login"],
                                 env=dict(os.environ, WRK_LUA_DIR=f"{HERE}/wrk", **login_env), stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        results["POST /refresh during a login flood"] = measure(stack, "identity", f"{identity_url}/refresh", "post-refresh.lua", d, 4,
                                                                  {"WRK_TOKENS_FILE": tokens_path})
        flood_out = flood.communicate()[0]
        flood_line = next((l for l in flood_out.splitlines() if l.startswith("WRK_JSON ")), "WRK_JSON {}")
        flood_figures = json.loads(flood_line[len("WRK_JSON "):])

        cores = os.cpu_count()
        print(f"\nMachine: {platform.machine()}, {cores} cores, {platform.platform()}; binaries {binaries}; wrk 1 thread, "
              f"{c} connections (login: 8), {d} s per scenario; SQLite in WAL mode, synchronous=NORMAL (GRDB's default).\n")
        print("| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | RSS after, MiB | failed | note |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        print(row("GET /notes (3 notes)", results["GET /notes"]))
        print(row("POST /notes", results["POST /notes"]))
        print(row("POST /refresh (rotation)", results["POST /refresh"]))
        login_ceiling = cores / one_login
        print(row("POST /login", results["POST /login"],
                  f"one login alone {one_login * 1000:.0f} ms → ceiling {login_ceiling:.1f}/s; "
                  f"{results['POST /login']['rps'] / login_ceiling * 100:.0f} % of it"))
        print(row("POST /refresh during a login flood", results["POST /refresh during a login flood"],
                  f"flood: {flood_figures.get('requests', 0)} logins answered, {flood_figures.get('non2xx', 0)} non-2xx (503 = shed)"))
        print(f"\nIdle RSS: " + ", ".join(f"{name} {value:.1f} MiB" for name, value in idle.items())
              + ". Start to ready: " + ", ".join(f"{name} {value * 1000:.0f} ms" for name, value in stack.ready.items()) + ".")
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
