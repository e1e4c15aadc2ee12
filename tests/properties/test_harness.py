"""The controlled-randomness harness: exact laws of sampling code, its refusals, and the checker modes."""

from __future__ import annotations

import gallery
import numpy as np
import pytest
import torch

from multidraft.fast import BASELINES
from multidraft.properties import verifier_suite
from multidraft.properties.exact_sampling import HarnessConditional, compare_with_conditional
from multidraft.properties.harness import PathLimitExceeded, UntraceableRandomness, exact_law, reachable_outputs
from multidraft.validation import InvalidInputError
from multidraft.verifiers import get_verifier

# ----------------------------------------------------------------------------- harness = conditional, 1e-12

#: Adversarial (p, q): ties / p = q, zeros of p where q > 0, one-hot p, one-hot q, disjoint supports,
#: tiny probabilities, a generic law.
PROBLEMS = {
    "p=q ties": ([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]),
    "zeros of p": ([0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]),
    "one-hot p": ([0.0, 1.0, 0.0], [0.3, 0.3, 0.4]),
    "one-hot q": ([0.2, 0.3, 0.5], [0.0, 0.0, 1.0]),
    "disjoint": ([0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]),
    "tiny": ([0.7, 0.3 - 1e-30, 1e-30], [1e-30, 0.5, 0.5 - 1e-30]),
    "generic": ([0.05, 0.4, 0.15, 0.3, 0.1], [0.3, 0.1, 0.2, 0.25, 0.15]),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_sampler_has_its_conditional_law(name):
    verifier = BASELINES[name]
    checked = 0
    ns = (1, 2) if name in ("canonical", "kseq") else (1, 2, 3)  # the two slow samplers: up to 48 tuples
    for label, (p, q) in PROBLEMS.items():
        for n in ns:
            try:
                verifier.law(np.asarray(q), n)
            except InvalidInputError:  # greedy drafting needs n tokens with q > 0
                continue
            agreement = compare_with_conditional(verifier, p, q, n)
            assert agreement.max_diff <= 1e-12, (label, n, agreement)
            checked += 1
    assert checked >= 2 * len(PROBLEMS) - 1


def test_global_resolution_sampler_is_refused_with_the_reason():
    """Plan.sample races uniform keys u_z + U (sums, not comparisons with a threshold) and the
    compiled path reads the uniforms' values: the harness says so."""
    with pytest.raises(UntraceableRandomness, match=r"\.numpy\(\)"):
        compare_with_conditional(get_verifier("global_resolution"), [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], 2)


# ----------------------------------------------------------------------------- the harness itself


def test_inverse_cdf_by_searchsorted_and_by_comparisons():
    w = torch.tensor([[0.1, 0.0, 0.6, 0.3]], dtype=torch.float64)

    def searchsorted(g):
        cdf = torch.cumsum(w, 1)
        return torch.searchsorted(cdf, torch.rand(1, 1, generator=g, dtype=torch.float64), right=True)[0, 0]

    def comparisons(g):  # numpy style: count of cdf entries below u
        return (np.cumsum(w.numpy()[0]) < g.random()).sum()

    for call in (searchsorted, comparisons):
        assert np.abs(exact_law(call, 4) - w.numpy()[0]).max() <= 1e-15


@pytest.mark.parametrize("race", ["log/w", "-log/w min", "gumbel", "w/-log"])
def test_exponential_races_have_the_categorical_law(race):
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)

    def call(g):
        u = torch.rand(3, generator=g, dtype=torch.float64)
        if race == "log/w":
            return torch.argmax(torch.log(u) / w)
        if race == "-log/w min":
            return torch.argmin(-torch.log(u) / w)
        if race == "gumbel":
            return torch.argmax(torch.log(w) - torch.log(-torch.log(u)))
        return torch.argmax(w / -torch.log(u))

    assert np.abs(exact_law(call, 3) - w.numpy()).max() <= 1e-15


def test_multinomial_and_numpy_choice_branch_over_categories():
    w = np.array([0.0, 0.25, 0.75])
    law = exact_law(lambda g: torch.multinomial(torch.from_numpy(w)[None], 1, generator=g)[0, 0], 3)
    assert np.abs(law - w).max() <= 1e-15
    assert np.abs(exact_law(lambda g: g.choice(3, p=w), 3) - w).max() <= 1e-15


