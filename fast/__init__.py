"""Batched PyTorch verifiers: global resolution and the classic baselines (CPU and CUDA)."""
from multidraft.verifiers import register_verifier

from .base import Verifier, as_tensor_drafts, as_tensor_laws
from .baselines import (
    NSS, Canonical, Greedy, GreedyDrafting, KSeq, RecursiveRejection, SingleDraft, baseline_table,
)
from .solver import GlobalResolution, Plan, PlanStatus, global_resolution

# ---------------------------------------------------------------- global resolution
register_verifier("global_resolution", GlobalResolution)

# ---------------------------------------------------------------- baselines (docs/baselines.md)
#: Factories of the classic baselines, by registered name.
BASELINE_FACTORIES = {
    "nss": NSS,
    "single_draft": SingleDraft,
    "rrs": lambda: RecursiveRejection(replacement=True),
    "rrs_without_replacement": lambda: RecursiveRejection(replacement=False),
    "kseq": KSeq,
    "canonical": Canonical,
    "greedy": Greedy,
}
for _name, _factory in BASELINE_FACTORIES.items():
    register_verifier(_name, _factory)

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
    "BASELINES", "BASELINE_FACTORIES", "baseline_table",
    "nss", "single_draft", "rrs", "rrs_without_replacement", "kseq", "canonical", "greedy",
]
