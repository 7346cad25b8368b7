/*
 * Hot loop of the raw Bitcoin block parser (chainsleuth.chains.bitcoin.rawblock).
 *
 * Why C: python-bitcoinlib deserialises ~20-50k tx/s; the goal is >10x that including
 * txids, merkle root and output addresses. This module walks the serialised
 * transactions once and returns flat column buffers (bytes) that Python wraps as Arrow
 * arrays without per-row Python work:
 *   - SHA-256 with the x86 SHA extensions when the CPU has them (portable otherwise),
 *   - txid / wtxid as display hex, the merkle root and the CVE-2012-2459 mutation flag,
 *   - scriptPubKey classification and addresses (Base58Check, bech32/bech32m,
 *     bitcoin-etl's "nonstandard" + sha256 prefix); P2PK keys are hashed by a Python
 *     callback (RIPEMD-160 is not worth a second hand-written hash for a rare type).
 * The classification mirrors script.py `classify` (the reference); tests compare both.
 * Errors raise ValueError(message, byte_offset); Python turns them into ParseError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* ------------------------------------------------------------------ SHA-256 */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_blocks_portable(uint32_t s[8], const uint8_t *p, size_t nblocks) {
    while (nblocks--) {
        uint32_t w[64], a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6],
                        h = s[7];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                   (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                          K256[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
        p += 64;
    }
}

#ifdef HAVE_X86
/* Intel SHA extensions: four rounds per pair of sha256rnds2, schedule by msg1/msg2. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
sha256_blocks_shani(uint32_t s[8], const uint8_t *p, size_t nblocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&s[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&s[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);
    st1 = _mm_shuffle_epi32(st1, 0x1B);
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);
#define QROUND(i, m)                                                                          \
    msg = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K256[4 * (i)]));                  \
    st1 = _mm_sha256rnds2_epu32(st1, st0, msg);                                               \
    st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E))
#define SCHED(a, b, c, d)                                                                     \
    a = _mm_sha256msg2_epu32(                                                                 \
        _mm_add_epi32(_mm_sha256msg1_epu32(a, b), _mm_alignr_epi8(d, c, 4)), d)
    while (nblocks--) {
        __m128i save0 = st0, save1 = st1, msg;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), mask);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), mask);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), mask);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), mask);
        QROUND(0, m0);
        QROUND(1, m1);
        QROUND(2, m2);
        QROUND(3, m3);
        for (int i = 4; i < 16; i += 4) {
            SCHED(m0, m1, m2, m3);
            QROUND(i, m0);
            SCHED(m1, m2, m3, m0);
            QROUND(i + 1, m1);
            SCHED(m2, m3, m0, m1);
            QROUND(i + 2, m2);
            SCHED(m3, m0, m1, m2);
            QROUND(i + 3, m3);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += 64;
    }
#undef QROUND
#undef SCHED
    tmp = _mm_shuffle_epi32(st0, 0x1B);
    st1 = _mm_shuffle_epi32(st1, 0xB1);
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);
    st1 = _mm_alignr_epi8(st1, tmp, 8);
    _mm_storeu_si128((__m128i *)&s[0], st0);
    _mm_storeu_si128((__m128i *)&s[4], st1);
}
#endif

static void (*sha256_blocks)(uint32_t *, const uint8_t *, size_t) = sha256_blocks_portable;

typedef struct {
    uint32_t s[8];
    uint8_t buf[64];
    size_t buflen;
    uint64_t total;
} Sha256;

static void sha_init(Sha256 *c) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->s, iv, sizeof iv);
    c->buflen = 0;
    c->total = 0;
}

static void sha_update(Sha256 *c, const uint8_t *p, size_t n) {
    c->total += n;
    if (c->buflen) {
        size_t take = 64 - c->buflen < n ? 64 - c->buflen : n;
        memcpy(c->buf + c->buflen, p, take);
        c->buflen += take;
        p += take;
        n -= take;
        if (c->buflen < 64) return;
        sha256_blocks(c->s, c->buf, 1);
        c->buflen = 0;
    }
    if (n >= 64) {
        sha256_blocks(c->s, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    memcpy(c->buf, p, n);
    c->buflen = n;
}

static void sha_final(Sha256 *c, uint8_t out[32]) {
    uint64_t bits = c->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (c->buflen < 56 ? 56 : 120) - c->buflen;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(c, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->s[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->s[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->s[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->s[i];
    }
}

/* SHA-256 of a 32-byte value (the second round of SHA-256d): one pre-padded block. */
static void sha256_32(const uint8_t in[32], uint8_t out[32]) {
    uint8_t block[64] = {0};
    uint32_t s[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(block, in, 32);
    block[32] = 0x80;
    block[62] = 0x01; /* length: 256 bits */
    sha256_blocks(s, block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s[i] >> 8);
        out[4 * i + 3] = (uint8_t)s[i];
    }
}

/* SHA-256d over up to three byte ranges (a segwit tx's non-witness serialisation). */
static void sha256d_parts(const uint8_t *a, size_t na, const uint8_t *b, size_t nb,
                          const uint8_t *c3, size_t nc, uint8_t out[32]) {
    Sha256 c;
    uint8_t first[32];
    sha_init(&c);
    sha_update(&c, a, na);
    if (nb) sha_update(&c, b, nb);
    if (nc) sha_update(&c, c3, nc);
    sha_final(&c, first);
    sha256_32(first, out);
}

/* ------------------------------------------------------------ growable buffers */

typedef struct {
    char *d;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *d = PyMem_Realloc(b->d, cap);
    if (!d) {
        PyErr_NoMemory();
        return -1;
    }
    b->d = d;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->d + b->len, p, n);
    b->len += n;
    return 0;
}

