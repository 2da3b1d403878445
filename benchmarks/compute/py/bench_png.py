"""PNG in Python: numpy filters (the same per-row choice as C and JS) + `zlib`, and the decode check.

There is no pure-Python row for PNG: filtering 33 MB byte by byte in Python takes minutes.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

_ROWS = 128  # rows per numpy batch: bounds the temporary arrays to a few tens of MB


def _neighbours(img: Any, y0: int, y1: int) -> tuple[Any, Any, Any, Any]:
    """(x, a, b, c) as int16 arrays for rows y0..y1: the byte, left, up and up-left (PNG names)."""
    x = img[y0:y1].astype(np.int16)
    a = np.zeros_like(x)
    a[:, 4:] = x[:, :-4]
    b = np.zeros_like(x)
    if y0 > 0:
        b[0] = img[y0 - 1]
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[:, 4:] = b[:, :-4]
    return x, a, b, c


def _predictors(a: Any, b: Any, c: Any) -> list[Any]:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    return [np.zeros_like(a), a, b, (a + b) >> 1, paeth]


def filter_rows(rgba: Any, width: int, height: int) -> bytes:
    """The filtered scanlines (filter byte + row) with the minimum-sum-of-|signed byte| choice per row."""
    img = np.asarray(rgba, dtype=np.uint8).reshape(height, width * 4)
    out = np.empty((height, width * 4 + 1), dtype=np.uint8)
    for y0 in range(0, height, _ROWS):
        y1 = min(y0 + _ROWS, height)
        x, a, b, c = _neighbours(img, y0, y1)
        filtered = np.stack([((x - p) & 255).astype(np.uint8) for p in _predictors(a, b, c)])
        score = np.where(filtered < 128, filtered, 256 - filtered.astype(np.int32)).sum(axis=2, dtype=np.int64)
        choice = score.argmin(axis=0)  # first minimum: ties go to the lower filter number
        out[y0:y1, 0] = choice
        out[y0:y1, 1:] = filtered[choice, np.arange(y1 - y0)]
    return out.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def lib(rgba: Any, width: int, height: int, level: int = 6) -> bytes:
    """A PNG file: numpy filters, then `zlib.compress` at `level`."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(filter_rows(rgba, width, height), level)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, inflated IDAT bytes) of an 8-bit RGBA PNG, checking every chunk's CRC."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, idat, width, height = 8, [], 0, 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + n)
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack_from(">IIBB", body)
            if (depth, color) != (8, 6):
                raise ValueError("not 8-bit RGBA")
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    return width, height, zlib.decompress(b"".join(idat))


def decodes_to(data: bytes, rgba: Any, width: int, height: int) -> bool:
    """True if the PNG `data` decodes (zlib inflate + PNG unfiltering) to exactly `rgba`.

    Unfiltering is done row-parallel: byte i of row y is reconstructed from the *expected* left, up and
    up-left bytes. By induction over rows and columns that equals a sequential decode exactly when every
    byte comes out right, so the check is exact and runs at numpy speed.
    """
    w, h, raw = read_png(data)
    if (w, h) != (width, height) or len(raw) != height * (width * 4 + 1):
        return False
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width * 4 + 1)
    img = np.asarray(rgba, dtype=np.uint8).reshape(height, width * 4)
    if int(rows[:, 0].max()) > 4:
        return False
    for y0 in range(0, height, _ROWS):
        y1 = min(y0 + _ROWS, height)
        _, a, b, c = _neighbours(img, y0, y1)
        preds = np.stack(_predictors(a, b, c))
        types = rows[y0:y1, 0].astype(np.intp)
        recon = (rows[y0:y1, 1:].astype(np.int16) + preds[types, np.arange(y1 - y0)]) & 255
        if not np.array_equal(recon.astype(np.uint8), img[y0:y1]):
            return False
    return True


def decode_sequential(data: bytes) -> bytes:
    """A plain byte-by-byte PNG decode (for small images in tests): returns the RGBA bytes."""
    width, height, raw = read_png(data)
    stride = width * 4
    out = bytearray(height * stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        base = y * stride
        for i in range(stride):
            a = out[base + i - 4] if i >= 4 else 0
            b = out[base - stride + i] if y else 0
            c = out[base - stride + i - 4] if y and i >= 4 else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[base + i] = (row[i] + pred) & 255
    return bytes(out)
