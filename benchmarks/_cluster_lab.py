"""A cluster on one machine: separate network hosts made with `ip netns` + veth, for tests and benchmarks.

    root namespace (clients) ── bridge 198.18.N.1/24 ──┬── <tag>-lb     198.18.N.2   HAProxy :8080
                                                       ├── <tag>-redis  198.18.N.3   redis-server :6379
                                                       └── <tag>-nI     198.18.N.1I  `wasmhive up` :3000

Every host is a network namespace of its own, joined by veth pairs to a bridge in the root namespace
(the client side). Addresses come from 198.18.0.0/15, the range set aside for benchmarking network
devices (RFC 2544): the namespaces have no default route, so nothing here can reach beyond them.
`Lab.close` always removes what `Lab.start` made (processes first, then namespaces and the bridge),
also after a failure halfway. Needs root, iproute2, haproxy and redis-server (`missing()` says which).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

READY = "/.well-known/wasmhive/ready"


def missing() -> str | None:
    """Why a lab cannot run here (not root, a tool not installed), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "haproxy", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it)"
    return None


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.decode(errors='replace').strip()}")


_labs = itertools.count()


class Lab:
    """HAProxy in front of `nodes` `wasmhive up` hosts of one app, Redis on its own host.

    `app` is an app directory (or component); `node_args` extra `wasmhive up` options for every node;
    `env` extra environment for them (the compile cache, ...).
    """

    def __init__(self, workdir: Path, app: Path, *, nodes: int = 3, node_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.workdir, self.app, self.nodes = workdir, app, nodes
        self.node_args, self.env = list(node_args), dict(env or {})
        pid, seq = os.getpid(), next(_labs)
        # Names and a /24 of 198.18.0.0/15 unique per process and per lab: concurrent runs do not collide,
        # and neither do two labs in a row (the kernel removes a deleted namespace's veths lazily).
        self.tag = f"wh{pid % 10000}{seq % 100}"
        block = (pid * 7 + seq) % 500
        self.prefix = f"198.{18 + block // 250}.{block % 250}"
        self.bridge = f"{self.tag}br"
        self.lb_ip, self.redis_ip = f"{self.prefix}.2", f"{self.prefix}.3"
        self.url = f"http://{self.lb_ip}:8080"
        self.redis_url = f"redis://{self.redis_ip}:6379/0"
        self.lb_log = False  # True: HAProxy logs every request (termination states) to haproxy.log
        self._hosts: list[str] = []
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- hosts -----------------------------------------------------------------------------------------
    def node_ip(self, i: int) -> str:
        return f"{self.prefix}.{11 + i}"

    def node_url(self, i: int) -> str:
        return f"http://{self.node_ip(i)}:3000"

    def _host(self, name: str, ip: str) -> str:
        ns = f"{self.tag}-{name}"
        veth = f"{self.tag}{name}"[:14]  # + "p" for the peer: at most 15, the kernel's limit
        _run("ip", "netns", "add", ns)
        self._hosts.append(ns)
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
        _run("ip", "link", "set", veth, "master", self.bridge, "up")
        _run("ip", "link", "set", veth + "p", "netns", ns)
        _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", veth + "p")
        _run("ip", "-n", ns, "link", "set", veth + "p", "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def _spawn(self, key: str, ns: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{key}.log").open("ab")
        self._procs[key] = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **(env or {})}, start_new_session=True)
        log.close()

    def log(self, key: str) -> str:
        path = self.workdir / f"{key}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self) -> Lab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            self._hosts.append("")  # marks the bridge as made
            _run("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            ns = self._host("redis", self.redis_ip)
            self._spawn("redis", ns, ["redis-server", "--bind", self.redis_ip, "--port", "6379", "--save", "",
                                      "--appendonly", "no", "--protected-mode", "no",
                                      "--dir", str(self.workdir)])
            _wait_port(self.redis_ip, 6379, 20, lambda: self.log("redis"))
            (self.workdir / "runtime-config.toml").write_text(
                f'[key_value_store.default]\ntype = "redis"\nurl = "{self.redis_url}"\nprefix = "lab:"\n')
            for i in range(self.nodes):
                self._host(f"n{i}", self.node_ip(i))
                self.start_node(i)
            self._host("lb", self.lb_ip)
            self._haproxy()
            for i in range(self.nodes):
                self.wait_node_ready(i)
                self.wait_lb_status(i, "UP")
        except BaseException:
            self.close()
            raise
        return self

    def add_host(self, name: str, octet: int, argv: Callable[[str], list[str]], port: int) -> str:
        """One more host on the lab network (e.g. a database server): `argv(ip)` runs in its namespace at
        `<prefix>.<octet>`; returns that IP once `port` accepts connections. `close` removes it too."""
        ip = f"{self.prefix}.{octet}"
        self._spawn(name, self._host(name, ip), argv(ip))
        _wait_port(ip, port, 30, lambda: self.log(name))
        return ip

    def start_node(self, i: int) -> None:
        """Start `wasmhive up` on node host `i` (its own state directory; key-value in the lab's Redis)."""
        state = self.workdir / f"n{i}-state"
        state.mkdir(exist_ok=True)
        exe = str(Path(sys.executable).parent / "wasmhive")
        self._spawn(f"n{i}", f"{self.tag}-n{i}",
                    [exe, "up", str(self.app), "--listen", f"{self.node_ip(i)}:3000",
                     "--runtime-config-file", str(self.workdir / "runtime-config.toml"), *self.node_args],
                    env={"WASMHIVE_STATE": str(state), **self.env})

    def wait_node_ready(self, i: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(self.node_url(i) + READY, timeout=5) as r:
                if r.status == 200:
                    return
            proc = self._procs[f"n{i}"]
            if proc.poll() is not None:
                raise RuntimeError(f"node {i} exited ({proc.returncode}):\n{self.log(f'n{i}')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {i} not ready:\n{self.log(f'n{i}')}")
            time.sleep(0.1)

    def kill_node(self, i: int) -> None:
        """SIGKILL node `i` (a crash: no drain)."""
        proc = self._procs[f"n{i}"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def stop_node(self, i: int, timeout: float = 60.0) -> int:
        """SIGTERM node `i` (as an orchestrator does) and wait for it to drain and exit; its exit status."""
        proc = self._procs[f"n{i}"]
        proc.send_signal(signal.SIGTERM)  # to `ip netns exec`, which exec'd wasmhive: the same process
        return proc.wait(timeout)

    # -- HAProxy ---------------------------------------------------------------------------------------
    def _haproxy(self) -> None:
        servers = "\n".join(f"    server n{i} {self.node_ip(i)}:3000 check" for i in range(self.nodes))
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(f"""global
    maxconn 4000
    stats socket {self.workdir / "haproxy.sock"} mode 600 level admin
    log stdout format raw local0 {"info" if self.lb_log else "notice"}

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A refused connection (node gone or draining past its delay) is retried on another node: safe for
    # any request, since nothing was sent. A request already sent to a node that dies is not retried.
    retries 3
    option redispatch 1
    retry-on conn-failure
    option http-server-close

frontend web
    bind {self.lb_ip}:8080
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET {READY}
    http-check expect status 200
    default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 2
{servers}
""")
        self._spawn("haproxy", f"{self.tag}-lb", ["haproxy", "-f", str(cfg), "-db"])
        _wait_port(self.lb_ip, 8080, 20, lambda: self.log("haproxy"))

    def _lb_command(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.workdir / "haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def set_enabled(self, i: int, enabled: bool) -> None:
        """Put node `i` in HAProxy's rotation or take it out (maintenance mode)."""
        self._lb_command(f"{'enable' if enabled else 'disable'} server nodes/n{i}")
        self.wait_lb_status(i, "UP" if enabled else "MAINT")

    def lb_status(self) -> dict[str, str]:
        """HAProxy's view of each node: {"n0": "UP", "n1": "DOWN", ...} (from its stats socket)."""
        lines = self._lb_command("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(","), strict=False))
            if row.get("pxname") == "nodes" and row.get("svname", "").startswith("n"):
                out[row["svname"]] = row["status"].split(" ")[0]
        return out

    def wait_lb_status(self, i: int, status: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.lb_status().get(f"n{i}") != status:
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy never saw n{i} {status}: {self.lb_status()}\n{self.log('haproxy')}")
            time.sleep(0.05)

    # -- teardown --------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process and remove every namespace and the bridge (each step even if one fails)."""
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        for ns in reversed(self._hosts):
            cmd = ["ip", "netns", "del", ns] if ns else ["ip", "link", "del", self.bridge]
            subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        self._hosts.clear()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_port(host: str, port: int, timeout: float, log: object) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host}:{port} did not open:\n{log() if callable(log) else ''}") from None
            time.sleep(0.05)