#define PUT(buf, type, value)                                                                 \
    do {                                                                                      \
        type v_ = (type)(value);                                                              \
        if (buf_put(&(buf), &v_, sizeof v_)) goto fail;                                       \
    } while (0)

/* ------------------------------------------------------------------ encodings */

static const char HEXD[] = "0123456789abcdef";

static void hex_reversed(const uint8_t h[32], char out[64]) {
    for (int i = 0; i < 32; i++) {
        out[2 * i] = HEXD[h[31 - i] >> 4];
        out[2 * i + 1] = HEXD[h[31 - i] & 15];
    }
}

static uint32_t u32be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Base58Check of version byte + 20-byte hash; returns the length written (<= 35).
 * The 25-byte number is divided by 58^5 on 32-bit limbs: five digits per pass instead of
 * the byte-at-a-time schoolbook loop (which cost ~2.5 us per address). */
static size_t base58check(uint8_t version, const uint8_t h20[20], char *out) {
    uint8_t in[28] = {0}, check[32], digits[40];
    uint32_t w[7];
    in[3] = version;
    memcpy(in + 4, h20, 20);
    sha256d_parts(in + 3, 21, NULL, 0, NULL, 0, check);
    memcpy(in + 24, check, 4);
    for (int i = 0; i < 7; i++) w[i] = u32be(in + 4 * i);
    size_t zeros = 0, nd = 0, n = 0;
    while (zeros < 25 && in[3 + zeros] == 0) zeros++;
    int first = 0;
    while (first < 7 && !w[first]) first++;
    while (first < 7) {
        uint64_t rem = 0;
        for (int i = first; i < 7; i++) {
            uint64_t cur = rem << 32 | w[i];
            w[i] = (uint32_t)(cur / 656356768u); /* 58^5 */
            rem = cur % 656356768u;
        }
        for (int k = 0; k < 5; k++) {
            digits[nd++] = (uint8_t)(rem % 58);
            rem /= 58;
        }
        while (first < 7 && !w[first]) first++;
    }
    while (nd && !digits[nd - 1]) nd--;
    for (size_t i = 0; i < zeros; i++) out[n++] = '1';
    while (nd) out[n++] = B58[digits[--nd]];
    return n;
}

static uint32_t polymod_step(uint32_t pre) {
    uint8_t b = (uint8_t)(pre >> 25);
    return ((pre & 0x1FFFFFF) << 5) ^ (-((b >> 0) & 1u) & 0x3b6a57b2UL) ^
           (-((b >> 1) & 1u) & 0x26508e6dUL) ^ (-((b >> 2) & 1u) & 0x1ea119faUL) ^
           (-((b >> 3) & 1u) & 0x3d4233ddUL) ^ (-((b >> 4) & 1u) & 0x2a1462b3UL);
}

