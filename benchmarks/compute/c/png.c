/* PNG encoder for 8-bit RGBA: adaptive per-row filters, then our own zlib stream (deflate with
 * greedy hash-chain LZ77 and dynamic Huffman blocks). The JavaScript twin (js/png.mjs) follows the
 * same algorithm step by step, so both produce the same bytes. */
#include "common.h"

/* ---- checksums ---------------------------------------------------------------------------- */
static uint32_t CRC[256];
static int crc_ready = 0;

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n) {
    if (!crc_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            CRC[i] = c;
        }
        crc_ready = 1;
    }
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) crc = CRC[(crc ^ p[i]) & 255] ^ (crc >> 8);
    return ~crc;
}

static uint32_t adler32(const uint8_t *p, uint32_t n) {
    uint32_t a = 1, b = 0;
    while (n > 0) {
        uint32_t k = n < 5552 ? n : 5552;  /* the most bytes before b can overflow 32 bits */
        n -= k;
        while (k--) { a += *p++; b += a; }
        a %= 65521; b %= 65521;
    }
    return b << 16 | a;
}

/* ---- bit output --------------------------------------------------------------------------- */
typedef struct { uint8_t *out; uint32_t pos, cap; uint32_t buf; int cnt; int overflow; } BitW;

static inline void put_bits(BitW *w, uint32_t v, int n) {
    w->buf |= v << w->cnt;
    w->cnt += n;
    while (w->cnt >= 8) {
        if (w->pos < w->cap) w->out[w->pos++] = (uint8_t)w->buf; else w->overflow = 1;
        w->buf >>= 8;
        w->cnt -= 8;
    }
}

/* ---- deflate tables ----------------------------------------------------------------------- */
static uint16_t LEN_BASE[29], DIST_BASE[30];
static uint8_t LEN_EXTRA[29], DIST_EXTRA[30], LEN_CODE[259], DIST_LO[256], DIST_HI[256];
static const uint8_t CL_ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
static int tables_ready = 0;

static void init_tables(void) {
    uint32_t base = 3;
    for (int i = 0; i < 28; i++) {
        LEN_EXTRA[i] = i < 8 ? 0 : (uint8_t)((i - 4) / 4);
        LEN_BASE[i] = (uint16_t)base;
        for (uint32_t l = base; l < base + (1u << LEN_EXTRA[i]) && l < 259; l++) LEN_CODE[l] = (uint8_t)i;
        base += 1u << LEN_EXTRA[i];
    }
    LEN_BASE[28] = 258; LEN_EXTRA[28] = 0; LEN_CODE[258] = 28;
    base = 1;
    for (int i = 0; i < 30; i++) {
        DIST_EXTRA[i] = i < 4 ? 0 : (uint8_t)((i - 2) / 2);
        DIST_BASE[i] = (uint16_t)base;
        for (uint32_t d = base; d < base + (1u << DIST_EXTRA[i]); d++) {
            if (d <= 256) DIST_LO[d - 1] = (uint8_t)i; else DIST_HI[(d - 1) >> 7] = (uint8_t)i;
        }
        base += 1u << DIST_EXTRA[i];
    }
    tables_ready = 1;
}

static inline int dist_code(uint32_t d) { return d <= 256 ? DIST_LO[d - 1] : DIST_HI[(d - 1) >> 7]; }

