#!/usr/bin/env python3
"""HTTP benchmarks of the AuthStack services (issue 9): release builds, loopback, wrk.

    swift build -c release && python3 Benchmarks/run.py [--bin .build/release] [--duration 10] [--connections 32]
        [--peers auto|none|go,express,express-cluster,fastapi,nginx] [--rounds 1] [--only-get-notes]

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

GET /notes side by side with its peers (Benchmarks/peers/: Go net/http + golang-jwt, Express + jose, the same on
node:cluster, FastAPI + PyJWT, and nginx answering the same bytes as a ceiling), in the same run with the same wrk
settings and the same access token, minted by the identity service. The peers verify it against the keyring the key
service publishes, fetched with the notes service's own client token. Before anything is measured, every server
(the notes service too) must answer the real token 200 with the same notes, and 401 to forged ones (bad MAC, alg
none/HS512, wrong typ, unknown kid, crit, expired, wrong aud/iss, empty sub, no exp, iat/nbf ahead); a server that
fails gets no figures, only its failures. Each server gets `--warmup` seconds of load first; with `--rounds N` the
servers take turns N times and the median round is shown. CPU and memory of a multi-process server are summed over
its process tree. A peer whose toolchain is missing is reported "not installed" (Benchmarks/peers/setup.sh installs
them); the run goes on without it.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "peers"), os.path.join(os.path.dirname(HERE), "scripts")]
sys.dont_write_bytecode = True  # no __pycache__ left in the work tree
import peers  # noqa: E402  (Benchmarks/peers/peers.py)
from stacklib import Failure, Services, free_port, jwt_claims, read_token  # noqa: E402  (scripts/stacklib.py)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def process_tree(root):
    """`root` and every process descended from it (workers of nginx, uvicorn, node:cluster)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root):
    total = 0.0
    for pid in process_tree(root):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def tree_memory_mib(root):
    """(RSS, PSS) summed over the tree. RSS counts shared pages once per process; PSS splits them between the sharers,
    so it is the fairer sum for a master and its workers."""
    rss = pss = 0.0
    for pid in process_tree(root):
        try:
            rss += rss_mib(pid)
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024
        except (OSError, StopIteration):
            pass
    return rss, pss


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


class Server:
    """One row of the side-by-side GET /notes table: the notes service or a peer. `problem` says why it has no figures."""

    def __init__(self, name, label, setup, port=None, pid=None):
        self.name, self.label, self.setup, self.port, self.pid = name, label, setup, port, pid
        self.process, self.problem, self.rounds = None, None, []

    def median(self):
        return sorted(self.rounds, key=lambda f: f["rps"])[len(self.rounds) // 2]


def keyring_document(stack):
    """The keyring as the key service publishes it, fetched like the notes service does (GET /v1/keyring with its
    verifier-role client token, keys/notes.token from `authctl init`): the peers verify with the same keys."""
    answer = stack.call("keys", "GET", "/v1/keyring", token=read_token(stack.keys_dir, "notes"), timeout=10)
    if answer.status != 200:
        sys.exit(f"bench: the key service answered {answer.status} to GET /v1/keyring")
    return answer.raw


def start_peer(peer, work, files):
    server = Server(peer.name, peer.label, peer.setup)
    reason = peer.missing()
    if reason:
        server.problem = f"not installed: {reason}; `{peers.SETUP}` installs it"
        return server
    server.port = free_port()
    log_path = f"{work}/peer-{peer.name}.log"
    try:
        command, env, cwd = peer.launch(work, server.port, files)
    except (RuntimeError, OSError) as error:
        print(f"bench: peer {peer.name} could not be prepared: {error}", file=sys.stderr)
        server.problem = f"could not be prepared: {str(error).splitlines()[0]} (details above the table)"
        return server
    with open(log_path, "ab") as log:
        # A session of its own: the peer's workers are its process group, stopped together in stop_peer.
        server.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log, start_new_session=True)
    server.pid = server.process.pid
    started = time.monotonic()
    while time.monotonic() - started < 30:
        try:
            peers.get_notes(server.port, None)
            time.sleep(0.5)  # every worker of a multi-process peer up, not only the first
            return server
        except OSError:
            pass
        if server.process.poll() is not None:
            break
        time.sleep(0.05)
    with open(log_path, errors="replace") as f:
        tail = f.read()[-2000:]
    server.problem = "did not start" + (f" (exit {server.process.returncode})" if server.process.poll() is not None else " within 30 s")
    print(f"bench: peer {peer.name} {server.problem}; its log:\n{tail}", file=sys.stderr)
    stop_peer(server)
    return server


