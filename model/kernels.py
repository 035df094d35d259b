"""Compiled integer kernels of the golden model (numba), one per phase of docs/spec.md 3.

Each kernel loops over the batch of cores and over neurons or synapses, with the formulas of
the spec written out once. State lives in int64 numpy arrays owned by ``golden.GoldenModel``
and is updated in place. The configuration guarantees that no value needs more than 62 bits
and no shift exceeds 62, so int64 arithmetic is exact.

Parameters travel as one int64 vector built by :func:`pack_params`; ``P_*`` are its indices.
Counters travel as one (batch, len(COUNTER_NAMES)) int64 array; ``C_*`` are its columns.
"""

import numba
import numpy as np
from numba import njit, vectorize
from numba.extending import overload

from .names import COUNTER_NAMES, SAT_NAMES

__all__ = ["ROUND_MODES", "MODE_MARKERS", "SITES", "COUNTER_NAMES", "SAT_NAMES", "pack_params",
           "rand64", "rand64_ufunc", "round_shift", "neuron_phase", "trace_phase", "sweep_full",
           "readout_phase", "eligibility_rows", "write_rows"]

ROUND_MODES = {"zero": 0, "floor": 1, "stochastic": 2}
# Rounding sites: the `site` input of the random source (docs/spec.md 1.2).
SITES = {
    "V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7, "EBAR": 8,
    "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13, "WOUT": 14,
}
S_V, S_A, S_PSI, S_PRE, S_G, S_EPS, S_E, S_EBAR, S_ZOUT, S_Y = range(1, 11)

(C_SPIKES, C_ROWS, C_WRITES, C_V, C_A, C_XBAR, C_ZBAR, C_EPS, C_E, C_EBAR, C_ZOUT, C_Y,
 C_ERR, C_ACC, C_ACC_OUT, C_W, C_W_OUT) = range(len(COUNTER_NAMES))

_PARAMS = ("mode", "seed", "t", "D", "alpha", "rho", "kappa", "theta", "beta", "gamma",
           "n_in", "alif0", "syn_shift", "out_shift", "reset_zero", "refractory",
           "v_frac", "a_frac", "psi_bits", "trace_frac", "psi_shift", "g_shift", "eps_shift",
           "e_shift", "v_lo", "v_hi", "a_hi", "trace_hi", "eps_lo", "eps_hi", "e_lo", "e_hi",
           "y_lo", "y_hi", "err_lo", "err_hi")
(P_MODE, P_SEED, P_T, P_D, P_ALPHA, P_RHO, P_KAPPA, P_THETA, P_BETA, P_GAMMA, P_N_IN,
 P_ALIF0, P_SYN_SHIFT, P_OUT_SHIFT, P_RESET_ZERO, P_REFRACTORY, P_V_FRAC, P_A_FRAC,
 P_PSI_BITS, P_TRACE_FRAC, P_PSI_SHIFT, P_G_SHIFT, P_EPS_SHIFT, P_E_SHIFT, P_V_LO, P_V_HI,
 P_A_HI, P_TRACE_HI, P_EPS_LO, P_EPS_HI, P_E_LO, P_E_HI, P_Y_LO, P_Y_HI, P_ERR_LO,
 P_ERR_HI) = range(len(_PARAMS))


def pack_params(cfg):
    """The parameter vector of the kernels for a configuration (``t`` is set per step)."""
    def signed(bits):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = dict(
        mode=ROUND_MODES[cfg.rounding], seed=cfg.seed, t=0, D=cfg.decay_bits,
        alpha=cfg.alpha, rho=cfg.rho, kappa=cfg.kappa, theta=cfg.theta, beta=cfg.beta,
        gamma=cfg.gamma, n_in=cfg.n_in, alif0=cfg.n_rec - cfg.n_alif,
        syn_shift=cfg.syn_shift, out_shift=cfg.out_shift, reset_zero=int(cfg.reset == "zero"),
        refractory=cfg.refractory, v_frac=cfg.v_frac, a_frac=cfg.a_frac,
        psi_bits=cfg.psi_bits, trace_frac=cfg.trace_frac, psi_shift=cfg.psi_shift,
        g_shift=cfg.g_shift, eps_shift=cfg.eps_shift, e_shift=cfg.e_shift,
        a_hi=(1 << cfg.a_bits) - 1, trace_hi=(1 << cfg.trace_bits) - 1)
    for name, bits in (("v", cfg.v_bits), ("eps", cfg.eps_bits), ("e", cfg.e_bits),
                       ("y", cfg.y_bits), ("err", cfg.err_bits)):
        values[f"{name}_lo"], values[f"{name}_hi"] = signed(bits)
    return np.array([values[name] for name in _PARAMS], np.int64)


