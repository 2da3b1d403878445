"""`Sandbox`: a guest sees exactly what it is granted, as a WASI p1 module and as a p2 component."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmhive import ConfigError, Preopen, Runtime, Sandbox


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "in.txt").write_text("contents of in.txt\n")
    return d


@pytest.fixture(params=["module", "component"])
def probe(request: pytest.FixtureRequest) -> Path:
    """The C probe as a preview 1 core module and as a preview 2 command component."""
    name = "wasi_probe" if request.param == "module" else "wasi_probe_component"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def run(rt: Runtime, guest: Path, *args: str, **sandbox: object) -> tuple[int, str]:
    sb = Sandbox(args=["probe", *args], stdout="capture", **sandbox)  # type: ignore[arg-type]
    result = rt.run(guest, sandbox=sb)
    return result.exit_code, result.stdout.decode()


def test_args_reach_the_guest(runtime: Runtime, probe: Path) -> None:
    code, out = run(runtime, probe, "args", "two words", "ünïcode")
    assert code == 0
    assert "argc=4" in out
    assert "argv[2]=two words" in out and "argv[3]=ünïcode" in out


def test_environment_is_explicit_only(runtime: Runtime, probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMHIVE_HOST_SECRET", "must-not-leak")
    code, out = run(runtime, probe, "env", env={"GREETING": "hi", "EMPTY": ""})
    assert code == 0
    seen = [ln.removeprefix("env ") for ln in out.splitlines() if ln.startswith("env ")]
    assert sorted(seen) == ["EMPTY=", "GREETING=hi"]
    assert "must-not-leak" not in out


def test_no_files_unless_granted(runtime: Runtime, probe: Path, data_dir: Path) -> None:
    _, out = run(runtime, probe, f"read:{data_dir}/in.txt", "read:/etc/passwd")
    assert "contents of in.txt" not in out and "root:" not in out
    assert out.count("cannot read") == 2


def test_read_only_dir_reads_but_denies_writes(runtime: Runtime, probe: Path, data_dir: Path) -> None:
    dirs = [Preopen(data_dir, "/data", read_only=True)]
    code, out = run(runtime, probe, "read:/data/in.txt", "write:/data/out.txt", dirs=dirs)
    assert code == 0
    assert "contents of in.txt" in out
    assert "denied:" in out
    assert not (data_dir / "out.txt").exists()


def test_read_write_dir_allows_writes(runtime: Runtime, probe: Path, data_dir: Path) -> None:
    dirs = [Preopen(data_dir, "/work", read_only=False)]
    _, out = run(runtime, probe, "write:/work/out.txt", dirs=dirs)
    assert "wrote /work/out.txt" in out
    assert (data_dir / "out.txt").read_text() == "written by the guest\n"


def test_guest_cannot_escape_its_preopen(runtime: Runtime, probe: Path, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    dirs = [Preopen(data_dir, "/data", read_only=False)]
    _, out = run(runtime, probe, "read:/data/../secret.txt", "write:/data/../escaped.txt", dirs=dirs)
    assert "secret" not in out.replace("secret.txt", "")
    assert not (tmp_path / "escaped.txt").exists()


def test_exit_code_propagates(runtime: Runtime, probe: Path) -> None:
    code, out = run(runtime, probe, "args", "exit:7")
    assert "argc=" in out
    # A preview 2 command can only say ok/err (wasi:cli/exit@0.2.0), so 7 becomes 1, like `wasmtime run`.
    assert code == (7 if probe.name.startswith("zig-") else 1)


def test_stdin_bytes_and_stderr_capture(runtime: Runtime, probe: Path) -> None:
    sb = Sandbox(args=["probe", "stdin", "stderr:oops"], stdin=b"from the host\n", stdout="capture",
                 stderr="capture")
    result = runtime.run(probe, sandbox=sb)
    assert result.stdout == b"from the host\n"
    assert result.stderr == b"oops\n"


def test_stdout_to_a_file_and_to_a_callback(runtime: Runtime, wasi_probe: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    runtime.run(wasi_probe, sandbox=Sandbox(args=["p", "args"], stdout=out))
    assert "argc=2" in out.read_text()
    chunks: list[bytes] = []
    runtime.run(wasi_probe, sandbox=Sandbox(args=["p", "args"], on_stdout=chunks.append))
    assert b"argc=2" in b"".join(chunks)


def test_capture_is_capped(runtime: Runtime) -> None:
    from wasmhive.runtime import Capture

    cap = Capture(limit=4)
    cap.write(b"abc")
    cap.write(b"def")
    assert cap.getvalue() == b"abcd" and cap.truncated


def test_preopen_parse_and_validation(tmp_path: Path) -> None:
    assert Preopen.parse(f"{tmp_path}::/data:ro") == Preopen(tmp_path, "/data", True)
    assert Preopen.parse(f"{tmp_path}") == Preopen(tmp_path, str(tmp_path), False)
    with pytest.raises(ConfigError):
        Sandbox(dirs=[Preopen(tmp_path / "missing", "/x")])
    with pytest.raises(ConfigError):
        Sandbox(env={"A=B": "c"})
