"""Matrix multiply in Python: pure Python (the same i-k-j order as C and JS) and numpy (BLAS)."""

from __future__ import annotations

from typing import Any


def pure(a: list[float], b: list[float], n: int) -> list[float]:
    """C = A x B over flat row-major lists; each C[i][j] sums its products in ascending k order."""
    c: list[float] = []
    for i in range(n):
        row = [0.0] * n
        base = i * n
        for k in range(n):
            aik = a[base + k]
            bk = b[k * n:(k + 1) * n]
            row = [x + aik * y for x, y in zip(row, bk, strict=True)]
        c.extend(row)
    return c


def lib(a: Any, b: Any) -> Any:
    """numpy's matmul (OpenBLAS; a different summation order, exact here because inputs are small integers)."""
    return a @ b