static const char BECH32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* Segwit address (BIP-173 bech32 for v0, BIP-350 bech32m for v1+); length written. */
static size_t segwit_address(const char *hrp, size_t hrplen, int version, const uint8_t *prog,
                             size_t plen, char *out) {
    uint8_t data[72];
    size_t dlen = 0, n = 0;
    uint32_t acc = 0, chk = 1;
    int bits = 0;
    data[dlen++] = (uint8_t)version;
    for (size_t i = 0; i < plen; i++) {
        acc = (acc << 8) | prog[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            data[dlen++] = (acc >> bits) & 31;
        }
    }
    if (bits) data[dlen++] = (acc << (5 - bits)) & 31;
    for (size_t i = 0; i < hrplen; i++) chk = polymod_step(chk) ^ ((uint8_t)hrp[i] >> 5);
    chk = polymod_step(chk);
    for (size_t i = 0; i < hrplen; i++) {
        chk = polymod_step(chk) ^ ((uint8_t)hrp[i] & 31);
        out[n++] = hrp[i];
    }
    out[n++] = '1';
    for (size_t i = 0; i < dlen; i++) {
        chk = polymod_step(chk) ^ data[i];
        out[n++] = BECH32[data[i]];
    }
    for (int i = 0; i < 6; i++) chk = polymod_step(chk);
    chk ^= version == 0 ? 1 : 0x2bc830a3UL;
    for (int i = 0; i < 6; i++) out[n++] = BECH32[(chk >> ((5 - i) * 5)) & 31];
    return n;
}

/* ----------------------------------------------------------- classification */

enum { P2PK, P2PKH, P2SH, P2WPKH, P2WSH, P2TR, MULTISIG, NULLDATA, WUNKNOWN, NONSTD };

typedef struct {
    uint8_t p2pkh, p2sh;
    const char *hrp;
    size_t hrplen;
    PyObject *hash160; /* Python callable: bytes -> 20-byte digest */
} Params;

static int pubkey_size_ok(const uint8_t *k, size_t n) {
    if (!n) return 0;
    if (k[0] == 2 || k[0] == 3) return n == 33;
    if (k[0] == 4 || k[0] == 6 || k[0] == 7) return n == 65;
    return 0;
}

/* One script op at *pos: returns the opcode, sets data/size for pushes; -1 if truncated. */
static int next_op(const uint8_t *s, size_t n, size_t *pos, const uint8_t **data, size_t *size) {
    uint8_t op = s[(*pos)++];
    *data = NULL;
    *size = 0;
    if (op <= 0x4e) {
        size_t len = op, width = op == 0x4c ? 1 : op == 0x4d ? 2 : op == 0x4e ? 4 : 0;
        if (width) {
            if (*pos + width > n) return -1;
            len = 0;
            for (size_t i = 0; i < width; i++) len |= (size_t)s[*pos + i] << (8 * i);
            *pos += width;
        }
        if (len > n - *pos) return -1;
        *data = s + *pos;
        *size = len;
        *pos += len;
    }
    return op;
}

static int is_nulldata(const uint8_t *s, size_t n) {
    size_t pos = 1, size;
    const uint8_t *data;
    while (pos < n) {
        int op = next_op(s, n, &pos, &data, &size);
        if (op < 0 || op > 0x60) return 0;
    }
    return 1;
}

static int is_multisig(const uint8_t *s, size_t n) {
    if (n < 4 || s[n - 1] != 0xae || s[0] < 0x51 || s[0] > 0x60) return 0;
    size_t pos = 1, size, keys = 0;
    const uint8_t *data;
    int op;
    for (;;) {
        if (pos >= n) return 0;
        op = next_op(s, n, &pos, &data, &size);
        if (op < 0) return 0;
        if (!(op <= 0x4e && pubkey_size_ok(data, size))) break;
        keys++;
    }
    if (op < 0x51 || op > 0x60 || pos != n - 1) return 0;
    size_t m = (size_t)(s[0] - 0x50), nkeys = (size_t)(op - 0x50);
    return nkeys == keys && m <= nkeys;
}

static size_t nonstandard_address(const uint8_t *s, size_t n, char *out) {
    Sha256 c;
    uint8_t h[32];
    sha_init(&c);
    sha_update(&c, s, n);
    sha_final(&c, h);
    memcpy(out, "nonstandard", 11);
    for (int i = 0; i < 20; i++) {
        out[11 + 2 * i] = HEXD[h[i] >> 4];
        out[12 + 2 * i] = HEXD[h[i] & 15];
    }
    return 51;
}

