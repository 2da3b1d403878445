"""README.md is executable: every fenced `sh` and `python` block runs, in order, as a reader would run it.

The convention, an HTML comment on the line just before a fence (invisible on GitHub):

    <!-- readme: skip REASON -->   the block is not run. REASON is required; keep these rare (the quick
                                   start installs the environment this test runs in, so it is skipped).
    <!-- readme: server PORT -->   the block's last line starts a server on PORT (the line must name the
                                   port). Its earlier lines run first; the server starts in the background;
                                   once PORT accepts connections the *next* fenced block runs against it,
                                   then the server gets Ctrl-C (SIGINT). PORT is replaced by a free port in
                                   both blocks, so the test never collides with anything on the machine.

Every other `sh` block runs as `bash -e -o pipefail` and every `python` block with the environment's Python;
each must exit 0. Blocks build on each other (a project created in one is served in the next), so run this
file whole, not one block with -k.

The reader is simulated after the quick start: the working directory is a fresh copy of the checkout's
tracked files (with its `.venv`), `.venv/bin` leads PATH (the quick start activates it), `PYTHONPATH` is the
copy's `src/`, and curl reads a `.curlrc` with `--fail` so an HTTP error status fails its block. The copy
lives at a fixed place under the test guest cache (componentize-py cache keys include paths, so builds
the README asks for stay cached between sessions). Finally, following the README must not have changed a
tracked file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK_TIMEOUT = 600  # seconds; only to end a hung block, never a speed check
SERVER_START_TIMEOUT = 180

_DIRECTIVE = re.compile(r"<!--\s*readme:\s*(\w+)\s*(.*?)\s*-->")
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Block:
    """One fenced block of README.md and the directive (if any) on the line before it."""

    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    directive: str = ""
    argument: str = ""

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}"


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block, in order, with the `<!-- readme: ... -->` directive just above it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, lang = i, m.group(1)
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        prev = lines[start - 1] if start > 0 else ""
        d = _DIRECTIVE.search(prev)
        blocks.append(Block(start + 1, lang, "\n".join(body) + "\n", d.group(1) if d else "",
                            d.group(2) if d else ""))
    return blocks


BLOCKS = parse_blocks(README.read_text())
RUNNABLE = [b for b in BLOCKS if b.lang in ("sh", "python")]


def _clients() -> set[int]:
    """Indexes (in RUNNABLE) of blocks that run against the server started by the block before them."""
    return {i + 1 for i, b in enumerate(RUNNABLE) if b.directive == "server"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Reader:
    """The reader's shell: a copy of the checkout, the activated environment, servers they started."""

    def __init__(self, copy: Path, tmp: Path) -> None:
        self.copy = copy
        self.tmp = tmp
        curl_home = tmp / "curl-home"
        curl_home.mkdir(exist_ok=True)
        (curl_home / ".curlrc").write_text("fail\nsilent\nshow-error\nmax-time = 120\n")
        venv_bin = copy / ".venv" / "bin"
        self.env = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(copy / ".venv"),
            "PYTHONPATH": str(copy / "src"),
            "CURL_HOME": str(curl_home),
            "COLUMNS": "120",
            "NO_COLOR": "1",
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.port_map: tuple[str, str] | None = None  # (README port, free port) while a server runs
        self.log = tmp / "readme.log"
        self.digests: dict[str, str] = {}  # tracked file -> SHA-256 before the first block ran

    def _code(self, block: Block) -> str:
        code = block.code
        if self.port_map is not None:
            code = re.sub(rf"(?<!\d){self.port_map[0]}(?!\d)", self.port_map[1], code)
        return code

    def run(self, block: Block) -> None:
        if block.lang == "sh":
            script = self.tmp / f"{block.id}.sh"
            script.write_text(self._code(block))
            cmd = ["bash", "-e", "-o", "pipefail", str(script)]
        else:
            script = self.tmp / f"{block.id}.py"
            script.write_text(self._code(block))
            cmd = [str(self.copy / ".venv" / "bin" / "python"), str(script)]
        # A session of its own, so a block that leaves something running is ended with all its children.
        proc = subprocess.Popen(cmd, cwd=self.copy, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"README.md line {block.line}: the block did not finish in {BLOCK_TIMEOUT} s (if it starts "
                        f"a server, mark it `<!-- readme: server PORT -->`)\n{stdout[-2000:]}{stderr[-2000:]}")
        with self.log.open("a") as f:
            f.write(f"== {block.id}\n{stdout}{stderr}")
        assert proc.returncode == 0, (
            f"README.md line {block.line}: the {block.lang} block failed (exit {proc.returncode})\n"
            f"--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}")
        assert "Traceback (most recent call last)" not in stderr, stderr[-4000:]

    def start_server(self, block: Block) -> None:
        port = block.argument
        lines = [ln for ln in block.code.strip().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        last = lines[-1].split("  #")[0]
        assert re.search(rf"(?<!\d){port}(?!\d)", last), (
            f"README.md line {block.line}: a `readme: server {port}` block's last line must name port {port}")
        self.port_map = (port, str(free_port()))
        if len(lines) > 1:
            self.run(Block(block.line, "sh", "\n".join(lines[:-1]) + "\n"))
        command = self._code(Block(block.line, "sh", last))
        with (self.tmp / f"server-{block.line}.log").open("wb") as out:  # the child keeps its own copy
            self.server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.copy, env=self.env,
                                           stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", int(self.port_map[1])), timeout=1):
                    return
            except OSError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                log = (self.tmp / f"server-{block.line}.log").read_text(errors="replace")
                self.stop_server()
                pytest.fail(f"README.md line {block.line}: the server did not start listening\n{log[-4000:]}")
            time.sleep(0.2)

    def stop_server(self) -> None:
        if self.server is not None:
            if self.server.poll() is None:
                os.killpg(self.server.pid, signal.SIGINT)  # the reader's Ctrl-C
                try:
                    self.server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.server.pid, signal.SIGKILL)
                    self.server.wait()
            self.server = None
        self.port_map = None


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reader(guest_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the copy is made of its tracked files)")
    if not (Path(sys.prefix) / "bin" / "wasmhive").exists():
        pytest.skip("needs wasmhive installed in the test's virtual environment (./install.sh)")
    base = guest_cache / "readme" / hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    base.mkdir(parents=True, exist_ok=True)
    with (base / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions of the same checkout take turns
        copy = base / "checkout"
        shutil.rmtree(copy, ignore_errors=True)
        for rel in _tracked_files():
            dest = copy / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest)
        (copy / ".venv").symlink_to(Path(sys.prefix))
        r = Reader(copy, tmp_path_factory.mktemp("readme"))
        r.digests = {rel: _digest(copy / rel) for rel in _tracked_files()}
        try:
            yield r
        finally:
            r.stop_server()


