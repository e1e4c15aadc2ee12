"""Does a stream of tokens follow a language model's sequence law? The chain-rule G-test.

Given S independent streams, each starting from ``context`` and cut to its first M tokens,
the null hypothesis is that every stream is a sample of the target's sequence law

    P(z_1..z_M) = prod_{j=1..M} p(z_j | context + z_{<j}).

The G-statistic of the S sequences against this law (cells: the V^M sequences) is, by the
chain rule, exactly the sum over every observed prefix u (|u| < M) of the G-statistic of
the next-token counts after u against ``n_u p(. | context + u)``:

    G = 2 sum_z O_z ln(O_z / E_z) = sum_u 2 sum_v O_{uv} ln(O_{uv} / (O_u p(v | u))).

Given the prefix counts, the per-prefix count vectors are independent multinomials under
the null, so each term is asymptotically chi-square with (cells - 1) degrees of freedom
and the sum chi-square with the summed df: **one p-value** for the whole law of the first
M tokens, while the per-prefix terms say **where** the stream departs (a prefix and the
next token that is over- or under-represented). Cells with expected count < 5 are pooled
prefix by prefix (:func:`multidraft.properties.stats.pool_cells`), so a prefix seen a few
times only contributes nothing; a token observed where ``p = 0`` makes the p-value 0.
The false-alarm rate at level ``a`` is ``a`` up to the chi-square approximation (tested on
exact samples of the target in tests/properties/test_sequences.py).

Power. Without pooling, G is the G-statistic of the S sequences over the V^M cells, so
:func:`~multidraft.properties.stats.detectable_tv` with the summed df gives the TV of the
M-token law detected with a given power (deviations hidden in pooled cells excepted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from multidraft.validation import InvalidInputError

from .stats import detectable_tv, g_test

#: How many of the worst prefixes a result keeps for its report.
WORST_KEPT = 5


@dataclass
class PrefixTerm:
    """One prefix's G-test: ``prefix`` (tokens after the context), how often it was seen,
    the statistic, df, p-value, and the next token most over-represented (observed vs
    expected frequency)."""

    prefix: tuple[int, ...]
    count: int
    statistic: float
    df: int
    p_value: float
    token: int
    observed: float
    expected: float

    def describe(self) -> str:
        return (
            f"after {self.prefix}: {self.count} streams, G = {self.statistic:.1f} (df {self.df}, "
            f"p = {self.p_value:.2g}); token {self.token} seen {self.observed:.3f} vs {self.expected:.3f} expected"
        )


@dataclass
class SequenceTest:
    """The chain-rule G-test of S streams of M tokens (module doc).

    Attributes
    ----------
    statistic, df, p_value : float, int, float
        The summed G, its degrees of freedom and the chi-square p-value (0 if a token of
        target probability 0 was observed).
    streams, tokens : int
        S and M.
    prefixes : int
        Prefixes whose next-token counts were tested (df >= 1 after pooling).
    by_depth : list of (G, df), one per position j = 1..M
        The statistic split by the position of the tested token (where the fault sits).
    worst : list of PrefixTerm
        The prefixes with the smallest p-values, worst first.
    impossible : int
        Observations of tokens the target gives probability 0.
    """

    statistic: float
    df: int
    p_value: float
    streams: int
    tokens: int
    prefixes: int
    by_depth: list[tuple[float, int]] = field(default_factory=list)
    worst: list[PrefixTerm] = field(default_factory=list)
    impossible: int = 0

    def detectable(self, level: float, power: float = 0.9) -> float:
        """TV of the M-token law detected with ``power`` at ``level`` (module doc)."""
        return detectable_tv(self.streams, max(self.df, 1), level, power)


def _check_streams(streams: Any, tokens: int, vocab_size: int) -> list[tuple[int, ...]]:
    out = []
    for i, s in enumerate(streams):
        try:
            seq = tuple(int(t) for t in s)
        except (TypeError, ValueError):
            raise InvalidInputError(f"streams: stream {i} is not a sequence of token ids: {s!r}") from None
        if len(seq) < tokens:
            raise InvalidInputError(f"streams: stream {i} has {len(seq)} tokens, fewer than the {tokens} tested")
        if min(seq[:tokens]) < 0 or max(seq[:tokens]) >= vocab_size:
            raise InvalidInputError(f"streams: stream {i} has a token outside [0, {vocab_size}): {seq[:tokens]!r}")
        out.append(seq[:tokens])
    return out


def sequence_g_test(
    streams: Sequence[Sequence[int]],
    target: Any,
    context: Sequence[int] = (),
    tokens: int = 4,
    *,
    vocab_size: int | None = None,
) -> SequenceTest:
    """Test S streams (each at least ``tokens`` long) against the sequence law of ``target``.

    Parameters
    ----------
    streams : sequence of S token sequences
        Independent streams started at ``context``; only their first ``tokens`` tokens are used.
    target : language model
        ``target.probs(context + prefix) -> (V,)``.
    context : tuple of int
        The context every stream started from.
    tokens : int >= 1
        M, the number of tokens tested.
    vocab_size : int, optional
        V (default: ``target.vocab_size`` or the length of ``target.probs(context)``).

    Returns
    -------
    SequenceTest
    """
    if isinstance(tokens, bool) or not isinstance(tokens, (int, np.integer)) or tokens < 1:
        raise InvalidInputError(f"tokens: expected an integer >= 1, got {tokens!r}")
    context = tuple(int(t) for t in context)
    V = vocab_size or getattr(target, "vocab_size", None) or len(np.asarray(target.probs(context)))
    seqs = _check_streams(streams, int(tokens), int(V))
    counts: dict[tuple[int, ...], np.ndarray] = defaultdict(lambda: np.zeros(V))
    for seq in seqs:
        for j in range(tokens):
            counts[seq[:j]][seq[j]] += 1
    total, df, impossible, tested = 0.0, 0, 0, 0
    by_depth = [[0.0, 0] for _ in range(tokens)]
    terms: list[PrefixTerm] = []
    for prefix in sorted(counts, key=lambda u: (len(u), u)):
        observed = counts[prefix]
        n = observed.sum()
        law = np.asarray(target.probs(context + prefix), dtype=np.float64).reshape(-1)
        result = g_test(observed, n * law)
        impossible += result.impossible
        if result.df < 1 and not result.impossible:
            continue
        tested += 1
        g = result.statistic
        total += g
        df += result.df
        by_depth[len(prefix)][0] += g
        by_depth[len(prefix)][1] += result.df
        excess = observed / n - law
        worst_token = int(np.argmax(np.abs(excess)))
        terms.append(
            PrefixTerm(
                prefix,
                int(n),
                g,
                result.df,
                result.p_value,
                worst_token,
                float(observed[worst_token] / n),
                float(law[worst_token]),
            )
        )
    if impossible:
        p_value = 0.0
    elif df < 1:
        p_value = 1.0
    else:
        p_value = float(stats.chi2.sf(total, df))
    terms.sort(key=lambda t: (t.p_value, -t.statistic))
    return SequenceTest(
        float(total),
        int(df),
        p_value,
        len(seqs),
        int(tokens),
        tested,
        [(float(g), int(d)) for g, d in by_depth],
        terms[:WORST_KEPT],
        impossible,
    )
