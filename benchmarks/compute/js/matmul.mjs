// C = A x B for n x n Float32Arrays, row-major: the same blocking and four-k-step passes as c/matmul.c
// (each C[i][j] accumulates its products one at a time in ascending k order).
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
        let k = kk;
        for (; k + 4 <= kend; k += 4) {
          const a0 = a[ci + k], a1 = a[ci + k + 1], a2 = a[ci + k + 2], a3 = a[ci + k + 3];
          const b0 = k * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
          for (let j = 0; j < n; j++) {
            c[ci + j] = (((c[ci + j] + a0 * b[b0 + j]) + a1 * b[b1 + j]) + a2 * b[b2 + j]) + a3 * b[b3 + j];
          }
        }
        for (; k < kend; k++) {
          const aik = a[ci + k], bk = k * n;
          for (let j = 0; j < n; j++) c[ci + j] += aik * b[bk + j];
        }
      }
    }
  }
  return c;
}
