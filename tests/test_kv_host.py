"""Key-value and variables host functions, called by a real componentize-py guest (no HTTP involved)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime.component as wc

from app_fixtures import redis_url, write_app
from wasmhive.app import RuntimeOptions
from wasmhive.app.toolchains import componentize_py
from wasmhive.app.witdeps import ensure_wit_deps
from wasmhive.capabilities import AppCapabilities, InstanceContext
from wasmhive.runtime import Runtime

__all__ = ["redis_url"]

HERE = Path(__file__).parent / "app" / "kvprobe"

MANIFEST = """
[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }

[component.probe]
source = "probe.wasm"
key_value_stores = ["default", "shared"]
[component.probe.variables]
message = "{{ greeting }}, world"
token = "{{ token }}"

[component.other]
source = "probe.wasm"
"""


@pytest.fixture(scope="module")
def probe_wasm() -> Path:
    # A fixed WIT directory: the build cache key includes its path, so it is the same every session.
    wit = Path(__file__).parent / ".guest-cache" / "kvprobe-wit"
    ensure_wit_deps(wit, ["fermyon:spin@2.0.0"])
    if not (wit / "probe.wit").is_file() or (wit / "probe.wit").read_text() != (HERE / "probe.wit").read_text():
        (wit / "probe.wit").write_text((HERE / "probe.wit").read_text())
    return componentize_py(wit, "probe", HERE / "app.py")


class Host:
    """A minimal host for the probe: wasmtime's WASI plus our capabilities, state bound per thread."""

    def __init__(self, rt: Runtime, wasm: Path, caps: AppCapabilities) -> None:
        self.rt, self.caps = rt, caps
        self.component = rt.load(wasm).component
        self.local = threading.local()
        self.linker = wc.Linker(rt.engine)
        self.linker.add_wasip2()
        with self.linker.root() as root:
            caps.link(root, self.state)

    def state(self) -> InstanceContext:
        ctx: InstanceContext = self.local.ctx
        return ctx

    def run(self, component_id: str, *ops: str) -> list[str]:
        store = self.rt.new_store()
        store.set_wasi(__import__("wasmtime").WasiConfig())
        inst = self.linker.instantiate(store, self.component)
        func = inst.get_func(store, "run")
        assert func is not None
        self.local.ctx = self.caps.instance(component_id)
        try:
            return str(func(store, list(ops))).split("\n")
        finally:
            self.local.ctx.close()


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    with Runtime() as rt:
        yield rt


@pytest.fixture
def host(tmp_path: Path, runtime: Runtime, probe_wasm: Path, redis_url: str) -> Iterator[Host]:
    cfg = write_app(tmp_path, MANIFEST, runtime=RuntimeOptions(
        environ={"WASMHIVE_VARIABLE_TOKEN": "t0ken"},
        runtime_config={"key_value_store": {"shared": {"type": "redis", "url": redis_url, "prefix": f"{tmp_path.name}:"}}}))
    caps = AppCapabilities(cfg)
    yield Host(runtime, probe_wasm, caps)
    caps.close()


def test_spin_key_value(host: Host) -> None:
    out = host.run("probe", "spin-open default", "spin-get default a", "spin-set default a 1", "spin-set default b 2",
                   "spin-get default a", "spin-exists default b", "spin-keys default", "spin-del default a",
                   "spin-keys default")
    assert out == ["ok", "none", "ok", "ok", "1", "True", "a,b", "ok", "b"]
    # A new instance sees the data (the backend persists; instance state does not).
    assert host.run("probe", "spin-open default", "spin-get default b") == ["ok", "2"]


def test_redis_store_through_the_guest(host: Host) -> None:
    assert host.run("probe", "spin-open shared", "spin-set shared k v", "spin-get shared k") == ["ok", "ok", "v"]
    assert host.caps.state("key_value").stores["shared"].get("k") == b"v"


def test_denied_stores(host: Host) -> None:
    assert host.run("probe", "spin-open secret") == ["err:AccessDenied"]
    assert host.run("other", "spin-open default", "wasi-open default") == ["err:AccessDenied", "err:AccessDenied"]


def test_wasi_keyvalue_store_atomics_batch(host: Host) -> None:
    out = host.run("probe", "wasi-open default", "wasi-set default x 1", "wasi-get default x", "wasi-get default nope",
                   "wasi-keys default", "inc default n 5", "inc default n 2", "cas default c - first",
                   "cas default c race second", "wasi-get default c", "setmany default p=1,q=2",
                   "many default p,q,zz", "delmany default p,q", "many default p")
    assert out == ["ok", "ok", "1", "none", "x", "5", "7", "None->swapped", "b'first'->CasError_CasFailed(b'other')", "other",
                   "ok", "[('p', b'1'), ('q', b'2'), ('zz', None)]", "ok", "[('p', None)]"]


def test_wasi_keyvalue_store_failures_are_the_wit_error_cases(tmp_path: Path, runtime: Runtime, probe_wasm: Path,
                                                               redis_url: str) -> None:
    # A real store that can read but not write: a Redis user allowed only read commands (and WATCH/MULTI).
    import redis

    user, prefix = f"reader-{tmp_path.name}", f"{tmp_path.name}:"
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", user, "on", ">pw", "~*", "+@read", "+@connection", "+@transaction")
    admin.set(f"{prefix}c", b"first")
    reader_url = redis_url.replace("redis://", f"redis://{user}:pw@")
    cfg = write_app(tmp_path, '[component.probe]\nsource = "probe.wasm"\nkey_value_stores = ["ro"]\n',
                    runtime=RuntimeOptions(runtime_config={"key_value_store": {
                        "ro": {"type": "redis", "url": reader_url, "prefix": prefix}}}))
    caps = AppCapabilities(cfg)
    try:
        out = Host(runtime, probe_wasm, caps).run("probe", "wasi-open ro", "wasi-get ro c", "cas ro c - second",
                                                  "wasi-set ro c x", "inc ro n 1", "wasi-open nope")
    finally:
        caps.close()
        admin.execute_command("ACL", "DELUSER", user)
    # `swap`'s error is `cas-error`: the store's failure arrives nested, as `store-error(other(message))`.
    denied = "this user has no permissions to run the '{}' command"
    assert out[:2] == ["ok", "first"]
    assert out[2].startswith("b'first'->CasError_StoreError(err:Other(redis key-value store 'ro': ")
    assert out[2].endswith(denied.format("set") + "))")
    assert out[3:5] == [f"err:Other(redis key-value store 'ro': {denied.format(cmd)})" for cmd in ("set", "incrby")]
    assert out[5] == "err:AccessDenied"
    assert admin.get(f"{prefix}c") == b"first"  # nothing was written


def test_variables(host: Host) -> None:
    out = host.run("probe", "var message", "var token", "var greeting", "var Bad-Name", "cfg message", "cfg nope",
                   "cfg-all")
    assert out[:3] == ["hello, world", "t0ken", "err:Undefined(no variable named 'greeting')"]
    assert out[3].startswith("err:InvalidName")
    assert out[4:] == ["hello, world", "None", "[('message', 'hello, world'), ('token', 't0ken')]"]
    assert host.run("other", "var message") == ["err:Undefined(no variable named 'message')"]


def test_backend_failure_is_an_error_not_a_crash(host: Host) -> None:
    import redis

    from app_fixtures import free_port

    store = host.caps.state("key_value").stores["shared"]
    store.client.close()
    store.client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)  # gone
    out = host.run("probe", "spin-open shared", "spin-get shared k", "spin-set shared k v")
    assert out[0] == "ok" and out[1].startswith("err:Other(") and out[2].startswith("err:Other(")
