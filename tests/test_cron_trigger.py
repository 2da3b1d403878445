"""Spin's cron trigger (`[[trigger.cron]]`, world `fermyon:spin-cron/spin-cron`) under `wasmhive up`.

No installed package ships the cron plugin's WIT, so the guest is a WAT core module (`tests/app/cron/tick.wat`)
made a component with `wasm-tools component embed/new` against the plugin's world, which this test writes
(the key-value interface it imports is taken from the installed spin-sdk).
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app_fixtures import Server, spin_sdk_python
from wasmhive.app import parse_manifest
from wasmhive.errors import ConfigError
from wasmhive.server._cron_trigger import CronRunner, CronSchedule

HERE = Path(__file__).parent / "app" / "cron"

# The spin-trigger-cron plugin's WIT (package fermyon:spin-cron@2.0.0), in today's WIT syntax, plus the
# import of Spin's key-value interface that our guest uses.
CRON_WIT = """package fermyon:spin-cron@2.0.0;

interface cron-types {
    record metadata {
        timestamp: u64,
    }

    variant error {
        other(string),
    }
}

world spin-cron {
    use cron-types.{metadata, error};
    import fermyon:spin/key-value@2.0.0;
    export handle-cron-event: func(metadata: metadata) -> result<_, error>;
}
"""

MANIFEST = """spin_manifest_version = 2

[application]
name = "cron-app"

[[trigger.cron]]
component = "tick"
cron_expression = "{expr}"

