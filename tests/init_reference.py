#!/usr/bin/python3
"""init_reference.py - an independent pure-Python model of the deterministic
initialiser (SPEC.md 6, attest/init.c, attest/init_math.c).

Python floats are IEEE-754 doubles and + - * / and math.sqrt are correctly
rounded, so replaying the C operations in the same order gives the same bits.
What is deliberately *not* shared with the C code:
  - BLAKE2b comes from hashlib, ChaCha20 from libsodium through ctypes;
  - the AS241 coefficients are parsed from their published decimal form;
  - every rounding to binary32 / binary16 / bfloat16 (the C cast and the
    conversions) is done on exact rationals (fractions.Fraction) instead of
    bit tricks;
  - the binary32 arithmetic of the version-2 kinds (SPEC.md 6.8) is done in
    doubles, each result rounded to binary32 by struct.pack('<f'): for + - *
    / and sqrt of binary32 operands the double result rounded once more is
    the correctly rounded binary32 result (53 >= 2 * 24 + 2).

Usage:
  init_reference.py            print the vector table (same text as the C
                               program tests/init_vectors.c)
  init_reference.py --constants  recompute every constant from its definition
                               (needs mpmath) and check the tables below
"""
import ctypes
import hashlib
import math
import struct
import sys
from fractions import Fraction

# ---------------------------------------------------------------- constants
H = float.fromhex
SQRT2 = H('0x1.6a09e667f3bcdp+0')
SQRT1_2 = H('0x1.6a09e667f3bcdp-1')
LN2_HI = H('0x1.62e42fee00000p-1')
LN2_LO = H('0x1.a39ef35793c76p-33')
INV_LN2 = H('0x1.71547652b82fep+0')
TWOPI_2M53 = H('0x1.921fb54442d18p-51')      # RN(2*pi) * 2^-53
INV_SQRTPI = H('0x1.20dd750429b6dp-1')
# ln: L[k-1] = RN(1/(2k+1)), k = 1..12
L = [H(x) for x in (
    '0x1.5555555555555p-2', '0x1.999999999999ap-3', '0x1.2492492492492p-3',
    '0x1.c71c71c71c71cp-4', '0x1.745d1745d1746p-4', '0x1.3b13b13b13b14p-4',
    '0x1.1111111111111p-4', '0x1.e1e1e1e1e1e1ep-5', '0x1.af286bca1af28p-5',
    '0x1.8618618618618p-5', '0x1.642c8590b2164p-5', '0x1.47ae147ae147bp-5')]
# exp: E[k] = RN(1/k!), k = 0..14
E = [H(x) for x in (
    '0x1p+0', '0x1p+0', '0x1p-1', '0x1.5555555555555p-3', '0x1.5555555555555p-5',
    '0x1.1111111111111p-7', '0x1.6c16c16c16c17p-10', '0x1.a01a01a01a01ap-13',
    '0x1.a01a01a01a01ap-16', '0x1.71de3a556c734p-19', '0x1.27e4fb7789f5cp-22',
    '0x1.ae64567f544e4p-26', '0x1.1eed8eff8d898p-29', '0x1.6124613a86d09p-33',
    '0x1.93974a8c07c9dp-37')]
# sin: S[k-1] = RN((-1)^k/(2k+1)!), k = 1..8
S = [H(x) for x in (
    '-0x1.5555555555555p-3', '0x1.1111111111111p-7', '-0x1.a01a01a01a01ap-13',
    '0x1.71de3a556c734p-19', '-0x1.ae64567f544e4p-26', '0x1.6124613a86d09p-33',
    '-0x1.ae7f3e733b81fp-41', '0x1.952c77030ad4ap-49')]
# cos: C[k-1] = RN((-1)^k/(2k)!), k = 1..9
C = [H(x) for x in (
    '-0x1p-1', '0x1.5555555555555p-5', '-0x1.6c16c16c16c17p-10',
    '0x1.a01a01a01a01ap-16', '-0x1.27e4fb7789f5cp-22', '0x1.1eed8eff8d898p-29',
    '-0x1.93974a8c07c9dp-37', '0x1.ae7f3e733b81fp-45', '-0x1.6827863b97d97p-53')]
# erf: A[n] = RN(2/sqrt(pi) * (-1)^n / (n! (2n+1))), n = 0..19
A = [H(x) for x in (
    '0x1.20dd750429b6dp+0', '-0x1.812746b0379e7p-2', '0x1.ce2f21a042be2p-4',
    '-0x1.b82ce31288b51p-6', '0x1.565bcd0e6a53fp-8', '-0x1.c02db40040b86p-11',
    '0x1.f9a326f9b89b7p-14', '-0x1.f4d25c3e0c2ebp-17', '0x1.b9e6c9dc651a3p-20',
    '-0x1.5f742ec43e71ap-23', '0x1.fcc5720624c1cp-27', '-0x1.51d7181c5d36dp-30',
    '0x1.9e6ad5e55a730p-34', '-0x1.d8453cb0c46eap-38', '0x1.f683ae4a97007p-42',
    '-0x1.f56f071a885cfp-46', '0x1.d70b3537f4765p-50', '-0x1.a2007af3447f6p-54',
    '0x1.5f7919bc67b8cp-58', '-0x1.18cc8a061c479p-62')]
ERFC_CF_TERMS = 300
# Wichura AS241 (PPND16), as published; highest degree first.
AS_A = [float(x) for x in (
    '2.5090809287301226727e+3', '3.3430575583588128105e+4', '6.7265770927008700853e+4',
    '4.5921953931549871457e+4', '1.3731693765509461125e+4', '1.9715909503065514427e+3',
    '1.3314166789178437745e+2', '3.3871328727963666080e+0')]
