"""examples/confidential end to end over loopback HTTP: the client verifies evidence, boxes a secret to the
attested key, the vault seals it and unseals it in a later request; the impostor build cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wasmhive import App, Runtime
from wasmhive.tee import platform_keys, public_key_text


def _http_fixtures():  # imported lazily: other test modules load it as a pytest plugin first
    import http_fixtures

    return http_fixtures


pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "confidential"
KV = "wasi:keyvalue/store@0.2.0-draft2"


def build(guest_cache: Path, edition: str) -> Path:
    from wasmhive.app.teewit import http_guest_wit
    from wasmhive.app.toolchains import componentize_py

    wit = http_guest_wit(guest_cache / "tee-vault-wit", extra_imports=[KV], extra_deps=["wasi:keyvalue@0.2.0-draft2"])
    src = guest_cache / f"tee-vault-{edition}"  # fixed paths: build cache keys include them
    src.mkdir(exist_ok=True)
    for name in ("box.py", "x25519.py", "app.py"):
        text = (EXAMPLE / "vault" / name).read_text()
        if name == "app.py" and edition != "genuine":
            text = text.replace('EDITION = "genuine"', f'EDITION = "{edition}"')
        if not (src / name).is_file() or (src / name).read_text() != text:
            (src / name).write_text(text)
    return componentize_py(wit, "wasmhive:tee-guest/http-guest", src / "app.py", cache_dir=guest_cache)


def test_confidential_example_over_http(guest_cache: Path, compile_cache: Path, tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "vault").mkdir(parents=True)
    shutil.copyfile(EXAMPLE / "wasmhive.toml", app_dir / "wasmhive.toml")
    shutil.copyfile(build(guest_cache, "genuine"), app_dir / "vault" / "vault.wasm")
    shutil.copyfile(build(guest_cache, "impostor"), app_dir / "vault" / "impostor.wasm")
    keydir = tmp_path / "platform"
    (tmp_path / "platform.pem").write_text(public_key_text(platform_keys({}, keydir).public_key))
    with Runtime(cache=compile_cache, concurrency=False) as rt:
        app = App.load(app_dir, environ={"WASMHIVE_TEE_KEY_DIR": str(keydir)}, runtime=rt)
        with _http_fixtures().serving(app.http_app()) as url:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            proc = subprocess.run([sys.executable, str(EXAMPLE / "client.py"), url, "--public-key",
                                   str(tmp_path / "platform.pem"), "--expect", str(app_dir / "vault" / "vault.wasm")],
                                  capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "1. evidence verified" in out and "3. a later request unsealed it" in out
    assert "4. the impostor's evidence is refused: evidence: measurement" in out
    assert "5. the impostor cannot unseal the stored secret" in out and "sealed for another module" in out