[component.tick]
source = "tick.wasm"
key_value_stores = ["default"]
"""


def build_tick(dest: Path) -> Path:
    from wasmhive.app.toolchains import component_new

    py = spin_sdk_python()
    kv = next(py.parent.parent.glob("lib/python3*/site-packages/spin_sdk/wit/key-value.wit"))
    wit = dest / "wit"
    (wit / "deps" / "spin").mkdir(parents=True, exist_ok=True)
    (wit / "cron.wit").write_text(CRON_WIT)
    shutil.copy(kv, wit / "deps" / "spin" / "key-value.wit")
    (wit / "deps" / "spin" / "package.wit").write_text("package fermyon:spin@2.0.0;\n")
    return component_new(HERE / "tick.wat", dest / "tick.wasm", adapter=None, wit=wit, world="spin-cron")


@pytest.fixture(scope="module")
def cron_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app = tmp_path_factory.mktemp("cron-app")
    build_tick(app)
    return app


def stored_ticks(app: Path) -> list[int]:
    db = app / ".wasmhive" / "key_value.db"
    if not db.is_file():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value FROM spin_key_value WHERE store = 'default'").fetchall()
    assert all(v == b"ok" for _, v in rows)
    return sorted(int(k.removeprefix("tick-")) for k, _ in rows)


def test_ticks_run_in_fresh_instances_and_a_trap_does_not_stop_them(cron_app: Path) -> None:
    (cron_app / "spin.toml").write_text(MANIFEST.format(expr="* * * * * *"))
    start = int(time.time())
    server = Server(cron_app / "spin.toml", "--timeout", "0.5s").wait()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ticks = stored_ticks(cron_app)
            trapped = [int(t) for t in re.findall(r"\(tick (\d+)\): guest trapped", server.output())]
            ended = [int(t) for t in re.findall(r"\(tick (\d+)\): ran past its 0.5s deadline", server.output())]
            if len(ticks) >= 3 and trapped and ended and max(ticks) > max(min(trapped), min(ended)):
                break
            time.sleep(0.25)
        log = server.output()
    finally:
        server.kill()
    # even timestamps store a key, % 4 == 1 traps, % 4 == 3 spins until the component's deadline (tick.wat):
    # every second in a fresh instance with the component's limits, and the schedule went on after both
    assert len(ticks) >= 3, log
    assert all(t % 2 == 0 and start - 1 <= t <= time.time() + 1 for t in ticks), (ticks, log)
    assert trapped and all(t % 4 == 1 for t in trapped), log
    assert ended and all(t % 4 == 3 for t in ended), log
    assert max(ticks) > max(min(trapped), min(ended)), log
    assert "unreachable" in log  # the trap's reason is logged
    assert "tick: cron '* * * * * *' (UTC)" in log  # the start-up banner lists the schedule


def test_an_error_result_is_logged_with_its_payload(cron_app: Path, tmp_path: Path) -> None:
    # Without `key_value_stores`, the guest's `store.open("default")` is refused, and it returns
    # `err(other("key-value failed"))` (tick.wat): the log names the tick and the error's payload.
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(cron_app / "tick.wasm", app / "tick.wasm")
    (app / "spin.toml").write_text(MANIFEST.format(expr="*/2 * * * * *").replace('key_value_stores = ["default"]\n', ""))
    errored = r"cron component `tick` \(tick (\d+)\): returned an error: key-value failed"
    server = Server(app / "spin.toml", "--timeout", "5s").wait()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(re.findall(errored, server.output())) < 2:
            time.sleep(0.25)
        log = server.output()
    finally:
        server.kill()
    ticks = [int(t) for t in re.findall(errored, log)]
    assert len(ticks) >= 2 and all(t % 2 == 0 for t in ticks), log
    assert "guest trapped" not in log
    assert stored_ticks(app) == []


@pytest.mark.parametrize(("expr", "message"), [
    ("* * * * *", "has 5 fields; it needs 6 or 7"),
    ("61 * * * * *", "is not valid"),
    ("0 0 0 1 1 * 2001", "never fires after"),
])
def test_a_bad_expression_refuses_start_up(cron_app: Path, tmp_path: Path, expr: str, message: str) -> None:
    shutil.copy(cron_app / "tick.wasm", tmp_path / "tick.wasm")
    (tmp_path / "spin.toml").write_text(MANIFEST.format(expr=expr))
    proc = subprocess.run([sys.executable, "-c", "from wasmhive.cli import main; main()", "up", str(tmp_path / "spin.toml"),
                           "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"cron trigger #1 (component `tick`): cron expression {expr!r} {message}" in proc.stderr + proc.stdout


def test_manifest_checks_the_trigger(tmp_path: Path) -> None:
    bad = MANIFEST.format(expr="* * * * * *").replace('component = "tick"\ncron', 'component = "nope"\ncron')
    with pytest.raises(ConfigError, match=r"cron trigger #1 names component 'nope', which is not defined"):
        parse_manifest(bad, tmp_path / "spin.toml")
    with pytest.raises(ConfigError, match="cron_expression"):
        parse_manifest(MANIFEST.format(expr="").replace('cron_expression = ""\n', ""), tmp_path / "spin.toml")
    cfg = parse_manifest(MANIFEST.format(expr="*/2 * * * * *"), tmp_path / "spin.toml")
    assert [(t.component, t.cron_expression) for t in cfg.cron_triggers] == [("tick", "*/2 * * * * *")]
    assert not any("cron" in w for w in cfg.warnings)


def test_schedule_seconds_first_utc() -> None:
    t0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC, a Thursday
    assert CronSchedule("*/2 * * * * *").next_after(t0) == t0 + 2
    assert CronSchedule("30 15 10 * * *").next_after(t0) == t0 + 10 * 3600 + 15 * 60 + 30
    assert CronSchedule("0 0 12 * * Mon").next_after(t0) == t0 + 4 * 86400 + 12 * 3600  # Monday the 5th
    assert CronSchedule("0 0 0 1 1 * 2027").next_after(t0) == t0 + 365 * 86400


def test_an_overlapping_tick_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    running, most, runs = 0, 0, []
    lock = threading.Lock()

    def slow(ts: int) -> None:  # a tick that takes 2.5 s on a schedule of one per second
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            runs.append(ts)
        time.sleep(2.5)
        with lock:
            running -= 1

    runner = CronRunner()
    runner.add(CronSchedule("* * * * * *"), slow, "slow")
    with caplog.at_level(logging.WARNING, logger="wasmhive.cron"):
        runner.start()
        time.sleep(5.5)
        runner.close()
    skipped = [r for r in caplog.records if "skipped: the previous tick is still running" in r.getMessage()]
    assert most == 1
    assert 2 <= len(runs) <= 3, runs
    assert len(skipped) >= 2
    assert runs[1] - runs[0] >= 3  # the next run is the first tick after the slow one ended


def test_with_several_workers_the_schedule_runs_once(cron_app: Path, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(cron_app / "tick.wasm", app / "tick.wasm")
    (app / "spin.toml").write_text(MANIFEST.format(expr="* * * * * *"))
    failed = r"\(tick (\d+)\): (?:guest trapped|ran past)"
    server = Server(app / "spin.toml", "--workers", "2", "--timeout", "0.5s").wait()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(set(re.findall(failed, server.output()))) < 3:
            time.sleep(0.25)
        time.sleep(1.5)  # a second process would log the same ticks by now
        log = server.output()
    finally:
        server.kill()
    ticks = re.findall(failed, log)
    assert len(set(ticks)) >= 3, log
    assert len(ticks) == len(set(ticks)), ticks  # each tick ran once, not once per worker
