"""Batched PyTorch verifiers: global resolution and the classic baselines (CPU and CUDA).

The built-in verifiers reach ``multidraft check`` through the ``multidraft.verifiers``
entry points of pyproject.toml (:mod:`multidraft.verifiers`), not through this import.
"""

from multidraft.drafting import GreedyDrafting

from .base import Verifier, as_tensor_drafts, as_tensor_laws
from .baselines import (
    NSS,
    Canonical,
    Greedy,
    KSeq,
    RecursiveRejection,
    SingleDraft,
    make_rrs,
    make_rrs_without_replacement,
)
from .solver import GlobalResolution, Plan, PlanStatus, global_resolution
from .tree_base import TreeVerifier
from .tree_block import BlockVerification, GreedyBlockVerification, Traversal
from .tree_node import NodeOptimal, NSSTree, PerNode, SpecInfer, SpecTr, TokenChain

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

# ---------------------------------------------------------------- tree verifiers (docs/trees.md)
#: Factories of the built-in tree verifiers, by name.
TREE_VERIFIER_FACTORIES = {
    "token_chain": TokenChain,
    "block_verification": BlockVerification,
    "nss_tree": NSSTree,
    "spec_infer": SpecInfer,
    "spec_infer_without_replacement": lambda: SpecInfer(replacement=False),
    "spectr": SpecTr,
    "node_optimal": NodeOptimal,
    "traversal": Traversal,
    "traversal_without_replacement": lambda: Traversal("without_replacement"),
    "greedy_block_verification": GreedyBlockVerification,
}
#: One ready instance of each tree verifier, by name.
TREE_VERIFIERS = {name: factory() for name, factory in TREE_VERIFIER_FACTORIES.items()}
token_chain = TREE_VERIFIERS["token_chain"]
block_verification = TREE_VERIFIERS["block_verification"]
nss_tree = TREE_VERIFIERS["nss_tree"]
spec_infer = TREE_VERIFIERS["spec_infer"]
spec_infer_without_replacement = TREE_VERIFIERS["spec_infer_without_replacement"]
spectr = TREE_VERIFIERS["spectr"]
node_optimal = TREE_VERIFIERS["node_optimal"]
traversal = TREE_VERIFIERS["traversal"]
traversal_without_replacement = TREE_VERIFIERS["traversal_without_replacement"]
greedy_block_verification = TREE_VERIFIERS["greedy_block_verification"]

__all__ = [
    "GlobalResolution",
    "Plan",
    "PlanStatus",
    "global_resolution",
    "Verifier",
    "as_tensor_laws",
    "as_tensor_drafts",
    "NSS",
    "SingleDraft",
    "RecursiveRejection",
    "KSeq",
    "Canonical",
    "Greedy",
    "GreedyDrafting",
    "BASELINES",
    "BASELINE_FACTORIES",
    "nss",
    "single_draft",
    "rrs",
    "rrs_without_replacement",
    "kseq",
    "canonical",
    "greedy",
    "TreeVerifier",
    "PerNode",
    "TokenChain",
    "NSSTree",
    "SpecInfer",
    "SpecTr",
    "NodeOptimal",
    "BlockVerification",
    "Traversal",
    "GreedyBlockVerification",
    "TREE_VERIFIERS",
    "TREE_VERIFIER_FACTORIES",
    "token_chain",
    "block_verification",
    "nss_tree",
    "spec_infer",
    "spec_infer_without_replacement",
    "spectr",
    "node_optimal",
    "traversal",
    "traversal_without_replacement",
    "greedy_block_verification",
]