/* ---- Huffman code lengths (deterministic: ties broken by symbol number) -------------------- */
static void build_lengths(const uint32_t *freq_in, int n, int limit, uint8_t *lens) {
    uint32_t freq[286], w[2 * 286];
    int sym[286], parent[2 * 286], depth[2 * 286];
    for (int i = 0; i < n; i++) { freq[i] = freq_in[i]; lens[i] = 0; }
    for (;;) {
        int m = 0;
        for (int i = 0; i < n; i++) if (freq[i]) sym[m++] = i;
        if (m < 2) {  /* a code needs two symbols: pad with the lowest unused one */
            int s = m ? sym[0] : 0;
            lens[s] = 1;
            lens[s == 0 ? 1 : 0] = 1;
            return;
        }
        for (int i = 1; i < m; i++) {  /* insertion sort by (freq, symbol) */
            int s = sym[i], j = i - 1;
            while (j >= 0 && (freq[sym[j]] > freq[s] || (freq[sym[j]] == freq[s] && sym[j] > s))) { sym[j + 1] = sym[j]; j--; }
            sym[j + 1] = s;
        }
        for (int i = 0; i < m; i++) w[i] = freq[sym[i]];
        int li = 0, qi = m, qn = m;  /* leaves 0..m-1, internal nodes m.. in creation order */
        for (int t = 0; t < m - 1; t++) {
            int pick[2];
            for (int k = 0; k < 2; k++) {
                if (li < m && (qi >= qn || w[li] <= w[qi])) pick[k] = li++; else pick[k] = qi++;
            }
            w[qn] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = qn;
            qn++;
        }
        depth[qn - 1] = 0;
        for (int i = qn - 2; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
        int maxd = 0;
        for (int i = 0; i < m; i++) if (depth[i] > maxd) maxd = depth[i];
        if (maxd <= limit) {
            for (int i = 0; i < m; i++) lens[sym[i]] = (uint8_t)depth[i];
            return;
        }
        for (int i = 0; i < n; i++) if (freq[i]) freq[i] = (freq[i] >> 1) + 1;  /* flatten and retry */
    }
}

static void make_codes(const uint8_t *lens, int n, uint16_t *codes) {
    uint16_t count[16] = {0}, next[16];
    for (int i = 0; i < n; i++) count[lens[i]]++;
    count[0] = 0;
    uint16_t code = 0;
    for (int b = 1; b < 16; b++) { code = (uint16_t)((code + count[b - 1]) << 1); next[b] = code; }
    for (int i = 0; i < n; i++) {
        int len = lens[i];
        if (!len) continue;
        uint32_t c = next[len]++, r = 0;
        for (int k = 0; k < len; k++) { r = (r << 1) | (c & 1); c >>= 1; }
        codes[i] = (uint16_t)r;
    }
}

/* ---- one dynamic-Huffman block -------------------------------------------------------------- */
static void write_block(BitW *w, const uint16_t *ll, const uint16_t *dd, int nsym, int final) {
    uint32_t lf[286] = {0}, df[30] = {0}, cf[19] = {0};
    uint8_t llen[286], dlen[30], clen[19], all[316], rle[316], rle_extra[316];
    uint16_t lcode[286], dcode[30], ccode[19];
    for (int i = 0; i < nsym; i++) {
        if (dd[i] == 0) lf[ll[i]]++;
        else { lf[257 + LEN_CODE[ll[i]]]++; df[dist_code(dd[i])]++; }
    }
    lf[256] = 1;
    build_lengths(lf, 286, 15, llen);
    build_lengths(df, 30, 15, dlen);
    make_codes(llen, 286, lcode);
    make_codes(dlen, 30, dcode);
    int hlit = 286, hdist = 30;
    while (hlit > 257 && llen[hlit - 1] == 0) hlit--;
    while (hdist > 1 && dlen[hdist - 1] == 0) hdist--;
    int na = 0;
    for (int i = 0; i < hlit; i++) all[na++] = llen[i];
    for (int i = 0; i < hdist; i++) all[na++] = dlen[i];
    int nr = 0;
    for (int i = 0; i < na;) {
        int v = all[i], run = 1;
        while (i + run < na && all[i + run] == v) run++;
        i += run;
        if (v == 0) {
            while (run >= 11) { int r = run < 138 ? run : 138; rle[nr] = 18; rle_extra[nr++] = (uint8_t)(r - 11); run -= r; }
            if (run >= 3) { rle[nr] = 17; rle_extra[nr++] = (uint8_t)(run - 3); run = 0; }
            while (run > 0) { rle[nr] = 0; rle_extra[nr++] = 0; run--; }
        } else {
            rle[nr] = (uint8_t)v; rle_extra[nr++] = 0; run--;
            while (run >= 3) { int r = run < 6 ? run : 6; rle[nr] = 16; rle_extra[nr++] = (uint8_t)(r - 3); run -= r; }
            while (run > 0) { rle[nr] = (uint8_t)v; rle_extra[nr++] = 0; run--; }
        }
    }
    for (int i = 0; i < nr; i++) cf[rle[i]]++;
    build_lengths(cf, 19, 7, clen);
    make_codes(clen, 19, ccode);
    int hclen = 19;
    while (hclen > 4 && clen[CL_ORDER[hclen - 1]] == 0) hclen--;
    put_bits(w, (uint32_t)final, 1);
    put_bits(w, 2, 2);
    put_bits(w, (uint32_t)(hlit - 257), 5);
    put_bits(w, (uint32_t)(hdist - 1), 5);
    put_bits(w, (uint32_t)(hclen - 4), 4);
    for (int i = 0; i < hclen; i++) put_bits(w, clen[CL_ORDER[i]], 3);
    for (int i = 0; i < nr; i++) {
        int s = rle[i];
        put_bits(w, ccode[s], clen[s]);
        if (s == 16) put_bits(w, rle_extra[i], 2);
        else if (s == 17) put_bits(w, rle_extra[i], 3);
        else if (s == 18) put_bits(w, rle_extra[i], 7);
    }
    for (int i = 0; i < nsym; i++) {
        if (dd[i] == 0) { put_bits(w, lcode[ll[i]], llen[ll[i]]); continue; }
        int lc = LEN_CODE[ll[i]], dc = dist_code(dd[i]);
        put_bits(w, lcode[257 + lc], llen[257 + lc]);
        if (LEN_EXTRA[lc]) put_bits(w, ll[i] - LEN_BASE[lc], LEN_EXTRA[lc]);
        put_bits(w, dcode[dc], dlen[dc]);
        if (DIST_EXTRA[dc]) put_bits(w, dd[i] - DIST_BASE[dc], DIST_EXTRA[dc]);
    }
    put_bits(w, lcode[256], llen[256]);
}

/* ---- zlib stream ---------------------------------------------------------------------------- */
#define WSIZE 32768
#define WMASK (WSIZE - 1)
#define HSIZE 32768
#define BLOCK_SYMS 16384
static const uint16_t CHAIN[10] = {0, 4, 8, 16, 32, 64, 128, 256, 1024, 4096};
static const uint16_t NICE[10] = {0, 8, 16, 32, 32, 64, 128, 128, 258, 258};

BH_EXPORT(zlib_compress) uint32_t zlib_compress(const uint8_t *in, uint32_t n, int level, uint8_t *out, uint32_t cap) {
    if (!tables_ready) init_tables();
    if (level < 1) level = 1;
    if (level > 9) level = 9;
    uint32_t mark = bh_mark();
    int32_t *head = bh_alloc(HSIZE * 4), *prev = bh_alloc(WSIZE * 4);
    uint16_t *ll = bh_alloc(BLOCK_SYMS * 2), *dd = bh_alloc(BLOCK_SYMS * 2);
    for (int i = 0; i < HSIZE; i++) head[i] = -1;
    BitW w = {out, 0, cap, 0, 0, 0};
    put_bits(&w, 0x78, 8);
    put_bits(&w, 0x9c, 8);
    int chain = CHAIN[level], nice = NICE[level], nsym = 0;
    uint32_t pos = 0;
    while (pos < n) {
        uint32_t best = 0, bestd = 0;
        if (pos + 3 <= n) {
            uint32_t h = ((uint32_t)in[pos] << 10 ^ (uint32_t)in[pos + 1] << 5 ^ in[pos + 2]) & (HSIZE - 1);
            int32_t cand = head[h];
            head[h] = (int32_t)pos;
            prev[pos & WMASK] = cand;
            uint32_t maxlen = n - pos < 258 ? n - pos : 258;
            int tries = chain;
            while (cand >= 0 && pos - (uint32_t)cand < WSIZE && tries-- > 0) {
                const uint8_t *p = in + cand, *q = in + pos;
                if (p[best] == q[best]) {
                    uint32_t l = 0;
                    while (l < maxlen && p[l] == q[l]) l++;
                    if (l > best) {
                        best = l; bestd = pos - (uint32_t)cand;
                        if (l >= (uint32_t)nice || l == maxlen) break;
                    }
                }
                cand = prev[cand & WMASK];
            }
        }
        if (best >= 3) {
            ll[nsym] = (uint16_t)best; dd[nsym++] = (uint16_t)bestd;
            for (uint32_t p = pos + 1; p < pos + best; p++) {
                if (p + 3 > n) break;
                uint32_t h = ((uint32_t)in[p] << 10 ^ (uint32_t)in[p + 1] << 5 ^ in[p + 2]) & (HSIZE - 1);
                prev[p & WMASK] = head[h];
                head[h] = (int32_t)p;
            }
            pos += best;
        } else {
            ll[nsym] = in[pos]; dd[nsym++] = 0;
            pos++;
        }
        if (nsym == BLOCK_SYMS) { write_block(&w, ll, dd, nsym, 0); nsym = 0; }
    }
    write_block(&w, ll, dd, nsym, 1);
    if (w.cnt > 0) put_bits(&w, 0, 8 - w.cnt);
    uint32_t ad = adler32(in, n);
    for (int s = 24; s >= 0; s -= 8) put_bits(&w, (ad >> s) & 255, 8);
    bh_release(mark);
    return w.overflow ? 0 : w.pos;
}

/* ---- filters -------------------------------------------------------------------------------- */
static inline int paeth(int a, int b, int c) {
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

static inline uint32_t sabs(uint8_t v) { return v < 128 ? v : 256u - v; }

/* Each row gets the filter with the smallest sum of |signed byte| (the usual heuristic); ties go to the
 * lower filter number. Output: h rows of (filter byte + 4*w filtered bytes). */
BH_EXPORT(png_filter) void png_filter(const uint8_t *rgba, uint32_t width, uint32_t height, uint8_t *outp) {
    uint32_t stride = width * 4;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *cur = rgba + (size_t)y * stride, *up = y ? cur - stride : 0;
        uint8_t *o = outp + (size_t)y * (stride + 1);
        uint32_t s[5] = {0, 0, 0, 0, 0};
        for (uint32_t i = 0; i < stride; i++) {
            int x = cur[i], a = i >= 4 ? cur[i - 4] : 0, b = up ? up[i] : 0, c = (up && i >= 4) ? up[i - 4] : 0;
            s[0] += sabs((uint8_t)x);
            s[1] += sabs((uint8_t)(x - a));
            s[2] += sabs((uint8_t)(x - b));
            s[3] += sabs((uint8_t)(x - ((a + b) >> 1)));
            s[4] += sabs((uint8_t)(x - paeth(a, b, c)));
        }
        int t = 0;
        for (int k = 1; k < 5; k++) if (s[k] < s[t]) t = k;
        o[0] = (uint8_t)t;
        for (uint32_t i = 0; i < stride; i++) {
            int x = cur[i], a = i >= 4 ? cur[i - 4] : 0, b = up ? up[i] : 0, c = (up && i >= 4) ? up[i - 4] : 0;
            int pred = t == 0 ? 0 : t == 1 ? a : t == 2 ? b : t == 3 ? (a + b) >> 1 : paeth(a, b, c);
            o[1 + i] = (uint8_t)(x - pred);
        }
    }
}

static uint32_t put_chunk_header(uint8_t *out, uint32_t pos, uint32_t len, const char *type) {
    out[pos] = len >> 24; out[pos + 1] = len >> 16; out[pos + 2] = len >> 8; out[pos + 3] = (uint8_t)len;
    for (int i = 0; i < 4; i++) out[pos + 4 + i] = (uint8_t)type[i];
    return pos + 8;
}

static uint32_t put_crc(uint8_t *out, uint32_t start, uint32_t end) {
    uint32_t c = crc32_update(0, out + start + 4, end - start - 4);
    out[end] = c >> 24; out[end + 1] = c >> 16; out[end + 2] = c >> 8; out[end + 3] = (uint8_t)c;
    return end + 4;
}

/* The whole file: signature, IHDR, one IDAT, IEND. Returns its size, or 0 if `cap` is too small. */
BH_EXPORT(png_encode) uint32_t png_encode(const uint8_t *rgba, uint32_t width, uint32_t height, int level,
                                          uint8_t *out, uint32_t cap) {
    static const uint8_t SIG[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (cap < 64) return 0;
    uint32_t mark = bh_mark();
    uint32_t raw = height * (width * 4 + 1);
    uint8_t *filtered = bh_alloc(raw);
    png_filter(rgba, width, height, filtered);
    bh_copy(out, SIG, 8);
    uint32_t pos = put_chunk_header(out, 8, 13, "IHDR");
    uint8_t ihdr[13] = {width >> 24, width >> 16, width >> 8, (uint8_t)width,
                        height >> 24, height >> 16, height >> 8, (uint8_t)height, 8, 6, 0, 0, 0};
    bh_copy(out + pos, ihdr, 13);
    pos = put_crc(out, 8, pos + 13);
    uint32_t idat = pos;
    uint32_t z = zlib_compress(filtered, raw, level, out + idat + 8, cap - idat - 8 - 16);
    bh_release(mark);
    if (z == 0) return 0;
    put_chunk_header(out, idat, z, "IDAT");
    pos = put_crc(out, idat, idat + 8 + z);
    pos = put_chunk_header(out, pos, 0, "IEND");
    return put_crc(out, pos - 8, pos);
}
