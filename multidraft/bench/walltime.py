"""A wall-time model of speculative decoding: measured verifier time, assumed model costs.

Per block (one target call), a speculative decoder spends

    draft time     c_D * n_D         n_D = drafted tokens of the block (see ``draft_calls``)
    target time    c_T               one call scoring the whole tree (memory-bound: assumed
                                     independent of the tree size)
    verifier time  t_V               *measured* (the verifier run on this machine)

and emits |O| tokens, so with block efficiency ``E = E|O|``

    time per token        t = (c_D * n_D + c_T + t_V) / E
    speed-up over AR      S = c_T / t  =  E / (n_D / r + 1 + t_V / c_T),      r = c_T / c_D,

autoregressive decoding costing one target call per token. Only ``t_V`` and ``E`` are
measured; ``c_T`` and the ratio ``r`` are *assumptions* (parameters). Defaults: ``r = 70 / 8``
(a Llama-3 70B target with an 8B draft, costs taken proportional to parameter counts) and
``c_T = 30 ms`` per target call (an assumed decode step of a 70B model; it only sets the
weight of the measured verifier time). Other published pairs for ``--cost-ratio``: Gemma-2
27B/2B (13.5, the Global Resolution paper's pair), a 7B target with a 68M draft (~100).

``draft_calls``: ``"tokens"`` (default) counts every drafted token as one draft forward
(``n_D`` = tree nodes counted with multiplicity, i.e. K L for K paths of length L), the
formula as stated; ``"depth"`` counts one draft forward per tree level (the K paths of a
level drafted in one batched call, as engines do), ``n_D`` = the tree depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multidraft.validation import InvalidInputError, check_positive_float

#: Default target / draft cost ratio: a 70B target over an 8B draft.
DEFAULT_COST_RATIO = 70.0 / 8.0
#: Default assumed target cost per call, milliseconds.
DEFAULT_TARGET_MS = 30.0
DRAFT_CALLS = ("tokens", "depth")


@dataclass(frozen=True)
class CostModel:
    """Assumed model costs: ``cost_ratio = c_T / c_D``, ``target_ms = c_T``, how drafts are counted."""

    cost_ratio: float = DEFAULT_COST_RATIO
    target_ms: float = DEFAULT_TARGET_MS
    draft_calls: str = "tokens"

    def __post_init__(self) -> None:
        check_positive_float(self.cost_ratio, "cost_ratio")
        check_positive_float(self.target_ms, "target_ms")
        if self.draft_calls not in DRAFT_CALLS:
            raise InvalidInputError(f"draft_calls: expected one of {DRAFT_CALLS}, got {self.draft_calls!r}")

    def drafted(self, tokens: float, depth: float) -> float:
        """``n_D``: ``tokens`` (drafted tokens with multiplicity) or ``depth``, per ``draft_calls``."""
        return float(tokens if self.draft_calls == "tokens" else depth)

    def time_per_token_ms(self, block_efficiency: float, drafted: float, verifier_ms: float) -> float:
        """``t = (c_D n_D + c_T + t_V) / E`` in milliseconds (module doc)."""
        if not block_efficiency >= 1.0:
            raise InvalidInputError(f"block_efficiency: expected a value >= 1, got {block_efficiency!r}")
        if drafted < 0 or verifier_ms < 0:
            raise InvalidInputError(f"drafted, verifier_ms: expected values >= 0, got {drafted!r}, {verifier_ms!r}")
        draft_ms = self.target_ms / self.cost_ratio
        return (draft_ms * drafted + self.target_ms + verifier_ms) / block_efficiency

    def speedup(self, block_efficiency: float, drafted: float, verifier_ms: float) -> float:
        """``S = c_T / t``: the speed-up over autoregressive decoding with the target alone."""
        return self.target_ms / self.time_per_token_ms(block_efficiency, drafted, verifier_ms)

    def describe(self) -> str:
        """One sentence stating the assumptions, for tables."""
        return (
            f"modelled speed-up: draft cost = target cost / {self.cost_ratio:g}, target call = "
            f"{self.target_ms:g} ms (assumed), drafted tokens counted by {self.draft_calls}, "
            "verifier time measured here"
        )


def implied_acceptance(block_efficiency: float, length: int) -> float:
    """The per-token acceptance ``a`` with ``(1 - a^(L+1)) / (1 - a) = E`` (a chain with i.i.d. acceptances).

    Used to place published block efficiencies of single chains (e.g. SpecTr's 2.9 at K = 1,
    L = 8) on the scale of single-draft acceptance; solved by bisection on [0, 1].
    """
    if not 1.0 <= block_efficiency <= length + 1:
        raise InvalidInputError(
            f"block_efficiency: expected a value in [1, L + 1 = {length + 1}], got {block_efficiency!r}"
        )
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        value = float(np.sum(mid ** np.arange(length + 1)))
        lo, hi = (mid, hi) if value < block_efficiency else (lo, mid)
    return 0.5 * (lo + hi)