def test_a_coin_times_zero_is_decided():
    """speculative sampling written as u * q(x) < p(x): q(x) = 0 decides the comparison."""
    assert exact_law(lambda g: int(bool((torch.rand(1, generator=g) * 0.0 < 0.3)[0])), 2).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "code, message",
    [
        (lambda g: int(bool(torch.rand(2, generator=g).sum() < 1.0)), "Tensor.sum"),
        (lambda g: int(bool(torch.sum(torch.rand(2, generator=g)) < 1.0)), "torch.sum"),
        (lambda g: (lambda u: int(bool(u[0] + u[1] < 1.0)))(torch.rand(2, generator=g)), "two harness uniforms"),
        (lambda g: int(torch.rand(1, generator=g).item() < 0.5), r"\.item\(\)"),
        (lambda g: int(torch.randn(1, generator=g)[0] > 0), "torch.randn"),
        (lambda g: int(torch.rand(1)[0] < 0.5), "global RNG"),
        (lambda g: int(torch.empty(1).uniform_()[0] < 0.5), "uniform_"),
        (lambda g: torch.multinomial(torch.ones(1, 3), 2, generator=g)[0, 0], "num_samples"),
        (lambda g: int(torch.argmax(torch.log(torch.rand(2, generator=g)) * -1.0)), "largest exponential"),
    ],
)
def test_untraceable_randomness_is_refused_by_name(code, message):
    with pytest.raises(UntraceableRandomness, match=message):
        exact_law(code, 3)


def test_decisions_that_change_between_replays_are_refused():
    calls = []

    def drifting(g):
        calls.append(1)
        if len(calls) == 1:
            return int(bool(torch.rand(1, generator=g)[0] < 0.5))
        return torch.multinomial(torch.ones(1, 3), 1, generator=g)[0, 0]

    with pytest.raises(UntraceableRandomness, match="differ between two runs"):
        exact_law(drifting, 3)


def test_path_limit():
    def many(g):
        return sum(int(bool(torch.rand(1, generator=g)[0] < 0.5)) for _ in range(12))

    assert abs(exact_law(many, 13).sum() - 1) <= 1e-12  # 4096 paths
    with pytest.raises(PathLimitExceeded):
        exact_law(many, 13, max_paths=100)


def test_fixed_uniforms_reach_the_zero_probability_draft():
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    call = HarnessConditional(gallery.uniforms_accept_at_zero, "uniforms").call(p, q, np.array([1]))
    assert reachable_outputs(call, lambda k: "zero") == {1}
    assert reachable_outputs(call, lambda k: "tiny") == {0}
    assert exact_law(call, 2).tolist() == [1.0, 0.0]  # continuous uniforms: the exact law is right


# ----------------------------------------------------------------------------- the checker modes


def test_uniforms_form_correct_chain_passes():
    report = verifier_suite(gallery.uniforms_rrs, interface="uniforms", examples=10)
    report.raise_if_failed()
    assert report["lossless"].worst <= 1e-12 and report["harness"].extra["paths"] > 0


@pytest.mark.parametrize("name", ["uniforms_accept_at_zero", "uniforms_inverse_cdf_left"])
def test_uniforms_at_the_edges_catch_the_zero_uniform_bug(name):
    report = verifier_suite(getattr(gallery, name), interface="uniforms", examples=10)
    assert report["lossless"].status == "pass"  # the law is exact and right: only the edge values show it
    failed = report["adversarial_uniforms"]
    assert failed.status == "fail" and "p[" in failed.detail
    scope: dict = {}
    exec(failed.snippet.replace("print(", "_ = ("), scope)
    assert any(scope["target"][t] == 0 for t in scope["_"] if 0 <= t < len(scope["target"]))


def test_exact_sampling_mode_finds_a_biased_sampler_exactly():
    report = verifier_suite(gallery.swapped_sampler, interface="exact-sampling", examples=10)
    assert report["lossless"].status == "fail" and report["lossless"].mode == "exact"
    assert "np.array([" in report["lossless"].snippet


def randn_then_p(target, draft, drafts, generator):
    """Lossless, but draws a normal first: the harness cannot follow torch.randn."""
    torch.randn(1, generator=generator)
    return torch.multinomial(target, 1, generator=generator)[:, 0]


def test_fallback_to_statistical_mode_says_why():
    report = verifier_suite(randn_then_p, interface="exact-sampling", samples=3000, stat_problems=2)
    assert report.passed
    row = report["harness"]
    assert row.mode == "stat" and "torch.randn" in row.detail
    assert report["output_law"].mode == "stat"