AS_B = [float(x) for x in (
    '5.2264952788528545610e+3', '2.8729085735721942674e+4', '3.9307895800092710610e+4',
    '2.1213794301586595867e+4', '5.3941960214247511077e+3', '6.8718700749205790830e+2',
    '4.2313330701600911252e+1', '1.0')]
AS_C = [float(x) for x in (
    '7.74545014278341407640e-4', '2.27238449892691845833e-2', '2.41780725177450611770e-1',
    '1.27045825245236838258e+0', '3.64784832476320460504e+0', '5.76949722146069140550e+0',
    '4.63033784615654529590e+0', '1.42343711074968357734e+0')]
AS_D = [float(x) for x in (
    '1.05075007164441684324e-9', '5.47593808499534494600e-4', '1.51986665636164571966e-2',
    '1.48103976427480074590e-1', '6.89767334985100004550e-1', '1.67638483018380384940e+0',
    '2.05319162663775882187e+0', '1.0')]
AS_E = [float(x) for x in (
    '2.01033439929228813265e-7', '2.71155556874348757815e-5', '1.24266094738807843860e-3',
    '2.65321895265761230930e-2', '2.96560571828504891230e-1', '1.78482653991729133580e+0',
    '5.46378491116411436990e+0', '6.65790464350110377720e+0')]
AS_F = [float(x) for x in (
    '2.04426310338993978564e-15', '1.42151175831644588870e-7', '1.84631831751005468180e-5',
    '7.86869131145613259100e-4', '1.48753612908506148525e-2', '1.36929880922735805310e-1',
    '5.99832206555887937690e-1', '1.0')]

INF = float('inf')
NAN = float('nan')

# version-2 kinds (SPEC.md 6.8): binary32 constants
F_SQRT2 = H('0x1.6a09e6p+0')          # RN32(sqrt 2)
F_LN2_HI = H('0x1.62e3p-1')           # fdlibm logf ln2_hi (0x3f317180)
F_LN2_LO = H('0x1.2fefa4p-17')        # RN32(ln 2 - F_LN2_HI)
F_TWOPI_2M24 = H('0x1.921fb6p-22')    # RN32(2 pi) * 2^-24
F_L = [H(x) for x in ('0x1.555556p-2', '0x1.99999ap-3', '0x1.24924ap-3', '0x1.c71c72p-4')]
F_S = [H(x) for x in ('-0x1.555556p-3', '0x1.111112p-7', '-0x1.a01a02p-13', '0x1.71de3ap-19')]
F_C = [H(x) for x in ('-0x1p-1', '0x1.555556p-5', '-0x1.6c16c2p-10', '0x1.a01a02p-16',
                      '-0x1.27e4fcp-22')]


def d2u(x):
    return struct.unpack('<Q', struct.pack('<d', x))[0]


def u2d(u):
    return struct.unpack('<d', struct.pack('<Q', u))[0]


def horner(coeffs, x):
    """coeffs highest degree first: ((c0*x + c1)*x + c2)..."""
    p = coeffs[0]
    for c in coeffs[1:]:
        p = p * x + c
    return p


# ---------------------------------------------------------------- math
def ln(x):
    if x != x or x < 0.0:
        return NAN
    if x == 0.0:
        return -INF
    if x == INF:
        return INF
    b = d2u(x)
    e = 0
    if b < (1 << 52):                  # subnormal: scale into the normal range
        x = x * 18014398509481984.0    # 2^54
        b = d2u(x)
        e = -54
    e += (b >> 52) - 1023
    f = u2d((b & ((1 << 52) - 1)) | (1023 << 52))
    if f >= SQRT2:
        f = f * 0.5
        e += 1
    s = (f - 1.0) / (f + 1.0)
    z = s * s
    p = L[11]
    for k in range(10, -1, -1):
        p = L[k] + z * p
    p = z * p
    t = 2.0 * (s + s * p)
    fe = float(e)
    return fe * LN2_HI + (t + fe * LN2_LO)


def pow2(k):
    return u2d((k + 1023) << 52)


def exp(t):
    if t != t:
        return t
    if t > 709.0:
        return INF
    if t < -746.0:
        return 0.0
    kd = t * INV_LN2
    k = int(kd - 0.5) if kd < 0.0 else int(kd + 0.5)
    fk = float(k)
    r = (t - fk * LN2_HI) - fk * LN2_LO
    p = E[14]
    for i in range(13, -1, -1):
        p = E[i] + r * p
    if k >= -1021:
        return p * pow2(k)
    return (p * pow2(k + 60)) * pow2(-60)


def sincos2pi(n):
    """(sin, cos) of 2*pi*n*2^-53 for an integer 0 <= n < 2^53."""
    q = (n + (1 << 50)) >> 51
    rr = n - (q << 51)                     # in [-2^50, 2^50)
    x = float(rr) * TWOPI_2M53
    z = x * x
    ps = S[7]
    for k in range(6, -1, -1):
        ps = S[k] + z * ps
    s = x + x * (z * ps)
    pc = C[8]
    for k in range(7, -1, -1):
        pc = C[k] + z * pc
    c = 1.0 + z * pc
    q &= 3
    if q == 0:
        return s, c
    if q == 1:
        return c, -s
    if q == 2:
        return -s, -c
    return -c, s


def erf_series(x):
    z = x * x
    p = A[19]
    for n in range(18, -1, -1):
        p = A[n] + z * p
    return x * p