def test_readme_blocks_follow_the_convention() -> None:
    assert RUNNABLE, "README.md has no sh/python blocks"
    for b in BLOCKS:
        if b.directive:
            assert b.directive in ("skip", "server"), f"line {b.line}: unknown directive {b.directive!r}"
            assert b.argument, f"line {b.line}: `readme: {b.directive}` needs an argument (reason or port)"
    for i, b in enumerate(RUNNABLE):
        if b.directive == "server":
            assert b.lang == "sh" and b.argument.isdigit(), f"line {b.line}: a server block is sh with a port"
            assert i + 1 < len(RUNNABLE) and not RUNNABLE[i + 1].directive, (
                f"line {b.line}: a server block must be followed by a plain block to run against it")
    # Each skip names the test that runs the same thing instead: the quick start (it is the suite), two
    # full-size benchmarks (run with --quick), the combined Spin app (needs Redis and a pricing service:
    # tests/test_spin_combined.py). A new skip must be argued here.
    skipped = [b for b in RUNNABLE if b.directive == "skip"]
    assert len(skipped) <= 4, f"too many skipped README blocks: {[b.id for b in skipped]}"


def test_commands_assume_the_activated_environment() -> None:
    # The quick start activates .venv once; every later command says `wasmhive`/`python`, never a path.
    for b in RUNNABLE[1:]:
        assert ".venv/bin/" not in b.code, f"README.md line {b.line}: use `wasmhive`/`python` (the quick start activates .venv)"


def test_parse_blocks_reads_fences_and_directives() -> None:
    text = ("intro\n<!-- readme: skip needs a GPU -->\n```sh\necho a\n```\n\n```python\nprint(1)\n```\n"
            "<!-- readme: server 8080 -->\n```sh\nserve --port 8080\n```\n```toml\nx = 1\n```\n")
    blocks = parse_blocks(text)
    assert [(b.line, b.lang, b.directive, b.argument) for b in blocks] == [
        (3, "sh", "skip", "needs a GPU"), (7, "python", "", ""), (11, "sh", "server", "8080"), (14, "toml", "", "")]
    assert blocks[0].code == "echo a\n" and blocks[2].code == "serve --port 8080\n"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(RUNNABLE)), ids=[b.id for b in RUNNABLE])
def test_readme_block(reader: Reader, index: int) -> None:
    block = RUNNABLE[index]
    if block.directive == "skip":
        pytest.skip(f"README.md line {block.line}: {block.argument}")
    if block.directive == "server":
        reader.start_server(block)
        return
    try:
        reader.run(block)
    finally:
        if index in _clients():
            reader.stop_server()


@pytest.mark.slow
def test_following_the_readme_rewrites_no_tracked_file(reader: Reader) -> None:
    reader.stop_server()
    changed = [rel for rel, digest in reader.digests.items()
               if not (reader.copy / rel).is_file() or _digest(reader.copy / rel) != digest]
    assert changed == [], f"following the README changed tracked files: {changed}"
