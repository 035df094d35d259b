"""A deliberately slow, scalar reference model of one eligo core, for tests only.

This is an independent transcription of docs/spec.md (sections 1-3 and the state table),
written to cross-check the vectorized golden model (``eligo.model.golden``). It does not import
or share code with the golden model or its random source: every shift is derived here from the
spec's formulas, the Threefry-2x32-20 generator is written out here, and all arithmetic is done
with plain Python integers, one neuron and one synapse at a time, in the order the spec lists.

It is slow on purpose (pure Python loops over every synapse): use it only on small
configurations in tests. Never use it in production code paths.

Places where the spec admits more than one reading are marked ``# SPEC-AMBIGUITY:``.
"""

__all__ = [
    "MASK32", "MASK64", "SITES", "SAT_VARS",
    "rotl32", "threefry2x32_20", "rand64",
    "sat_s", "sat_u", "rshift_round", "SlowModel",
]

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# Rounding sites, from the spec's table (section 1.2).
SITES = {
    "V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7,
    "EBAR": 8, "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13, "WOUT": 14,
}

# Saturating variables that have a sat_<var> counter (spec section 3, phase 5).
SAT_VARS = ("v", "a", "xbar", "zbar", "eps", "e", "ebar", "zout", "y", "err", "acc",
            "acc_out", "w", "w_out")

_ROT = (13, 15, 26, 6, 17, 29, 16, 24)


# --------------------------------------------------------------------------------------------
# Random source
# --------------------------------------------------------------------------------------------

def rotl32(x, n):
    """Rotate the 32-bit value ``x`` left by ``n`` bits."""
    x = x & MASK32
    return ((x << n) | (x >> (32 - n))) & MASK32


def threefry2x32_20(k0, k1, c0, c1):
    """Threefry-2x32 with 20 rounds; returns ``(x0, x1)``. Written from the spec's pseudo-code."""
    k0 = k0 & MASK32
    k1 = k1 & MASK32
    k2 = (0x1BD11BDA ^ k0 ^ k1) & MASK32
    ks = (k0, k1, k2)
    x0 = (c0 + k0) & MASK32
    x1 = (c1 + k1) & MASK32
    for r in range(20):
        x0 = (x0 + x1) & MASK32
        x1 = rotl32(x1, _ROT[r % 8])
        x1 = x1 ^ x0
        if r % 4 == 3:
            i = (r + 1) // 4
            x0 = (x0 + ks[i % 3]) & MASK32
            x1 = (x1 + ks[(i + 1) % 3] + i) & MASK32
    return x0, x1


def rand64(seed, t, site, row, col):
    """The 64-bit draw of ``(seed, t, site, row, col)``: key (seed, site), counter (t, row:col)."""
    k0 = int(seed) & MASK32
    k1 = int(site) & MASK32
    c0 = int(t) % 2**32
    c1 = (int(row) * 2**16 + int(col)) & MASK32
    x0, x1 = threefry2x32_20(k0, k1, c0, c1)
    return x1 * 2**32 + x0


# --------------------------------------------------------------------------------------------
# Saturation and rounding
# --------------------------------------------------------------------------------------------

def sat_s(x, n):
    """Clamp ``x`` to the signed ``n``-bit range; returns ``(value, clamped)``."""
    lo = -(2**(n - 1))
    hi = 2**(n - 1) - 1
    if x < lo:
        return lo, True
    if x > hi:
        return hi, True
    return x, False


def sat_u(x, n):
    """Clamp ``x`` to the unsigned ``n``-bit range; returns ``(value, clamped)``."""
    lo = 0
    hi = 2**n - 1
    if x < lo:
        return lo, True
    if x > hi:
        return hi, True
    return x, False


def rshift_round(x, s, mode, rnd=None):
    """The spec's ``R(x, s)`` (section 1.1).

    ``s <= 0``: exact left shift by ``-s``. ``s > 0``: ``mode`` is "zero", "floor" or
    "stochastic". ``rnd`` is the 64-bit random draw used only by "stochastic"; it may be an
    int or a zero-argument callable returning one (so that the draw is made lazily, only when
    it is needed).
    """
    if s <= 0:
        return x << (-s)
    if mode == "zero":
        sign = 1 if x > 0 else (-1 if x < 0 else 0)
        return sign * (abs(x) >> s)
    if mode == "floor":
        return x >> s
    if mode == "stochastic":
        if rnd is None:
            raise ValueError("stochastic rounding needs a random draw")
        r = rnd() if callable(rnd) else rnd
        return (x + (r & (2**s - 1))) >> s
    raise ValueError(f"unknown rounding mode {mode!r}")