/* Classify a scriptPubKey and write its address to out (>= 96 bytes); -1 on Python error.
 * *alen is set to the address length, or -1 for no address (nulldata). */
static int classify(const Params *P, const uint8_t *s, size_t n, char *out, Py_ssize_t *alen) {
    *alen = -1;
    if (n == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 20 && s[23] == 0x88 && s[24] == 0xac) {
        *alen = (Py_ssize_t)base58check(P->p2pkh, s + 3, out);
        return P2PKH;
    }
    if (n == 23 && s[0] == 0xa9 && s[1] == 20 && s[22] == 0x87) {
        *alen = (Py_ssize_t)base58check(P->p2sh, s + 2, out);
        return P2SH;
    }
    if (n >= 4 && n <= 42 && s[1] == n - 2 && (s[0] == 0 || (s[0] >= 0x51 && s[0] <= 0x60))) {
        int version = s[0] ? s[0] - 0x50 : 0;
        size_t plen = n - 2;
        if (version == 0 && plen != 20 && plen != 32) {
            *alen = (Py_ssize_t)nonstandard_address(s, n, out);
            return NONSTD;
        }
        *alen = (Py_ssize_t)segwit_address(P->hrp, P->hrplen, version, s + 2, plen, out);
        if (version == 0) return plen == 20 ? P2WPKH : P2WSH;
        return version == 1 && plen == 32 ? P2TR : WUNKNOWN;
    }
    if ((n == 35 || n == 67) && s[0] == n - 2 && s[n - 1] == 0xac &&
        pubkey_size_ok(s + 1, n - 2)) {
        PyObject *h = PyObject_CallFunction(P->hash160, "y#", (const char *)(s + 1),
                                            (Py_ssize_t)(n - 2));
        if (!h) return -1;
        if (!PyBytes_Check(h) || PyBytes_GET_SIZE(h) != 20) {
            Py_DECREF(h);
            PyErr_SetString(PyExc_TypeError, "hash160 callback must return 20 bytes");
            return -1;
        }
        *alen = (Py_ssize_t)base58check(P->p2pkh, (const uint8_t *)PyBytes_AS_STRING(h), out);
        Py_DECREF(h);
        return P2PK;
    }
    if (n && s[0] == 0x6a && is_nulldata(s, n)) return NULLDATA;
    *alen = (Py_ssize_t)nonstandard_address(s, n, out);
    return is_multisig(s, n) ? MULTISIG : NONSTD;
}

/* ------------------------------------------------------------------ reader */

#define MAX_SIZE 0x02000000u /* Core's MAX_SIZE: largest CompactSize it accepts */
#define MAX_MONEY 2100000000000000LL

typedef struct {
    const uint8_t *p;
    size_t pos, len;
    const char *err;
    size_t err_at;
} Reader;

static int fail_at(Reader *r, const char *msg, size_t at) {
    if (!r->err) {
        r->err = msg;
        r->err_at = at;
    }
    return -1;
}

static int need(Reader *r, size_t n, const char *what) {
    return n > r->len - r->pos ? fail_at(r, what, r->pos) : 0;
}

static uint32_t u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int varint(Reader *r, uint64_t *out, const char *what) {
    size_t at = r->pos;
    if (need(r, 1, what)) return -1;
    uint8_t b = r->p[r->pos++];
    uint64_t v = b, min = 0;
    size_t width = b == 0xfd ? 2 : b == 0xfe ? 4 : b == 0xff ? 8 : 0;
    if (width) {
        if (need(r, width, what)) return -1;
        v = 0;
        for (size_t i = 0; i < width; i++) v |= (uint64_t)r->p[r->pos + i] << (8 * i);
        r->pos += width;
        min = width == 2 ? 0xfd : width == 4 ? 0x10000 : 0x100000000ULL;
    }
    if (v < min) return fail_at(r, "non-canonical varint", at);
    if (v > MAX_SIZE) return fail_at(r, "oversized varint", at);
    *out = v;
    return 0;
}

