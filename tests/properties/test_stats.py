"""Statistical mode: the tests, their calibration, and end-to-end detection."""

from __future__ import annotations

import gallery
import numpy as np
import pytest
from scipy import stats as sps

from multidraft.properties import verifier_suite
from multidraft.properties.adapters import resolve
from multidraft.properties.problem import Problem
from multidraft.properties.sampling import draw_outputs
from multidraft.properties.stats import detectable_tv, g_test, noncentrality_for_power, pool_cells


def test_pooling_keeps_totals_and_drops_impossible_cells():
    obs, exp = pool_cells(np.array([10, 2, 1, 0, 7]), np.array([9.0, 1.0, 2.0, 0.0, 8.0]))
    assert obs.sum() == 20 and exp.sum() == 20 and (exp >= 5).all()


def test_impossible_output_gives_p_value_zero():
    res = g_test(np.array([50, 49, 1]), np.array([50.0, 50.0, 0.0]))
    assert res.p_value == 0.0 and res.impossible == 1


def test_g_test_calibrated():
    """Under the null, the p-values are roughly uniform: ~5% below 0.05 over 2000 runs."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(8))
    pvals = np.array([g_test(rng.multinomial(5000, p), 5000 * p).p_value for _ in range(2000)])
    assert 0.035 < (pvals < 0.05).mean() < 0.065


def test_detectable_tv_matches_noncentral_power():
    lam = noncentrality_for_power(5, 1e-6, 0.9)
    crit = sps.chi2.isf(1e-6, 5)
    assert abs(sps.ncx2.sf(crit, 5, lam) - 0.9) < 1e-8
    assert detectable_tv(10**6, 5, 1e-6, 0.9) == pytest.approx(np.sqrt(lam / 4e6))


def test_gross_bias_caught_at_modest_sample_size():
    report = verifier_suite(gallery.first_draft_sampler, interface="sampling", samples=5000, seed=3)
    assert report["output_law"].status == "fail" and report["acceptance_bound"].status == "fail"


def test_swapped_sampler_caught():
    assert not verifier_suite(gallery.swapped_sampler, interface="sampling", samples=20000, seed=3).passed


@pytest.mark.parametrize(
    "name, backend", [("p_sampler", "torch"), ("speculative_sampler", "torch"), ("numpy_p_sampler", "numpy")]
)
def test_correct_samplers_not_flagged(name, backend):
    verifier_suite(
        getattr(gallery, name), interface="sampling", samples=50000, seed=4, backend=backend
    ).raise_if_failed()


def test_both_interfaces_agree():
    report = verifier_suite(gallery.SpeculativeBoth(), samples=20000, seed=5, examples=10)
    report.raise_if_failed()
    assert report["sample_matches_conditional"].mode == "stat"


def test_sample_disagreeing_with_conditional_is_caught():
    class Liar(gallery.SpeculativeBoth):
        def sample(self, target, draft, drafts, generator=None):
            return gallery.swapped_sampler(target, draft, drafts, generator)

    report = verifier_suite(Liar(), samples=20000, seed=5, examples=5)
    assert report["sample_matches_conditional"].status == "fail"


def test_reproducible_checked():
    good = verifier_suite(gallery.speculative_sampler, interface="sampling", samples=20000, seed=3)
    assert good["reproducible"].status == "pass" and good["reproducible"].extra["compared"] == 20000  # follows samples
    bad = verifier_suite(gallery.unseeded_sampler, interface="sampling", samples=20000, seed=3)
    result = bad["reproducible"]
    assert result.status == "fail" and result.worst > 0
    assert bad["output_law"].status == "pass"  # lossless: only the seed handling is wrong
    scope: dict = {}
    exec(result.snippet.replace("print(", "_ = ("), scope)  # the snippet runs as printed
    assert (scope["first"] != scope["second"]).sum() > 0


def test_same_seed_same_output():
    spec = resolve(gallery.speculative_sampler, "sampling")
    problem = Problem(np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6]), 2)
    a = draw_outputs(spec, problem, 1000, seed=7)
    b = draw_outputs(spec, problem, 1000, seed=7)
    c = draw_outputs(spec, problem, 1000, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[1], c[1])


def test_deviation_interval_covers_the_exact_tv():
    """``multidraft deviation``'s sampled interval (nominal 95%) covers the true TV, here known
    exactly from the conditional twin of the sampler; a percentile interval of the plug-in TV
    would not (it sits above the truth by the noise)."""
    from multidraft import evaluate
    from multidraft.properties.deviation import measure_deviation

    p, q = np.array([0.3, 0.3, 0.25, 0.15]), np.array([0.25, 0.25, 0.3, 0.2])
    truth = evaluate(gallery.target_draft_swapped, p, q, 2).tv
    spec, problem = resolve(gallery.swapped_sampler, "sampling"), Problem(p, q, 2)
    covered = [measure_deviation(spec, problem, samples=20000, seed=s).interval for s in range(20)]
    assert sum(lo <= truth <= hi for lo, hi in covered) >= 17
    assert all(hi - lo < 0.05 for lo, hi in covered)  # and is informative
    exact = [
        measure_deviation(resolve(gallery.p_sampler, "sampling"), problem, samples=20000, seed=s).interval
        for s in range(20)
    ]
    assert sum(lo <= 0.0 <= hi for lo, hi in exact) >= 17  # a lossless sampler: TV 0 inside