def _sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def _zeros(n):
    return [0 for _ in range(n)]


def _zeros2(rows, cols):
    return [[0 for _ in range(cols)] for _ in range(rows)]


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

class SlowModel:
    """One eligo core, one scalar at a time. Deliberately slow; used only by tests.

    State, weights and counters are plain Python ints in lists (lists of lists for matrices).
    """

    # SPEC-AMBIGUITY: in factored mode the spec says e_ji "is computed only for the rows that
    # phase 4 writes"; phase 4 writes every synapse of such a row except the diagonal. Here
    # e_ji is computed (and counted in sat_e) only for the synapses actually written, i.e. the
    # diagonal i == n_in + j of a written row is skipped. Set True to also compute (and count)
    # the diagonal's e in factored mode.
    FACTORED_E_INCLUDES_DIAGONAL = False

    def __init__(self, cfg):
        self.cfg = cfg
        c = cfg
        self.n_in = int(c.n_in)
        self.n_rec = int(c.n_rec)
        self.n_out = int(c.n_out)
        self.n_alif = int(c.n_alif)
        self.n_pre = self.n_in + self.n_rec
        self.first_alif = self.n_rec - self.n_alif
        self.full = c.trace_mode == "full"

        self.w_in = _zeros2(self.n_rec, self.n_in)
        self.w_rec = _zeros2(self.n_rec, self.n_rec)
        self.w_out = _zeros2(self.n_out, self.n_rec)
        self.b = _zeros2(self.n_rec, self.n_out)

        self.t = 0
        self.spikes = 0
        self.row_updates = 0
        self.weight_writes = 0
        self.sat = {var: 0 for var in SAT_VARS}
        self.reset()

    # -- helpers ---------------------------------------------------------------------------

    def _is_alif(self, j):
        return j >= self.n_rec - self.n_alif

    def _beta(self, j):
        return self.cfg.beta if self._is_alif(j) else 0

    def _count(self, name, n=1):
        top = 2**self.cfg.counter_bits - 1  # counters saturate at counter_bits (spec 2)
        if name in self.sat:
            self.sat[name] = min(self.sat[name] + n, top)
        else:
            setattr(self, name, min(getattr(self, name) + n, top))

    def _sat_s(self, x, n, var):
        value, clamped = sat_s(x, n)
        if clamped:
            self._count(var)
        return value

    def _sat_u(self, x, n, var):
        value, clamped = sat_u(x, n)
        if clamped:
            self._count(var)
        return value

    def _draw(self, site, row, col):
        """A lazy draw of rand64 at the current step t (evaluated only when called)."""
        seed, t, site_id = self.cfg.seed, self.t, SITES[site]
        return lambda: rand64(seed, t, site_id, row, col)

    def _R(self, x, s, site, row, col):
        """Datapath rounding shift R(x, s; site, row, col) with cfg.rounding."""
        return rshift_round(x, s, self.cfg.rounding, self._draw(site, row, col))

    def _Ru(self, x, s, site, row, col):
        """Weight-update rounding shift Ru(x, s; site, row, col) with cfg.update_rounding."""
        return rshift_round(x, s, self.cfg.update_rounding, self._draw(site, row, col))

    def _W(self, j, i):
        """W[j, i]: w_in beside w_rec."""
        if i < self.n_in:
            return self.w_in[j][i]
        return self.w_rec[j][i - self.n_in]

    def _set_W(self, j, i, value):
        if i < self.n_in:
            self.w_in[j][i] = value
        else:
            self.w_rec[j][i - self.n_in] = value

    # -- public API ------------------------------------------------------------------------

    def reset(self):
        """Zero the per-sample state; keep weights, counters and t."""
        self.v = _zeros(self.n_rec)
        self.a = _zeros(self.n_rec)
        self.ref = _zeros(self.n_rec)
        self.z = _zeros(self.n_rec)
        self.psi = _zeros(self.n_rec)
        self.xbar = _zeros(self.n_in)
        self.zbar = _zeros(self.n_rec)
        self.eps = _zeros2(self.n_alif, self.n_pre)
        self.ebar = _zeros2(self.n_rec, self.n_pre)
        self.zout = _zeros(self.n_rec)
        self.y = _zeros(self.n_out)
        self.err = _zeros(self.n_out)
        self.acc = _zeros(self.n_rec)
        self.acc_out = _zeros(self.n_out)

    def load_weights(self, w_in, w_rec, w_out, b=None):
        """Load weights (any nested sequence or numpy array of integers).

        Shapes: w_in n_rec x n_in, w_rec n_rec x n_rec, w_out n_out x n_rec, b n_rec x n_out.
        Values must lie in the signed w_bits range.
        """
        def to_matrix(m, rows, cols, name):
            out = []
            if len(m) != rows:
                raise ValueError(f"{name} must have {rows} rows, not {len(m)}")
            for r in range(rows):
                if len(m[r]) != cols:
                    raise ValueError(f"{name} row {r} must have {cols} columns, not {len(m[r])}")
                row = []
                for col in range(cols):
                    value = int(m[r][col])
                    if sat_s(value, self.cfg.w_bits)[1]:
                        raise ValueError(f"{name}[{r}][{col}] = {value} is outside the signed "
                                         f"{self.cfg.w_bits}-bit range")
                    row.append(value)
                out.append(row)
            return out

        self.w_in = to_matrix(w_in, self.n_rec, self.n_in, "w_in")
        self.w_rec = to_matrix(w_rec, self.n_rec, self.n_rec, "w_rec")
        # SPEC-AMBIGUITY: the state table says the w_rec diagonal is "held at 0" but not what
        # loading a nonzero diagonal does; this model forces it to 0 on load.
        for j in range(self.n_rec):
            self.w_rec[j][j] = 0
        self.w_out = to_matrix(w_out, self.n_out, self.n_rec, "w_out")
        if b is None:
            self.b = _zeros2(self.n_rec, self.n_out)
        else:
            self.b = to_matrix(b, self.n_rec, self.n_out, "b")

    def step(self, x, ystar=None, mask=None, learn=None):
        """One timestep (spec section 3). Returns ``(z, y)`` as new lists."""
        c = self.cfg
        D = c.decay_bits
        n_in, n_rec, n_out, n_pre = self.n_in, self.n_rec, self.n_out, self.n_pre
        if learn is None:
            learn = c.learn
        learn = bool(learn)

        x = [int(v) for v in x]
        if len(x) != n_in:
            raise ValueError(f"x must have {n_in} values, not {len(x)}")
        for v in x:
            if v not in (0, 1):
                raise ValueError(f"x values must be 0 or 1, not {v}")
        # SPEC-AMBIGUITY: the brief says ystar or mask None means "no target this step"; a
        # ystar given without a mask is therefore treated as no target (all m_k = 0) rather
        # than as an all-ones mask.
        if ystar is None or mask is None:
            m = _zeros(n_out)
            ys = _zeros(n_out)
        else:
            ys = [int(v) for v in ystar]
            m = [1 if int(v) else 0 for v in mask]
            if len(ys) != n_out or len(m) != n_out:
                raise ValueError(f"ystar and mask must have {n_out} values")

        # ---- Phase 1: synaptic input and neurons --------------------------------------------
        z_old = list(self.z)
        s = x + z_old                                   # x followed by z (length n_pre)
        pre_old = self.xbar + self.zbar                 # old pre, for the eps update

        for j in range(n_rec):
            I = 0
            for i in range(n_pre):
                I += self._W(j, i) * s[i]

            if learn and self.full and self._is_alif(j):
                r = j - (n_rec - self.n_alif)
                psi_j = self.psi[j]                     # old psi_j (not yet updated)
                G = c.rho - self._R(psi_j * c.beta, c.psi_bits + c.v_frac - D, "G", j, 0)
                for i in range(n_pre):
                    total = (psi_j * pre_old[i] * 2**D
                             + G * self.eps[r][i] * 2**c.psi_bits)
                    self.eps[r][i] = self._sat_s(
                        self._R(total, D + c.psi_bits, "EPS", j, i), c.eps_bits, "eps")

            zj = z_old[j]
            dv = self._R(self.v[j] * c.alpha, D, "V", j, 0)
            inp = I << (c.v_frac - c.w_frac)
            if c.reset == "subtract":
                self.v[j] = self._sat_s(dv + inp - zj * c.theta, c.v_bits, "v")
            elif c.reset == "zero":
                self.v[j] = self._sat_s((0 if zj else dv) + inp, c.v_bits, "v")
            else:
                raise ValueError(f"unknown reset {c.reset!r}")

            if self._is_alif(j):
                # z_j here is still the spike of step t-1 (z_j is assigned below).
                self.a[j] = self._sat_u(
                    self._R(self.a[j] * c.rho, D, "A", j, 0) + zj * 2**c.a_frac, c.a_bits, "a")
            else:
                self.a[j] = 0

            Aq = c.theta * 2**c.a_frac + self._beta(j) * self.a[j]
            rf = self.ref[j] > 0
            vq = self.v[j] * 2**c.a_frac
            new_z = 1 if (vq > Aq and not rf) else 0
            h = max(0, 2**(c.v_frac + c.a_frac) - abs(vq - Aq))
            if rf:
                self.psi[j] = 0
            else:
                self.psi[j] = self._R(c.gamma * h, c.v_frac + c.a_frac, "PSI", j, 0)
            self.z[j] = new_z
            self.ref[j] = c.refractory if new_z else max(self.ref[j] - 1, 0)

        # ---- Phase 2: traces and eligibility (only if learn) --------------------------------
        if learn:
            for i in range(n_in):
                self.xbar[i] = self._sat_u(
                    self._R(self.xbar[i] * c.alpha, D, "PRE", 0, i) + x[i] * 2**c.trace_frac,
                    c.trace_bits, "xbar")
            for i in range(n_rec):
                self.zbar[i] = self._sat_u(
                    self._R(self.zbar[i] * c.alpha, D, "PRE", 0, n_in + i)
                    + z_old[i] * 2**c.trace_frac,
                    c.trace_bits, "zbar")

            if self.full:
                for j in range(n_rec):
                    for i in range(n_pre):
                        e = self._eligibility(j, i)
                        self.ebar[j][i] = self._sat_s(
                            self._R(self.ebar[j][i] * c.kappa, D, "EBAR", j, i) + e,
                            c.e_bits, "ebar")

            for j in range(n_rec):
                self.zout[j] = self._sat_u(
                    self._R(self.zout[j] * c.kappa, D, "ZOUT", 0, j) + self.z[j] * 2**c.trace_frac,
                    c.trace_bits, "zout")

        # ---- Phase 3: readout and error (always) --------------------------------------------
        for k in range(n_out):
            total = 0
            for j in range(n_rec):
                total += self.w_out[k][j] * self.z[j]
            self.y[k] = self._sat_s(
                self._R(self.y[k] * c.kappa, D, "Y", k, 0) + (total << (c.y_frac - c.w_frac)),
                c.y_bits, "y")
            if m[k]:
                self.err[k] = self._sat_s(self.y[k] - ys[k], c.err_bits, "err")
            else:
                self.err[k] = 0

        # ---- Phase 4: error trigger and weight writes ---------------------------------------
        rows_written = 0
        writes = 0
        if learn and any(m):
            # Every weight read in this phase is the value from the start of the phase.
            w_in0 = [list(row) for row in self.w_in]
            w_rec0 = [list(row) for row in self.w_rec]
            w_out0 = [list(row) for row in self.w_out]
            b0 = [list(row) for row in self.b]

            def W0(j, i):
                return w_in0[j][i] if i < n_in else w_rec0[j][i - n_in]

            q = _zeros(n_rec)
            for j in range(n_rec):
                total = 0
                for k in range(n_out):
                    F = w_out0[k][j] if c.feedback == "symmetric" else b0[j][k]
                    total += F * self.err[k]
                total += c.homeo_gain * (self.zout[j] - c.homeo_target)
                L = self._R(total, c.w_frac + c.y_frac - c.acc_frac, "L", j, 0)
                self.acc[j] = self._sat_s(
                    (self.acc[j] if c.accumulate_error else 0) + L, c.acc_bits, "acc")
            q_out = _zeros(n_out)
            for k in range(n_out):
                Lout = self._R(self.err[k], c.y_frac - c.acc_frac, "LOUT", k, 0)
                self.acc_out[k] = self._sat_s(
                    (self.acc_out[k] if c.accumulate_error else 0) + Lout, c.acc_bits, "acc_out")
            for j in range(n_rec):
                q[j] = _sign(self.acc[j]) * min(c.q_max, abs(self.acc[j]) // c.trigger)
                self.acc[j] -= q[j] * c.trigger
            for k in range(n_out):
                q_out[k] = _sign(self.acc_out[k]) * min(c.q_max, abs(self.acc_out[k]) // c.trigger_out)
                self.acc_out[k] -= q_out[k] * c.trigger_out

            for j in range(n_rec):
                if q[j] == 0:
                    continue
                rows_written += 1
                writes += n_pre - 1
                if (not self.full) and self.FACTORED_E_INCLUDES_DIAGONAL:
                    self._eligibility(j, n_in + j)      # computed (and counted), never used
                for i in range(n_pre):
                    if i == n_in + j:
                        continue                        # the W_rec diagonal is never written
                    if self.full:
                        ebar = self.ebar[j][i]
                    else:
                        ebar = self._eligibility(j, i)  # factored: e_ji directly as ebar_ji
                    du = self._Ru(c.eta * q[j] * ebar, c.lr_shift, "W", j, i)
                    self._set_W(j, i, self._sat_s(W0(j, i) - du, c.w_bits, "w"))

            for k in range(n_out):
                if q_out[k] == 0:
                    continue
                rows_written += 1
                writes += n_rec
                for j in range(n_rec):
                    du = self._Ru(c.eta_out * q_out[k] * self.zout[j], c.lr_out_shift, "WOUT", k, j)
                    self.w_out[k][j] = self._sat_s(w_out0[k][j] - du, c.w_bits, "w_out")

        # ---- Phase 5: counters --------------------------------------------------------------
        self._count("spikes", sum(self.z))
        self._count("row_updates", rows_written)
        self._count("weight_writes", writes)
        self.t += 1
        return list(self.z), list(self.y)

    def _eligibility(self, j, i):
        """e_ji from the current (new) psi_j, pre_i and, for ALIF in full mode, eps[r, i]."""
        c = self.cfg
        pre_i = self.xbar[i] if i < self.n_in else self.zbar[i - self.n_in]
        if self.full and self._is_alif(j):
            r = j - (self.n_rec - self.n_alif)
            eps_term = c.beta * self.eps[r][i]           # beta_j = beta for ALIF
        else:
            eps_term = 0
        total = self.psi[j] * (pre_i * 2**c.v_frac - eps_term)
        shift = c.psi_bits + c.trace_frac + c.v_frac - c.e_frac
        return self._sat_s(self._R(total, shift, "E", j, i), c.e_bits, "e")

    def snapshot(self):
        """All state, weights and counters as plain Python values (copies)."""
        snap = {
            "v": list(self.v), "a": list(self.a), "ref": list(self.ref), "z": list(self.z),
            "psi": list(self.psi), "xbar": list(self.xbar), "zbar": list(self.zbar),
            "zout": list(self.zout), "y": list(self.y), "err": list(self.err),
            "acc": list(self.acc), "acc_out": list(self.acc_out),
            "w_in": [list(r) for r in self.w_in], "w_rec": [list(r) for r in self.w_rec],
            "w_out": [list(r) for r in self.w_out], "b": [list(r) for r in self.b],
            "t": self.t, "spikes": self.spikes, "row_updates": self.row_updates,
            "weight_writes": self.weight_writes,
        }
        if self.full:
            snap["eps"] = [list(r) for r in self.eps]
            snap["ebar"] = [list(r) for r in self.ebar]
        for var in SAT_VARS:
            snap[f"sat_{var}"] = self.sat[var]
        return snap
