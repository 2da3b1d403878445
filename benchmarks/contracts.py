"""Contract VM benchmark: committed token transfers per second and queries per second.

    .venv/bin/python benchmarks/contracts.py [--quick] [--json]

Runs the example token canister (examples/contracts/Token.mo, compiled by the real Motoko compiler)
on the wasmhive contract VM with state in a temporary directory (SQLite, WAL). Durability settings:
  full   - the log is fsync'd before an update is acknowledged (concurrent callers share an fsync:
           group commit); nothing acknowledged is lost even by an OS crash or power loss.
  normal - written to the OS before the reply, fsync'd at checkpoints: survives kill -9 of the
           process, an OS crash may lose the latest acknowledged updates.
  memory - no state directory at all (reference: execution cost only).
"+ sealed" rows keep the state sealed at rest (ContractVM(sealed=True), key in the temporary directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wasmhive.contracts import ContractVM, Identity, build_motoko, encode_args  # noqa: E402
from wasmhive.runtime import EngineSettings, Runtime  # noqa: E402


def _setup(vm: ContractVM, wasm: bytes, owner: Identity, senders: list[Identity]) -> None:
    vm.deploy(wasm, name="token", caller=owner.principal)
    for s in senders:
        vm.call("token", "mint", f'(principal "{s.principal.text}", 1_000_000_000 : nat64)', caller=owner.principal)


def transfers(rt: Runtime, wasm: bytes, durability: str, clients: int, seconds: float,
              sealed: bool = False) -> dict[str, object]:
    owner = Identity("owner")
    senders = [Identity(f"s{i}") for i in range(clients)]
    dest = Identity("dest").principal.text
    with tempfile.TemporaryDirectory() as tmp:
        vm = ContractVM(None if durability == "memory" else Path(tmp),
                        durability="full" if durability == "memory" else durability, runtime=rt, sealed=sealed)
        _setup(vm, wasm, owner, senders)
        token = vm.canister("token")
        arg = encode_args(token, "transfer", f'(principal "{dest}", 1 : nat64)')
        counts = [0] * clients
        stop = time.perf_counter() + seconds
        start_h = vm.height

        def client(i: int) -> None:
            p = senders[i].principal
            n = 0
            while time.perf_counter() < stop:
                r = vm.update(token, "transfer", arg, p)
                assert r.ok, r
                n += 1
            counts[i] = n

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        total = sum(counts)
        assert vm.height - start_h == total
        check = vm.call("token", "getBalance", f'(principal "{dest}")')
        assert check == f"({total:_} : nat64)", (check, total)
        vm.close()
    return {"what": "transfers", "durability": durability + (" + sealed" if sealed else ""), "clients": clients,
            "ops": total,
            "seconds": round(elapsed, 3), "per_second": round(total / elapsed)}


def queries(rt: Runtime, wasm: bytes, seconds: float) -> dict[str, object]:
    owner = Identity("owner")
    with ContractVM(None, runtime=rt) as vm:
        _setup(vm, wasm, owner, [owner])
        token = vm.canister("token")
        arg = encode_args(token, "getBalance", f'(principal "{owner.principal.text}")')
        n = 0
        t0 = time.perf_counter()
        stop = t0 + seconds
        while time.perf_counter() < stop:
            for _ in range(100):
                r = vm.query(token, "getBalance", arg)
            n += 100
        elapsed = time.perf_counter() - t0
        assert r.ok
    return {"what": "queries", "durability": "n/a (queries never persist)", "clients": 1, "ops": n,
            "seconds": round(elapsed, 3), "per_second": round(n / elapsed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs (CI smoke test)")
    ap.add_argument("--json", action="store_true", help="print JSON rows")
    opts = ap.parse_args()
    secs = 0.5 if opts.quick else 5.0
    wasm, _ = build_motoko(ROOT / "examples" / "contracts" / "Token.mo")
    rows = []
    with Runtime(EngineSettings.deterministic()) as rt:
        rows.append(queries(rt, wasm, secs))
        rows.append(transfers(rt, wasm, "memory", 1, secs))
        rows.append(transfers(rt, wasm, "full", 1, secs))
        rows.append(transfers(rt, wasm, "full", 1, secs, sealed=True))
        rows.append(transfers(rt, wasm, "full", 16, secs))
        rows.append(transfers(rt, wasm, "normal", 1, secs))
        rows.append(transfers(rt, wasm, "normal", 1, secs, sealed=True))
    if opts.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"{'workload':<10} {'durability':<30} {'clients':>7} {'ops':>8} {'ops/s':>8}")
    for r in rows:
        print(f"{r['what']:<10} {r['durability']!s:<30} {r['clients']:>7} {r['ops']:>8} {r['per_second']:>8}")


if __name__ == "__main__":
    main()
