"""alpha* for any drafting law: the oracle the checker and the tests compare with."""

from __future__ import annotations

import numpy as np

from multidraft.drafting import IID, DraftingLaw

from .closed_form import BRUTE_FORCE_MAX_V, optimal_acceptance, optimal_acceptance_bruteforce
from .maxflow import solve_maxflow


def optimal_acceptance_for(target: np.ndarray, law: DraftingLaw) -> float:
    """alpha* of ``target`` (float64 (V,), a validated law) under any bound drafting ``law``.

    The closed form for i.i.d. drafts (O(V log V)); brute force over the 2^V subsets for
    ``V <= BRUTE_FORCE_MAX_V``; otherwise the max-flow oracle's certified lower end (its
    rounded-down flow, within ``2^-scale`` per key of alpha*).
    """
    if isinstance(law, IID):
        return float(optimal_acceptance(target, law.q, law.n).alpha_star)
    if law.vocab_size <= BRUTE_FORCE_MAX_V:
        return optimal_acceptance_bruteforce(target, drafting=law)[0]
    return float(solve_maxflow(target, drafting=law).acceptance)
