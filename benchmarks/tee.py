"""Confidential-computing benchmark: sealing throughput against raw AES-GCM, and attestation latency.

    .venv/bin/python benchmarks/tee.py            # full run (~30 s)
    .venv/bin/python benchmarks/tee.py --quick    # smoke run

Measured in one run, one thing at a time:
  - seal / unseal MB/s of `wasmhive.tee.Sealer` (header, per-blob HKDF key, AES-256-GCM) next to the
    peer: `cryptography`'s AESGCM encrypt / decrypt with one fixed key (the floor: what sealing adds is
    the key derivation and header), for 1 KiB, 64 KiB and 1 MiB;
  - a C guest sealing 1 MiB through `wasmhive_tee` (zig-built tests/guests/tee/tee_probe.c; includes
    instantiating the module and copying the data in and out of its memory), when zig is installed;
  - attestation: making evidence (claims + Ed25519 signature) and verifying it, microseconds per call.
Nothing here asserts speed; it prints what it measured, with ratios from the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent


def rate(fn: Callable[[], object], nbytes: int, seconds: float) -> float:
    """MB/s of `fn` (which processes `nbytes`), the median of 5 timed slices of ~seconds/5 each."""
    fn()
    samples = []
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds / 5:
            fn()
            n += 1
        samples.append(n * nbytes / elapsed / 1e6)
    return statistics.median(samples)


def per_call_us(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the harness)")
    args = ap.parse_args(argv)
    seconds = 0.25 if args.quick else 2.0

    from wasmhive.tee import Identity, Sealer, make_evidence, platform_keys, verify_evidence

    with tempfile.TemporaryDirectory() as tmp:
        keys = platform_keys({}, Path(tmp) / "keys")
    ident = Identity(os.urandom(32).hex())
    sealer = Sealer(keys.root)
    peer = AESGCM(os.urandom(32))
    nonce = os.urandom(12)

    print(f"{'size':>8}  {'seal MB/s':>10}  {'AESGCM enc':>10}  {'ratio':>6}  {'unseal MB/s':>11}  "
          f"{'AESGCM dec':>10}  {'ratio':>6}")
    for size in (1024, 64 * 1024, 1024 * 1024):
        data = os.urandom(size)
        sealed = sealer.seal(data, "same-code", ident)
        ct = peer.encrypt(nonce, data, b"")
        s = rate(lambda: sealer.seal(data, "same-code", ident), size, seconds)  # noqa: B023
        e = rate(lambda: peer.encrypt(nonce, data, b""), size, seconds)  # noqa: B023
        u = rate(lambda: sealer.unseal(sealed, ident), size, seconds)  # noqa: B023
        d = rate(lambda: peer.decrypt(nonce, ct, b""), size, seconds)  # noqa: B023
        print(f"{size // 1024:>6}Ki  {s:>10.1f}  {e:>10.1f}  {s / e:>6.2f}  {u:>11.1f}  {d:>10.1f}  {u / d:>6.2f}")

    guest_line(keys, seconds)

    token = make_evidence(keys, ident, b"n" * 32, b"u" * 32, {"component": "bench"})
    make_us = per_call_us(lambda: make_evidence(keys, ident, b"n" * 32, b"u" * 32, {"component": "bench"}), seconds)
    verify_us = per_call_us(lambda: verify_evidence(token, keys.public_key, nonce=b"n" * 32,
                                                    expect_measurement=ident.measurement), seconds)
    print(f"attestation: make evidence {make_us:.0f} us/call, verify {verify_us:.0f} us/call "
          f"({len(token)} bytes)")
    return 0


def guest_line(keys: object, seconds: float) -> None:
    """1 MiB sealed by the C probe through wasmhive_tee (fresh instance per run), if zig is available."""
    from wasmhive import Runtime, Sandbox
    from wasmhive.errors import BuildError
    from wasmhive.tee import Identity, TeeGuest, run_command

    try:
        from wasmhive.app.toolchains import zig_cc

        probe = zig_cc(ROOT / "tests" / "guests" / "tee" / "tee_probe.c")
    except BuildError as e:
        print(f"C guest: skipped ({str(e).splitlines()[0]})")
        return
    data = os.urandom(1024 * 1024)
    with Runtime(cache=False) as rt:
        compiled = rt.load(probe)

        def once() -> None:
            result = run_command(rt, compiled, lambda m: TeeGuest(Identity(m), keys, sealing=True),  # type: ignore[arg-type]
                                 sandbox=Sandbox(args=["tee_probe", "seal", "code"], stdin=data, stdout="capture"))
            assert result.exit_code == 0 and len(result.stdout) == len(data) + 85

        mbps = rate(once, len(data), seconds)
    print(f"C guest (wasmhive_tee.seal, 1 MiB per run incl. instantiation and stdio): {mbps:.1f} MB/s")


if __name__ == "__main__":
    sys.exit(main())