# -- the random source and the rounding shift (spec 1.1, 1.2) ------------------------------

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
def _four_rounds(x0, x1, r0, r1, r2, r3):
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r0) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r1) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r2) ^ x0
    x0 = (x0 + x1) & _MASK32
    x1 = _rotl32(x1, r3) ^ x0
    return x0, x1


@njit(cache=True)
def rand64(seed, t, site, row, col):
    """Threefry-2x32-20 of key (seed, site), counter (t mod 2**32, row * 2**16 + col), as
    ``x1 * 2**32 + x0`` in an int64 (the top bit wraps; only low bits are ever used)."""
    k0 = seed & _MASK32
    k1 = site & _MASK32
    k2 = _PARITY ^ k0 ^ k1
    x0 = ((t & _MASK32) + k0) & _MASK32
    x1 = (((row << 16) | col) + k1) & _MASK32
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 1)
    x0, x1 = _four_rounds(x0, x1, 17, 29, 16, 24)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 2)
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 3)
    x0, x1 = _four_rounds(x0, x1, 17, 29, 16, 24)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 4)
    x0, x1 = _four_rounds(x0, x1, 13, 15, 26, 6)
    x0, x1 = _inject(x0, x1, k0, k1, k2, 5)
    return (x1 << 32) | x0


@njit(inline="always", cache=True)
def _rs(x, s, mode, seed, t, site, row, col):
    """R(x, s; site, row, col): right shift with rounding ``mode``; s <= 0 shifts left."""
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
    """R of docs/spec.md 1.1 at step ``t``, broadcast like a ufunc (for phase 4, which is
    rare); ``mode`` is a value of :data:`ROUND_MODES`."""
    return _rs(x, s, mode, seed, t, site, row, col)


@vectorize(["int64(int64, int64, int64, int64, int64)"], cache=True)
def rand64_ufunc(seed, t, site, row, col):
    return rand64(seed, t, site, row, col)


@njit(inline="always", cache=True)
def _clamp(x, lo, hi):
    """Clamp to [lo, hi]; also returns 1 if it clamped (for the saturation counters)."""
    if x < lo:
        return lo, 1
    if x > hi:
        return hi, 1
    return x, 0


@njit(inline="always", cache=True)
def _sat(x, lo, hi, counts, b, column):
    """Clamp to [lo, hi], counting a clamp in ``counts[b, column]``."""
    if x < lo:
        counts[b, column] += 1
        return lo
    if x > hi:
        counts[b, column] += 1
        return hi
    return x


# -- phases ---------------------------------------------------------------------------------
#
# Each phase kernel takes a `marker` whose integer *type* names the rounding mode (see
# MODE_MARKERS). numba compiles one version per type with the mode as a constant, so the
# per-synapse loops carry no mode branches (3x faster), and each version is cached on disk.

MODE_MARKERS = {"zero": np.int8(0), "floor": np.int16(0), "stochastic": np.int32(0)}
_MODE_OF_MARKER_TYPE = {numba.typeof(marker): ROUND_MODES[name]
                        for name, marker in MODE_MARKERS.items()}


def _rnd(x, s, marker, seed, t, site, row, col):
    """R with the rounding mode given by the type of ``marker`` (compiled code only)."""
    raise NotImplementedError


@overload(_rnd)
def _rnd_impl(x, s, marker, seed, t, site, row, col):
    mode = _MODE_OF_MARKER_TYPE[marker]

    def impl(x, s, marker, seed, t, site, row, col):
        return _rs(x, s, mode, seed, t, site, row, col)
    return impl


