"""`verify`: check the log's hash chain, then replay it from the modules and compare every entry."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WasmhiveError
from ._sealed_state import state_sealer
from ._store import load_entries, load_limits, open_module, replay

__all__ = ["VerifyReport", "verify"]


@dataclass
class VerifyReport:
    """What `verify` found: ok, the height checked, per-canister final state hashes, or the problem."""

    ok: bool
    height: int = 0
    state_hashes: dict[str, str] = field(default_factory=dict)
    problem: str = ""


def verify(state_dir: str | Path, canister: str | None = None) -> VerifyReport:
    """Replay the whole log of `state_dir` in a fresh in-memory VM; any tampering shows as a mismatch."""
    from ._vm import ContractVM

    path = Path(state_dir) / "contracts.db"
    if not path.exists():
        return VerifyReport(False, problem=f"no contract state in {state_dir}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            # A sealed log is unsealed with this platform's root key (the chain itself needs none).
            sealer = state_sealer(db, Path(state_dir), None)
            entries = load_entries(db, sealer=sealer)
        except WasmhiveError as err:
            return VerifyReport(False, problem=str(err))
        prev = b"\0" * 32
        for i, e in enumerate(entries, 1):
            if e.height != i:
                return VerifyReport(False, i, problem=f"log height {e.height} found where {i} was expected")
            if e.prev_hash != prev or e.digest(prev) != e.hash:
                return VerifyReport(False, e.height, problem=f"hash chain broken at height {e.height}: the entry "
                                                             "was altered after it was written")
            prev = e.hash

        def module(mh: str) -> bytes:
            row = db.execute("SELECT wasm FROM modules WHERE hash = ?", (mh,)).fetchone()
            if row is None:
                raise WasmhiveError(f"module {mh} missing from the state")
            return open_module(sealer, mh, row[0])

        with ContractVM(None, limits=load_limits(db)) as vm:
            try:
                replay(vm, entries, module)
            except WasmhiveError as err:
                return VerifyReport(False, vm.height, problem=str(err))
            hashes = {c.name: c.state_hash().hex() for c in vm.canisters.values()
                      if canister is None or canister in (c.name, c.id.text)}
            if canister is not None and not hashes:
                return VerifyReport(False, vm.height, problem=f"no canister {canister} in the log")
            return VerifyReport(True, vm.height, hashes)
    finally:
        db.close()