def exp_neg_sq(x):
    """exp(-x*x) for x >= 0, with x*x split so that its rounding error is not lost."""
    xh = u2d(d2u(x) & ~((1 << 27) - 1))
    d = (xh - x) * (xh + x)
    return exp(-(xh * xh)) * exp(d)


def erfc_cf(x):
    """erfc for x >= 1 by Laplace's continued fraction, evaluated backwards."""
    if x >= 28.0:
        return 0.0
    t = x
    for k in range(ERFC_CF_TERMS, 0, -1):
        t = x + (float(k) * 0.5) / t
    return (exp_neg_sq(x) * INV_SQRTPI) / t


def erf(x):
    if x != x:
        return x
    if -1.0 < x < 1.0:
        return erf_series(x)
    if x >= 1.0:
        return 1.0 - erfc_cf(x)
    return erfc_cf(-x) - 1.0


def erfc(x):
    if x != x:
        return x
    if -1.0 < x < 1.0:
        return 1.0 - erf_series(x)
    if x >= 1.0:
        return erfc_cf(x)
    return 2.0 - erfc_cf(-x)


def phi(x):
    return 0.5 * erfc(-(x * SQRT1_2))


def ndtri(p):
    if p != p:
        return p
    if p <= 0.0:
        return -INF
    if p >= 1.0:
        return INF
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return (horner(AS_A, r) * q) / horner(AS_B, r)
    r = p if q <= 0.0 else 1.0 - p
    r = math.sqrt(-ln(r))
    if r <= 5.0:
        r = r - 1.6
        x = horner(AS_C, r) / horner(AS_D, r)
    else:
        r = r - 5.0
        x = horner(AS_E, r) / horner(AS_F, r)
    return -x if q < 0.0 else x


# ---------------------------------------------------------------- binary32 math (6.8)
def f32(x):
    """x rounded to binary32 (nearest-even; overflow to infinity), as a Python float."""
    try:
        return struct.unpack('<f', struct.pack('<f', x))[0]
    except OverflowError:
        return math.copysign(INF, x)


def f32_bits(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def bits_f32(u):
    return struct.unpack('<f', struct.pack('<I', u))[0]


def ln32(x):
    """ln of a positive normal binary32, every operation rounded to binary32."""
    b = f32_bits(x)
    e = (b >> 23) - 127
    f = bits_f32((b & 0x7fffff) | 0x3f800000)
    if f >= F_SQRT2:
        f = f32(f * 0.5)
        e += 1
    s = f32(f32(f - 1.0) / f32(f + 1.0))
    z = f32(s * s)
    p = F_L[3]
    for k in (2, 1, 0):
        p = f32(F_L[k] + f32(z * p))
    p = f32(z * p)
    t = f32(2.0 * f32(s + f32(s * p)))
    fe = float(e)
    return f32(f32(fe * F_LN2_HI) + f32(t + f32(fe * F_LN2_LO)))


def sincos32(n):
    """(sin, cos) of 2*pi*n*2^-24 for an integer 0 <= n < 2^24, in binary32."""
    q = (n + (1 << 21)) >> 22
    rr = n - (q << 22)                     # in [-2^21, 2^21)
    x = f32(float(rr) * F_TWOPI_2M24)
    z = f32(x * x)
    ps = F_S[3]
    for k in (2, 1, 0):
        ps = f32(F_S[k] + f32(z * ps))
    s = f32(x + f32(x * f32(z * ps)))
    pc = F_C[4]
    for k in (3, 2, 1, 0):
        pc = f32(F_C[k] + f32(z * pc))
    c = f32(1.0 + f32(z * pc))
    q &= 3
    if q == 0:
        return s, c
    if q == 1:
        return c, -s
    if q == 2:
        return -s, -c
    return -c, s


def normal32_pair(w0, w1, m, sd):
    u1 = float((w0 >> 8) + 1) * 2.0 ** -24          # exact
    r = f32(math.sqrt(f32(-2.0 * ln32(u1))))
    s, c = sincos32(w1 >> 8)
    return f32(m + f32(sd * f32(r * c))), f32(m + f32(sd * f32(r * s)))


# ---------------------------------------------------------------- rounding on exact values
def round_binary(v, p, emin, emax):
    """Bits (without sign) of the exact rational v >= 0 rounded to nearest-even
    in a binary format with p significand bits (implicit bit included)."""
    if v == 0:
        return 0
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    e = max(e, emin)
    quantum = Fraction(2) ** (e - p + 1)
    m = v / quantum
    M = m.numerator // m.denominator
    rem = m - M
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and M % 2 == 1):
        M += 1
    if M == (1 << p):
        M >>= 1
        e += 1
    if e > emax:
        return ((2 * emax + 1) << (p - 1))          # infinity
    if M < (1 << (p - 1)):                         # subnormal (e == emin)
        return M
    return ((e + emax) << (p - 1)) | (M - (1 << (p - 1)))   # bias = emax


def d2f_bits(x):
    """binary32 bits of the double x rounded to nearest-even (the C cast)."""
    sign = 0x80000000 if math.copysign(1.0, x) < 0 else 0
    if x != x:
        return 0x7fc00000 | sign
    if math.isinf(x):
        return sign | 0x7f800000
    return sign | round_binary(abs(Fraction(x)), 24, -126, 127)


def f32_value(bits):
    """exact Fraction of a finite binary32, or None for Inf/NaN."""
    e = (bits >> 23) & 0xff
    m = bits & 0x7fffff
    if e == 0xff:
        return None
    v = Fraction(m, 1 << 149) if e == 0 else Fraction(m | 0x800000) * Fraction(2) ** (e - 150)
    return -v if bits >> 31 else v