@njit(cache=True)
def neuron_phase(W, x, z_old, v, a, ref, z, psi, p, counts, marker):
    """Phase 1 without eps: synaptic input from the active sources, then every neuron.

    ``v``, ``a``, ``ref`` are updated in place; the new spikes and pseudo-derivatives are
    written to ``z`` and ``psi`` (``z_old`` is step t-1's spike vector).
    """
    seed, t, D = p[P_SEED], p[P_T], p[P_D]
    n_in, alif0, a_frac = p[P_N_IN], p[P_ALIF0], p[P_A_FRAC]
    unit = 1 << (p[P_V_FRAC] + a_frac)
    B, n_rec, n_pre = W.shape
    active = np.empty(n_pre, np.int64)
    for b in range(B):
        # Event-driven synaptic input: only the sources that spiked contribute.
        n_active = 0
        for i in range(n_pre):
            if (x[b, i] if i < n_in else z_old[b, i - n_in]) != 0:
                active[n_active] = i
                n_active += 1
        for j in range(n_rec):
            I = 0
            for k in range(n_active):
                I += W[b, j, active[k]]
            dv = _rnd(v[b, j] * p[P_ALPHA], D, marker, seed, t, S_V, j, 0)
            drive = I << p[P_SYN_SHIFT]
            if p[P_RESET_ZERO]:
                vj = (0 if z_old[b, j] else dv) + drive
            else:
                vj = dv + drive - z_old[b, j] * p[P_THETA]
            vj = _sat(vj, p[P_V_LO], p[P_V_HI], counts, b, C_V)
            v[b, j] = vj
            threshold = p[P_THETA] << a_frac
            if j >= alif0:
                aj = _rnd(a[b, j] * p[P_RHO], D, marker, seed, t, S_A, j, 0) \
                    + (z_old[b, j] << a_frac)
                aj = _sat(aj, 0, p[P_A_HI], counts, b, C_A)
                a[b, j] = aj
                threshold += p[P_BETA] * aj
            refractory = ref[b, j] > 0
            v_scaled = vj << a_frac
            zj = 1 if (v_scaled > threshold and not refractory) else 0
            z[b, j] = zj
            h = unit - abs(v_scaled - threshold)
            if refractory or h <= 0:
                psi[b, j] = 0
            else:
                psi[b, j] = _rnd(p[P_GAMMA] * h, p[P_PSI_SHIFT], marker, seed, t, S_PSI, j, 0)
            ref[b, j] = p[P_REFRACTORY] if zj else max(ref[b, j] - 1, 0)
            counts[b, C_SPIKES] += zj

@njit(cache=True)
def trace_phase(pre, x, z_old, zout, z, p, counts, marker):
    """Phase 2's presynaptic traces (``pre`` = xbar then zbar) and readout traces."""
    seed, t, D, alpha, kappa = p[P_SEED], p[P_T], p[P_D], p[P_ALPHA], p[P_KAPPA]
    spike, hi, n_in = 1 << p[P_TRACE_FRAC], p[P_TRACE_HI], p[P_N_IN]
    B, n_pre = pre.shape
    for b in range(B):
        for i in range(n_pre):
            src = x[b, i] if i < n_in else z_old[b, i - n_in]
            column = C_XBAR if i < n_in else C_ZBAR
            decayed = _rnd(pre[b, i] * alpha, D, marker, seed, t, S_PRE, 0, i)
            pre[b, i] = _sat(decayed + src * spike, 0, hi, counts, b, column)
        for j in range(zout.shape[1]):
            decayed = _rnd(zout[b, j] * kappa, D, marker, seed, t, S_ZOUT, 0, j)
            zout[b, j] = _sat(decayed + z[b, j] * spike, 0, hi, counts, b, C_ZOUT)

@njit(cache=True)
def sweep_full(eps, ebar, psi_old, pre_old, psi, pre, p, counts, marker):
    """Full trace mode: phase 1's eps_a update (step t-1's psi and pre) and phase 2's
    eligibility and trace update (step t's), in one pass over the synapse memory.

    Phase 1's eps_a depends only on step t-1's values, so doing it here equals doing it
    before the neurons. ``eps`` (B, n_alif, n_pre), ``ebar`` (B, n_rec, n_pre) in place.
    A row whose psi is 0 has e == 0 in every rounding mode, so it only decays.
    """
    seed, t, D = p[P_SEED], p[P_T], p[P_D]
    psi_bits, v_frac, beta, kappa = p[P_PSI_BITS], p[P_V_FRAC], p[P_BETA], p[P_KAPPA]
    eps_shift, e_shift, g_shift = p[P_EPS_SHIFT], p[P_E_SHIFT], p[P_G_SHIFT]
    eps_lo, eps_hi, e_lo, e_hi = p[P_EPS_LO], p[P_EPS_HI], p[P_E_LO], p[P_E_HI]
    alif0 = p[P_ALIF0]
    B, n_rec, n_pre = ebar.shape
    for b in range(B):
        n_eps = n_e = n_ebar = 0
        for j in range(n_rec):
            r = j - alif0
            pj = psi[b, j]
            if r >= 0:  # ALIF: eps_a, then e with its adaptation term
                pj_old = psi_old[b, j]
                g = p[P_RHO] - _rnd(pj_old * beta, g_shift, marker, seed, t, S_G, j, 0)
                for i in range(n_pre):
                    total = ((pj_old * pre_old[b, i]) << D) + ((g * eps[b, r, i]) << psi_bits)
                    ea, c = _clamp(_rnd(total, eps_shift, marker, seed, t, S_EPS, j, i),
                                   eps_lo, eps_hi)
                    eps[b, r, i] = ea
                    n_eps += c
                    e = 0
                    if pj != 0:
                        num = pj * ((pre[b, i] << v_frac) - beta * ea)
                        e, c = _clamp(_rnd(num, e_shift, marker, seed, t, S_E, j, i), e_lo, e_hi)
                        n_e += c
                    decayed = _rnd(ebar[b, j, i] * kappa, D, marker, seed, t, S_EBAR, j, i)
                    ebar[b, j, i], c = _clamp(decayed + e, e_lo, e_hi)
                    n_ebar += c
            elif pj != 0:  # LIF
                for i in range(n_pre):
                    num = pj * (pre[b, i] << v_frac)
                    e, c = _clamp(_rnd(num, e_shift, marker, seed, t, S_E, j, i), e_lo, e_hi)
                    n_e += c
                    decayed = _rnd(ebar[b, j, i] * kappa, D, marker, seed, t, S_EBAR, j, i)
                    ebar[b, j, i], c = _clamp(decayed + e, e_lo, e_hi)
                    n_ebar += c
            else:  # LIF with psi == 0
                for i in range(n_pre):
                    decayed = _rnd(ebar[b, j, i] * kappa, D, marker, seed, t, S_EBAR, j, i)
                    ebar[b, j, i], c = _clamp(decayed, e_lo, e_hi)
                    n_ebar += c
        counts[b, C_EPS] += n_eps
        counts[b, C_E] += n_e
        counts[b, C_EBAR] += n_ebar

