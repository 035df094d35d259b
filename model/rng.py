"""The counter-based random source: Threefry-2x32-20, vectorized (docs/spec.md, section 1.2).

Random bits are a pure function of (seed, step, site, row, col), never of the order in which
they are drawn, so the RTL may visit synapses in any order and over any number of lanes.
"""

import numpy as np

__all__ = ["threefry2x32", "rand64", "SITES"]

SITES = {
    "V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7, "EBAR": 8,
    "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13, "WOUT": 14,
}

_ROT = (13, 15, 26, 6, 17, 29, 16, 24)
_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32(key, counter, rounds=20):
    """Threefry-2x32 of uint32 arrays; ``key`` and ``counter`` are pairs (broadcastable)."""
    k0, k1 = (np.asarray(k, dtype=np.uint32) for k in key)
    ks = (k0, k1, _PARITY ^ k0 ^ k1)
    with np.errstate(over="ignore"):
        x0 = np.asarray(counter[0], dtype=np.uint32) + k0
        x1 = np.asarray(counter[1], dtype=np.uint32) + k1
        for r in range(rounds):
            x0 = x0 + x1
            rot = _ROT[r % 8]
            x1 = (x1 << np.uint32(rot)) | (x1 >> np.uint32(32 - rot))
            x1 = x1 ^ x0
            if r % 4 == 3:
                i = (r + 1) // 4
                x0 = x0 + ks[i % 3]
                x1 = x1 + ks[(i + 1) % 3] + np.uint32(i)
    return x0, x1


def rand64(seed, t, site, row, col):
    """64 random bits as uint64 for each (row, col); ``row`` and ``col`` broadcast."""
    row = np.asarray(row, dtype=np.uint32)
    col = np.asarray(col, dtype=np.uint32)
    x0, x1 = threefry2x32((np.uint32(seed), np.uint32(site)),
                          (np.uint32(t & 0xFFFFFFFF), (row << np.uint32(16)) | col))
    return (x1.astype(np.uint64) << np.uint64(32)) | x0.astype(np.uint64)
