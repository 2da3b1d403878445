"""X25519 (RFC 7748) in pure Python: the guest has no native crypto library, and this is small and exact.

Constant-time it is not (Python big integers never are); inside the sandbox the timing an attacker can
observe is that of a whole HTTP request. See docs/CONFIDENTIAL.md.
"""

P = 2**255 - 19
A24 = 121665
BASE = (9).to_bytes(32, "little")


def _clamp(k: bytes) -> int:
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def x25519(scalar: bytes, point: bytes) -> bytes:
    """scalar * point on Curve25519 (both 32 bytes, little-endian): a public key or a shared secret."""
    x1 = int.from_bytes(point, "little") & ((1 << 255) - 1)
    k = _clamp(scalar)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def public_key(private: bytes) -> bytes:
    return x25519(private, BASE)
