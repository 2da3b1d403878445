"""The Redis trigger: `[[trigger.redis]]` under `wasmhive up spin.toml` subscribes to a real redis-server
and runs a spin-sdk 3.4.1 component (world `spin-redis`) once per published message; a trap, an error or
a deadline does not stop the next message; the subscription comes back after Redis restarts; the same
app serves HTTP."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_fixtures import Server
from redis_fixtures import RedisServer, build_spin_sdk_world, redis_server

__all__ = ["redis_server"]

HERE = Path(__file__).parent / "app"


def _wait_for(what: str, check: Any, server: Server, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{server.output()}")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("redis-trigger")
    shutil.copy(HERE / "redistrigger" / "spin.toml", d / "spin.toml")
    build_spin_sdk_world(HERE / "redistrigger" / "app.py", d / "app.wasm", "spin-redis")
    build_spin_sdk_world(HERE / "redis" / "app.py", d / "web.wasm", "spin-http")
    from wasmhive.runtime import Runtime

    with Runtime(concurrency=False) as rt:  # fill the compile cache: servers start from it
        rt.load(d / "app.wasm")
    return d


def test_messages_run_the_component(app_dir: Path, redis_server: RedisServer) -> None:
    r: Any = redis_server.client()
    r.delete("trigger:count")
    server = Server(app_dir / "spin.toml", "--timeout", "3", env={"SPIN_VARIABLE_REDIS_URL": redis_server.url})
    try:
        server.wait(timeout=180)
        _wait_for("the subscription", lambda: r.pubsub_numsub("messages")[0][1] == 1, server)
        for payload in (b"one", b"trap", b"err", b"hog", b"spin", b"two \x00\xff"):
            assert r.publish("messages", payload) == 1
        _wait_for("two messages stored", lambda: r.get("trigger:count") == b"2", server)
        time.sleep(0.5)  # nothing else arrives
        assert r.get("trigger:count") == b"2"
        assert {r.get("trigger:msg:1"), r.get("trigger:msg:2")} == {b"one", b"two \x00\xff"}
        log = server.output()
        assert "redis trigger: channel 'messages': component `listener`: guest trapped" in log, log
        assert "redis trigger: channel 'messages': component `listener`: the guest returned an error (error)" in log, log
        _wait_for("the deadline", lambda: "ran past its 3s deadline" in server.output(), server)
        assert "component `listener`: guest trapped: guest ran out of memory" in log, log
        # The same app serves HTTP (its other component uses outbound Redis).
        resp = httpx.get(server.url + "/redis/open", params={"addr": redis_server.url}, timeout=30)
        assert (resp.status_code, resp.text) == (200, "opened [RedisResult_Status(value='PONG')]")

        # Redis restarts: the trigger subscribes again and handles the next message.
        redis_server.stop()
        redis_server.start()
        r = redis_server.client()  # a fresh server: no data (no persistence)
        _wait_for("the re-subscription", lambda: r.pubsub_numsub("messages")[0][1] == 1, server)
        assert r.publish("messages", b"after restart") == 1
        _wait_for("the message after the restart", lambda: r.get("trigger:msg:1") == b"after restart", server)
        assert "re-subscribed to messages" in server.output()
    finally:
        server.kill()


def test_unreachable_address_fails_start_up(app_dir: Path, redis_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{redis_server.port + 1 if redis_server.port < 65535 else 1}/0"
    server = Server(app_dir / "spin.toml", env={"SPIN_VARIABLE_REDIS_URL": url})
    try:
        with pytest.raises(RuntimeError, match="server exited"):
            server.wait()
        out = server.output()
        assert "[[trigger.redis]]: cannot reach Redis at redis://127.0.0.1:" in out, out
        assert "Traceback" not in out
    finally:
        server.kill()


@pytest.mark.parametrize(("extra", "error"), [
    ('[[trigger.redis]]\nchannel = "c"\ncomponent = "l"\n', "no Redis address"),
    ('[[trigger.redis]]\nchannel = "c"\ncomponent = "nope"\naddress = "redis://h"\n', "must name a [component"),
    ('[[trigger.redis]]\ncomponent = "l"\naddress = "redis://h"\n', "`channel` must be a non-empty string"),
    ('[trigger.redis]\nchannel = "c"\n', "must be an array of tables"),
    ('[application.trigger.redis]\naddress = 6379\n', "address must be a string"),
])
def test_manifest_errors(tmp_path: Path, extra: str, error: str) -> None:
    from app_fixtures import write_app
    from wasmhive.errors import ConfigError

    head = 'spin_manifest_version = 2\n[application]\nname = "a"\n'
    with pytest.raises(ConfigError, match=re.escape(error)):
        write_app(tmp_path, head + extra + '[component.l]\nsource = "l.wasm"\n', name="spin.toml")


def test_manifest_shape(tmp_path: Path) -> None:
    from app_fixtures import write_app

    cfg = write_app(tmp_path, 'spin_manifest_version = 2\n[application]\nname = "a"\n'
                    '[application.trigger.redis]\naddress = "redis://app:6379"\n'
                    '[[trigger.redis]]\nchannel = "one"\ncomponent = "l"\n'
                    '[[trigger.redis]]\nchannel = "two"\ncomponent = "l"\naddress = "redis://own:6380/2"\n'
                    '[[trigger.redis]]\nchannel = "three"\ncomponent = { source = "i.wasm" }\n'
                    '[component.l]\nsource = "l.wasm"\n', name="spin.toml")
    assert cfg.redis_address == "redis://app:6379"
    assert [(t.channel, t.component, t.address) for t in cfg.redis_triggers] == [
        ("one", "l", "redis://app:6379"), ("two", "l", "redis://own:6380/2"),
        ("three", "inline-redis-component-3", "redis://app:6379")]
    assert cfg.components["inline-redis-component-3"].source == tmp_path / "i.wasm"
    assert cfg.triggers == [] and not cfg.warnings


def test_several_workers_are_refused(app_dir: Path, redis_server: RedisServer) -> None:
    server = Server(app_dir / "spin.toml", "--workers", "2", env={"SPIN_VARIABLE_REDIS_URL": redis_server.url})
    try:
        with pytest.raises(RuntimeError, match="server exited"):
            server.wait(timeout=180)
        out = server.output()
        assert "an app with [[trigger.redis]] runs in one process" in out, out
        assert "Traceback" not in out
    finally:
        server.kill()


def test_component_without_the_export_fails_start_up(app_dir: Path, tmp_path: Path,
                                                     redis_server: RedisServer) -> None:
    # The HTTP component named as a Redis listener: a one-line start-up error, not a failure per message.
    text = (app_dir / "spin.toml").read_text().replace('source = "app.wasm"', 'source = "web.wasm"')
    (tmp_path / "spin.toml").write_text(text)
    shutil.copy(app_dir / "web.wasm", tmp_path / "web.wasm")
    server = Server(tmp_path / "spin.toml", env={"SPIN_VARIABLE_REDIS_URL": redis_server.url})
    try:
        with pytest.raises(RuntimeError, match="server exited"):
            server.wait(timeout=180)
        out = server.output()
        assert "component `listener` is used by a [[trigger.redis]] but does not export fermyon:spin/inbound-redis" \
            in out, out
        assert "Traceback" not in out
    finally:
        server.kill()
