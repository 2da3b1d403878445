"""SHA-256 in Python: pure Python (FIPS 180-4, like c/sha256.c) and hashlib (OpenSSL)."""

from __future__ import annotations

import hashlib
import struct

_K = [
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
]
_M = 0xFFFFFFFF


def pure(data: bytes) -> bytes:
    """The digest of `data`, computed in pure Python."""
    h = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
    n = len(data)
    tail = bytes(data[n - n % 64:]) + b"\x80"
    tail += b"\0" * ((56 - len(tail)) % 64) + struct.pack(">Q", n * 8)
    blocks = memoryview(data)[: n - n % 64]
    for chunk in (blocks, memoryview(tail)):
        for off in range(0, len(chunk), 64):
            w = list(struct.unpack_from(">16I", chunk, off))
            for i in range(16, 64):
                x, y = w[i - 15], w[i - 2]
                s0 = ((x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)) & _M
                s1 = ((y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)) & _M
                w.append((w[i - 16] + s0 + w[i - 7] + s1) & _M)
            a, b, c, d, e, f, g, hh = h
            for i in range(64):
                s1 = ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) & _M
                t1 = (hh + s1 + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & _M
                s0 = ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) & _M
                t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & _M
                hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M, c, b, a, (t1 + t2) & _M
            h = [(x + y) & _M for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True)]
    return struct.pack(">8I", *h)


def lib(data: bytes | memoryview) -> bytes:
    """hashlib's SHA-256 (OpenSSL)."""
    return hashlib.sha256(data).digest()