/* A count of items each at least `min_size` bytes long must fit in what is left. */
static int count(Reader *r, uint64_t *out, size_t min_size, const char *what) {
    size_t at = r->pos;
    if (varint(r, out, what)) return -1;
    if (*out * min_size > r->len - r->pos) return fail_at(r, what, at);
    return 0;
}

/* ------------------------------------------------------------- parse_block */

static int merkle_root(uint8_t *hashes, size_t n, uint8_t root[32], int *mutated) {
    /* Bitcoin's merkle tree: pair up, duplicating the last hash of an odd level. */
    *mutated = 0;
    if (!n) {
        memset(root, 0, 32);
        return 0;
    }
    while (n > 1) {
        for (size_t i = 0; i + 1 < n; i += 2)
            if (!memcmp(hashes + 32 * i, hashes + 32 * (i + 1), 32)) *mutated = 1;
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2) {
            uint8_t pair[64];
            memcpy(pair, hashes + 32 * i, 32);
            memcpy(pair + 32, hashes + 32 * (i + 1 < n ? i + 1 : i), 32);
            sha256d_parts(pair, 64, NULL, 0, NULL, 0, hashes + 32 * m++);
        }
        n = m;
    }
    memcpy(root, hashes, 32);
    return 0;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->d ? b->d : "", (Py_ssize_t)b->len); }

enum {
    T_TXID, T_WTXID, T_VERSION, T_LOCKTIME, T_SIZE, T_WEIGHT, T_NIN, T_NOUT,
    O_TX, O_N, O_VALUE, O_TYPE, O_ADDR_OFF, O_ADDR, O_ADDR_VALID,
    I_TX, I_N, I_PREV, I_PREV_N, I_SEQ,
    RAW_HASHES, NBUF
};
static const char *BUF_NAMES[NBUF] = {
    "txid", "wtxid", "version", "locktime", "size", "weight", "input_count", "output_count",
    "out_tx", "out_n", "out_value", "out_type", "out_addr_offsets", "out_addr", "out_addr_valid",
    "in_tx", "in_n", "in_prev_hash", "in_prev_n", "in_sequence", NULL};

