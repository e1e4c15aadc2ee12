"""Cheap content fingerprints of CPU arrays, the cache key of :class:`multidraft.fast.base.Verifier`.

A verifier with ``cache_state`` reuses its per-problem preparation (a solved plan) while the
laws it is called with keep their values. The key must see the values, not just the
objects: a caller may refill the same buffer with the next token's laws. A cryptographic
hash of a (V,) float64 law costs about 1.2 ms per law at V = 128,256 (blake2b, measured on
the development machine); the compiled pass below reads the array once, at memory speed
(about the cost of the validation pass that precedes it), and mixes every 64-bit word with
its position into two independent 64-bit sums, so changing any entries changes the key
except with probability about 2^-64 per sum for changes that are not crafted against it.
Imported lazily (it imports numba); the compiled code is cached on disk next to the module.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: Odd 64-bit multipliers of the two sums (from splitmix64).
_MIX_A = np.uint64(0x9E3779B97F4A7C15)
_MIX_B = np.uint64(0xBF58476D1CE4E5B9)
_MIX_C = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True, nogil=True)
def _words_hash(words):
    """Two 64-bit sums over the uint64 words w_i: ``sum (w_i ^ i A) * ((2 i + 1) B)`` and
    ``sum (w_i + i) * C`` xored with its shift, position-dependent so permutations count."""
    h1 = np.uint64(0)
    h2 = np.uint64(0)
    for i in range(words.shape[0]):
        index = np.uint64(i)
        w = words[i]
        h1 += (w ^ (index * _MIX_A)) * ((index + index + np.uint64(1)) * _MIX_B)
        mixed = (w + index) * _MIX_C
        h2 += mixed ^ (mixed >> np.uint64(31))
    return h1, h2


def content_hash(array: np.ndarray) -> tuple:
    """``(shape, dtype, h1, h2)``: a key that changes when any byte of ``array`` changes
    (except with probability about 2^-128 for changes not crafted against it)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    data = flat.view(np.uint8)
    pad = (-data.shape[0]) % 8
    if pad:
        data = np.concatenate([data, np.zeros(pad, dtype=np.uint8)])
    h1, h2 = _words_hash(data.view(np.uint64))
    return (array.shape, str(array.dtype), int(h1), int(h2))
