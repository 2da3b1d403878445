"""Cluster benchmark: requests/s of one app through HAProxy with 1, 2 and 3 `wasmhive up` hosts, and the
worker autoscaler's reaction time to a load step.

    sudo .venv/bin/python benchmarks/cluster.py            # 10 s per step
    sudo .venv/bin/python benchmarks/cluster.py --quick    # smoke run (2 s per step)

The hosts are network namespaces on this machine (`_cluster_lab.py`): HAProxy, Redis and three nodes of
the example app (key-value in Redis), one worker each. wrk, in the root namespace, reads a note
(`GET /api/notes/bench`: one instance, one Redis GET) through HAProxy; the 1- and 2-node steps disable
the other nodes in HAProxy. All of it shares this machine's cores: on a 2-core box the load generator,
HAProxy, Redis and every node compete for the same two CPUs, so the numbers show that the mechanism
works (requests spread, nothing fails), not how a real cluster scales. Then one node on loopback with
`--workers 1 --workers-max 2` under a wrk load step: how long until the second worker serves, and after
the load how long until it is retired. Nothing here asserts speed.
"""

from __future__ import annotations

import sys

# Run as a script, this directory is sys.path[0]: keep it off the import path (a benchmark module must never shadow a stdlib name).
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]) and __name__ == "__main__":
    sys.path.pop(0)

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
# After the stdlib imports: the lab beside this file, and the tests' cached example build (app_fixtures).
sys.path += [str(HERE), str(HERE.parent / "tests")]


def wrk(url: str, seconds: float, connections: int) -> tuple[float, int, int]:
    """(requests/s, requests, non-2xx or socket errors) from one wrk run."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", url], capture_output=True,
                         text=True, check=True, timeout=seconds + 60).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    if found is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(found.group(1)), int(total.group(1)), bad


def autoscale_reaction(app: Path, connections: int, load_seconds: float, down_after: float) -> dict[str, float]:
    """One node on loopback, `--workers 1 --workers-max 2`: seconds from a load step (wrk) until the
    second worker serves, and from the end of the load until it is retired. The default policy, except
    the scale-down window (`down_after`)."""
    import socket
    import threading
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WASMHIVE_AUTOSCALE_DOWN_AFTER": str(down_after)}
    exe = str(Path(sys.executable).parent / "wasmhive")
    log = (app.parent / "autoscale.log").open("wb")
    proc = subprocess.Popen([exe, "up", str(app), "--listen", f"127.0.0.1:{port}", "--workers", "1",
                             "--workers-max", "2", "--metrics"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def workers() -> float:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            m = re.search(r"^wasmhive_workers (\S+)$", r.read().decode(), re.M)
        return float(m.group(1)) if m else 0.0

    def wait(cond: object, timeout: float) -> float:
        t0 = time.monotonic()
        while not cond():  # type: ignore[operator]
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"autoscaler did not react within {timeout:g} s")
            time.sleep(0.2)
        return time.monotonic() - t0

    try:
        wait(lambda: _answers(url + "/.well-known/wasmhive/ready"), 120)
        done = threading.Event()
        load = threading.Thread(target=lambda: (wrk(url + "/api/hello", load_seconds, connections), done.set()),
                                daemon=True)
        load.start()
        up = wait(lambda: done.is_set() or workers() >= 2, load_seconds + 10)
        if done.is_set():
            raise RuntimeError("the load never raised CPU or queueing per worker above the threshold")
        load.join(90)
        down = wait(lambda: workers() <= 1, down_after + 60)
        return {"up_s": up, "down_s": down, "down_after_s": down_after}
    finally:
        from _harness import stop_group

        stop_group(proc)
        log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per step (smoke run)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of load per step")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.quick else 10.0)

    from _cluster_lab import Lab, missing

    why = missing() or (None if shutil.which("wrk") else "wrk is not installed (.ci/run installs it)")
    if why:
        print(f"cluster benchmark: cannot run here: {why}", file=sys.stderr)
        return 2
    from app_fixtures import build_example, copy_example

    with tempfile.TemporaryDirectory(prefix="wasmhive-cluster-") as tmp:
        app = copy_example(Path(tmp) / "app")
        build_example(app)
        env = {k: v for k, v in os.environ.items() if k == "WASMHIVE_CACHE"}
        rows = []
        with Lab(Path(tmp) / "lab", app, nodes=3, env=env) as lab:
            req = urllib.request.Request(lab.url + "/api/notes/bench", data=b"a note to read", method="PUT")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 201
            wrk(lab.url + "/api/notes/bench", 1.0, args.connections)  # warm every node
            for n in (1, 2, 3):
                for i in range(lab.nodes):
                    lab.set_enabled(i, i < n)
                rps, total, bad = wrk(lab.url + "/api/notes/bench", seconds, args.connections)
                rows.append({"nodes": n, "rps": rps, "requests": total, "errors": bad})
        print(f"\nGET /api/notes/bench through HAProxy, wrk -c{args.connections}, {seconds:g} s per step "
              f"({os.cpu_count()} CPUs shared by everything: the mechanism, not real scaling)")
        print(f"{'nodes':>5}  {'requests/s':>10}  {'x 1 node':>8}  {'requests':>8}  {'errors':>6}")
        for row in rows:
            print(f"{row['nodes']:>5}  {row['rps']:>10.0f}  {row['rps'] / rows[0]['rps']:>8.2f}  "
                  f"{row['requests']:>8}  {row['errors']:>6}")
        down_after = 5.0 if args.quick else 30.0
        reaction = autoscale_reaction(app, args.connections, 15.0 if args.quick else 30.0, down_after)
        print(f"\nautoscaler (one node, --workers 1 --workers-max 2, wrk -c{args.connections} on GET /api/hello):"
              f"\n  load step -> second worker serving: {reaction['up_s']:.1f} s (policy: 3 s above 0.75 CPU "
              f"or above --threads requests in flight per worker, then the new process starts)"
              f"\n  load gone -> back to one worker:   "
              f"{reaction['down_s']:.1f} s (policy: {down_after:g} s below both 0.25 CPU and --threads/4)")
        if args.json:
            args.json.write_text(json.dumps({"nodes": rows, "autoscale": reaction}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
