"""The exact checker catches every wrong verifier of the gallery and passes every correct one."""

from __future__ import annotations

import gallery
import numpy as np
import pytest

from multidraft.properties import PropertyFailure, verifier_suite


@pytest.mark.parametrize("name", sorted(gallery.CORRECT))
def test_correct_verifiers_pass(name):
    report = verifier_suite(gallery.CORRECT[name], interface="conditional", seed=1)
    report.raise_if_failed()
    assert report["lossless"].worst <= 1e-12


@pytest.mark.parametrize("name", sorted(gallery.WRONG))
def test_wrong_verifiers_are_caught(name):
    report = verifier_suite(gallery.WRONG[name], interface="conditional", seed=1)
    assert not report.passed
    failed = report[gallery.CAUGHT_BY[name]]
    assert failed.status == "fail", report.render()
    assert failed.snippet and "np.array([" in failed.snippet
    with pytest.raises(PropertyFailure):
        report.raise_if_failed()


def test_counterexample_is_shrunk_and_replays():
    """The skipped-duplicate bug needs a repeated draft: the minimal case is n = 2, V = 3 (with V = 2 the residual update is a no-op)."""
    report = verifier_suite(gallery.rrs_skip_duplicates, interface="conditional", seed=1)
    result = report["lossless"]
    assert result.problem.n == 2 and result.problem.vocab_size == 3
    scope: dict = {}
    exec(result.snippet.replace("print(", "_ = ("), scope)  # the snippet runs as printed
    assert scope["ev"].tv > 1e-9


def test_global_resolution_needs_its_correction_step():
    """Untruncated and uncorrected, the output law is off by the fit's loss only: within the
    default tolerance, caught at a strict one; the real plan (with its correction) is exact."""
    loose = verifier_suite(gallery.gr_no_correction, seed=1)
    assert loose["lossless"].status == "pass" and loose["lossless"].worst > 1e-13
    assert verifier_suite(gallery.gr_no_correction, seed=1, tol=1e-13)["lossless"].status == "fail"
    assert verifier_suite("global_resolution", seed=1, tol=1e-13)["lossless"].status == "pass"


def test_optimal_flag_reports_gap():
    report = verifier_suite(gallery.rrs, interface="conditional", optimal=True, seed=1)
    assert report["optimal"].status == "fail" and report["lossless"].status == "pass"


def test_order_invariance_required_when_declared():
    class Declared:
        order_invariant = True

        def conditional(self, target, draft, drafts):
            return gallery.rrs(target, draft, drafts)

    report = verifier_suite(Declared(), seed=1)
    assert report["order_invariance"].status == "fail"
    assert report["lossless"].status == "pass"


def test_crash_is_a_finding():
    def crashes(target, draft, drafts):
        p, q = np.asarray(target), np.asarray(draft)
        if (q == 0).any():
            raise ZeroDivisionError("q has a zero")
        return p

    report = verifier_suite(crashes, interface="conditional", seed=1)
    assert not report.passed and "ZeroDivisionError" in report["law"].detail


@pytest.mark.parametrize("drafting", ["without_replacement", "independent"])
def test_other_drafting_laws(drafting):
    verifier_suite(gallery.p_sampling, interface="conditional", drafting=drafting, examples=10).raise_if_failed()
    assert not verifier_suite(
        gallery.target_draft_swapped, interface="conditional", drafting=drafting, examples=10
    ).passed
