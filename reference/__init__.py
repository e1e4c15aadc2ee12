"""Exact reference oracles: closed form, LP (cvxpy over HiGHS) and max-flow (OR-Tools).

Slow by nature, exact by construction, cross-checked against each other in the tests.
"""

from .blocks import (
    BlockEfficiency,
    ChainPlan,
    TreeLPPlan,
    chain_block_efficiency,
    optimal_block_efficiency,
    solve_tree_lp,
)
from .closed_form import OptimalAcceptance, optimal_acceptance, optimal_acceptance_bruteforce
from .lp import LPResult, solve_lp
from .maxflow import MaxFlowResult, solve_maxflow
from .optimum import optimal_acceptance_for
from .plan import TransportPlan

__all__ = [
    "OptimalAcceptance",
    "optimal_acceptance",
    "optimal_acceptance_bruteforce",
    "LPResult",
    "solve_lp",
    "MaxFlowResult",
    "solve_maxflow",
    "TransportPlan",
    "optimal_acceptance_for",
    "BlockEfficiency",
    "ChainPlan",
    "TreeLPPlan",
    "chain_block_efficiency",
    "optimal_block_efficiency",
    "solve_tree_lp",
]
