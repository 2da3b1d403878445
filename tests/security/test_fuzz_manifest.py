"""Fuzzing the app author's inputs: `wasmhive.toml`, `spin.toml` and the runtime config.

Random TOML documents built from the keys the parsers know, mutated real manifests, and random bytes:
each parse returns an `AppConfig` or raises a wasmhive error (a `ConfigError` naming the file), and
never anything else, never a hang.
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wasmhive.app._manifest import parse_manifest
from wasmhive.app._runtime_config import load_runtime_config, runtime_config_warnings
from wasmhive.appconfig import AppConfig, stage_files
from wasmhive.capabilities import AppCapabilities

from .fuzzing import documents, mutated, mutated_documents, survives, to_toml

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).parent.parent.parent
SEEDS = [p.read_bytes() for p in sorted(ROOT.glob("examples/**/spin.toml")) + sorted(ROOT.glob("examples/**/wasmhive.toml"))
         + sorted(ROOT.glob("src/wasmhive/templates/**/*.toml"))]
SEEDS.append(b"""spin_manifest_version = 2
[application]
name = "seed"
[application.trigger.http]
base = "/"
[variables]
token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.http]]
route = { private = true }
component = { source = "x.wasm", files = ["static/*"] }
[[trigger.http]]
route = "/cgi/..."
component = "web"
executor = { type = "wagi", argv = "${SCRIPT_NAME}" }
[[trigger.http]]
route = "/s"
static_response = { status_code = 404, headers = { a = "b" }, body = "x" }
[component.web]
source = "web.wasm"
files = [{ source = "static", destination = "/s" }]
allowed_outbound_hosts = ["https://{{ token }}.example.com", "http://127.0.0.1:*"]
key_value_stores = ["default"]
variables = { t = "{{ token }}" }
[component.web.build]
command = ["make", "web"]
workdir = "web"
[component.web.limits]
memory = "64MiB"
timeout = "5s"
""")


def _docs(seeds: list[bytes]) -> list[dict[str, object]]:
    out = []
    for seed in seeds:
        try:
            out.append(tomllib.loads(seed.decode()))
        except tomllib.TOMLDecodeError:  # templates hold {{ placeholders }}: byte mutation only
            continue
    return out


SEED_DOCS = _docs(SEEDS)
RUNTIME_SEEDS = [b'[key_value_store.default]\ntype = "spin"\npath = "kv.db"\n[outbound_http]\n'
                 b'allow_private_addresses = false\n[sqlite_database.x]\ntype = "spin"\n']


@pytest.fixture(scope="module")
def app_dir() -> Path:
    """An app directory with the files the seeds name (so parses get past the path checks)."""
    d = Path(tempfile.mkdtemp(prefix="fuzz-app-"))
    for sub in ("static", "web", "assets"):
        (d / sub).mkdir()
        (d / sub / "index.html").write_text("x")
    return d


def _parse(text: str, app_dir: Path, name: str) -> AppConfig | BaseException:
    return survives(lambda: parse_manifest(text, app_dir / name))


def _stage(cfg: AppConfig) -> None:
    for comp in cfg.components.values():
        survives(lambda comp=comp: stage_files(cfg, comp))  # type: ignore[misc]


_health = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])


@_health
@given(doc=documents, name=st.sampled_from(["wasmhive.toml", "spin.toml"]))
def test_fuzz_manifest_random_documents(app_dir: Path, doc: dict[str, object], name: str) -> None:
    cfg = _parse(to_toml(doc), app_dir, name)
    if isinstance(cfg, AppConfig):
        _stage(cfg)


@_health
@given(data=mutated(SEEDS), name=st.sampled_from(["wasmhive.toml", "spin.toml"]))
def test_fuzz_manifest_mutated_real_manifests(app_dir: Path, data: bytes, name: str) -> None:
    cfg = _parse(data.decode("utf-8", "replace"), app_dir, name)
    if isinstance(cfg, AppConfig):
        _stage(cfg)


@_health
@given(doc=mutated_documents(SEED_DOCS), name=st.sampled_from(["wasmhive.toml", "spin.toml"]))
def test_fuzz_manifest_mutated_real_documents(app_dir: Path, doc: dict[str, object], name: str) -> None:
    cfg = _parse(to_toml(doc), app_dir, name)
    if isinstance(cfg, AppConfig):
        _stage(cfg)


@_health
@given(text=st.text(max_size=400))
def test_fuzz_manifest_random_text(app_dir: Path, text: str) -> None:
    _parse(text, app_dir, "spin.toml")


def _runtime_config(app_dir: Path, text: str) -> None:
    rc = app_dir / "runtime-config.toml"
    rc.write_text(text, encoding="utf-8", errors="surrogatepass")
    manifest = '[component.a]\nsource = "a.wasm"\nkey_value_stores = ["default", "other"]\n' \
               'allowed_outbound_hosts = ["https://example.com"]\n'
    cfg = parse_manifest(manifest, app_dir / "wasmhive.toml")
    doc = survives(lambda: load_runtime_config(rc))
    if not isinstance(doc, dict):
        return
    runtime_config_warnings(doc, rc)
    kv = doc.get("key_value_store")
    if isinstance(kv, dict) and any(isinstance(s, dict) and s.get("type") == "redis" for s in kv.values()):
        return  # a redis store would connect to the URL: not what this fuzzer is for
    cfg.runtime.runtime_config, cfg.runtime.runtime_config_path = doc, rc
    caps = survives(lambda: AppCapabilities(cfg))
    if isinstance(caps, AppCapabilities):
        caps.close()


@_health
@given(doc=documents)
def test_fuzz_runtime_config_random_documents(app_dir: Path, doc: dict[str, object]) -> None:
    _runtime_config(app_dir, to_toml(doc))


@_health
@given(data=mutated(RUNTIME_SEEDS))
def test_fuzz_runtime_config_mutated(app_dir: Path, data: bytes) -> None:
    _runtime_config(app_dir, data.decode("utf-8", "replace"))
