"""Fill a project's `wit/deps/` with standard WIT packages from installed packages (never vendored).

    python -m wasmhive.app.witdeps wit wasi:http@0.2.0 fermyon:spin@2.0.0

Used by templates and example build commands before `componentize-py -d wit ...`. Besides the packages
`wasmhive.app.toolchains.assemble_wit` resolves, it adds the version-less packages a versioned one uses
(`fermyon:spin@2.0.0` exports `fermyon:spin/inbound-redis`, which lives in the unversioned
`fermyon:spin` package shipped next to it in spin-sdk).
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ensure_wit_deps", "main"]

_UNVERSIONED_REF = re.compile(r"\b([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)/[a-z][a-z0-9-]*\s*;")


def _unversioned_sources(deps: Path) -> dict[str, Path]:
    """Unversioned packages referenced by the deps, found beside the versioned packages' sources."""
    from ._stdwit import wit_packages

    wanted = set()
    for f in deps.rglob("*.wit"):
        wanted.update(_UNVERSIONED_REF.findall(f.read_text(encoding="utf-8")))
    found: dict[str, Path] = {}
    if not wanted:
        return found
    for files in wit_packages().values():
        root = files[0].parent
        for cand in [root, *root.parents][:3]:
            for d in cand.glob("**/*@unversioned"):
                for f in d.glob("*.wit"):
                    m = re.search(r"^\s*package\s+([a-z][a-z0-9-]*:[a-z][a-z0-9-]*)\s*;", f.read_text(encoding="utf-8"),
                                  re.M)
                    if m and m.group(1) in wanted:
                        found.setdefault(m.group(1), d)
    return found


def ensure_wit_deps(wit_dir: str | Path, packages: Sequence[str]) -> Path:
    """Write `packages` and everything they use into `wit_dir/deps/` (existing `*.wit` files are kept)."""
    from .toolchains import assemble_wit

    out = assemble_wit(Path(wit_dir), {}, list(packages))
    deps = out / "deps"
    for name, src in _unversioned_sources(deps).items():
        dest = deps / name.replace(":", "-")
        if not dest.exists():
            shutil.copytree(src, dest)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m wasmhive.app.witdeps WIT_DIR PACKAGE...`"""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m wasmhive.app.witdeps WIT_DIR PACKAGE@VERSION...", file=sys.stderr)
        return 2
    from ..errors import WasmhiveError

    try:
        ensure_wit_deps(args[0], args[1:])
    except WasmhiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
