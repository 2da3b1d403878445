"""`wasmhive build` as a user runs it (a subprocess with its own PATH): streamed output with -v, the whole
output on failure, the user's PATH before wasmhive's tools, and what to install when a tool is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wasmhive.app.toolchains import install_hint

BIN = Path(sys.executable).parent  # wasmhive's own tools (the toolchains extra) live here
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"  # a PATH without wasmhive's bin directory


def write_manifest(root: Path, command: str, source: str = "out.wasm") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "wasmhive.toml").write_text(
        f'[component.c]\nsource = "{source}"\n[component.c.build]\ncommand = {json.dumps(command)}\n')
    return root


def wasmhive(*args: str, path: str = SYSTEM_PATH, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_verbose_streams_output_while_the_build_runs(tmp_path: Path) -> None:
    """The command prints a line, then waits until the test has seen that line on wasmhive's stdout: only
    a streamed line can let it finish (else it gives up after 60 s and the build fails)."""
    go = tmp_path / "go"
    app = write_manifest(tmp_path / "app", (
        f"echo 'line one'; i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
        f"[ -e {go} ] || {{ echo 'never saw my first line'; exit 9; }}; echo 'line two'; printf '(module)' > out.wasm"))
    env = {**os.environ, "PATH": SYSTEM_PATH}
    seen = []
    with subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "build", "-v", str(app)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                seen.append(line)
                if line.strip() == "line one":
                    go.touch()
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = "".join(seen)
    assert proc.returncode == 0, text
    assert "line one\n" in text and "line two\n" in text and "built c" in text
    assert text.index("line one") < text.index("line two") < text.index("built c")


@pytest.mark.parametrize("args", [("build", "-v"), ("-v", "build")])
def test_verbose_either_way_shows_the_output(tmp_path: Path, args: tuple[str, ...]) -> None:
    app = write_manifest(tmp_path, "echo 'chatty tool output'; printf '(module)' > out.wasm")
    r = wasmhive(*args, str(app))
    assert r.returncode == 0, r.stderr
    assert "chatty tool output\n" in r.stdout and "built c" in r.stdout


def test_quiet_build_hides_the_output(tmp_path: Path) -> None:
    app = write_manifest(tmp_path, "echo 'chatty tool output'; printf '(module)' > out.wasm")
    r = wasmhive("build", str(app))
    assert r.returncode == 0, r.stderr
    assert "chatty" not in r.stdout + r.stderr and "built c" in r.stdout


def test_failure_prints_the_whole_output(tmp_path: Path) -> None:
    app = write_manifest(tmp_path, "for i in $(seq 1 60); do echo \"diagnostic $i\"; done; "
                                   "echo 'main.c:3: error: expected ;' >&2; exit 3")
    r = wasmhive("build", str(app))
    assert r.returncode == 1
    for i in range(1, 61):
        assert f"diagnostic {i}\n" in r.stderr, "every line, not only the last ones"
    assert "main.c:3: error: expected ;" in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: build of `c`") and "(exit 3)" in last and "Traceback" not in r.stderr


def test_user_path_comes_first(tmp_path: Path) -> None:
    """A spin-sdk app needs its own componentize-py: the one first on the user's PATH is the one run."""
    user_bin = tmp_path / "userbin"
    user_bin.mkdir()
    fake = user_bin / "componentize-py"
    fake.write_text("#!/bin/sh\necho \"user componentize-py $*\" > ran.txt\nprintf '(module)' > app.wasm\n")
    fake.chmod(0o755)
    app = write_manifest(tmp_path / "app", "componentize-py -w spin-http componentize app -o app.wasm", "app.wasm")
    r = wasmhive("build", str(app), path=f"{user_bin}:{BIN}:{SYSTEM_PATH}")  # user activated wasmhive's venv too
    assert r.returncode == 0, r.stderr
    assert (app / "ran.txt").read_text() == "user componentize-py -w spin-http componentize app -o app.wasm\n"


