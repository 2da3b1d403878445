"""Where our WIT package `wasmhive:tee` lives, and a WIT directory for guests that use it over wasi:http."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ATTESTATION", "SEALING", "TEE_WIT", "http_guest_wit"]

TEE_WIT = Path(__file__).resolve().parent.parent / "wit" / "tee"
VERSION = "0.1.0"
SEALING = f"wasmhive:tee/sealing@{VERSION}"
ATTESTATION = f"wasmhive:tee/attestation@{VERSION}"


def http_guest_wit(out: str | os.PathLike[str], *, extra_imports: Sequence[str] = (),
                   extra_deps: Sequence[str] = ()) -> Path:
    """A WIT directory at `out` with world `wasmhive:tee-guest/http-guest`: the wasi:http proxy world plus
    sealing and attestation (and `extra_imports`, e.g. "wasi:keyvalue/store@0.2.0-draft2" with
    `extra_deps=["wasi:keyvalue@0.2.0-draft2"]`). Build a Python guest against it with
    `componentize-py -d OUT -w wasmhive:tee-guest/http-guest componentize app -o app.wasm`."""
    from ..app.toolchains import assemble_wit

    imports = "".join(f"  import {name};\n" for name in (SEALING, ATTESTATION, *extra_imports))
    world = ("package wasmhive:tee-guest;\n\nworld http-guest {\n" + imports +
             "  include wasi:http/proxy@0.2.0;\n}\n")
    dest = assemble_wit(out, {"world.wit": world}, ["wasi:http@0.2.0", *extra_deps])
    tee = dest / "deps" / "wasmhive-tee"
    tee.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEE_WIT / "tee.wit", tee / "tee.wit")
    return dest


def _package_of(interface: str) -> str:
    """"wasi:keyvalue/store@0.2.0-draft2" -> "wasi:keyvalue@0.2.0-draft2"."""
    name, _, version = interface.partition("@")
    return f"{name.split('/', 1)[0]}@{version}" if version else name.split("/", 1)[0]


def main(argv: Sequence[str]) -> int:
    """`python -m wasmhive.tee._wit OUT [INTERFACE...]`: write `http_guest_wit` to OUT (a build step)."""
    if not argv:
        print("usage: python -m wasmhive.tee._wit OUT [INTERFACE@VERSION...]", file=sys.stderr)
        return 64
    extra = list(argv[1:])
    print(http_guest_wit(argv[0], extra_imports=extra, extra_deps=sorted({_package_of(i) for i in extra})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
