"""Hypothesis strategies, the property suite and the checker behind ``multidraft check``.

Use inside a test::

    from multidraft.properties import verifier_suite

    def test_my_verifier():
        verifier_suite(my_verifier, interface="conditional", drafting="iid").raise_if_failed()

Modules: :mod:`.problem` (a problem and its snippet), :mod:`.strategies` (hypothesis
strategies and profiles), :mod:`.adapters` (what is checked), :mod:`.suite` (exact
properties), :mod:`.sampling` (the statistical tests and their sampling harness),
:mod:`.stats` (the statistics they use), :mod:`.checker` (running them), :mod:`.report`
(results), :mod:`.deviation` (output-law deviation measurement).
"""
from .checker import CheckConfig, check, verifier_suite
from .problem import Problem
from .report import PropertyFailure, PropertyResult, Report
from .strategies import problems

__all__ = ["CheckConfig", "check", "verifier_suite", "Problem", "PropertyFailure", "PropertyResult", "Report",
           "problems"]
