"""Compiled integer kernels of the golden model (numba): the random source, the rounding
shift R, and the per-synapse sweep of eligibility (docs/spec.md sections 1 and 3).

These are the only places where these formulas are written in the golden model. The numpy
code of ``golden.py`` calls :data:`round_shift` as a ufunc; the synapse sweep calls the same
scalar functions inline. Everything is int64; the configuration guarantees that no value
needs more than 62 bits and no shift exceeds 62.
"""

import numpy as np
from numba import njit, vectorize

__all__ = ["ROUND_MODES", "SITES", "rand64", "rand64_ufunc", "round_shift", "sweep_full",
           "eligibility_rows"]

ROUND_MODES = {"zero": 0, "floor": 1, "stochastic": 2}
# Rounding sites: the `site` input of the random source (docs/spec.md 1.2).
SITES = {
    "V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7, "EBAR": 8,
    "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13, "WOUT": 14,
}
SITE_EPS, SITE_E, SITE_EBAR = SITES["EPS"], SITES["E"], SITES["EBAR"]

_MASK32 = 0xFFFFFFFF
_PARITY = 0x1BD11BDA


@njit(inline="always", cache=True)
def _rotl32(x, n):
    return ((x << n) | (x >> (32 - n))) & _MASK32


@njit(inline="always", cache=True)
def _inject(x0, x1, ks0, ks1, ks2, i):
    ks = (ks0, ks1, ks2)
    return (x0 + ks[i % 3]) & _MASK32, (x1 + ks[(i + 1) % 3] + i) & _MASK32


@njit(inline="always", cache=True)
def _threefry_rounds(x0, x1, r0, r1, r2, r3):
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r0) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r1) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r2) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r3) ^ x0
    return x0, x1


@njit(inline="always", cache=True)
def rand64(seed, t, site, row, col):
    """Threefry-2x32-20 of key (seed, site), counter (t mod 2**32, row * 2**16 + col), as
    ``x1 * 2**32 + x0`` in an int64 (the top bit wraps; only low bits are ever used)."""
    k0 = seed & _MASK32
    k1 = site & _MASK32
    k2 = _PARITY ^ k0 ^ k1
    x0 = ((t & _MASK32) + k0) & _MASK32
    x1 = (((row << 16) | col) + k1) & _MASK32
    x0, x1 = _threefry_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 1)
    x0, x1 = _threefry_rounds(x0, x1, 17, 29, 16, 24)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 2)
    x0, x1 = _threefry_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 3)
    x0, x1 = _threefry_rounds(x0, x1, 17, 29, 16, 24)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 4)
    x0, x1 = _threefry_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 5)
    return (x1 << 32) | x0


@njit(inline="always", cache=True)
def _round_shift(x, s, mode, seed, t, site, row, col):
    if s <= 0:
        return x << -s
    if mode == 1:
        return x >> s
    mask = (1 << s) - 1
    if mode == 0:
        return (x + ((x >> 63) & mask)) >> s
    return (x + (rand64(seed, t, site, row, col) & mask)) >> s


@vectorize(["int64(int64, int64, int64, int64, int64, int64, int64, int64)"], cache=True)
def round_shift(x, s, mode, seed, t, site, row, col):
    """R(x, s; site, row, col) of docs/spec.md 1.1 at step ``t``, broadcast like a ufunc.
    ``mode`` is a value of :data:`ROUND_MODES`."""
    return _round_shift(x, s, mode, seed, t, site, row, col)


@vectorize(["int64(int64, int64, int64, int64, int64)"], cache=True)
def rand64_ufunc(seed, t, site, row, col):
    return rand64(seed, t, site, row, col)


@njit(inline="always", cache=True)
def _clamp(x, lo, hi):
    if x < lo:
        return lo, 1
    if x > hi:
        return hi, 1
    return x, 0


@njit(cache=True)
def sweep_full(eps, ebar, psi_old, pre_old, g, psi, pre, alif0, p, counts):
    """Phase 1's eps_a update and phase 2's eligibility and trace update, per synapse.

    ``eps`` (B, n_alif, n_pre) and ``ebar`` (B, n_rec, n_pre) are updated in place.
    ``psi_old``/``pre_old`` are step t-1's, ``psi``/``pre`` step t's; ``g`` (B, n_alif) the
    per-neuron factor G_j. ``p`` packs the parameters (see ``golden.GoldenModel``);
    ``counts`` (B, 3) accumulates the clamps of eps, e, ebar.
    """
    (mode, seed, t, D, psi_bits, eps_shift, v_frac, e_shift, beta, kappa,
     eps_lo, eps_hi, e_lo, e_hi) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8],
                                    p[9], p[10], p[11], p[12], p[13])
    B, n_rec, n_pre = ebar.shape
    for b in range(B):
        for j in range(n_rec):
            r = j - alif0
            pj = psi[b, j]
            for i in range(n_pre):
                num = pj * (pre[b, i] << v_frac)
                if r >= 0:
                    acc = ((psi_old[b, j] * pre_old[b, i]) << D) \
                        + ((g[b, r] * eps[b, r, i]) << psi_bits)
                    ea, c = _clamp(_round_shift(acc, eps_shift, mode, seed, t, SITE_EPS, j, i),
                                   eps_lo, eps_hi)
                    eps[b, r, i] = ea
                    counts[b, 0] += c
                    num -= pj * beta * ea
                e, c = _clamp(_round_shift(num, e_shift, mode, seed, t, SITE_E, j, i), e_lo, e_hi)
                counts[b, 1] += c
                decayed = _round_shift(ebar[b, j, i] * kappa, D, mode, seed, t, SITE_EBAR, j, i)
                ebar[b, j, i], c = _clamp(decayed + e, e_lo, e_hi)
                counts[b, 2] += c


@njit(cache=True)
def eligibility_rows(psi_rows, pre_rows, rows, skip_col, p, out, clamps):
    """Eligibility e of whole rows without an eps term (factored mode): ``out[n, i]`` for
    neuron ``rows[n]`` with ``psi_rows[n]`` and presynaptic traces ``pre_rows[n]``. Column
    ``skip_col[n]`` (the diagonal, never written) is left 0 and not counted. ``clamps[n]``
    counts the clamped values of row n."""
    mode, seed, t, v_frac, e_shift, e_lo, e_hi = p[0], p[1], p[2], p[6], p[7], p[12], p[13]
    for n in range(rows.shape[0]):
        for i in range(pre_rows.shape[1]):
            if i == skip_col[n]:
                out[n, i] = 0
                continue
            num = psi_rows[n] * (pre_rows[n, i] << v_frac)
            out[n, i], c = _clamp(_round_shift(num, e_shift, mode, seed, t, SITE_E, rows[n], i),
                                  e_lo, e_hi)
            clamps[n] += c
