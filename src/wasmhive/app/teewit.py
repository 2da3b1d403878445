"""A WIT directory for guests that use `wasmhive:tee` over wasi:http (a build step; see docs/CONFIDENTIAL.md).

    python -m wasmhive.app.teewit OUT [INTERFACE@VERSION...]

writes world `wasmhive:tee-guest/http-guest` (the wasi:http proxy world plus sealing and attestation,
plus any extra imports such as `wasi:keyvalue/store@0.2.0-draft2`) with every dependency under
`OUT/deps/`; then `componentize-py -d OUT -w wasmhive:tee-guest/http-guest componentize app -o app.wasm`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ..tee._wit import ATTESTATION, SEALING, TEE_WIT
from ._stdwit import assemble_wit

__all__ = ["WORLD", "http_guest_wit", "main"]

WORLD = "wasmhive:tee-guest/http-guest"


def http_guest_wit(out: str | os.PathLike[str], *, extra_imports: Sequence[str] = (),
                   extra_deps: Sequence[str] = ()) -> Path:
    """Write the `http-guest` world (plus `extra_imports`, whose packages are `extra_deps`) to `out`."""
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
    """The command line: OUT, then extra interfaces to import."""
    if not argv:
        print("usage: python -m wasmhive.app.teewit OUT [INTERFACE@VERSION...]", file=sys.stderr)
        return 64
    extra = list(argv[1:])
    print(http_guest_wit(argv[0], extra_imports=extra, extra_deps=sorted({_package_of(i) for i in extra})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