def f32_to_half(bits, p, emin, emax, nan):
    sign16 = (bits >> 16) & 0x8000
    e = (bits >> 23) & 0xff
    if e == 0xff:
        if bits & 0x7fffff:
            return sign16 | nan
        return sign16 | ((2 * emax + 1) << (p - 1))
    v = f32_value(bits)
    return sign16 | round_binary(abs(v), p, emin, emax)


def f32_to_f16(bits):
    return f32_to_half(bits, 11, -14, 15, 0x7e00)


def f32_to_bf16(bits):
    return f32_to_half(bits, 8, -126, 127, 0x7fc0)


# ---------------------------------------------------------------- keystream
_sodium = ctypes.CDLL('libsodium.so.23')
if _sodium.sodium_init() < 0:
    raise SystemExit('sodium_init failed')
_xor_ic = _sodium.crypto_stream_chacha20_ietf_xor_ic
_xor_ic.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong,
                    ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p]
_xor_ic.restype = ctypes.c_int


def tensor_key(seed, name):
    msg = b'scratchproof/init\x00' + struct.pack('<Q', seed) + name
    return hashlib.blake2b(msg, digest_size=32).digest()


def keystream_blocks(key, b0, nblocks):
    out = bytearray()
    b = b0
    end = b0 + nblocks
    while b < end:
        run = min(end, ((b >> 32) + 1) << 32) - b   # never cross a 2^32-block boundary
        nonce = b'\x00' * 4 + struct.pack('<Q', b >> 32)
        buf = ctypes.create_string_buffer(64 * run)
        rc = _xor_ic(buf, bytes(64 * run), 64 * run, nonce, b & 0xffffffff, key)
        assert rc == 0
        out += buf.raw
        b += run
    return bytes(out)


class Words:
    """W(j) for j in [j0, j1)."""
    def __init__(self, key, j0, j1):
        self.b0 = j0 >> 3
        nb = ((j1 - 1) >> 3) - self.b0 + 1 if j1 > j0 else 0
        self.data = keystream_blocks(key, self.b0, nb)

    def __call__(self, j):
        o = (j - (self.b0 << 3)) * 8
        return struct.unpack_from('<Q', self.data, o)[0]


class Words32:
    """w(j) = u32le(S[4j .. 4j+4)) for j in [j0, j1) (SPEC.md 6.8)."""
    def __init__(self, key, j0, j1):
        self.b0 = j0 >> 4
        nb = ((j1 - 1) >> 4) - self.b0 + 1 if j1 > j0 else 0
        self.data = keystream_blocks(key, self.b0, nb)

    def __call__(self, j):
        return struct.unpack_from('<I', self.data, (j - (self.b0 << 4)) * 4)[0]


# ---------------------------------------------------------------- schemes
ZEROS, CONSTANT, UNIFORM, NORMAL, TRUNC, ORTHO = 1, 2, 3, 4, 5, 8
UNIFORM32, NORMAL32 = 6, 7
F32, F16, BF16 = 1, 2, 3
DTYPE_NAME = {F32: 'F32', F16: 'F16', BF16: 'BF16'}


def orthogonal(p, seed, name):
    """every element of an ORTHOGONAL(gain, rows, cols) tensor, row-major (SPEC.md 6.9):
    Householder QR of the NORMAL(0, 1) matrix, written from the SPEC's steps with
    lists of rows (not the C code's column-major arrays)."""
    gain, rows, cols = p[0], int(p[1]), int(p[2])
    g = elements(NORMAL, (0.0, 1.0, 0.0, 0.0), seed, name, 0, rows * cols)
    tr = rows < cols
    m, n = (cols, rows) if tr else (rows, cols)
    # A[i][j], m x n: G, or G transposed
    A = [[g[j * cols + i] if tr else g[i * cols + j] for j in range(n)] for i in range(m)]
    alpha, v0, beta = [0.0] * n, [0.0] * n, [0.0] * n
    for k in range(n):
        ss = A[k][k] * A[k][k]
        for i in range(k + 1, m):
            ss = ss + A[i][k] * A[i][k]
        norm = math.sqrt(ss)
        if norm == 0.0:
            continue
        al = -norm if A[k][k] >= 0.0 else norm
        v = A[k][k] - al
        vv = v * v
        for i in range(k + 1, m):
            vv = vv + A[i][k] * A[i][k]
        b = 2.0 / vv
        for j in range(k + 1, n):
            t = v * A[k][j]
            for i in range(k + 1, m):
                t = t + A[i][k] * A[i][j]
            t = t * b
            A[k][j] = A[k][j] - t * v
            for i in range(k + 1, m):
                A[i][j] = A[i][j] - t * A[i][k]
        A[k][k] = al
        alpha[k], v0[k], beta[k] = al, v, b
    Q = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(m)]
    for k in reversed(range(n)):
        if beta[k] == 0.0:
            continue
        for j in range(k, n):
            t = v0[k] * Q[k][j]
            for i in range(k + 1, m):
                t = t + A[i][k] * Q[i][j]
            t = t * beta[k]
            Q[k][j] = Q[k][j] - t * v0[k]
            for i in range(k + 1, m):
                Q[i][j] = Q[i][j] - t * A[i][k]
    sign = [1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0 for a in alpha]
    out = [0.0] * (rows * cols)
    for r in range(rows):
        for c in range(cols):
            i, j = (c, r) if tr else (r, c)
            out[r * cols + c] = gain * (sign[j] * Q[i][j])
    return out


