"""Batched PyTorch verifiers: global resolution and the classic baselines (CPU and CUDA).

The built-in verifiers reach ``multidraft check`` through the ``multidraft.verifiers``
entry points of pyproject.toml (:mod:`multidraft.verifiers`), not through this import.
"""
from multidraft.drafting import GreedyDrafting

from .base import Verifier, as_tensor_drafts, as_tensor_laws
from .baselines import (
    NSS, Canonical, Greedy, KSeq, RecursiveRejection, SingleDraft, make_rrs, make_rrs_without_replacement,
)
from .solver import GlobalResolution, Plan, PlanStatus, global_resolution

# ---------------------------------------------------------------- baselines (docs/baselines.md)
#: Factories of the classic baselines, by registered name (the entry points name the same).
BASELINE_FACTORIES = {
    "nss": NSS,
    "single_draft": SingleDraft,
    "rrs": make_rrs,
    "rrs_without_replacement": make_rrs_without_replacement,
    "kseq": KSeq,
    "canonical": Canonical,
    "greedy": Greedy,
}

#: One ready instance of each baseline, by name.
BASELINES = {name: factory() for name, factory in BASELINE_FACTORIES.items()}
nss = BASELINES["nss"]
single_draft = BASELINES["single_draft"]
rrs = BASELINES["rrs"]
rrs_without_replacement = BASELINES["rrs_without_replacement"]
kseq = BASELINES["kseq"]
canonical = BASELINES["canonical"]
greedy = BASELINES["greedy"]

__all__ = [
    "GlobalResolution", "Plan", "PlanStatus", "global_resolution",
    "Verifier", "as_tensor_laws", "as_tensor_drafts",
    "NSS", "SingleDraft", "RecursiveRejection", "KSeq", "Canonical", "Greedy", "GreedyDrafting",
    "BASELINES", "BASELINE_FACTORIES",
    "nss", "single_draft", "rrs", "rrs_without_replacement", "kseq", "canonical", "greedy",
]