def test_wasmhive_tools_come_after_the_users(tmp_path: Path) -> None:
    """Without componentize-py or wasm-tools of their own, the user still gets the toolchains extra's."""
    app = write_manifest(tmp_path, "command -v componentize-py > found.txt && "
                                   "\"$WASMHIVE_PYTHON\" -c 'import sys; print(sys.executable)' > python.txt && "
                                   "echo '(module)' > m.wat && wasm-tools parse m.wat -o out.wasm")
    r = wasmhive("build", str(app))
    assert r.returncode == 0, r.stderr
    assert Path((app / "found.txt").read_text().strip()).parent == BIN
    assert (app / "python.txt").read_text().strip() == sys.executable
    assert (app / "out.wasm").read_bytes().startswith(b"\0asm")


def test_missing_toolchain_says_which_extra(tmp_path: Path) -> None:
    # A build command that clears PATH itself: the shell cannot find componentize-py anywhere.
    app = write_manifest(tmp_path, "PATH=/usr/bin:/bin componentize-py componentize app -o out.wasm")
    r = wasmhive("build", str(app))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: `componentize-py` was not found on PATH")
    assert "pip install 'wasmhive[toolchains]'" in last and "Traceback" not in r.stderr


@pytest.mark.parametrize(("command", "expected"), [
    ("tinygo build -o out.wasm -target=wasip2 main.go", "install TinyGo"),
    ("cargo component build --release", "install Rust"),
])
def test_missing_tool_of_the_component_says_what_to_install(tmp_path: Path, command: str, expected: str) -> None:
    tool = command.split()[0]
    if any((Path(d) / tool).exists() for d in SYSTEM_PATH.split(":")):
        pytest.skip(f"{tool} is installed here")
    app = write_manifest(tmp_path, command)
    r = wasmhive("build", str(app))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert f"`{tool}` was not found on PATH" in last
    assert expected in last and install_hint(tool) in last


def test_list_command_with_a_missing_program(tmp_path: Path) -> None:
    root = tmp_path
    (root / "wasmhive.toml").write_text('[component.c]\nsource = "o.wasm"\n[component.c.build]\n'
                                        'command = ["wasmhive-no-such-tool", "x"]\n')
    r = wasmhive("build", str(root))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: `wasmhive-no-such-tool` was not found on PATH")


def test_other_python_on_path_is_named(tmp_path: Path) -> None:
    """`python -m ziglang` with a user `python` that lacks ziglang: the message names it and the fix."""
    user_bin = tmp_path / "userbin"
    user_bin.mkdir()
    system_python = next((p for p in ("/usr/bin/python3", "/bin/python3") if Path(p).exists()), None)
    if system_python is None or subprocess.run([system_python, "-c", "import ziglang"],
                                               capture_output=True, check=False).returncode == 0:
        pytest.skip("needs a system python3 without ziglang")
    (user_bin / "python").symlink_to(system_python)
    app = write_manifest(tmp_path / "app", "python -m ziglang cc --target=wasm32-wasi x.c -o out.wasm")
    r = wasmhive("build", str(app), path=f"{user_bin}:{SYSTEM_PATH}")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert f"the `python` on PATH ({user_bin / 'python'}) has no `ziglang` module" in last
    assert '"$WASMHIVE_PYTHON" -m ziglang' in last


def test_interrupted_build_stops_its_commands(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) during a build ends the command's whole process tree, and wasmhive exits 130."""
    pidfile = tmp_path / "child.pid"
    app = write_manifest(tmp_path / "app", f"sleep 300 & echo $! > {pidfile}; wait")
    env = {**os.environ, "PATH": SYSTEM_PATH}
    proc = subprocess.Popen([sys.executable, "-c", "from wasmhive.cli import main; main()", "build", str(app)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pidfile.read_text())
        proc.send_signal(2)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the build's own children were stopped too"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie whose parent has not reaped it yet is gone for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
