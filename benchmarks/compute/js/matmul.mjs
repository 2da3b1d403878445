// C = A x B for n x n Float32Arrays, row-major, blocked over i and k exactly like c/matmul.c.
const BI = 64;
const BK = 128;

export function matmul(a, b, c, n) {
  c.fill(0);
  for (let ii = 0; ii < n; ii += BI) {
    const iend = Math.min(ii + BI, n);
    for (let kk = 0; kk < n; kk += BK) {
      const kend = Math.min(kk + BK, n);
      for (let i = ii; i < iend; i++) {
        const ci = i * n;
        for (let k = kk; k < kend; k++) {
          const aik = a[ci + k];
          const bk = k * n;
          for (let j = 0; j < n; j++) c[ci + j] += aik * b[bk + j];
        }
      }
    }
  }
  return c;
}