static int parse_tx(Reader *r, const Params *P, uint32_t pos_in_block, Buf *B,
                    int32_t *addr_total, size_t *cb_script_off, size_t *cb_script_len) {
    size_t start = r->pos, body_start, wit_start = 0, wit_end = 0;
    uint64_t n_in, n_out;
    int segwit = 0;
    if (need(r, 4, "truncated transaction version")) return -1;
    uint32_t version = u32(r->p + r->pos);
    r->pos += 4;
    if (r->len - r->pos >= 2 && r->p[r->pos] == 0 && r->p[r->pos + 1] != 0) {
        if (r->p[r->pos + 1] != 1) return fail_at(r, "unknown segwit flag", r->pos + 1);
        segwit = 1;
        r->pos += 2;
    }
    body_start = r->pos;
    if (count(r, &n_in, 41, "input count exceeds the remaining bytes")) return -1;
    for (uint64_t i = 0; i < n_in; i++) {
        uint64_t slen;
        if (need(r, 36, "truncated input")) return -1;
        const uint8_t *prev = r->p + r->pos;
        r->pos += 36;
        if (varint(r, &slen, "truncated scriptSig length")) return -1;
        if (need(r, slen + 4, "scriptSig length exceeds the remaining bytes")) return -1;
        if (pos_in_block == 0) {
            if (i == 0) {
                *cb_script_off = r->pos;
                *cb_script_len = slen;
            }
        } else {
            char hex[64];
            hex_reversed(prev, hex);
            PUT(B[I_TX], int32_t, pos_in_block);
            PUT(B[I_N], int32_t, i);
            if (buf_put(&B[I_PREV], hex, 64)) goto fail;
            PUT(B[I_PREV_N], int64_t, u32(prev + 32));
            PUT(B[I_SEQ], int64_t, u32(r->p + r->pos + slen));
        }
        r->pos += slen + 4;
    }
    if (count(r, &n_out, 9, "output count exceeds the remaining bytes")) return -1;
    for (uint64_t i = 0; i < n_out; i++) {
        uint64_t slen;
        char addr[96];
        Py_ssize_t alen;
        if (need(r, 8, "truncated output")) return -1;
        int64_t value = (int64_t)((uint64_t)u32(r->p + r->pos) |
                                  (uint64_t)u32(r->p + r->pos + 4) << 32);
        if (value < 0 || value > MAX_MONEY) return fail_at(r, "output value out of range", r->pos);
        r->pos += 8;
        if (varint(r, &slen, "truncated scriptPubKey length")) return -1;
        if (need(r, slen, "scriptPubKey length exceeds the remaining bytes")) return -1;
        int type = classify(P, r->p + r->pos, slen, addr, &alen);
        if (type < 0) goto fail;
        r->pos += slen;
        PUT(B[O_TX], int32_t, pos_in_block);
        PUT(B[O_N], int32_t, i);
        PUT(B[O_VALUE], int64_t, value);
        PUT(B[O_TYPE], uint8_t, type);
        PUT(B[O_ADDR_VALID], uint8_t, alen >= 0);
        if (alen > 0) {
            if (buf_put(&B[O_ADDR], addr, (size_t)alen)) goto fail;
            *addr_total += (int32_t)alen;
        }
        PUT(B[O_ADDR_OFF], int32_t, *addr_total);
    }
    if (segwit) {
        wit_start = r->pos;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t items, len;
            if (count(r, &items, 1, "witness item count exceeds the remaining bytes")) return -1;
            for (uint64_t k = 0; k < items; k++) {
                if (varint(r, &len, "truncated witness item length")) return -1;
                if (need(r, len, "witness item length exceeds the remaining bytes")) return -1;
                r->pos += len;
            }
        }
        wit_end = r->pos;
    }
    if (need(r, 4, "truncated transaction locktime")) return -1;
    uint32_t locktime = u32(r->p + r->pos);
    r->pos += 4;
    size_t size = r->pos - start;
    uint8_t txid[32], wtxid[32];
    char hex[64];
    if (segwit) {
        sha256d_parts(r->p + start, 4, r->p + body_start, wit_start - body_start,
                      r->p + wit_end, 4, txid);
        sha256d_parts(r->p + start, size, NULL, 0, NULL, 0, wtxid);
    } else {
        sha256d_parts(r->p + start, size, NULL, 0, NULL, 0, txid);
        memcpy(wtxid, txid, 32);
    }
    size_t stripped = segwit ? size - 2 - (wit_end - wit_start) : size;
    if (buf_put(&B[RAW_HASHES], txid, 32)) goto fail;
    hex_reversed(txid, hex);
    if (buf_put(&B[T_TXID], hex, 64)) goto fail;
    hex_reversed(wtxid, hex);
    if (buf_put(&B[T_WTXID], hex, 64)) goto fail;
    PUT(B[T_VERSION], int64_t, version);
    PUT(B[T_LOCKTIME], int64_t, locktime);
    PUT(B[T_SIZE], int32_t, size);
    PUT(B[T_WEIGHT], int32_t, stripped * 3 + size);
    PUT(B[T_NIN], int32_t, n_in);
    PUT(B[T_NOUT], int32_t, n_out);
    return 0;
fail:
    return -2; /* a Python exception is set */
}

