"""The exact evaluator: marginal, acceptance, TV, alpha*, gap and validity of a conditional verifier."""

import math

import numpy as np
import pytest
import torch

import multidraft as md
from multidraft.drafting import IID, Independent, Joint, WithoutReplacement
from multidraft.reference import optimal_acceptance, optimal_acceptance_bruteforce, optimal_acceptance_for

P = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
Q = np.array([0.1, 0.2, 0.3, 0.0, 0.4])


def p_sampling(target, draft, drafts):
    """Ignore the drafts: lossless, acceptance ``sum_y p(y) P(y in drafts)``."""
    return np.asarray(target)


def first_draft(target, draft, drafts):
    """Always output the first draft: acceptance 1, output law q (biased unless p = q)."""
    out = np.zeros(len(target))
    out[int(drafts[0])] = 1.0
    return out


def acceptance_of_p_sampling(p, law) -> float:
    """``sum_y p(y) P(y in drafts)`` from the law's own tuple enumeration."""
    tuples, probs = law.tuples()
    hit = np.zeros((len(tuples), len(p)), dtype=bool)
    hit[np.repeat(np.arange(len(tuples)), law.n), tuples.ravel()] = True
    return float(probs @ hit @ p)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_p_sampling_is_lossless_with_the_known_acceptance(n):
    ev = md.evaluate(p_sampling, P, Q, n, alpha_star=optimal_acceptance_for(P, IID(Q, n)))
    assert ev.tv <= 1e-15 and ev.validity_error <= 1e-15 and ev.is_lossless()
    np.testing.assert_allclose(ev.marginal, P, rtol=0, atol=1e-15)
    assert ev.acceptance == pytest.approx(float(P @ (1 - (1 - Q) ** n)), abs=1e-15)
    assert ev.alpha_star == float(optimal_acceptance(P, Q, n).alpha_star)
    assert ev.gap == ev.alpha_star - ev.acceptance and ev.gap > 0
    assert ev.evaluated == 4**n  # k^n tuples over the 4 tokens with q > 0


def test_a_biased_verifier_is_caught_with_its_exact_deviation():
    ev = md.evaluate(first_draft, P, Q, 2, alpha_star=optimal_acceptance_for(P, IID(Q, 2)))
    np.testing.assert_allclose(ev.marginal, Q, rtol=0, atol=1e-15)
    assert ev.tv == pytest.approx(0.5 * np.abs(P - Q).sum(), abs=1e-15)
    assert ev.acceptance == pytest.approx(1.0, abs=1e-15) and ev.gap < 0
    assert ev.validity_error == 0.0 and not ev.is_lossless()


def test_without_alpha_star_the_core_reports_no_optimum():
    ev = md.evaluate(p_sampling, P, Q, 2)  # the core calls no oracle
    assert ev.alpha_star is None and ev.gap is None
    assert "alpha*" not in ev.summary() and "acceptance=" in ev.summary()
    known = md.evaluate(p_sampling, P, Q, 2, alpha_star=0.75)
    assert known.gap == 0.75 - known.acceptance and "alpha*=0.750000000000" in known.summary()


def test_exchangeable_laws_are_enumerated_on_multisets():
    law = Joint(np.outer(Q, Q))  # exchangeable, not i.i.d.
    assert law.exchangeable
    tuples = md.evaluate(p_sampling, P, drafting=law)
    multisets = md.evaluate(p_sampling, P, drafting=law, order_invariant=True)
    assert multisets.evaluated == math.comb(4 + 2 - 1, 2) < tuples.evaluated == 4**2
    np.testing.assert_allclose(multisets.marginal, tuples.marginal, rtol=0, atol=1e-15)
    assert multisets.acceptance == pytest.approx(tuples.acceptance, abs=1e-15)
    skew = Joint(np.outer(Q, Q[::-1]))  # not exchangeable: tuples whatever the verifier says
    assert md.evaluate(p_sampling, P, drafting=skew, order_invariant=True).evaluated == 16


def test_validity_errors_are_measured_at_the_worst_tuple():
    def broken(target, draft, drafts):
        out = np.array(target, dtype=np.float64)
        if tuple(drafts) == (2, 4):
            out = out * 1.25  # sums to 1.25
        if tuple(drafts) == (1, 1):
            out = out - np.array([0.5, 0, 0, 0, 0])  # a negative entry -0.1, sums to 0.5
        return out

    ev = md.evaluate(broken, P, Q, 2)
    assert ev.validity_error == pytest.approx(0.5) and ev.worst_drafts == (1, 1)
    assert not ev.is_lossless()


def test_non_finite_conditionals_give_an_infinite_validity_error():
    def nan_at_zero(target, draft, drafts):
        out = np.array(target, dtype=np.float64)
        if drafts[0] == 0:
            out[1] = np.nan
        return out

    ev = md.evaluate(nan_at_zero, P, Q, 1)
    assert ev.validity_error == np.inf and ev.worst_drafts == (0,)