@njit(cache=True)
def readout_phase(w_out, z, y, ystar, mask, err, p, counts, marker):
    """Phase 3: leaky readouts from this step's spikes, and the error where a target is."""
    seed, t, D, kappa = p[P_SEED], p[P_T], p[P_D], p[P_KAPPA]
    B, n_out, n_rec = w_out.shape
    for b in range(B):
        for k in range(n_out):
            s = 0
            for j in range(n_rec):
                if z[b, j]:
                    s += w_out[b, k, j]
            decayed = _rnd(y[b, k] * kappa, D, marker, seed, t, S_Y, k, 0)
            yk = _sat(decayed + (s << p[P_OUT_SHIFT]), p[P_Y_LO], p[P_Y_HI], counts, b, C_Y)
            y[b, k] = yk
            if mask[b, k]:
                err[b, k] = _sat(yk - ystar[b, k], p[P_ERR_LO], p[P_ERR_HI], counts, b,
                                 C_ERR)
            else:
                err[b, k] = 0

@njit(cache=True)
def eligibility_rows(batch_index, rows, psi, pre, p, out, counts, marker):
    """Factored mode: eligibility e of the rows phase 4 writes (``rows[n]`` of core
    ``batch_index[n]``), with step t's psi and pre and no eps term, into ``out[n]``. The
    diagonal (never written) is left 0 and not computed."""
    seed, t, v_frac, e_shift = p[P_SEED], p[P_T], p[P_V_FRAC], p[P_E_SHIFT]
    n_in = p[P_N_IN]
    for n in range(rows.shape[0]):
        b, j = batch_index[n], rows[n]
        for i in range(pre.shape[1]):
            if i == n_in + j:
                out[n, i] = 0
                continue
            num = psi[b, j] * (pre[b, i] << v_frac)
            out[n, i] = _sat(_rnd(num, e_shift, marker, seed, t, S_E, j, i),
                             p[P_E_LO], p[P_E_HI], counts, b, C_E)

@njit(cache=True)
def write_rows(W, batch_index, rows, q, elig, eta, shift, p, site, diag_offset, lo, hi,
               counts, column, marker):
    """Phase 4's row writes: ``W[b, j, i] = sat(W[b, j, i] - Ru(eta * q * elig, shift))``
    for each triggered row ``n`` (core ``batch_index[n]``, row ``rows[n]``, multiple
    ``q[n]``, eligibility ``elig[n]``); ``marker`` gives the update rounding. With
    ``diag_offset >= 0``, column ``diag_offset + j`` is not written (the W_rec diagonal);
    with -1 every column is. Clamps count in ``counts[b, column]``."""
    seed, t = p[P_SEED], p[P_T]
    n_rows, n_cols = elig.shape
    for n in range(n_rows):
        b, j = batch_index[n], rows[n]
        factor = eta * q[n]
        for i in range(n_cols):
            if diag_offset >= 0 and i == diag_offset + j:
                continue
            dw = _rnd(factor * elig[n, i], shift, marker, seed, t, site, j, i)
            W[b, j, i], c = _clamp(W[b, j, i] - dw, lo, hi)
            counts[b, column] += c
