"""Interpolated Kneser-Ney n-gram language models giving full next-token laws, batched.

Model (Chen & Goodman 1999, interpolated Kneser-Ney with one discount per order)
--------------------------------------------------------------------------------
For an order-N model over V tokens and a context ``h = (w_1..w_{k-1})`` at level k:

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h .)  +  gamma_k(h) * P_{k-1}(w | h')
    gamma_k(h) = D_k * N1+(h .) / c_k(h .)

where ``h'`` drops the oldest token of h, ``c_k(h .) = sum_w c_k(h w)`` and ``N1+(h .)`` is
the number of distinct followers of h. At the top level ``c_N`` are the raw counts; at
lower levels ``c_k(g) = N1+(. g)`` are continuation counts (the number of distinct tokens
seen before g). A context never seen at level k falls through: ``P_k(. | h) = P_{k-1}(. | h')``.
The recursion ends in

    P_1(w) = max(c_1(w) - D_1, 0) / c_1(.)  +  D_1 * N1+(.) / c_1(.) * 1/V,

so every token of the vocabulary gets positive probability. Each ``P_k(. | h)`` sums to 1
exactly in exact arithmetic (all counts are >= 1 > D_k); the rows returned are divided by
their float sum to remove the rounding (~1e-16). The discounts are Ney's estimate
``D_k = n1 / (n1 + 2 n2)`` from the count-of-counts at level k.

Storage: level k keeps its k-grams as sorted int64 keys ``sum_j w_j V^(k-1-j)`` with their
counts; a context's followers are then one contiguous slice, found with ``searchsorted``.
Laws for B contexts cost O(B V N) and are built for all rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multidraft.validation import InvalidInputError


def _keys(tokens: np.ndarray, k: int, vocab_size: int) -> np.ndarray:
    """int64 keys of all k-grams of ``tokens`` (T,): shape (T - k + 1,)."""
    key = np.zeros(len(tokens) - k + 1, dtype=np.int64)
    for j in range(k):
        key = key * vocab_size + tokens[j : len(tokens) - k + 1 + j]
    return key


def _context_keys(contexts: np.ndarray, m: int, vocab_size: int) -> np.ndarray:
    """int64 keys of the last ``m`` tokens of each row of ``contexts`` (B, L): shape (B,)."""
    key = np.zeros(contexts.shape[0], dtype=np.int64)
    for j in range(contexts.shape[1] - m, contexts.shape[1]):
        key = key * vocab_size + contexts[:, j]
    return key


@dataclass(frozen=True)
class _Level:
    """The k-grams of one level: followers and counts grouped by context."""

    contexts: np.ndarray  # (C,) sorted unique context keys (k-1 tokens); empty context -> [0]
    starts: np.ndarray  # (C + 1,) slice of each context in followers / counts
    followers: np.ndarray  # (G,) next token of each k-gram
    counts: np.ndarray  # (G,) float64 count c_k(h w)
    totals: np.ndarray  # (C,) c_k(h .)
    types: np.ndarray  # (C,) N1+(h .)
    discount: float


def _make_level(keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> _Level:
    ctx = keys // vocab_size
    contexts, starts = np.unique(ctx, return_index=True)
    starts = np.append(starts, len(keys))
    totals = np.add.reduceat(counts, starts[:-1]) if len(keys) else np.zeros(0)
    n1 = np.count_nonzero(counts == 1)
    n2 = np.count_nonzero(counts == 2)
    discount = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
    discount = min(max(discount, 0.05), 0.95)
    return _Level(
        contexts,
        starts,
        keys % vocab_size,
        counts.astype(np.float64),
        totals.astype(np.float64),
        np.diff(starts).astype(np.float64),
        float(discount),
    )


class KneserNeyLM:
    """An interpolated Kneser-Ney n-gram model of order ``order`` over ``vocab_size`` tokens.

    Parameters
    ----------
    order : int >= 1
        n of the n-gram (1 = unigram smoothed towards uniform).
    vocab_size : int >= 2
        Number of tokens V; token ids are ``0..V-1``.
    """

    def __init__(self, order: int, vocab_size: int):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise InvalidInputError(f"order: expected an integer >= 1, got {order!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 2:
            raise InvalidInputError(f"vocab_size: expected an integer >= 2, got {vocab_size!r}")
        if float(vocab_size) ** order >= 2.0**62:
            raise InvalidInputError(f"order: V^order must fit in int64 keys, got V={vocab_size}, order={order}")
        self.order = int(order)
        self.vocab_size = int(vocab_size)
        self._levels: list[_Level] = []

    def fit(self, tokens: np.ndarray) -> KneserNeyLM:
        """Count n-grams of a token stream ``tokens`` (T,) int; returns ``self``."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or len(tokens) < self.order:
            raise InvalidInputError(
                f"tokens: expected a 1-D stream of at least {self.order} ids, got shape {tokens.shape}"
            )
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise InvalidInputError(f"tokens: ids must lie in [0, {self.vocab_size})")
        V = self.vocab_size
        levels: list[_Level] = []
        for k in range(1, self.order + 1):
            if k == self.order:
                keys, counts = np.unique(_keys(tokens, k, V), return_counts=True)
            else:
                # continuation counts: number of distinct left extensions of each k-gram
                longer = np.unique(_keys(tokens, k + 1, V))
                keys, counts = np.unique(longer % V**k, return_counts=True)
            levels.append(_make_level(keys, counts, V))
        self._levels = levels
        return self

    @property
    def discounts(self) -> list[float]:
        """The discount D_k of each level k = 1..order."""
        return [lvl.discount for lvl in self._levels]

    def laws(self, contexts: np.ndarray) -> np.ndarray:
        """Next-token laws for a batch of contexts.

        Parameters
        ----------
        contexts : np.ndarray, int, shape (B, L)
            The L most recent tokens of each context, oldest first; only the last
            ``order - 1`` are used (L may be larger or smaller).

        Returns
        -------
        np.ndarray, float64, shape (B, V): positive rows summing to 1 (within 1e-15).
        """
        if not self._levels:
            raise InvalidInputError("model: call fit(tokens) before laws(contexts)")
        contexts = np.asarray(contexts, dtype=np.int64)
        if contexts.ndim != 2:
            raise InvalidInputError(f"contexts: expected shape (B, L), got {contexts.shape}")
        B, V = contexts.shape[0], self.vocab_size
        unigram = self._levels[0]
        base = np.full(V, unigram.discount * unigram.types[0] / unigram.totals[0] / V)
        base[unigram.followers] += np.maximum(unigram.counts - unigram.discount, 0.0) / unigram.totals[0]
        laws = np.repeat(base[None, :], B, axis=0)
        for k in range(2, self.order + 1):
            if contexts.shape[1] < k - 1:
                break
            self._interpolate(laws, self._levels[k - 1], _context_keys(contexts, k - 1, V))
        laws /= laws.sum(axis=1, keepdims=True)
        return laws

    @staticmethod
    def _interpolate(laws: np.ndarray, level: _Level, ctx_keys: np.ndarray) -> None:
        """In place: ``laws[b] <- gamma(h_b) laws[b] + discounted counts`` for seen contexts."""
        pos = np.searchsorted(level.contexts, ctx_keys)
        pos = np.minimum(pos, len(level.contexts) - 1)
        seen = level.contexts[pos] == ctx_keys
        rows, ci = np.nonzero(seen)[0], pos[seen]
        if len(rows) == 0:
            return
        totals = level.totals[ci]
        laws[rows] *= (level.discount * level.types[ci] / totals)[:, None]
        lengths = level.starts[ci + 1] - level.starts[ci]
        row_rep = np.repeat(rows, lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        entry = np.repeat(level.starts[ci], lengths) + offsets
        laws[row_rep, level.followers[entry]] += np.maximum(level.counts[entry] - level.discount, 0.0) / np.repeat(
            totals, lengths
        )

    def next_token_laws(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Laws of ``tokens[t]`` given ``tokens[:t]`` for each t in ``positions`` (B,): (B, V).

        Every position must be >= ``order - 1`` (a full context).
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64)
        width = self.order - 1
        if positions.size and (positions.min() < width or positions.max() > len(tokens)):
            raise InvalidInputError(f"positions: expected values in [{width}, {len(tokens)}]")
        if width == 0:
            return self.laws(np.zeros((len(positions), 0), dtype=np.int64))
        idx = positions[:, None] - width + np.arange(width)[None, :]
        return self.laws(tokens[idx])

    def log_likelihood(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``log P(tokens[t] | tokens[:t])`` for each t in ``positions``: float64 (B,)."""
        laws = self.next_token_laws(tokens, positions)
        return np.log(laws[np.arange(len(positions)), np.asarray(tokens)[positions]])