def test_order_invariant_verifiers_are_enumerated_on_multisets():
    tuples = md.evaluate(p_sampling, P, Q, 3)
    multisets = md.evaluate(p_sampling, P, Q, 3, order_invariant=True)
    assert multisets.evaluated == math.comb(4 + 3 - 1, 3) < tuples.evaluated
    np.testing.assert_allclose(multisets.marginal, tuples.marginal, rtol=0, atol=1e-15)
    assert multisets.acceptance == pytest.approx(tuples.acceptance, abs=1e-15)


def test_torch_and_batched_verifiers_give_the_same_result():
    class Batched:
        batched = True

        def conditional(self, target, draft, drafts):
            return torch.as_tensor(target).expand(len(drafts), -1)

    reference = md.evaluate(p_sampling, P, Q, 2)
    via_torch = md.evaluate(lambda t, d, x: torch.as_tensor(t), torch.tensor(P), torch.tensor(Q), 2)
    batched = md.evaluate(Batched(), P, Q, 2)
    for ev in (via_torch, batched):  # same sums, possibly in another order (BLAS): rounding only
        np.testing.assert_allclose(ev.marginal, reference.marginal, rtol=0, atol=1e-15)
        assert ev.acceptance == pytest.approx(reference.acceptance, abs=1e-15)


@pytest.mark.parametrize(
    "law",
    [
        WithoutReplacement(Q, 2),
        Independent(np.stack([Q, np.full(5, 0.2)])),
        Joint(np.outer(Q, Q[::-1])),
    ],
    ids=lambda law: law.name,
)
def test_every_drafting_law(law):
    ev = md.evaluate(p_sampling, P, drafting=law, alpha_star=optimal_acceptance_for(P, law))
    assert ev.is_lossless(1e-15)
    assert ev.acceptance == pytest.approx(acceptance_of_p_sampling(P, law), abs=1e-15)
    assert ev.alpha_star == pytest.approx(optimal_acceptance_bruteforce(P, drafting=law)[0], abs=1e-12)


def test_block_by_block_sums_equal_one_block(monkeypatch):
    def broken_late(target, draft, drafts):  # the worst tuple lies in a late block
        out = np.array(target, dtype=np.float64)
        return out * 1.5 if tuple(drafts) == (4, 2, 4) else out * (1 + 1e-3 * drafts[0])

    whole = md.evaluate(broken_late, P, Q, 3)
    evaluate_module = __import__("multidraft.evaluate", fromlist=["BLOCK_ENTRIES"])
    monkeypatch.setattr(evaluate_module, "BLOCK_ENTRIES", 3 * len(P))  # 3 tuples per block
    blocked = md.evaluate(broken_late, P, Q, 3)
    np.testing.assert_allclose(blocked.marginal, whole.marginal, rtol=1e-15, atol=1e-16)
    assert blocked.acceptance == pytest.approx(whole.acceptance, rel=1e-15)
    assert blocked.validity_error == whole.validity_error == pytest.approx(0.5)
    assert blocked.worst_drafts == whole.worst_drafts == (4, 2, 4)


def test_sizes_that_would_not_finish_are_refused_naming_the_limit():
    uniform = np.full(100, 0.01)
    with pytest.raises(md.TooLargeError, match=r"100,000,000 items, above the limit of 2,000,000.*statistical check"):
        md.evaluate(p_sampling, uniform, uniform, 4)
    with pytest.raises(md.TooLargeError, match="above the limit of 10"):
        md.evaluate(p_sampling, P, Q, 2, max_count=10)
    with pytest.raises(md.TooLargeError, match=r"more than 4.6e\+18 items"):  # counted, never computed
        md.evaluate(p_sampling, P, Q, 10**30)


def test_bad_inputs_name_the_argument():
    with pytest.raises(md.InvalidInputError, match="target: vocabulary size 4 does not match the draft's 5"):
        md.evaluate(p_sampling, P[:4] / P[:4].sum(), Q, 2)
    with pytest.raises(md.InvalidInputError, match="verifier: returned conditionals of shape"):
        md.evaluate(lambda t, d, x: np.ones(3) / 3, P, Q, 2)
    with pytest.raises(md.InvalidInputError, match="verifier: expected a callable"):
        md.evaluate(42, P, Q, 2)
    with pytest.raises(md.InvalidInputError, match="n: expected an integer number of drafts >= 1, got 0"):
        md.evaluate(p_sampling, P, Q, 0)
    with pytest.raises(md.InvalidInputError, match="draft: has no support"):
        md.evaluate(p_sampling, P, np.zeros(5), 2)
    with pytest.raises(md.InvalidInputError, match="target: entries must be finite"):
        md.evaluate(p_sampling, [0.5, np.nan, 0.5, 0, 0], Q, 2)