def stop_peer(server):
    process = server.process
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the group this script started: the peer and its workers
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def measure_server(server, token, duration, connections, warmup):
    url, env = f"http://127.0.0.1:{server.port}/notes", {"WRK_TOKEN": token}
    if warmup > 0:
        wrk(url, "get-notes.lua", warmup, connections, env)
    before = tree_cpu_seconds(server.pid)
    figures = wrk(url, "get-notes.lua", duration, connections, env)
    figures["cpu_us"] = (tree_cpu_seconds(server.pid) - before) / max(figures["requests"], 1) * 1e6
    figures["rss_mib"], figures["pss_mib"] = tree_memory_mib(server.pid)
    figures["processes"] = len(process_tree(server.pid))
    server.rounds.append(figures)


def compare_get_notes(stack, work, access, selected, duration, connections, warmup, rounds):
    """GET /notes of the notes service and of every selected peer: self-check, then `rounds` turns of measurement.
    Returns the servers, the notes service first."""
    ours = Server("notes", "**AuthStack notes service**", "1 process; a SQLite read per request",
                  port=stack.ports["notes"], pid=stack.pid("notes"))
    status, body = peers.get_notes(ours.port, access)
    page = json.loads(body)
    assert status == 200 and len(page["notes"]) == 3 and page["next_cursor"] is None, (status, body)
    keyring_raw = keyring_document(stack)
    keyring = json.loads(keyring_raw)
    subject = jwt_claims(access)["sub"]
    files = {"keyring": f"{work}/peers/keyring.json", "notes": f"{work}/peers/notes.json", "body": body}
    os.makedirs(f"{work}/peers", mode=0o700)
    with open(os.open(files["keyring"], os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(keyring_raw)
    with open(files["notes"], "w") as f:
        json.dump({subject: page["notes"]}, f)

    failures = peers.self_check(ours.port, access, keyring, page, problem_codes=True)
    if failures:
        sys.exit("bench: the notes service failed the token self-check (the harness's forged tokens or the service "
                 "are wrong):\n  " + "\n  ".join(failures))
    servers = [ours]
    try:
        for peer in selected:
            if peer.name == "go" and not peer.missing():
                print("bench: building the Go peer", file=sys.stderr)
            server = start_peer(peer, work, files)
            servers.append(server)
            if server.problem:
                continue
            failures = peers.self_check(server.port, access, keyring, page, checks_tokens=peer.name != "nginx")
            if failures:
                server.problem = "FAILED the token self-check, not measured: " + "; ".join(failures)
                print(f"bench: PEER {peer.name} FAILED THE TOKEN SELF-CHECK:\n  " + "\n  ".join(failures), file=sys.stderr)
                stop_peer(server)
        for _ in range(rounds):
            for server in servers:
                if server.problem is None:
                    measure_server(server, access, duration, connections, warmup)
    finally:
        for server in servers[1:]:
            stop_peer(server)
    return servers


def comparison_rows(servers):
    ours = servers[0].median()["rps"]
    lines = ["| server | setup | req/s | × notes service | p50 ms | p99 ms | server CPU µs/req | RSS MiB | PSS MiB | failed | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for server in servers:
        if server.problem:
            problem = " ".join(server.problem.split()).replace("|", "\\|")
            lines.append(f"| {server.label} | {server.setup} | – | – | – | – | – | – | – | – | {problem} |")
            continue
        f = server.median()
        failed = f["non2xx"] + f["connect_errors"] + f["read_errors"] + f["write_errors"] + f["timeouts"]
        notes = [f"{f['processes']} processes, CPU and memory summed"] if f["processes"] > 1 else []
        if len(server.rounds) > 1:
            low, high = min(r["rps"] for r in server.rounds), max(r["rps"] for r in server.rounds)
            notes.append(f"{len(server.rounds)} rounds: {low:,.0f}–{high:,.0f} req/s")
        if server.name == "nginx":
            notes.append("no token check, fixed body")
        lines.append(f"| {server.label} | {server.setup} | {f['rps']:,.0f} | {f['rps'] / ours:.2f} | {f['p50_us'] / 1000:.2f} | "
                     f"{f['p99_us'] / 1000:.2f} | {f['cpu_us']:.0f} | {f['rss_mib']:.1f} | {f['pss_mib']:.1f} | {failed} | "
                     f"{'; '.join(notes)} |")
    return lines


def select_peers(choice):
    available = peers.all_peers()
    if choice == "none":
        return []
    if choice == "auto":
        return available
    names = [name.strip() for name in choice.split(",") if name.strip()]
    unknown = set(names) - {peer.name for peer in available}
    if unknown:
        sys.exit(f"bench: unknown peer(s) {', '.join(sorted(unknown))}; known: {', '.join(p.name for p in available)}")
    return [peer for peer in available if peer.name in names]


def row(name, f, note=""):
    failed = f["non2xx"] + f["connect_errors"] + f["read_errors"] + f["write_errors"] + f["timeouts"]
    return (f"| {name} | {f['rps']:,.0f} | {f['p50_us'] / 1000:.2f} | {f['p99_us'] / 1000:.2f} | {f['cpu_us']:.0f} | "
            f"{f['rss_mib']:.1f} | {failed} | {note} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=".build/release")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--peers", default="auto",
                        help="GET /notes peers to measure beside the notes service: auto (every one; those not installed "
                             "are reported so), none, or a comma list of go, express, express-cluster, fastapi, nginx")
    parser.add_argument("--rounds", type=int, default=1, help="GET /notes: turns each server takes (median shown)")
    parser.add_argument("--warmup", type=int, default=1, help="GET /notes: seconds of unmeasured load before each turn")
    parser.add_argument("--only-get-notes", action="store_true", help="measure GET /notes and the peers, nothing else")
    arguments = parser.parse_args()
    binaries = os.path.abspath(arguments.bin)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is missing (Debian: apt-get install -y wrk)")
    selected = select_peers(arguments.peers)
    missing = [f"{peer.name}: {peer.missing()}" for peer in selected if peer.missing()]
    if missing:
        print(f"bench: not installed, so reported as such: {'; '.join(missing)}. `{peers.SETUP}` installs them.",
              file=sys.stderr)
    work = tempfile.mkdtemp(prefix="authstack-bench-")
    stack = Services(binaries, work, timeout=30, IDENTITY_ACCESS_TTL=3600,
                     # Every request comes from 127.0.0.1: the per-address limits would measure the throttle, not the path.
                     IDENTITY_SIGNUPS_PER_IP_PER_MINUTE=10000000, IDENTITY_REFRESHES_PER_IP_PER_MINUTE=10000000,
                     IDENTITY_LOGIN_FAILURES_PER_IP=10000000)
    try:
        stack.init()
        for name in ("keys", "identity", "notes"):
            stack.start(name, limit=30, poll=0.005)  # polled every 5 ms: the start-to-ready figure
        time.sleep(1)
        idle = {name: rss_mib(stack.pid(name)) for name in stack.processes}

        password = "benchmark password"
        answer = stack.call("identity", "POST", "/signup", body={"username": "bench", "password": password})
        assert answer.status == 201, answer.status
        access = answer.document()["access_token"]
        for i in range(3):
            assert stack.call("notes", "POST", "/notes", body={"title": f"note {i}", "body": "seed"}, token=access).status == 201

        d, c = arguments.duration, arguments.connections
        # First, while the user has exactly 3 notes: GET /notes of the notes service and of its peers.
        servers = compare_get_notes(stack, work, access, selected, d, c, arguments.warmup, arguments.rounds)
        results = {"GET /notes": servers[0].median()}

        if not arguments.only_get_notes:
            # One login's wall time ≈ one hash (sequential, nothing else running).
            hashes = []
            for _ in range(7):
                started = time.monotonic()
                assert stack.call("identity", "POST", "/login", body={"username": "bench", "password": password}).status == 200
                hashes.append(time.monotonic() - started)
            one_login = sorted(hashes)[len(hashes) // 2]

            notes_url, identity_url = f"http://127.0.0.1:{stack.ports['notes']}", f"http://127.0.0.1:{stack.ports['identity']}"
            results["POST /notes"] = measure(stack, "notes", f"{notes_url}/notes", "post-notes.lua", d, c, {"WRK_TOKEN": access})

            def refresh_tokens(count, prefix):
                path = f"{work}/{prefix}.tokens"
                with open(path, "w") as f:
                    for _ in range(count):
                        answer = stack.call("identity", "POST", "/login", body={"username": "bench", "password": password})
                        assert answer.status == 200, answer.status
                        f.write(answer.document()["refresh_token"] + "\n")
                return path

            results["POST /refresh"] = measure(stack, "identity", f"{identity_url}/refresh", "post-refresh.lua", d, c,
                                               {"WRK_TOKENS_FILE": refresh_tokens(c + 2, "refresh")})
            for i in range(16):
                assert stack.call("identity", "POST", "/signup", body={"username": f"login-{i}", "password": password}).status == 201
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
        print(row("GET /notes (3 notes)", results["GET /notes"],
                  (f"after {arguments.warmup} s of warm-up" if arguments.warmup > 0 else "no warm-up")
                  + (f"; median of {arguments.rounds} rounds" if arguments.rounds > 1 else "")))
        if not arguments.only_get_notes:
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
        if len(servers) > 1:
            warmup = f"after {arguments.warmup} s of warm-up" if arguments.warmup > 0 else "no warm-up"
            print(f"\nGET /notes side by side: the same access token and wrk settings for every server (1 thread, {c} connections, "
                  f"{d} s {warmup}" + (f", median of {arguments.rounds} interleaved rounds" if arguments.rounds > 1 else "")
                  + "); the peers answer from memory, the notes service reads SQLite. Every measured server passed the token "
                  "self-check (nginx: body only).\n")
            print("\n".join(comparison_rows(servers)))
            versions = list(dict.fromkeys(peer.versions() for peer in selected if not peer.missing()))
            if versions:
                print("\nPeers: " + "; ".join(versions) + ".")
    except Failure as failure:  # a service did not start
        sys.exit(f"bench: {failure}")
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
