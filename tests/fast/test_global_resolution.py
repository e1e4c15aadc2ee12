"""Global resolution: exactly lossless and optimal by exact enumeration; batching, seeds, sampling."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import multidraft as md
from multidraft.examples import llm_like
from multidraft.fast.solver import GlobalResolution, global_resolution
from multidraft.properties.strategies import problem_tuples
from multidraft.reference import optimal_acceptance, optimal_acceptance_for

EXACT = 1e-12  # TV and validity tolerance, float64
OPTIMAL = 1e-8  # acceptance gap tolerance (solver tol is 1e-9)


def problems(max_vocab=6, max_n=4):
    """(p, q, n) from the shipped strategies: weights, Dirichlet, LLM-like and tied laws with zeros,
    tiny masses, one-hot laws, p = q and disjoint supports."""
    return problem_tuples(n=(1, max_n), vocab=(1, max_vocab))


BACKENDS = ["torch", "numba"]


def exact_evaluation(p, q, n, backend="auto"):
    verifier = GlobalResolution(backend=backend)
    alpha_star = optimal_acceptance_for(np.asarray(p, dtype=np.float64), md.IID(q, n))
    return md.evaluate(verifier, p, q, n, alpha_star=alpha_star), verifier.plan(p, q, n)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_lossless_and_optimal_by_exact_enumeration(backend, problem):
    p, q, n = problem
    ev, plan = exact_evaluation(p, q, n, backend)
    assert ev.tv <= EXACT and ev.validity_error <= EXACT, ev.summary()
    assert plan.alpha_star.item() == pytest.approx(float(optimal_acceptance(p, q, n).alpha_star), abs=1e-12)
    assert ev.alpha_star - plan.kept.item() <= OPTIMAL, (ev.summary(), plan.status)
    assert ev.acceptance <= ev.alpha_star + 1e-12  # never above the optimum
    assert bool(plan.status.success.all())


NAMED = {
    "p equals q": (np.full(4, 0.25), np.full(4, 0.25), 3, 1.0),
    "disjoint supports": (np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5]), 2, 0.0),
    "one-hot p": (np.array([1.0, 0, 0]), np.array([0.2, 0.3, 0.5]), 3, 1 - 0.8**3),
    "one-hot q": (np.array([0.2, 0.3, 0.5]), np.array([0, 1.0, 0]), 4, 0.3),
    "single token": (np.array([1.0]), np.array([1.0]), 2, 1.0),
    "n = 1 is 1 - TV": (np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.3, 0.5]), 1, 0.6),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMED)
def test_named_edge_cases(name, backend):
    p, q, n, alpha = NAMED[name]
    ev, plan = exact_evaluation(p, q, n, backend)
    assert ev.tv <= EXACT and ev.validity_error <= EXACT
    assert plan.kept.item() == pytest.approx(alpha, abs=1e-9)


@pytest.mark.parametrize("compiled", [True, False])
def test_residual_is_a_law_when_its_mass_rounds_to_zero(compiled):
    """Found by `multidraft check`: a p = 0 draft token of mass 2.5e-19 made the residual all zeros."""
    plan = global_resolution(np.array([1.0, 0.0]), np.array([1.0, 2.505012084267511e-19]), 1)
    plan.compiled_sampling = compiled
    for drafts in ([0], [1]):
        law = plan.conditional(drafts)[0]
        assert law.sum().item() == pytest.approx(1.0, abs=1e-15) and law.min().item() >= 0
    tokens, accepted = plan.sample(np.ones((50, 1), dtype=int), generator=torch.Generator().manual_seed(0))
    assert not accepted.any() and (tokens == 0).all()  # the p = 0 draft is never kept; p is one-hot


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems(max_vocab=8), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_compiled_and_torch_sampling_draw_the_same_tokens(problem, batch, seed):
    """The compiled sampler (CPU, float64) makes the torch code's comparisons on the same
    noise: same tokens, same accept flags, for drafts inside and outside the support, batched
    plans and one plan serving many tuples."""
    p, q, n = problem
    rng = np.random.default_rng(seed)
    P, Q = np.tile(p, (batch, 1)), np.tile(q, (batch, 1))
    plan = global_resolution(P, Q, n)
    M = batch if batch > 1 else 64
    drafts = rng.integers(0, len(p), size=(M, n))
    results = []
    for compiled in (True, False):
        plan.compiled_sampling = compiled
        results.append(plan.sample(drafts, generator=torch.Generator().manual_seed(seed)))
    (tokens, accepted), (tokens_torch, accepted_torch) = results
    assert torch.equal(tokens, tokens_torch) and torch.equal(accepted, accepted_torch)
    # the residual draw on its own, for residuals with mass on the support too (in an
    # optimal plan it often has none there)
    plan._residual_on_support = plan._residual_on_support + torch.as_tensor(rng.random(plan.support.p.shape))
    rows = rng.integers(0, batch, size=200)
    compiled_draws = plan._residual_draws_compiled(rows, torch.Generator().manual_seed(seed))
    torch_draws = plan._sample_residual(torch.as_tensor(rows), torch.Generator().manual_seed(seed))
    assert torch.equal(torch.from_numpy(compiled_draws), torch_draws)


@pytest.mark.parametrize("V", [5, 256, 257, 1000])
def test_compiled_residual_draw_is_torch_cumsum_searchsorted(V):
    """The compiled residual draw (one walk for the total, recording the running sum at each
    block end, then a walk of the one block holding the token) gives torch's
    ``searchsorted(cumsum(residual), uniform * total, right=True)``, over several blocks,
    for targets at and next to the block ends' cdf values, uniforms near 0 and 1, and a
    residual whose mass rounds to 0 (p stands in)."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(V)
    p = rng.dirichlet(np.full(V, 0.5), 2)
    k = min(V, 40)
    ids = np.sort(np.stack([rng.choice(V, k, replace=False) for _ in range(2)]), axis=1)
    slot_of_sorted = np.stack([rng.permutation(k) for _ in range(2)])
    on_support = rng.random((2, k)) * 1e-3
    on_support[1] = 0.0
    residual = p.copy()
    for b in range(2):
        residual[b, ids[b]] = on_support[b, slot_of_sorted[b]]
    residual[1] = 0.0  # row 1: no mass anywhere, p stands in
    p[1, np.setdiff1d(np.arange(V), ids[1])] = 0.0
    p[1, ids[1]] = 1.0 / k
    cdf = torch.cumsum(torch.from_numpy(np.where(residual.sum(1, keepdims=True) > 0, residual, p)), dim=1)
    uniforms = [0.0, 1e-17, 0.5, 1.0 - 1e-16]
    for b in range(2):  # targets exactly at (and one ulp around) each block end's running sum
        for end in cdf[b, kernel.SCAN_BLOCK - 1 :: kernel.SCAN_BLOCK].tolist():
            u = end / float(cdf[b, -1])
            uniforms += [u, np.nextafter(u, 0), np.nextafter(u, 1)]
    uniforms = np.clip(np.array(uniforms * 2), 0.0, np.nextafter(1.0, 0))
    rows = np.repeat([0, 1], len(uniforms) // 2)
    draws = kernel.residual_draws(p, ids, slot_of_sorted, on_support, rows, uniforms)
    targets = torch.from_numpy(uniforms) * cdf[rows, -1]
    expected = torch.searchsorted(cdf[rows], targets[:, None], right=True)[:, 0].clamp_max(V - 1)
    assert np.array_equal(draws, expected.numpy())


def _torch_residual_draws(residual, uniforms):
    """torch's residual draw: ``searchsorted(cumsum(residual), uniform * total, right=True)``
    for a (V,) residual with mass, one draw per uniform."""
    cdf = torch.cumsum(torch.from_numpy(residual), dim=0)
    targets = torch.from_numpy(uniforms) * cdf[-1]
    return torch.searchsorted(cdf, targets, right=True).clamp_max(len(residual) - 1).numpy()


def _blocked_draws(p, ids, slot_of_sorted, on_support, uniforms):
    """kernel._residual_draw_blocked for each uniform (-1 where it defers)."""
    from multidraft.fast import kernel

    sums = np.empty(-(-len(p) // kernel.SCAN_BLOCK))
    buffer = np.empty(kernel.SCAN_BLOCK)
    return np.array(
        [kernel._residual_draw_blocked(p, ids, slot_of_sorted, on_support, u, sums, buffer) for u in uniforms]
    )


@pytest.mark.parametrize("V, k", [(5, 3), (256, 256), (257, 40), (3000, 10), (3000, 1000), (3000, 3000)])
def test_blocked_residual_draw_is_torch_draw_or_defers(V, k):
    """The blocked residual draw (block sums in any order, certified by an error bound,
    maths.md section 7) returns torch's cumsum-searchsorted token or defers (-1): it never
    returns another token, for uniform draws and for targets at, and one ulp around, every
    token's cdf value; it defers for none of 3,000 uniform draws, and for the targets that sit
    on a cdf value (within its margin) it defers."""
    rng = np.random.default_rng(V + k)
    p = rng.dirichlet(np.full(V, 0.3))
    ids = np.sort(rng.choice(V, k, replace=False))
    slot_of_sorted = rng.permutation(k)
    on_support = rng.random(k) * p[ids][np.argsort(slot_of_sorted)]  # residual <= p on the support
    residual = p.copy()
    residual[ids] = on_support[slot_of_sorted]
    uniforms = rng.random(3000)
    drawn = _blocked_draws(p, ids, slot_of_sorted, on_support, uniforms)
    assert (drawn >= 0).all()
    assert np.array_equal(drawn, _torch_residual_draws(residual, uniforms))
    cdf = np.cumsum(residual)
    at = np.clip(cdf[residual > 0][:300] / cdf[-1], 0.0, np.nextafter(1.0, 0))
    edges = np.concatenate([at, np.nextafter(at, 0), np.nextafter(at, 1)])
    edges = np.clip(edges, 0.0, np.nextafter(1.0, 0))
    drawn = _blocked_draws(p, ids, slot_of_sorted, on_support, edges)
    expected = _torch_residual_draws(residual, edges)
    assert np.array_equal(drawn[drawn >= 0], expected[drawn >= 0])
    assert (drawn[: len(at)] < 0).mean() > 0.5  # targets on a cdf value defer


_ENTRY_SCALES = [0.0, 5e-324, 1e-310, 2.0**-960, 1e-300, 1e-30, 2.0**-53, 1e-3, 0.5, 1.0]


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    V=st.sampled_from([1, 2, 255, 256, 257, 700]),
    scale=st.sampled_from(_ENTRY_SCALES),
    shape=st.sampled_from(["dense", "sparse", "one-hot", "tied", "mixed"]),
    support_share=st.sampled_from([0.0, 0.1, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_residual_draw_is_torch_draw_on_adversarial_residuals(V, scale, shape, support_share, seed):
    """The compiled residual draw gives torch's token on adversarial residuals: entries of one
    scale from 0 and subnormals to 1 (totals that underflow in ``uniform * total``), sparse,
    one-hot, tied and mixed-magnitude rows, support residuals of other magnitudes than p, and
    uniforms at 0, next to 1 and at every cdf value; a residual of no mass falls back to p."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(seed)
    if shape == "dense":
        p = rng.random(V) * scale
    elif shape == "sparse":
        p = np.where(rng.random(V) < 0.05, rng.random(V), 0.0) * scale
    elif shape == "one-hot":
        p = np.zeros(V)
        p[rng.integers(V)] = scale
    elif shape == "tied":
        p = np.full(V, scale)
    else:  # magnitudes from the scale down to 1e-300 times it, and exact zeros
        p = scale * 10.0 ** -rng.integers(0, 300, V) * (rng.random(V) < 0.8)
    if not p.sum() > 0:
        p[rng.integers(V)] = 1.0  # p stands in for an empty residual: it needs mass
    k = max(1, int(support_share * V)) if support_share > 0 else 1
    ids = np.sort(rng.choice(V, k, replace=False))
    slot_of_sorted = rng.permutation(k)
    on_support = np.where(rng.random(k) < 0.5, 0.0, rng.random(k) * rng.choice(_ENTRY_SCALES, k))
    residual = p.copy()
    residual[ids] = on_support[slot_of_sorted]
    law = residual if residual.sum() > 0 else p
    cdf = np.cumsum(law)
    uniforms = np.concatenate([[0.0, np.nextafter(1.0, 0)], rng.random(40), cdf[: 2 * kernel.SCAN_BLOCK] / cdf[-1]])
    uniforms = np.clip(uniforms, 0.0, np.nextafter(1.0, 0))
    rows = np.zeros(len(uniforms), dtype=np.int64)
    draws = kernel.residual_draws(p[None], ids[None], slot_of_sorted[None], on_support[None], rows, uniforms)
    assert np.array_equal(draws, _torch_residual_draws(law, uniforms))


def test_residual_draw_matches_torch_where_block_sums_round_differently():
    """Rows built so that the vectorised block sums and torch's sequential cumsum round
    differently by hundreds of ulps (entries of 3/4 ulp after a mass of 1/2: each sequential
    addition rounds up, a block sum is exact), so a draw from the block sums without the
    certified margin picks tokens that torch does not: the compiled draw (blocked, deferring
    to the walk in vocabulary order) still gives torch's token for every uniform."""
    from multidraft.fast import kernel

    V = 4 * kernel.SCAN_BLOCK
    residual = np.zeros(V)
    residual[kernel.SCAN_BLOCK - 1] = 0.5
    residual[kernel.SCAN_BLOCK :] = 0.75 * 2.0**-53
    cdf = np.cumsum(residual)
    assert cdf[-1] - 0.5 != 3 * kernel.SCAN_BLOCK * 0.75 * 2.0**-53  # sequential rounding differs
    ids = np.array([0, 7])  # support tokens of residual 0 (p = 0 there too)
    uniforms = 1.0 - np.arange(1, 1700) * 2.0**-53  # targets spread over the tail's 768 ulps
    expected = _torch_residual_draws(residual, uniforms)
    assert len(np.unique(expected)) > 100
    rows = np.zeros(len(uniforms), dtype=np.int64)
    draws = kernel.residual_draws(residual[None], ids[None], np.array([[0, 1]]), np.zeros((1, 2)), rows, uniforms)
    assert np.array_equal(draws, expected)
    assert (_blocked_draws(residual, ids, np.array([0, 1]), np.zeros(2), uniforms) < 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_probabilities_stay_exact(backend):
    p = np.array([1 - 2e-30, 1e-30, 1e-30])
    q = np.array([1e-30, 0.5, 0.5 - 1e-30])
    ev, plan = exact_evaluation(p, q, 3, backend)
    assert ev.tv <= EXACT and ev.validity_error <= EXACT
    assert ev.alpha_star - plan.kept.item() <= OPTIMAL


def test_batched_equals_unbatched_rows():
    """Rows of a batch agree with single solves within the solver tolerance (padding to a
    common support size changes the order of float sums, so not bit for bit)."""
    rng = np.random.default_rng(5)
    P, Q = rng.dirichlet(np.ones(7), 6), rng.dirichlet(np.ones(7), 6)
    Q[2, :3] = 0
    Q[2] /= Q[2].sum()
    batch = global_resolution(P, Q, 3)
    drafts = rng.integers(3, 7, size=(6, 3))
    cond = batch.conditional(drafts)
    for b in range(6):
        single = global_resolution(P[b], Q[b], 3)
        torch.testing.assert_close(single.kept[0], batch.kept[b], atol=1e-9, rtol=0)
        torch.testing.assert_close(single.alpha_star[0], batch.alpha_star[b], atol=1e-15, rtol=0)
        torch.testing.assert_close(single.conditional(drafts[b])[0], cond[b], atol=1e-7, rtol=0)


def test_same_seed_same_samples():
    p, q = llm_like(50, seed=3)
    plan = global_resolution(p, q, 4)
    drafts = torch.multinomial(
        torch.tensor(q).expand(200, -1), 4, replacement=True, generator=torch.Generator().manual_seed(1)
    )
    plan_b = global_resolution(np.tile(p, (200, 1)), np.tile(q, (200, 1)), 4)
    first = plan_b.sample(drafts, generator=torch.Generator().manual_seed(7))
    second = plan_b.sample(drafts, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert plan.batch_size == 1


def test_sampling_agrees_with_conditional():
    """G-test of sampled outputs against the exact conditional law, per draft tuple.

    Family-wise false-alarm rate 1e-6 (Bonferroni over the tuples), seeded: deterministic.
    """
    p, q = np.array([0.45, 0.25, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    plan = global_resolution(p, q, 3)
    tuples = [(0, 1, 2), (3, 3, 3), (2, 3, 3), (1, 1, 0)]
    generator = torch.Generator().manual_seed(11)
    N = 20000
    for drafts in tuples:
        tokens, _ = plan.sample(np.tile(drafts, (N, 1)), generator=generator)
        counts = np.bincount(tokens.numpy(), minlength=4)
        expected = plan.conditional(drafts)[0].numpy() * N
        keep = expected > 0
        assert counts[~keep].sum() == 0
        g = 2 * np.sum(
            np.where(counts[keep] > 0, counts[keep] * np.log(np.maximum(counts[keep], 1) / expected[keep]), 0)
        )
        assert stats.chi2.sf(g, df=max(keep.sum() - 1, 1)) > 1e-6 / len(tuples), (drafts, counts, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k,n", [(10, 2), (10, 5), (100, 2), (1000, 2), (10, 16)])
def test_large_vocabulary_top_k_drafts_converge(k, n, backend):
    p, q = llm_like(32000, top_k=k, seed=k + n)
    plan = global_resolution(p, q, n, backend=backend)
    assert bool(plan.status.success.all()), plan.status
    assert plan.alpha_star.item() == pytest.approx(float(optimal_acceptance(p, q, n).alpha_star), abs=1e-12)
    law = plan.conditional(np.argsort(-q)[:n])
    assert law.sum().item() == pytest.approx(1.0, abs=1e-12) and law.min().item() >= 0


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(n=0), "n:"),
        (dict(n=2.5), "n:"),
        (dict(n=10**6), "n: at most 256"),
        (dict(target=[0.5, float("nan")]), "target:"),
        (dict(draft=[1.5, -0.5]), "draft:"),
        (dict(target=[0.5, 0.6]), "sum to 1"),
        (dict(draft=[0.2, 0.3, 0.5]), "vocabulary"),
        (dict(tol=0), "tol:"),
    ],
)
def test_bad_inputs_name_the_argument(bad, message):
    args = dict(target=[0.5, 0.5], draft=[0.4, 0.6], n=2)
    args.update(bad)
    tol = args.pop("tol", 1e-9)
    with pytest.raises(md.InvalidInputError, match=message):
        global_resolution(args["target"], args["draft"], args["n"], tol=tol)


def test_bad_backend_names_the_argument():
    with pytest.raises(md.InvalidInputError, match="backend:"):
        global_resolution([0.5, 0.5], [0.4, 0.6], 2, backend="cuda")
    with pytest.raises(md.InvalidInputError, match="backend:.*float64"):
        global_resolution([0.5, 0.5], [0.4, 0.6], 2, backend="numba", dtype=torch.float32)
    with pytest.raises(md.InvalidInputError, match="backend:"):
        GlobalResolution(backend="jax")


def test_backends_agree_row_by_row():
    """The compiled kernel runs the torch path's algorithm: same support, cut and alpha*,
    the same Newton iteration counts, acceptances within the solver tolerance."""
    rng = np.random.default_rng(21)
    for n in (1, 2, 3, 6):
        P, Q = rng.dirichlet(np.full(40, 0.3), 12), rng.dirichlet(np.full(40, 0.3), 12)
        Q[rng.random(Q.shape) < 0.3] = 0.0  # rows with different support sizes: padding
        Q[Q.sum(axis=1) == 0, 0] = 1.0
        Q /= Q.sum(axis=1, keepdims=True)
        ref, fast = (global_resolution(P, Q, n, backend=b) for b in BACKENDS)
        for field in ("index", "valid", "inner"):
            assert torch.equal(getattr(ref.support, field), getattr(fast.support, field)), (n, field)
        torch.testing.assert_close(fast.alpha_star, ref.alpha_star, atol=1e-15, rtol=0)
        torch.testing.assert_close(fast.kept, ref.kept, atol=1e-9, rtol=0)
        assert torch.equal(fast.status.iterations, ref.status.iterations), n
        drafts = torch.multinomial(torch.tensor(Q), n, replacement=True, generator=torch.Generator().manual_seed(n))
        torch.testing.assert_close(fast.conditional(drafts), ref.conditional(drafts), atol=1e-7, rtol=0)


@pytest.mark.parametrize("V", [30, 300])  # supports below and above kernel.RADIX_MIN
def test_kernel_plan_parts_match_the_torch_formulas(V):
    from multidraft.fast.solver import plan_parts

    rng = np.random.default_rng(5)
    P, Q = rng.dirichlet(np.full(V, 0.3), 6), rng.dirichlet(np.full(V, 0.3), 6)
    Q[rng.random(Q.shape) < 0.4] = 0.0
    Q[Q.sum(axis=1) == 0, 0] = 1.0
    Q /= Q.sum(axis=1, keepdims=True)
    plan = global_resolution(P, Q, 3, backend="numba")
    expected = plan_parts(plan.support, plan.a, V)
    for name, value in expected.items():
        got = {
            "outer": plan.outer,
            "inner_active": plan.inner_active,
            "acceptance": plan.kept,
            "accept_ratio": plan.accept_ratio,
            "residual_on_support": plan._residual_on_support,
            "sorted_ids": plan._sorted_ids,
            "slot_of_sorted": plan._slot_of_sorted,
        }[name]
        torch.testing.assert_close(got, value, atol=1e-15, rtol=0, msg=name)


@pytest.mark.parametrize("V", [255, 256, 257, 5000, 40000])
@pytest.mark.parametrize("density", [0.0, 0.0005, 0.05, 1.0])
def test_kernel_support_scan_finds_every_draft_token(V, density):
    """The kernel's block-skipping scan (sparse supports, as 2 or about 20 tokens of 40,000)
    and its plain scan (dense ones) give the torch path's support, for V on and off the
    block size; the first and the last token are always drafts."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(V)
    P, Q = rng.dirichlet(np.ones(V), 3), rng.dirichlet(np.ones(V), 3)
    Q[rng.random(Q.shape) > density] = 0.0
    Q[:, [0, V - 1]] = 1e-3  # the first and the last token of the vocabulary in the support
    Q /= Q.sum(axis=1, keepdims=True)
    fast, ref = (global_resolution(P, Q, 2, backend=b, max_iter=0) for b in ("numba", "torch"))
    assert torch.equal(fast.support.index, ref.support.index) and torch.equal(fast.support.valid, ref.support.valid)
    blocks = np.empty((3, -(-V // kernel.SCAN_BLOCK)), dtype=np.int64)
    kernel.support_sizes(Q, blocks)
    if V == 40000 and density < 0.001:  # these rows take the block-skipping scan
        assert (4 * np.count_nonzero(blocks, axis=1) <= blocks.shape[1]).all()


def test_kernel_reuses_the_validation_passes_support_counts(monkeypatch):
    """global_resolution hands the counts of the validation pass over q to the kernel, which
    then does not scan q again; the plan is the one of the kernel's own scan. Counts of the
    wrong shape are refused."""
    from multidraft import law_checks
    from multidraft.fast import kernel

    assert kernel.SCAN_BLOCK == law_checks.BLOCK  # the two passes count the same blocks
    rng = np.random.default_rng(4)
    P, Q = rng.dirichlet(np.ones(700), 2), rng.dirichlet(np.full(700, 0.05), 2)
    own = global_resolution(P, Q, 3)
    scans = []
    original = kernel.support_sizes
    monkeypatch.setattr(kernel, "support_sizes", lambda *args: scans.append(1) or original(*args))
    reused = global_resolution(P, Q, 3)
    assert scans == []
    assert all(torch.equal(getattr(own, name), getattr(reused, name)) for name in ("u", "a", "kept"))
    assert all(torch.equal(getattr(own.support, name), getattr(reused.support, name)) for name in ("index", "valid"))
    with pytest.raises(ValueError, match="blocks must be int64 of shape"):
        kernel.solve_rows(P, Q, 3, 1e-10, 100, blocks=np.zeros((2, 2), dtype=np.int64))


def test_kernel_argsort_is_the_stable_sort():
    """The kernel's argsort (numpy's sort below RADIX_MIN values, a radix sort on the float
    bits above) gives numpy's stable order, ties in index order, on ties, signed zeros,
    infinities, negative and subnormal values, and values crowded within the resolution of
    the radix's top digits."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(13)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1.0, -1.0])
    for m in (1, 2, kernel.RADIX_MIN - 1, kernel.RADIX_MIN, 300, 2000):
        for values in (
            rng.standard_normal(m),
            np.round(rng.standard_normal(m), 1),
            rng.exponential(size=m) * 10.0 ** rng.integers(-300, 300, size=m),
            rng.choice(specials, size=m),
            np.full(m, 0.25),
            1.0 + rng.random(m) * 1e-5,  # runs sharing the radix's top digits: the insertion pass
            1.0 + rng.random(m) * 1e-12,  # all share them: too many moves, the full radix
        ):
            expected = np.argsort(values, kind="stable")
            assert np.array_equal(kernel._argsort(values), expected), m
            assert np.array_equal(kernel._radix_argsort(values), expected), m


def test_kernel_threads_do_not_change_the_result():
    from multidraft.fast import kernel

    rng = np.random.default_rng(9)
    P, Q = rng.dirichlet(np.full(50, 0.3), 9), rng.dirichlet(np.full(50, 0.3), 9)
    one, three = (kernel.solve_rows(P, Q, 3, 1e-10, 100, threads=t) for t in (1, 3))
    assert one.keys() == three.keys() and all(np.array_equal(one[name], three[name]) for name in one)


def _exact_piece_integral(g0, g1, r0, r1, k):
    """``int_0^1 G^k R dx`` for linear G, R in exact rational arithmetic (binomial expansion)."""
    from fractions import Fraction
    from math import comb

    if k < 0:
        return 0.0
    a, d, r, e = Fraction(g0), Fraction(g1) - Fraction(g0), Fraction(r0), Fraction(r1) - Fraction(r0)
    # (a + d x)^k (r + e x) = sum_j C(k, j) a^(k-j) d^j x^j (r + e x)
    total = sum(comb(k, j) * a ** (k - j) * d**j * (r / (j + 1) + e / (j + 2)) for j in range(k + 1))
    return float(total)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 16, 64])
def test_kernel_piece_integrals_are_exact(n):
    """The kernel's closed-form piece integrals (recurrences, maths.md section 5) equal the
    exact rational value to 1e-14 relative, on flat and sloped R, equal and very different G
    ends, zeros and tiny values, with and without the flat-R shortcut."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(n)
    ends = [(0.3, 0.3), (0.0, 1.0), (1.0, 0.0), (1e-300, 1.0), (0.999, 1.0), (0.0, 0.0), (1e-9, 2e-9)]
    ends += [tuple(rng.uniform(0, 1, 2)) for _ in range(20)]
    pieces = [
        (g0, g1, r0, r1) for g0, g1 in ends for r0, r1 in ((1.0, 1.0), (0.0, 0.4), (0.4, 0.9), (0.7, 0.2), (0.0, 0.0))
    ]
    want = np.array([[_exact_piece_integral(*piece, k) for piece in pieces] for k in (n - 2, n - 1, n)])
    G0, G1, R0, R1 = (np.array(column) for column in zip(*pieces))
    b = len(pieces)
    got = np.full((3, b), np.nan)
    kernel._piece_integrals(G0, G1, R0, R1, n, False, np.empty((5, b)), got)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    # flat (R constant on every piece: no reject competitor) takes the S recurrence alone
    level = R0 == R1
    flat = np.full((3, int(level.sum())), np.nan)
    kernel._piece_integrals(G0[level], G1[level], R0[level], R1[level], n, True, np.empty((5, b)), flat)
    np.testing.assert_allclose(flat, want[:, level], rtol=1e-14, atol=1e-300)


def test_kernel_race_matches_the_torch_race():
    """The kernel's induced law, potential and curvature (closed-form piece integrals) equal
    the torch race's (Gauss-Legendre nodes) on random races, with and without reject."""
    from multidraft.fast import kernel
    from multidraft.fast.race import Race, evaluate

    rng = np.random.default_rng(12)
    # m = 300: 602 pieces, blocks of PIECE_BLOCK and a partial last one
    for n, reject, m in (
        (1, True, 40),
        (2, True, 40),
        (3, False, 40),
        (7, True, 300),
        (16, False, 300),
        (4, True, 300),
    ):
        qs = rng.dirichlet(np.ones(m)) * 0.8
        u = rng.uniform(-1.3, 1.4, m)
        a, psi, _, C, _ = kernel._evaluate(u, qs, 0.2, reject, n)
        race = Race(
            torch.tensor(u)[None],
            torch.tensor(qs)[None],
            torch.tensor([0.2], dtype=torch.float64),
            n,
            torch.tensor([reject]),
        )
        ref = evaluate(race)
        np.testing.assert_allclose(a, ref.a[0].numpy(), rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(psi, float(ref.potential[0]), rtol=1e-12)
        assert C[-1] == pytest.approx(float(ref.curvature[0].sum()), rel=1e-12)


def test_kernel_hessian_product_matches_the_dense_hessian():
    from multidraft.fast import kernel

    rng = np.random.default_rng(8)
    for n, reject in ((2, True), (3, False), (5, True)):
        m = 60
        qs = rng.dirichlet(np.ones(m)) * 0.9
        u = np.sort(rng.uniform(-1.2, 1.5, m))[rng.permutation(m)]
        _, _, grid, C, _ = kernel._evaluate(u, qs, 0.1, reject, n)
        order, *arrays, diagonal = kernel._matvec_setup(qs, grid, C, n)
        assert not kernel._is_identity(order)  # the product works in utility order
        v, out = rng.normal(size=m), np.empty(m)
        kernel._matvec(v, out, np.empty((3, m + 1)), *arrays)
        H = kernel._dense_hessian(qs, grid, C, n)
        np.testing.assert_allclose(out, H[np.ix_(order, order)] @ v, rtol=0, atol=1e-13)
        np.testing.assert_allclose(diagonal, np.diag(H), rtol=0, atol=1e-15)


@pytest.mark.parametrize("compiled", [True, False])
def test_bad_drafts_name_the_argument(compiled):
    plan = global_resolution([0.5, 0.5], [0.4, 0.6], 2)
    plan.compiled_sampling = compiled
    batch = global_resolution(np.full((3, 2), 0.5), np.tile([0.4, 0.6], (3, 1)), 2)
    batch.compiled_sampling = compiled
    bad = [
        (plan, [0, 5]),
        (plan, [0, 1, 1]),
        (plan, [-1, 0]),
        (plan, [0.5, 1.0]),
        (plan, np.zeros((1, 1, 2), int)),
        (batch, np.zeros((2, 2), int)),
    ]
    for verifier, drafts in bad:
        for call in (verifier.conditional, verifier.sample):
            with pytest.raises(md.InvalidInputError, match="drafts:"):
                call(drafts)


@pytest.mark.parametrize("compiled", [True, False])
def test_one_tuple_serves_every_plan_row_and_one_plan_every_tuple(compiled):
    P, Q = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]), np.tile([0.4, 0.6], (3, 1))
    batch = global_resolution(P, Q, 2)
    batch.compiled_sampling = compiled
    tokens, accepted = batch.sample([1, 1], generator=torch.Generator().manual_seed(0))
    assert tokens.shape == accepted.shape == (3,) and tokens.dtype == torch.long and accepted.dtype == torch.bool
    single = global_resolution(P[1], Q[1], 2)
    single.compiled_sampling = compiled
    tokens, accepted = single.sample(np.ones((100, 2), dtype=np.int32), generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (100,) and set(tokens.tolist()) <= {0, 1}
    assert 0 < int(accepted.sum()) < 100  # q(1) = 0.6 > p(1) = 0.1: drafts of 1 are sometimes rejected


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(0)
    P, Q = rng.dirichlet(np.ones(50), 8), rng.dirichlet(np.ones(50), 8)
    cpu = global_resolution(P, Q, 4)
    gpu = global_resolution(P, Q, 4, device="cuda")
    torch.testing.assert_close(gpu.kept.cpu(), cpu.kept, atol=1e-10, rtol=0)
    drafts = rng.integers(0, 50, size=(8, 4))
    torch.testing.assert_close(gpu.conditional(drafts).cpu(), cpu.conditional(drafts), atol=1e-9, rtol=0)
    tokens, _ = gpu.sample(drafts, generator=torch.Generator(device="cuda").manual_seed(0))
    assert tokens.device.type == "cuda"


def test_alpha_star_and_cut_match_reference_on_padded_batches():
    """Rows with different draft-support sizes are padded; alpha* must not notice."""
    from multidraft.fast.support import draft_support

    rng = np.random.default_rng(9)
    for n in (1, 2, 5):
        P, Q = rng.dirichlet(np.full(9, 0.5), 20), rng.dirichlet(np.full(9, 0.5), 20)
        Q[rng.random(Q.shape) < 0.4] = 0.0
        Q[Q.sum(axis=1) == 0, 0] = 1.0
        Q /= Q.sum(axis=1, keepdims=True)
        support = draft_support(torch.tensor(P), torch.tensor(Q), n)
        ref = optimal_acceptance(P, Q, n)
        np.testing.assert_allclose(support.alpha_star.numpy(), ref.alpha_star, rtol=0, atol=1e-13)
        h_min = np.zeros_like(ref.h_min)
        rows = np.repeat(np.arange(20), support.index.shape[1])
        keep = (support.inner & support.valid).numpy().ravel()
        h_min[rows[keep], support.index.numpy().ravel()[keep]] = True
        np.testing.assert_array_equal(h_min, ref.h_min)


def test_backend_decides_the_sampling_path_too():
    """backend='torch' samples with the torch code, 'numba'/'auto' with the kernel (CPU, float64)."""
    p, q = np.array([0.45, 0.25, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    assert not global_resolution(p, q, 3, backend="torch").compiled_sampling
    assert global_resolution(p, q, 3, backend="numba").compiled_sampling
    assert global_resolution(p, q, 3).compiled_sampling
    assert not GlobalResolution(backend="torch").plan(p, q, 3).compiled_sampling


def test_verifier_interface_validates_once(monkeypatch):
    """GlobalResolution.sample / conditional check p, q and the drafts once, at the interface:
    the solve and the plan's sampler do not check them again."""
    import multidraft.fast.solver as solver

    def refuse(*args, **kwargs):
        raise AssertionError("validated twice")

    p, q = np.array([0.45, 0.25, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    monkeypatch.setattr(solver, "check_pair_tensors", refuse)
    monkeypatch.setattr(solver, "draft_id_rows", refuse)
    monkeypatch.setattr(solver, "draft_id_tensor", refuse)
    for backend in ("auto", "torch"):
        verifier = GlobalResolution(backend=backend)
        tokens = verifier.sample(p, q, np.array([[3, 2, 3]] * 5), generator=torch.Generator().manual_seed(0))
        assert tokens.shape == (5,)
        assert verifier.conditional(p, q, [3, 2, 3]).shape == (4,)


def test_verifier_cache_follows_the_values_of_a_refilled_buffer():
    """The cached plan is keyed on the laws' values: a buffer refilled in place is a new problem."""
    p, q = np.array([0.45, 0.25, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    verifier = GlobalResolution()
    first = verifier.plan(p, q, 2)
    assert verifier.plan(p, q, 2) is first
    p[:] = [0.1, 0.2, 0.3, 0.4]  # p = q now: always accept
    plan = verifier.plan(p, q, 2)
    assert plan is not first and float(plan.kept[0]) == pytest.approx(1.0, abs=1e-12)


def test_torch_drafts_are_checked_on_their_device(monkeypatch):
    """A torch plan checks torch drafts where they are, with no host copy (the numpy check
    is only the fallback that words the error)."""
    import multidraft.fast.solver as solver

    p, q = np.array([0.45, 0.25, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    plan = global_resolution(p, q, 3, backend="torch")
    expected = plan.conditional(np.array([3, 2, 3]))
    monkeypatch.setattr(solver, "draft_id_rows", lambda *a, **k: (_ for _ in ()).throw(AssertionError("host")))
    assert torch.equal(plan.conditional(torch.tensor([3, 2, 3])), expected)
    monkeypatch.undo()
    with pytest.raises(md.InvalidInputError, match="drafts"):
        plan.conditional(torch.tensor([3, 2, 4]))


def test_large_systems_start_from_the_lifted_grouped_fit():
    """Systems of >= kernel.LEVEL_MIN tokens start from the lifted fit of a grouped system
    (recursively): the groups are consecutive slots covering every slot once, narrow in ratio,
    heavy tokens alone; the lifted start is within a few tol and 4 times closer than the
    group utilities interpolated in the ratio; and the fit from the multilevel start
    converges to the same tolerance in fewer Newton iterations on the full system than from
    a common start, below the cap when there is one."""
    from multidraft.fast import kernel
    from multidraft.workloads import llm_like_batch

    V, n = 6000, 2
    w = llm_like_batch(1, V, correlation=0.9, top_k=None, seed=3)
    plan = global_resolution(w.target, w.draft, n)
    assert bool(plan.status.success[0]) and float(plan.status.gap[0]) <= 1e-9
    assert int(plan.support.valid.sum()) == V
    inner = plan.support.inner[0] & (plan.support.p[0] > 0)
    m = int(inner.sum())
    assert m >= kernel.LEVEL_MIN * kernel.LEVEL_FACTOR  # at least two levels
    qs, ts = plan.support.q[0][inner].numpy(), plan.support.p[0][inner].numpy()
    groups = m // kernel.LEVEL_FACTOR
    edges = kernel._group_edges(qs, ts / qs, groups, kernel.GROUP_RATIO_SPREAD, kernel.HEAVY_SHARE)
    assert edges[0] == 0 and edges[-1] == m and np.all(np.diff(edges) >= 1)
    assert groups <= len(edges) - 1 <= m // kernel.GROUPS_AT_MOST
    ratio = ts / qs
    heavy = qs >= kernel.HEAVY_SHARE * qs.sum() / groups
    assert heavy.any()
    for lo, hi in zip(edges[:-1], edges[1:]):  # narrow in ratio and light, unless one token
        assert hi - lo == 1 or ratio[hi - 1] <= ratio[lo] * (1 + kernel.GROUP_RATIO_SPREAD)
        assert hi - lo == 1 or not heavy[lo:hi].any()
    plain = kernel._group_edges(qs, ts / qs, groups, np.inf, np.inf)  # the fallback: mass and count cuts
    assert groups <= len(plain) - 1 < len(edges) - 1
    base = float(plan.support.q_inner[0]) - qs.sum()
    u0 = kernel._inner_start(1.0 - float(plan.alpha_star[0]), qs.sum(), n)
    tol = 1e-9 / 4
    # the lift (phi of the grouped race inverted) starts within a few tol: measured 3.4e-10,
    # against 2.6e-9 for the group utilities interpolated linearly in the ratio
    gq, gt = np.add.reduceat(qs, edges[:-1]), np.add.reduceat(ts, edges[:-1])
    coarse = kernel._fit_system(gq, base, n, True, gt, u0, np.inf, kernel.COARSE_TOL, 100)
    lifted = kernel._lift(ts / qs, coarse[0], coarse[5], coarse[6], n, True, np.inf)

    def start_loss(u):
        return np.abs(kernel._evaluate(u, qs, base, True, n)[0] - ts).sum()

    assert start_loss(lifted) <= min(4 * tol, start_loss(np.interp(ts / qs, gt / gq, coarse[0])) / 4)
    plain = kernel._fit_from(qs, base, n, True, ts, np.full(m, u0), np.inf, tol, 100)
    warm = kernel._fit_system(qs, base, n, True, ts, u0, np.inf, tol, 100)
    assert warm[2] <= tol and plain[2] <= tol and warm[3] < plain[3]
    np.testing.assert_allclose(warm[1], plain[1], atol=1e-9)  # the same optimum's law
    capped = kernel._fit_system(qs, base, n, True, ts, min(u0, 0.0), 0.0, tol, 100)
    assert capped[0].max() <= 0.0


def _adversarial_laws(V, shape, seed):
    """(p, q) of V tokens from Dirichlet(1/2) laws made hard for the multilevel start: ``ties``
    (p a multiple of q on blocks of 10 tokens: tied ratios), ``zeros`` (p = 0 on a third),
    ``tiny`` (1e-30 on a third of each law), ``equal`` (p = q but on 5 tokens), ``heavy`` (a
    token of half the mass in each law) or ``mixed`` (all of them, in that order)."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.full(V, 0.5))
    p = rng.dirichlet(np.full(V, 0.5))
    for step in ("ties", "zeros", "tiny", "equal", "heavy") if shape == "mixed" else (shape,):
        if step == "ties":
            p = q * np.repeat(rng.uniform(0.2, 3.0, V // 10 + 1), 10)[:V]
        elif step == "zeros":
            p[rng.choice(V, V // 3, replace=False)] = 0.0
        elif step == "tiny":
            p[rng.choice(V, V // 3, replace=False)] = 1e-30
            q[rng.choice(V, V // 3, replace=False)] = 1e-30
        elif step == "equal":
            p = q.copy()
            moved = rng.choice(V, 5, replace=False)
            p[moved] *= rng.uniform(0.5, 2.0, 5)
        else:
            q[rng.integers(V)] += q.sum()
            p[rng.integers(V)] += p.sum()
        p, q = p / p.sum(), q / q.sum()
    return p, q


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    V=st.integers(80, 140),
    shape=st.sampled_from(["ties", "zeros", "tiny", "equal", "heavy", "mixed"]),
    seed=st.integers(0, 2**16),
)
def test_multilevel_start_stays_exact_on_adversarial_laws(V, shape, seed):
    """Systems of >= kernel.LEVEL_MIN tokens start from the grouped fit (heavy tokens alone,
    the inverse lift); on adversarial laws of 80-140 tokens (:func:`_adversarial_laws`) the
    compiled plan is exactly lossless by enumeration of all V^2 draft pairs, within tol of
    alpha*, and every system ends within its tol."""
    p, q = _adversarial_laws(V, shape, seed)
    ev, plan = exact_evaluation(p, q, 2, "numba")
    assert ev.tv <= EXACT and ev.validity_error <= EXACT, ev.summary()
    assert ev.alpha_star - plan.kept.item() <= OPTIMAL and bool(plan.status.success[0]), plan.status
    assert ev.acceptance <= ev.alpha_star + 1e-12


def test_adversarial_laws_reach_the_multilevel_start():
    """The laws of the test above do give systems of at least kernel.LEVEL_MIN tokens."""
    from multidraft.fast import kernel

    for shape in ("ties", "tiny", "equal", "heavy", "mixed"):
        p, q = _adversarial_laws(110, shape, 0)
        plan = global_resolution(p, q, 2)
        inner = int((plan.support.inner[0] & (plan.support.p[0] > 0)).sum())
        outer = int((plan.support.valid[0] & ~plan.support.inner[0]).sum())
        assert max(inner, outer) >= kernel.LEVEL_MIN, shape


def _race_law_reference(u, qs, base, reject, n):
    """``F(y) = int_(bp_0)^y G^(n-1) R`` and ``g(y) = G(y)^(n-1) R(y)`` of a race, by numpy
    from the definitions: G(y) = base + sum_j q_j clip(y - u_j, 0, 1), R(y) = clip(y, 0, 1)
    with a reject competitor and 1 without, and F by 12-point Gauss-Legendre on every piece
    between sorted breakpoints {u, u + 1, 0, 1} (exact: the integrand is a polynomial of
    degree n <= 23 there)."""
    bp = np.sort(np.concatenate([u, u + 1.0, [0.0, 1.0]]))
    nodes, weights = np.polynomial.legendre.leggauss(12)

    def g(y):
        y = np.asarray(y, dtype=float)
        G = base + (qs * np.clip(y[..., None] - u, 0.0, 1.0)).sum(-1)
        R = np.clip(y, 0.0, 1.0) if reject else np.ones_like(y)
        return G ** (n - 1) * R

    def integral(lo, hi):  # exact on [lo, hi] inside one piece
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        return half * (weights * g(mid[:, None] + half[:, None] * nodes)).sum(-1)

    law = np.concatenate([[0.0], np.cumsum(integral(bp[:-1], bp[1:]))])

    def F(y):
        j = np.clip(np.searchsorted(bp, y, side="right") - 1, 0, bp.size - 2)
        return law[j] + integral(bp[j], np.minimum(y, bp[-1]))

    return F, g, bp


@pytest.mark.parametrize("n, reject", [(1, True), (2, True), (2, False), (5, True), (16, False)])
def test_law_at_integrates_the_race_exactly(n, reject):
    """``kernel._law_at`` gives F and g of the race at sorted points, on breakpoints and
    between them, against the definitions integrated by numpy (1e-12 relative)."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(40 + n)
    m = 50
    qs = rng.dirichlet(np.ones(m)) * 0.7
    u = rng.uniform(-1.3, 0.9, m)
    _, _, grid, _, law = kernel._evaluate(u, qs, 0.1, reject, n)
    F, g, bp = _race_law_reference(u, qs, 0.1, reject, n)
    y = np.sort(np.concatenate([rng.uniform(bp[0], bp[-1], 300), bp[::3], [bp[0], bp[-1]]]))
    got_F, got_g = kernel._law_at(y, grid, law, n, reject)
    np.testing.assert_allclose(got_F, F(y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_g, g(y), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n, reject", [(2, True), (2, False), (4, True), (16, True)])
def test_lift_inverts_the_grouped_race(n, reject):
    """``kernel._lift`` starts each token where the grouped race gives it its own ratio of
    law per draft mass, ``f(u_i) = x_i`` with ``f(v) = n (F(v + 1) - F(v))`` (F by numpy,
    :func:`_race_law_reference`): exactly (1e-12) at the group utilities, to a median 1e-6
    relative between them (a cubic Hermite inverse per piece; on these 40 wide groups at most
    5e-3 where f is above 1% of its top, worse only next to the reject barrier, where f' -> 0),
    held at the groups' lowest and highest utility outside f's range over them. The result is
    non-decreasing, finite and below the cap, also for one group, tied ratios, ratios out of
    order by an ulp and a cap below the highest group utility."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(60 + n)
    G = 40
    gq = rng.dirichlet(np.ones(G)) * 0.8
    gu = np.sort(rng.uniform(-1.5, 0.5, G))
    _, _, grid, _, law = kernel._evaluate(gu, gq, 0.1, reject, n)
    F, _, _ = _race_law_reference(gu, gq, 0.1, reject, n)

    def f(v):
        return n * (F(v + 1.0) - F(v))

    low, high = f(np.array([gu[0]]))[0], f(np.array([gu[-1]]))[0]
    ties = np.full(5, (low + high) / 2)
    x = np.sort(np.concatenate([rng.uniform(low, high, 2000), [low, high, low / 2, 2 * high], ties]))
    lifted = kernel._lift(x, gu, grid, law, n, reject, np.inf)
    assert np.all(np.isfinite(lifted)) and np.all(np.diff(lifted) >= 0)
    assert lifted.min() >= gu[0] and lifted.max() <= gu[-1]
    inside = (x > low) & (x < high)
    error = np.abs(f(lifted[inside]) / x[inside] - 1.0)
    assert np.median(error) <= 1e-6 and error[x[inside] >= 0.01 * high].max() <= 5e-3
    knots = gu[(gu > gu[0]) & (gu < gu[-1]) & (gu > -0.95)]  # f' > 0 there
    np.testing.assert_allclose(kernel._lift(f(knots), gu, grid, law, n, reject, np.inf), knots, rtol=0, atol=1e-12)
    assert np.all(lifted[x <= low] == gu[0]) and np.all(lifted[x >= high] == gu[-1])
    capped = kernel._lift(x, gu, grid, law, n, reject, gu[-2])
    np.testing.assert_array_equal(capped, np.minimum(lifted, gu[-2]))
    wobbly = x.copy()
    wobbly[1::2] = np.nextafter(wobbly[1::2], 0.0)  # rounding: out of order by an ulp
    assert np.all(np.isfinite(kernel._lift(wobbly, gu, grid, law, n, reject, np.inf)))
    one = kernel._evaluate(gu[:1], gq[:1], 0.1, reject, n)
    assert np.all(kernel._lift(x, gu[:1], one[2], one[4], n, reject, np.inf) == gu[0])


def test_loss_carriers_leave_at_most_keep_to_the_others():
    """The carriers are every slot with |g| at or above a power of two theta, the others
    sum to at most ``keep`` and adding the next band would exceed it; too many -> none."""
    from multidraft.fast import kernel

    rng = np.random.default_rng(11)
    g = rng.standard_normal(1000) * 10.0 ** rng.uniform(-16, -6, 1000)
    g[[3, 500, 999]] = [2e-3, -5e-4, 1e-3]  # three heavy carriers
    g[10:20] = 0.0
    keep = 1e-7
    S = kernel._loss_carriers(g, keep)
    assert S.size > 0 and np.all(np.diff(S) > 0) and {3, 500, 999} <= set(S.tolist())
    others = np.setdiff1d(np.arange(1000), S)
    assert np.abs(g[others]).sum() <= keep
    theta = np.abs(g[S]).min()
    assert np.abs(g[others]).max(initial=0.0) < theta
    assert np.abs(g[others]).sum() + np.abs(g[S][np.abs(g[S]) < 2 * theta]).sum() > keep or S.size == 3
    assert kernel._loss_carriers(np.full(1000, 1e-3), keep).size == 0  # spread loss: a full step


def test_carrier_step_is_the_newton_step_of_the_principal_block():
    """The carrier step solves (H_SS + Lambda) d_S = -g_S with the full race's Hessian block
    (dense, race.py's formula) and is zero off S; from a start off the optimum on a few
    tokens only, the fit reaches tol in one (carrier) iteration."""
    from multidraft.fast import kernel
    from multidraft.workloads import llm_like_batch

    V, n = 600, 2
    w = llm_like_batch(1, V, correlation=0.9, top_k=None, seed=3)
    plan = global_resolution(w.target, w.draft, n, tol=1e-12)
    inner = plan.support.inner[0] & (plan.support.p[0] > 0)
    qs, ts = plan.support.q[0][inner].numpy(), plan.support.p[0][inner].numpy()
    m = qs.size
    assert m >= kernel.CARRIER_MIN
    base = float(plan.support.q_inner[0]) - qs.sum()
    u = plan.u[0][inner].numpy().copy()
    moved = np.array([0, m // 2, m - 1])
    u[moved] += 1e-4
    a, _, grid, C, _ = kernel._evaluate(u, qs, base, True, n)
    g = a - ts
    S = kernel._loss_carriers(g, 1e-12)
    assert 0 < S.size <= kernel.CARRIER_MAX_SHARE * m and set(moved) <= set(S.tolist())
    step, diag = kernel._carrier_step(qs, n, g, u, grid, C, np.abs(g).sum(), 1e-12, S)
    H = kernel._dense_hessian(qs, grid, C, n)[np.ix_(S, S)]
    H[np.diag_indices_from(H)] += kernel._damping(np.abs(np.diag(kernel._dense_hessian(qs, grid, C, n))))[S]
    np.testing.assert_allclose(step[S], np.linalg.solve(H, -g[S]), rtol=1e-6, atol=1e-12)
    off = np.setdiff1d(np.arange(m), S)
    assert np.all(step[off] == 0.0) and np.all(diag[off] == 0.0)
    tol = 1e-10
    fit = kernel._fit_from(qs, base, n, True, ts, u.copy(), np.inf, tol, 100)
    loss, iterations, carrier_steps = fit[2:5]
    assert loss <= tol and iterations == carrier_steps == 1


def test_carrier_steps_follow_each_other_while_they_halve_the_loss():
    """From a start far off the optimum on four tokens, every iteration is a carrier step
    (each cut the loss to at most CARRIER_PROGRESS of what it was, so no full step is needed
    between them) and the fit ends within tol at the full fit's law."""
    from multidraft.fast import kernel
    from multidraft.workloads import llm_like_batch

    w = llm_like_batch(1, 600, correlation=0.9, top_k=None, seed=3)
    plan = global_resolution(w.target, w.draft, 2, tol=1e-12)
    inner = plan.support.inner[0] & (plan.support.p[0] > 0)
    qs, ts = plan.support.q[0][inner].numpy(), plan.support.p[0][inner].numpy()
    m = qs.size
    base = float(plan.support.q_inner[0]) - qs.sum()
    u = plan.u[0][inner].numpy().copy()
    u[[0, m // 3, m // 2, m - 1]] += 0.1
    tol = 1e-10
    _, a, loss, iterations, carrier_steps = kernel._fit_from(qs, base, 2, True, ts, u, np.inf, tol, 100)[:5]
    assert loss <= tol and iterations >= 2 and carrier_steps == iterations
    np.testing.assert_allclose(a, plan.a[0][inner].numpy(), rtol=0, atol=2 * tol)


def test_a_carrier_step_that_does_not_cut_the_loss_costs_one_evaluation():
    """A carrier step is tried at full length only (kernel.CARRIER_TRIALS = 1). On this row
    (V = 128,256, k = 10,000, n = 16, inner system) one carrier step fails; with the 40
    halvings of a full step's line search the fit made 33 exact evaluations of the 10,000-token
    race, now one per iteration plus the start's, and it ends within tol as before."""
    from multidraft.fast import kernel
    from multidraft.workloads import llm_like_batch

    n, tol = 16, 2.5e-10
    w = llm_like_batch(8, 128256, correlation=0.9, top_k=10000, seed=0)
    plan = global_resolution(w.target[4], w.draft[4], n)
    inner = plan.support.inner[0] & (plan.support.p[0] > 0)
    qs, ts = plan.support.q[0][inner].numpy(), plan.support.p[0][inner].numpy()
    base = float(plan.support.q_inner[0]) - qs.sum()
    u0 = kernel._inner_start(1.0 - float(plan.alpha_star[0]), qs.sum(), n)
    fit = kernel._fit_system(qs, base, n, True, ts, u0, np.inf, tol, 100)
    loss, iterations, carrier_steps, evaluations = fit[2], fit[3], fit[4], fit[7]
    assert loss <= tol and carrier_steps >= 1
    assert evaluations == iterations + 1


def test_compiled_plan_converts_its_parts_only_when_read():
    """A plan of the compiled kernel keeps the kernel's numpy arrays; sampling reads them
    without making tensors; a member read becomes a tensor sharing the array's memory."""
    rng = np.random.default_rng(5)
    P, Q = rng.dirichlet(np.ones(30), 2), rng.dirichlet(np.ones(30), 2)
    plan = global_resolution(P, Q, 2)
    plan.sample(np.array([[0, 1], [2, 3]]), generator=torch.Generator().manual_seed(0))
    assert all(isinstance(value, np.ndarray) for value in plan._members.values())
    array = plan._members["u"]
    assert isinstance(plan.u, torch.Tensor) and np.shares_memory(plan.u.numpy(), array)
    assert plan.status.success.all() and torch.equal(plan.support.alpha_star, plan.alpha_star)