def elements(kind, p, seed, name, first, count):
    """the double value of every element in [first, first+count)"""
    if count == 0:
        return []
    if kind == ORTHO:
        return orthogonal(p, seed, name)[first:first + count]
    if kind == ZEROS:
        return [0.0] * count
    if kind == CONSTANT:
        return [p[0]] * count
    key = tensor_key(seed, name)
    last = first + count - 1
    out = []
    if kind == UNIFORM:
        w = Words(key, first, last + 1)
        span = p[1] - p[0]
        for i in range(first, last + 1):
            out.append(p[0] + span * (float(w(i) >> 11) * 2.0 ** -53))
    elif kind == NORMAL:
        w = Words(key, 2 * (first // 2), 2 * (last // 2) + 2)
        for i in range(first, last + 1):
            k = i // 2
            u1 = float((w(2 * k) >> 11) + 1) * 2.0 ** -53
            r = math.sqrt(-2.0 * ln(u1))
            s, c = sincos2pi(w(2 * k + 1) >> 11)
            z = r * (c if i % 2 == 0 else s)
            out.append(p[0] + p[1] * z)
    elif kind == TRUNC:
        w = Words(key, first, last + 1)
        mean, std, lo, hi = p
        a = phi((lo - mean) / std)
        b = phi((hi - mean) / std)
        d = b - a
        for i in range(first, last + 1):
            u = a + d * (float(w(i) >> 11) * 2.0 ** -53)
            v = mean + std * ndtri(u)
            if v < lo:
                v = lo
            if v > hi:
                v = hi
            out.append(v)
    elif kind == UNIFORM32:
        w = Words32(key, first, last + 1)
        span = p[1] - p[0]
        for i in range(first, last + 1):
            out.append(p[0] + span * (float(w(i) >> 8) * 2.0 ** -24))
    elif kind == NORMAL32:
        w = Words32(key, 2 * (first // 2), 2 * (last // 2) + 2)
        m, sd = f32(p[0]), f32(p[1])
        for i in range(first, last + 1):
            k = i // 2
            zc, zs = normal32_pair(w(2 * k), w(2 * k + 1), m, sd)
            out.append(zc if i % 2 == 0 else zs)
    else:
        raise ValueError(kind)
    return out


def fill(kind, p, dtype, seed, name, first, count):
    out = bytearray()
    for v in elements(kind, p, seed, name, first, count):
        fb = d2f_bits(v)
        if dtype == F32:
            out += struct.pack('<I', fb)
        elif dtype == F16:
            out += struct.pack('<H', f32_to_f16(fb))
        else:
            out += struct.pack('<H', f32_to_bf16(fb))
    return bytes(out)


# ---------------------------------------------------------------- vector table
NAME = b'blocks.0.attn.weight'
PRIMARY = [
    ('zeros', ZEROS, (0.0, 0.0, 0.0, 0.0)),
    ('constant1', CONSTANT, (1.0, 0.0, 0.0, 0.0)),
    ('uniform', UNIFORM, (-0.1, 0.1, 0.0, 0.0)),
    ('normal', NORMAL, (0.0, 0.02, 0.0, 0.0)),
    ('trunc', TRUNC, (0.0, 0.02, -0.04, 0.04)),
]
P35 = 1 << 35
P62 = 1 << 62
# label, kind, params, dtype, seed, name, first, count
EXTRA = [
    ('uniform', UNIFORM, (-0.1, 0.1, 0.0, 0.0), F32, 7, NAME, P35 - 5, 16),
    ('normal', NORMAL, (0.0, 0.02, 0.0, 0.0), F32, 7, NAME, P35 - 5, 16),
    ('trunc', TRUNC, (0.0, 0.02, -0.04, 0.04), F32, 7, NAME, P35 - 5, 16),
    ('uniform', UNIFORM, (-0.1, 0.1, 0.0, 0.0), F32, 7, NAME, 2 * P35 + 3, 9),
    ('uniform', UNIFORM, (-0.1, 0.1, 0.0, 0.0), F32, 7, NAME, P62 - 7, 7),
    ('normal', NORMAL, (0.0, 0.02, 0.0, 0.0), F32, 7, NAME, P62 - 3, 3),
    ('trunc_wide', TRUNC, (0.0, 0.02, -2.0, 2.0), F32, 7, NAME, 0, 4099),
    ('trunc_asym', TRUNC, (1.0, 2.0, 0.5, 10.0), F32, 7, NAME, 0, 4099),
    ('trunc_asym', TRUNC, (1.0, 2.0, 0.5, 10.0), BF16, 7, NAME, 0, 4099),
    ('trunc_tail', TRUNC, (0.0, 1.0, 6.0, 9.0), F32, 7, NAME, 0, 1000),
    ('trunc_far', TRUNC, (0.0, 1.0, 40.0, 41.0), F32, 7, NAME, 0, 100),
    ('normal_big', NORMAL, (0.0, 30000.0, 0.0, 0.0), F16, 7, NAME, 0, 4099),
    ('normal_shift', NORMAL, (0.5, 3.0, 0.0, 0.0), F16, 7, NAME, 1, 4098),
    ('uniform_tiny', UNIFORM, (-1e-6, 1e-6, 0.0, 0.0), F16, 7, NAME, 0, 4099),
    ('uniform_tiny', UNIFORM, (-1e-6, 1e-6, 0.0, 0.0), BF16, 7, NAME, 0, 4099),
    ('uniform_unit', UNIFORM, (0.0, 1.0, 0.0, 0.0), F32, 0, b'x', 0, 100),
    ('normal_unit', NORMAL, (1.0, 1.0, 0.0, 0.0), F32, (1 << 64) - 1,
     'layer.\u00e9'.encode('utf-8'), 0, 100),
    ('normal_unit', NORMAL, (1.0, 1.0, 0.0, 0.0), BF16, 1, b'a' * 512, 5, 100),
    ('orth_tall', ORTHO, (1.0, 12.0, 5.0, 0.0), F32, 7, NAME, 0, 60),
    ('orth_wide', ORTHO, (2.0, 3.0, 7.0, 0.0), F32, 7, NAME, 0, 21),
    ('orth_wide', ORTHO, (2.0, 3.0, 7.0, 0.0), BF16, 7, NAME, 0, 21),
    ('orth_square', ORTHO, (0.5, 64.0, 64.0, 0.0), F16, 7, NAME, 0, 4096),
    ('orth_slice', ORTHO, (1.0, 96.0, 40.0, 0.0), F32, 7, NAME, 1000, 1000),
    ('orth_slice', ORTHO, (1.0, 40.0, 96.0, 0.0), F32, 0, b'x', 3839, 1),
    ('orth_one', ORTHO, (1.0, 1.0, 1.0, 0.0), F32, 7, NAME, 0, 1),
    ('orth_row', ORTHO, (1.0, 1.0, 50.0, 0.0), F32, 7, NAME, 0, 50),
    ('orth_col', ORTHO, (3.0, 50.0, 1.0, 0.0), F32, 7, NAME, 0, 50),
    ('const_negzero', CONSTANT, (-0.0, 0.0, 0.0, 0.0), F16, 7, NAME, 0, 5),
    ('const_1e-8', CONSTANT, (1e-8, 0.0, 0.0, 0.0), F16, 7, NAME, 0, 5),
    ('const_65520', CONSTANT, (65520.0, 0.0, 0.0, 0.0), F16, 7, NAME, 0, 5),
    ('const_1e39', CONSTANT, (1e39, 0.0, 0.0, 0.0), F32, 7, NAME, 0, 5),
    ('const_1e-46', CONSTANT, (1e-46, 0.0, 0.0, 0.0), F32, 7, NAME, 0, 5),
    ('const_1e-40', CONSTANT, (1e-40, 0.0, 0.0, 0.0), BF16, 7, NAME, 0, 5),
]


P36 = 1 << 36   # element 2^36: the first of block 2^32, where the nonce changes (6.8)
PRIMARY32 = [
    ('uniform32', UNIFORM32, (-0.1, 0.1, 0.0, 0.0)),
    ('normal32', NORMAL32, (0.0, 0.02, 0.0, 0.0)),
]
EXTRA32 = [
    ('uniform32', UNIFORM32, (-0.1, 0.1, 0.0, 0.0), F32, 7, NAME, P36 - 5, 16),
    ('normal32', NORMAL32, (0.0, 0.02, 0.0, 0.0), F32, 7, NAME, P36 - 5, 16),
    ('uniform32', UNIFORM32, (-0.1, 0.1, 0.0, 0.0), F32, 7, NAME, P62 - 7, 7),
    ('normal32', NORMAL32, (0.0, 0.02, 0.0, 0.0), F32, 7, NAME, P62 - 3, 3),
    ('normal32_shift', NORMAL32, (0.5, 3.0, 0.0, 0.0), F16, 7, NAME, 1, 4098),
    ('normal32_big', NORMAL32, (0.0, 30000.0, 0.0, 0.0), F16, 7, NAME, 0, 4099),
    ('normal32_huge', NORMAL32, (0.0, 1e38, 0.0, 0.0), F32, 7, NAME, 0, 1000),
    ('normal32_subnormal', NORMAL32, (0.0, 1e-40, 0.0, 0.0), F32, 7, NAME, 0, 1000),
    ('uniform32_tiny', UNIFORM32, (-1e-6, 1e-6, 0.0, 0.0), BF16, 7, NAME, 0, 4099),
    ('uniform32_unit', UNIFORM32, (0.0, 1.0, 0.0, 0.0), F32, 0, b'x', 3, 100),
    ('normal32_unit', NORMAL32, (1.0, 1.0, 0.0, 0.0), F32, (1 << 64) - 1,
     'layer.\u00e9'.encode('utf-8'), 0, 100),
    ('normal32_unit', NORMAL32, (1.0, 1.0, 0.0, 0.0), BF16, 1, b'a' * 512, 5, 100),
]


class SplitMix:
    def __init__(self, seed):
        self.s = seed

    def next(self):
        m = (1 << 64) - 1
        self.s = (self.s + 0x9e3779b97f4a7c15) & m
        z = self.s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & m
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & m
        return z ^ (z >> 31)


def u53(r):
    return float(r >> 11) * 2.0 ** -53


SWEEP_N = 4096


def sweep_inputs(which):
    """the inputs of one math sweep: specials, then SWEEP_N pseudo-random values"""
    g = SplitMix({'ln': 1, 'exp': 2, 'sincos': 3, 'erf': 4, 'phi': 5, 'ndtri': 6,
                  'd2f': 7, 'f32': 8, 'ln32': 9, 'sincos32': 10}[which])
    if which == 'ln32':   # binary32 bit patterns
        xs = [0x33800000, 0x3f800000, 0x3f000000, f32_bits(F_SQRT2), f32_bits(F_SQRT2) - 1,
              0x3f7fffff, 0x00800000, 0x7f7fffff]
        for i in range(SWEEP_N):
            r = g.next()
            xs.append(f32_bits(float((r >> 40) + 1) * 2.0 ** -24) if i % 2 == 0
                      else (r & 0x7fffff) | ((1 + (r >> 23) % 254) << 23))
        return xs
    if which == 'sincos32':
        ns = [0, 1, (1 << 21) - 1, 1 << 21, (1 << 21) + 1, 1 << 22, 3 << 22, (1 << 24) - 1,
              7 << 21, 1 << 23]
        return ns + [g.next() >> 40 for _ in range(SWEEP_N)]
    if which == 'ln':
        xs = [1.0, 0.5, 2.0, SQRT2, H('0x1.6a09e667f3bccp+0'), 2.0 ** -53, 2.0 ** -1074,
              2.0 ** -1022, H('0x1.fffffffffffffp+1023'), 0.0, INF]
        for i in range(SWEEP_N):
            r = g.next()
            xs.append(float((r >> 11) + 1) * 2.0 ** -53 if i % 2 == 0
                      else u2d(r & 0x7fefffffffffffff))
        return xs
    if which == 'exp':
        xs = [0.0, -1.0, -708.0, -745.0, -746.5, -1e-300, -0.34657359027997264]
        return xs + [-u53(g.next()) * 745.0 for _ in range(SWEEP_N)]
    if which == 'sincos':
        ns = [0, 1, (1 << 50) - 1, 1 << 50, (1 << 50) + 1, 1 << 51, 1 << 52, 3 << 51,
              (1 << 53) - 1, 7 << 50]
        return ns + [g.next() >> 11 for _ in range(SWEEP_N)]
    if which == 'erf':
        xs = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, H('0x1.fffffffffffffp-1'), 27.9, 28.0,
              -28.0, 6.0, INF, -INF]
        return xs + [u53(g.next()) * 64.0 - 32.0 for _ in range(SWEEP_N)]
    if which == 'phi':
        xs = [0.0, -2.0, 2.0, -40.0, -38.5, 8.0, 40.0]
        return xs + [u53(g.next()) * 80.0 - 40.0 for _ in range(SWEEP_N)]
    if which == 'ndtri':
        xs = [0.0, 1.0, 0.5, 0.075, 0.925, 2.0 ** -1074, 1e-300, 2.0 ** -53,
              1.0 - 2.0 ** -53, H('0x1.e8a37a45fc32ep-37'), 0.02275, 0.97725]
        for i in range(SWEEP_N):
            r = g.next()
            if i % 2 == 0:
                xs.append(u53(r))
            else:
                xs.append((float((r >> 11) + 1) * 2.0 ** -53) * pow2(-(r & 1023)))
        return xs
    if which == 'd2f':
        xs = [0.0, -0.0, 1.0, 3.4028235677973366e38, 3.4028234663852886e38 * 1.0000000001,
              1e-45, 7e-46, 2.0 ** -150, 2.0 ** -149, 1.401298464324817e-45 * 1.5, INF, -INF]
        for _ in range(SWEEP_N):
            r = g.next()
            # exponents near the binary32 range so that all cases occur
            e = 1023 - 160 + ((r >> 52) % 300)
            xs.append(u2d((r & 0x800fffffffffffff) | (e << 52)))
        return xs
    if which == 'f32':
        bs = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001,
              0x477fefff, 0x477ff000, 0x477fe000, 0x38800000, 0x387fffff, 0x33000000,
              0x33000001, 0x337fffff, 0x00000001, 0x7f7fffff, 0x3f808000, 0x3f818000,
              0x3f808001, 0x00400000]
        for i in range(SWEEP_N * 2):
            r = g.next()
            if i % 2 == 0:
                bs.append(r & 0xffffffff)
            else:   # exponents where binary16 and bfloat16 round, go subnormal or overflow
                bs.append((r & 0x807fffff) | ((98 + (r >> 32) % 50) << 23))
        return bs
    raise ValueError(which)


def blake(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def pack_d(xs):
    return b''.join(struct.pack('<Q', d2u(x)) for x in xs)


def sweeps():
    lines = []
    lines.append(('ln', blake(pack_d([ln(x) for x in sweep_inputs('ln')]))))
    lines.append(('exp', blake(pack_d([exp(x) for x in sweep_inputs('exp')]))))
    sc = []
    for n in sweep_inputs('sincos'):
        s, c = sincos2pi(n)
        sc += [s, c]
    lines.append(('sincos', blake(pack_d(sc))))
    xs = sweep_inputs('erf')
    lines.append(('erf', blake(pack_d([erf(x) for x in xs]))))
    lines.append(('erfc', blake(pack_d([erfc(x) for x in xs]))))
    lines.append(('phi', blake(pack_d([phi(x) for x in sweep_inputs('phi')]))))
    lines.append(('ndtri', blake(pack_d([ndtri(x) for x in sweep_inputs('ndtri')]))))
    lines.append(('d2f', blake(b''.join(struct.pack('<I', d2f_bits(x))
                                        for x in sweep_inputs('d2f')))))
    lines.append(('ln32', blake(b''.join(struct.pack('<I', f32_bits(ln32(bits_f32(b))))
                                         for b in sweep_inputs('ln32')))))
    sc = []
    for n in sweep_inputs('sincos32'):
        s, c = sincos32(n)
        sc += [f32_bits(s), f32_bits(c)]
    lines.append(('sincos32', blake(b''.join(struct.pack('<I', v) for v in sc))))
    bs = sweep_inputs('f32')
    lines.append(('f32_to_f16', blake(b''.join(struct.pack('<H', f32_to_f16(b)) for b in bs))))
    lines.append(('f32_to_bf16', blake(b''.join(struct.pack('<H', f32_to_bf16(b)) for b in bs))))
    return lines


def table():
    out = ['# scratchproof init vectors v1']
    for label, kind, p in PRIMARY:
        for dt in (F32, F16, BF16):
            data = fill(kind, p, dt, 7, NAME, 0, 4099)
            out.append('fill %s %s 7 0 4099 %s' % (label, DTYPE_NAME[dt], blake(data)))
        head = fill(kind, p, F32, 7, NAME, 0, 4)
        out.append('head %s %s' % (label, ' '.join(
            '%08x' % v for v in struct.unpack('<4I', head))))
    head = fill(ORTHO, (1.0, 12.0, 5.0, 0.0), F32, 7, NAME, 0, 4)
    out.append('head orth_tall %s' % ' '.join('%08x' % v for v in struct.unpack('<4I', head)))
    for label, kind, p, dt, seed, name, first, count in EXTRA:
        data = fill(kind, p, dt, seed, name, first, count)
        out.append('fill %s %s %d %d %d %s' % (label, DTYPE_NAME[dt], seed, first, count,
                                                blake(data)))
    for name, dg in sweeps():
        out.append('math %s %s' % (name, dg))
    # version-2 kinds (SPEC.md 6.8)
    for label, kind, p in PRIMARY32:
        for dt in (F32, F16, BF16):
            data = fill(kind, p, dt, 7, NAME, 0, 4099)
            out.append('fill %s %s 7 0 4099 %s' % (label, DTYPE_NAME[dt], blake(data)))
        head = fill(kind, p, F32, 7, NAME, 0, 8)
        out.append('head %s %s' % (label, ' '.join(
            '%08x' % v for v in struct.unpack('<8I', head))))
    for label, kind, p, dt, seed, name, first, count in EXTRA32:
        data = fill(kind, p, dt, seed, name, first, count)
        out.append('fill %s %s %d %d %d %s' % (label, DTYPE_NAME[dt], seed, first, count,
                                                blake(data)))
    return out


# ---------------------------------------------------------------- constants check
def check_constants():
    import mpmath
    mpmath.mp.prec = 300

    def rn(x):
        if isinstance(x, Fraction):
            return float(x)
        s_, m, e, _ = mpmath.mpf(x)._mpf_
        v = Fraction(m) * (Fraction(2) ** e)
        return float(-v if s_ else v)

    fact = math.factorial
    ok = True
    checks = [
        ('SQRT2', SQRT2, rn(mpmath.sqrt(2))),
        ('SQRT1_2', SQRT1_2, rn(mpmath.sqrt(2) / 2)),
        ('INV_LN2', INV_LN2, rn(1 / mpmath.log(2))),
        ('TWOPI_2M53', TWOPI_2M53, rn(2 * mpmath.pi) * 2.0 ** -53),
        ('INV_SQRTPI', INV_SQRTPI, rn(1 / mpmath.sqrt(mpmath.pi))),
        ('LN2_HI+LN2_LO', abs(float(mpmath.mpf(LN2_HI) + LN2_LO - mpmath.log(2))) < 1e-25, True),
        ('LN2_HI low 21 bits zero', d2u(LN2_HI) & 0x1fffff == 0, True),
    ]
    checks += [('L%d' % (k + 1), L[k], rn(Fraction(1, 2 * k + 3))) for k in range(12)]
    checks += [('E%d' % k, E[k], rn(Fraction(1, fact(k)))) for k in range(15)]
    checks += [('S%d' % (k + 1), S[k], rn(Fraction((-1) ** (k + 1), fact(2 * k + 3))))
               for k in range(8)]
    checks += [('C%d' % (k + 1), C[k], rn(Fraction((-1) ** (k + 1), fact(2 * k + 2))))
               for k in range(9)]
    checks += [('A%d' % n, A[n], rn(2 / mpmath.sqrt(mpmath.pi) * (-1) ** n /
                                    (fact(n) * (2 * n + 1)))) for n in range(20)]
    # version-2 kinds (6.8): binary32 constants
    def rn32(x):
        if not isinstance(x, Fraction):
            s_, m, e, _ = mpmath.mpf(x)._mpf_
            x = Fraction(m) * (Fraction(2) ** e) * (-1 if s_ else 1)
        b = round_binary(abs(x), 24, -126, 127)
        return -bits_f32(b) if x < 0 else bits_f32(b)

    checks += [
        ('F_SQRT2', F_SQRT2, rn32(mpmath.sqrt(2))),
        ('F_LN2_HI', f32_bits(F_LN2_HI), 0x3f317180),
        ('F_LN2_HI low 7 bits zero', f32_bits(F_LN2_HI) & 0x7f == 0, True),
        ('F_LN2_LO', F_LN2_LO, rn32(mpmath.log(2) - mpmath.mpf(F_LN2_HI))),
        ('F_TWOPI_2M24', F_TWOPI_2M24, rn32(2 * mpmath.pi) * 2.0 ** -24),
    ]
    checks += [('F_L%d' % (k + 1), F_L[k], rn32(Fraction(1, 2 * k + 3))) for k in range(4)]
    checks += [('F_S%d' % (k + 1), F_S[k], rn32(Fraction((-1) ** (k + 1), fact(2 * k + 3))))
               for k in range(4)]
    checks += [('F_C%d' % (k + 1), F_C[k], rn32(Fraction((-1) ** (k + 1), fact(2 * k + 2))))
               for k in range(5)]
    for name, have, want in checks:
        if have != want:
            ok = False
            print('constant %s: have %r want %r' % (name, have, want))
    print('constants %s (%d checked)' % ('ok' if ok else 'MISMATCH', len(checks)))
    return ok


def main(argv):
    if len(argv) > 1 and argv[1] == '--constants':
        return 0 if check_constants() else 1
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    for line in table():
        print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
