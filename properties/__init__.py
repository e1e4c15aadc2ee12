"""Hypothesis strategies, the property suite and the checker behind ``multidraft check``.

Use inside a test::

    from multidraft.properties import verifier_suite

    def test_my_verifier():
        verifier_suite(my_verifier, interface="conditional", drafting="iid").raise_if_failed()

Modules: :mod:`.problem` (a problem and its snippet), :mod:`.strategies` (hypothesis
strategies and profiles), :mod:`.adapters` (what is checked), :mod:`.suite` (exact
properties), :mod:`.sampling` (the statistical tests and their sampling harness),
:mod:`.stats` (the statistics they use), :mod:`.checker` (running them), :mod:`.report`
(results), :mod:`.deviation` (output-law deviation measurement), :mod:`.harness`
(controlled randomness: the exact law of sampling code), :mod:`.exact_sampling` (the
harness in the checker), :mod:`.serving` (sampling parameters and dtypes of the inputs),
:mod:`.sequences` (the chain-rule G-test of token streams) and :mod:`.decoder` (the
whole-decoder check behind ``multidraft check-decoder``).
"""

from .checker import CheckConfig, check, verifier_suite
from .decoder import DecoderCheckConfig, check_decoder
from .exact_sampling import HarnessConditional
from .harness import UntraceableRandomness, exact_law
from .problem import Problem
from .report import PropertyFailure, PropertyResult, Report
from .strategies import problems
from .tree_checker import TreeCheckConfig, TreeReport, check_tree

__all__ = [
    "CheckConfig",
    "check",
    "verifier_suite",
    "Problem",
    "PropertyFailure",
    "PropertyResult",
    "Report",
    "problems",
    "exact_law",
    "HarnessConditional",
    "UntraceableRandomness",
    "DecoderCheckConfig",
    "check_decoder",
    "TreeCheckConfig",
    "TreeReport",
    "check_tree",
]
