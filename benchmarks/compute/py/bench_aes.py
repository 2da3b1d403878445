"""AES-256-CTR in Python: pure Python (the T-table algorithm of c/aes.c) and `cryptography` (OpenSSL, AES-NI)."""

from __future__ import annotations

import struct


def _xtime(x: int) -> int:
    return ((x << 1) ^ (0x1B if x & 0x80 else 0)) & 0xFF


def _tables() -> tuple[list[int], list[list[int]]]:
    sbox = [0] * 256
    p = q = 1
    while True:
        p = (p ^ _xtime(p)) & 0xFF
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        rot = [((q << s) | (q >> (8 - s))) & 0xFF for s in (1, 2, 3, 4)]
        sbox[p] = q ^ rot[0] ^ rot[1] ^ rot[2] ^ rot[3] ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    te: list[list[int]] = [[], [], [], []]
    for s in sbox:
        s2 = _xtime(s)
        t = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s)
        for r in range(4):
            te[r].append(((t >> (8 * r)) | (t << (32 - 8 * r))) & 0xFFFFFFFF)
    return sbox, te


_SBOX, _TE = _tables()


def _expand(key: bytes) -> list[int]:
    rk = list(struct.unpack(">8I", key))
    rcon = 1
    sb = _SBOX
    for i in range(8, 60):
        t = rk[i - 1]
        if i % 8 == 0:
            t = (sb[(t >> 16) & 255] << 24 | sb[(t >> 8) & 255] << 16 | sb[t & 255] << 8 | sb[t >> 24]) ^ (rcon << 24)
            rcon = _xtime(rcon)
        elif i % 8 == 4:
            t = sb[t >> 24] << 24 | sb[(t >> 16) & 255] << 16 | sb[(t >> 8) & 255] << 8 | sb[t & 255]
        rk.append(rk[i - 8] ^ t)
    return rk


def pure(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt (= decrypt) `data` with AES-256 in CTR mode (128-bit big-endian counter)."""
    rk = _expand(key)
    t0, t1, t2, t3 = _TE
    sb = _SBOX
    ctr = int.from_bytes(iv, "big")
    stream = bytearray()
    for _ in range((len(data) + 15) // 16):
        c0, c1, c2, c3 = ctr >> 96, (ctr >> 64) & 0xFFFFFFFF, (ctr >> 32) & 0xFFFFFFFF, ctr & 0xFFFFFFFF
        s0, s1, s2, s3 = c0 ^ rk[0], c1 ^ rk[1], c2 ^ rk[2], c3 ^ rk[3]
        for r in range(4, 56, 4):
            s0, s1, s2, s3 = (
                t0[s0 >> 24] ^ t1[(s1 >> 16) & 255] ^ t2[(s2 >> 8) & 255] ^ t3[s3 & 255] ^ rk[r],
                t0[s1 >> 24] ^ t1[(s2 >> 16) & 255] ^ t2[(s3 >> 8) & 255] ^ t3[s0 & 255] ^ rk[r + 1],
                t0[s2 >> 24] ^ t1[(s3 >> 16) & 255] ^ t2[(s0 >> 8) & 255] ^ t3[s1 & 255] ^ rk[r + 2],
                t0[s3 >> 24] ^ t1[(s0 >> 16) & 255] ^ t2[(s1 >> 8) & 255] ^ t3[s2 & 255] ^ rk[r + 3],
            )
        stream += struct.pack(
            ">4I",
            (sb[s0 >> 24] << 24 | sb[(s1 >> 16) & 255] << 16 | sb[(s2 >> 8) & 255] << 8 | sb[s3 & 255]) ^ rk[56],
            (sb[s1 >> 24] << 24 | sb[(s2 >> 16) & 255] << 16 | sb[(s3 >> 8) & 255] << 8 | sb[s0 & 255]) ^ rk[57],
            (sb[s2 >> 24] << 24 | sb[(s3 >> 16) & 255] << 16 | sb[(s0 >> 8) & 255] << 8 | sb[s1 & 255]) ^ rk[58],
            (sb[s3 >> 24] << 24 | sb[(s0 >> 16) & 255] << 16 | sb[(s1 >> 8) & 255] << 8 | sb[s2 & 255]) ^ rk[59],
        )
        ctr = (ctr + 1) & ((1 << 128) - 1)
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(n, "little")


def lib(key: bytes, iv: bytes, data: bytes | memoryview) -> bytes:
    """`cryptography`'s AES-256-CTR (OpenSSL)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(data) + enc.finalize()
