"""multidraft: oracles, fast solvers and a checker for optimal multi-draft speculative sampling.

Sub-packages: :mod:`multidraft.reference` (exact oracles), :mod:`multidraft.fast` (batched
torch verifiers), :mod:`multidraft.properties` (property suite and checker).
"""

from .decoding import SpeculativeDecoder, tokens_per_call
from .drafting import IID, DraftingLaw, Independent, Joint, WithoutReplacement, drafting_law
from .evaluate import Evaluation, evaluate
from .tree_evaluate import TreeEvaluation, evaluate_tree
from .trees import (
    BlendLM,
    Branching,
    ConstantLM,
    DraftTree,
    LanguageModel,
    TableLM,
    branching,
    chain,
    delayed,
    paths,
    table_pair,
    tree_inputs,
    tree_laws,
)
from .validation import InvalidInputError, TooLargeError
from .verifiers import get_verifier, list_verifiers, register_verifier

__version__ = "0.1.0"

__all__ = [
    "IID",
    "DraftingLaw",
    "Independent",
    "Joint",
    "WithoutReplacement",
    "drafting_law",
    "Evaluation",
    "evaluate",
    "TreeEvaluation",
    "evaluate_tree",
    "InvalidInputError",
    "TooLargeError",
    "get_verifier",
    "list_verifiers",
    "register_verifier",
    "BlendLM",
    "Branching",
    "ConstantLM",
    "DraftTree",
    "LanguageModel",
    "TableLM",
    "branching",
    "chain",
    "delayed",
    "paths",
    "table_pair",
    "tree_inputs",
    "tree_laws",
    "SpeculativeDecoder",
    "tokens_per_call",
]