static PyObject *parse_block(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"data", "offset", "p2pkh", "p2sh", "hrp", "hash160", NULL};
    Py_buffer view;
    Py_ssize_t offset, hrplen;
    int p2pkh, p2sh;
    const char *hrp;
    PyObject *hash160, *result = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*niis#O", kwlist, &view, &offset, &p2pkh,
                                     &p2sh, &hrp, &hrplen, &hash160))
        return NULL;
    Params P = {(uint8_t)p2pkh, (uint8_t)p2sh, hrp, (size_t)hrplen, hash160};
    Buf B[NBUF];
    memset(B, 0, sizeof B);
    Reader r = {view.buf, (size_t)offset, (size_t)view.len, NULL, 0};
    uint64_t ntx = 0;
    int32_t addr_total = 0;
    size_t cb_off = 0, cb_len = 0;
    uint8_t root[32];
    int mutated = 0, rc = 0;
    if (offset < 0 || offset > view.len) {
        PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
        goto done;
    }
    PUT(B[O_ADDR_OFF], int32_t, 0);
    if (count(&r, &ntx, 60, "transaction count exceeds the remaining bytes") == 0) {
        for (uint64_t i = 0; i < ntx && rc == 0; i++)
            rc = parse_tx(&r, &P, (uint32_t)i, B, &addr_total, &cb_off, &cb_len);
    } else {
        rc = -1;
    }
    if (rc == -2) goto done;
    if (rc == -1) {
        PyObject *exc_args = Py_BuildValue("(sn)", r.err, (Py_ssize_t)r.err_at);
        if (exc_args) {
            PyErr_SetObject(PyExc_ValueError, exc_args); /* does not steal the reference */
            Py_DECREF(exc_args);
        }
        goto done;
    }
    merkle_root((uint8_t *)B[RAW_HASHES].d, (size_t)ntx, root, &mutated);
    result = PyDict_New();
    if (!result) goto done;
    for (int i = 0; i < RAW_HASHES; i++) {
        PyObject *v = bytes_of(&B[i]);
        if (!v || PyDict_SetItemString(result, BUF_NAMES[i], v)) {
            Py_XDECREF(v);
            Py_CLEAR(result);
            goto done;
        }
        Py_DECREF(v);
    }
    PyObject *extra = Py_BuildValue("{s:n,s:y#,s:O,s:n,s:n,s:n}", "end", (Py_ssize_t)r.pos,
                                    "merkle_root", (const char *)root, (Py_ssize_t)32,
                                    "mutated", mutated ? Py_True : Py_False, "tx_count",
                                    (Py_ssize_t)ntx, "coinbase_script_offset",
                                    (Py_ssize_t)cb_off, "coinbase_script_length",
                                    (Py_ssize_t)cb_len);
    if (!extra || PyDict_Update(result, extra)) Py_CLEAR(result);
    Py_XDECREF(extra);
    goto done;
fail:
    Py_CLEAR(result);
done:
    for (int i = 0; i < NBUF; i++) PyMem_Free(B[i].d);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *py_sha256d(PyObject *self, PyObject *arg) {
    Py_buffer view;
    uint8_t out[32];
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    sha256d_parts(view.buf, (size_t)view.len, NULL, 0, NULL, 0, out);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyObject *py_classify(PyObject *self, PyObject *args) {
    Py_buffer view;
    int p2pkh, p2sh;
    const char *hrp;
    Py_ssize_t hrplen, alen;
    PyObject *hash160;
    char addr[96];
    if (!PyArg_ParseTuple(args, "y*iis#O", &view, &p2pkh, &p2sh, &hrp, &hrplen, &hash160))
        return NULL;
    Params P = {(uint8_t)p2pkh, (uint8_t)p2sh, hrp, (size_t)hrplen, hash160};
    int type = classify(&P, view.buf, (size_t)view.len, addr, &alen);
    PyBuffer_Release(&view);
    if (type < 0) return NULL;
    if (alen < 0) return Py_BuildValue("(iO)", type, Py_None);
    return Py_BuildValue("(is#)", type, addr, alen);
}

static void (*sha256_best)(uint32_t *, const uint8_t *, size_t) = sha256_blocks_portable;

static PyObject *py_accelerated(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(sha256_blocks != sha256_blocks_portable);
}

/* Tests run both SHA-256 code paths: use_sha_ni(False) forces the portable one. */
static PyObject *py_use_sha_ni(PyObject *self, PyObject *flag) {
    sha256_blocks = PyObject_IsTrue(flag) ? sha256_best : sha256_blocks_portable;
    return py_accelerated(self, NULL);
}

static PyMethodDef METHODS[] = {
    {"parse_block", (PyCFunction)(void (*)(void))parse_block, METH_VARARGS | METH_KEYWORDS,
     "parse_block(data, offset, p2pkh, p2sh, hrp, hash160) -> dict of column buffers"},
    {"sha256d", py_sha256d, METH_O, "sha256d(data) -> 32-byte digest"},
    {"classify", py_classify, METH_VARARGS,
     "classify(script, p2pkh, p2sh, hrp, hash160) -> (type code, address or None)"},
    {"sha_accelerated", py_accelerated, METH_NOARGS, "True when SHA-NI is in use"},
    {"use_sha_ni", py_use_sha_ni, METH_O, "use_sha_ni(flag) -> whether SHA-NI is now in use"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_parser",
                                    "C hot loop of the raw Bitcoin block parser.", -1, METHODS,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__parser(void) {
#ifdef HAVE_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)))
        sha256_best = sha256_blocks_shani;
#endif
    sha256_blocks = sha256_best;
    return PyModule_Create(&MODULE);
}
