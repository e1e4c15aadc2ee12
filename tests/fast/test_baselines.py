"""Classic baselines: exactly lossless by exact enumeration, acceptance formulas, sampling.

Exactness claims are float64 and checked to 1e-12 with :func:`multidraft.evaluate`.
Statistical tests use a false-alarm rate of 1e-6 each (about 50 tests here, so a false
alarm somewhere has probability < 1e-4), with fixed seeds (so they are deterministic).
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import multidraft as md
from multidraft.bench.baseline_table import baseline_table
from multidraft.fast import BASELINES, GreedyDrafting, RecursiveRejection
from multidraft.fast.baselines import KSEQ_SLACK, kseq_rho
from multidraft.properties.strategies import problem_tuples
from multidraft.reference import optimal_acceptance_for
from multidraft.validation import InvalidInputError

EXACT = 1e-12
TOL_RHO = Fraction(1, 10**12)  # the bisection tolerance of kseq_rho
ALARM = 1e-6  # false-alarm rate of each statistical test
NAMES = list(BASELINES)
NEEDS_SUPPORT = {"rrs_without_replacement", "greedy"}  # need >= n tokens with q > 0


def problems(max_vocab=6, max_n=4):
    """(p, q, n) from the shipped strategies (zeros, one-hot, p = q, disjoint, ties, tiny masses)."""
    return problem_tuples(n=(1, max_n), vocab=(1, max_vocab))


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / x.sum() if x.sum() > 0 else np.full(len(x), 1.0 / len(x))


def make_problem(V: int, seed: int, conc: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(p, q) over V tokens: Dirichlet(conc) laws modified by ``kind`` (plain, zeros_p, zeros_q,
    one_hot_p, one_hot_q, equal, disjoint, ties, tiny, quantised): fixed cases for the compiled sampler."""
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.full(V, conc)), rng.dirichlet(np.full(V, conc))
    if kind == "zeros_p":
        p[rng.random(V) < 0.4] = 0.0
    elif kind == "zeros_q":
        q[rng.random(V) < 0.4] = 0.0
    elif kind == "one_hot_p":
        p = np.eye(V)[rng.integers(V)]
    elif kind == "one_hot_q":
        q = np.eye(V)[rng.integers(V)]
    elif kind == "equal":
        q = p.copy()
    elif kind == "disjoint" and V >= 2:
        cut = rng.integers(1, V)
        p[cut:], q[:cut] = 0.0, 0.0
    elif kind == "ties":
        q = p * rng.choice([0.5, 1.0, 2.0], size=V)  # many equal ratios p/q
    elif kind == "tiny":
        p[rng.integers(V)] = 1e-30
        q[rng.integers(V)] = 1e-30
    elif kind == "quantised":  # coarse grid: exact ties
        p, q = np.round(p * 4), np.round(q * 4)
    return _normalise(p), _normalise(q)


def _fit_n(name: str, q: np.ndarray, n: int) -> int:
    return min(n, int(np.count_nonzero(q))) if name in NEEDS_SUPPORT else n


# ------------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_lossless_and_acceptance_formula(name, problem):
    p, q, n = problem
    verifier = BASELINES[name]
    n = _fit_n(name, q, n)
    law = verifier.law(q, n)
    ev = md.evaluate(verifier, p, q, n, drafting=law, alpha_star=optimal_acceptance_for(p, law))
    assert ev.tv <= EXACT, ev.summary()
    assert ev.validity_error <= EXACT, ev.summary()
    assert ev.acceptance <= ev.alpha_star + EXACT, ev.summary()
    assert abs(float(verifier.acceptance(p, q, n)) - ev.acceptance) <= EXACT, ev.summary()
    if name == "greedy":  # optimal for its own drafting law
        assert abs(ev.gap) <= EXACT, ev.summary()
    if name in ("single_draft", "rrs", "kseq", "canonical", "rrs_without_replacement", "greedy") and n == 1:
        assert abs(ev.acceptance - np.minimum(p, q).sum()) <= EXACT  # all reduce to 1 - TV


@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_kseq_within_1_minus_1_over_e_of_optimal(problem):
    p, q, n = problem
    ev = md.evaluate(BASELINES["kseq"], p, q, n, alpha_star=optimal_acceptance_for(p, md.IID(q, n)))
    assert ev.acceptance >= (1 - math.exp(-1)) * ev.alpha_star - EXACT, ev.summary()


def _kseq_exact(p, q, n, rho):
    """``(g, A)`` of K-SEQ in exact rational arithmetic: ``A = 1 - miss^n``, ``g = rho beta - A``."""
    scaled = [pi / rho for pi in p]
    beta = sum(min(qi, si) for qi, si in zip(q, scaled))
    miss = sum(max(qi - si, 0) for qi, si in zip(q, scaled))
    return rho * beta - (1 - miss**n), 1 - miss**n


def _kseq_exact_root(p, q, n, bits=56):
    """Smallest rho in [1, n] with exact g(rho) >= 0, by exact bisection (bracket (n-1) 2^-bits)."""
    lo, hi = Fraction(1), Fraction(n)
    if _kseq_exact(p, q, n, lo)[0] >= 0:
        return lo
    for _ in range(bits):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _kseq_exact(p, q, n, mid)[0] >= 0 else (mid, hi)
    return hi


@settings(max_examples=80, deadline=None)
@given(problem=problems())
def test_kseq_rho_matches_the_exact_root(problem):
    """rho from float bisection against rho* in exact arithmetic (the float inputs as rationals).

    Where g is not flat at its root, |rho - rho*| <= 1e-12. Everywhere: rho <= rho* + 1e-12,
    g(rho) >= -KSEQ_SLACK exactly, and the acceptance A(rho) is within 1e-13 above /
    n 1e-12 below A(rho*) (A decreases in rho; rho beta(rho) increases).
    """
    p, q, n = problem
    rho = float(kseq_rho(torch.tensor(p)[None], torch.tensor(q)[None], n)[0])
    P, Q, R = [Fraction(float(x)) for x in p], [Fraction(float(x)) for x in q], Fraction(rho)
    root = _kseq_exact_root(P, Q, n)
    bracket = Fraction(n, 2**56)
    assert 1.0 <= rho <= n
    assert R <= root + TOL_RHO + bracket, (rho, float(root))
    g_rho, a_rho = _kseq_exact(P, Q, n, R)
    assert g_rho >= -KSEQ_SLACK - 1e-15, float(g_rho)
    gap = float(a_rho - _kseq_exact(P, Q, n, root)[1])
    assert -n * 1e-12 - 1e-15 <= gap <= KSEQ_SLACK + 1e-15, gap
    if _kseq_exact(P, Q, n, root - TOL_RHO - bracket)[0] < -KSEQ_SLACK - 1e-15:  # g not flat at its root
        assert abs(R - root) <= TOL_RHO + bracket, (rho, float(root))


def test_kseq_rho_well_conditioned_example():
    """A hand-checkable root: p = (1, 0), q = (0.6, 0.4), n = 2: for rho <= 5/3 beta = min(0.6, 1/rho) = 0.6,
    so 1 - (1 - beta)^2 = rho beta gives rho* = 0.84 / 0.6 = 1.4 (A = 0.84; a residual draw is token 0,
    never a rejected draft, so the acceptance is A)."""
    rho = float(
        kseq_rho(torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([[0.6, 0.4]], dtype=torch.float64), 2)[0]
    )
    assert abs(rho - 1.4) <= 1e-12
    assert abs(float(BASELINES["kseq"].acceptance([1.0, 0.0], [0.6, 0.4], 2)) - 0.84) <= 1e-12


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(problem=problems(), data=st.data())
def test_relabel_equivariant(name, problem, data):
    """Relabelling the tokens relabels the output law (also where rho* is ill-conditioned, p = q)."""
    p, q, n = problem
    n = _fit_n(name, q, n)
    verifier = BASELINES[name]
    perm = np.array(data.draw(st.permutations(range(len(p)))))
    inverse = np.argsort(perm)
    x = verifier.law(q, n).sample(1, np.random.default_rng(data.draw(st.integers(0, 99))))[0]
    if name == "greedy":  # the fixed top tokens must stay the top tokens: no ties in q
        if len(np.unique(q)) < len(q):
            return
    original = verifier.conditional(p, q, x).numpy()
    relabelled = verifier.conditional(p[perm], q[perm], inverse[x]).numpy()
    assert np.abs(relabelled - original[perm]).max() <= 1e-9


def test_rrs_duplicate_skipping_bug_is_biased():
    """The known public bug: skipping a duplicate draft without its residual update."""

    class SkipDuplicates(RecursiveRejection):
        def _walk(self, p, q, drafts, state, *, sample=False, generator=None):
            out, alive, r = torch.zeros_like(p), torch.ones(p.shape[0], 1, dtype=p.dtype), p
            for b in range(p.shape[0]):
                seen, rb = set(), r[b : b + 1]
                for x in drafts[b].tolist():
                    if x in seen:
                        continue
                    seen.add(x)
                    a = float(rb[0, x] / q[b, x]) if q[b, x] > 0 else 1.0
                    a = min(a, 1.0)
                    out[b, x] += alive[b, 0] * a
                    alive[b, 0] *= 1 - a
                    rb = (rb - q[b : b + 1]).clamp(min=0)
                    rb = rb / rb.sum() if rb.sum() > 0 else r[b : b + 1]
                out[b] += alive[b, 0] * rb[0]
            return out

    p, q = np.array([0.4, 0.35, 0.25]), np.array([0.5, 0.3, 0.2])  # TV of the bug: 0.0075
    assert md.evaluate(SkipDuplicates(), p, q, 3).tv > 1e-3
    assert md.evaluate(BASELINES["rrs"], p, q, 3).tv <= EXACT


# ------------------------------------------------------------------------------ shapes, batching, seeds
def _batch(name, B=5, V=6, n=3, seed=0):
    rng = np.random.default_rng(seed)
    P, Q = rng.dirichlet(np.ones(V), size=B), rng.dirichlet(np.full(V, 0.5), size=B)
    Q[0, :2] = 0.0
    Q[0] /= Q[0].sum()
    drafts = np.stack([BASELINES[name].law(Q[b], n).sample(1, rng)[0] for b in range(B)])
    return P, Q, drafts


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_unbatched(name):
    verifier = BASELINES[name]
    P, Q, X = _batch(name)
    batched = verifier.conditional(torch.tensor(P), torch.tensor(Q), torch.tensor(X))
    assert batched.shape == P.shape and batched.dtype == torch.float64
    for b in range(len(P)):
        single = verifier.conditional(P[b], Q[b], X[b])
        assert single.shape == (P.shape[1],)
        assert torch.allclose(batched[b], single, atol=EXACT, rtol=0)
        many = verifier.conditional(P[b], Q[b], np.stack([X[b], X[b]]))  # unbatched laws, drafts (M, n)
        assert many.shape == (2, P.shape[1]) and torch.allclose(many[1], single, atol=EXACT, rtol=0)
    acc = verifier.acceptance(P, Q, X.shape[1])
    assert acc.shape == (len(P),)
    for b in range(len(P)):
        assert abs(float(acc[b]) - float(verifier.acceptance(P[b], Q[b], X.shape[1]))) <= EXACT


@pytest.mark.parametrize("name", NAMES)
def test_sample_shapes_and_seeds(name):
    verifier = BASELINES[name]
    P, Q, X = _batch(name)
    one = verifier.sample(P[0], Q[0], X[0], torch.Generator().manual_seed(1))
    assert one.shape == () and one.dtype == torch.long
    tokens, accepted = verifier.sample(P, Q, X, torch.Generator().manual_seed(3), return_accepted=True)
    assert tokens.shape == accepted.shape == (len(P),) and accepted.dtype == torch.bool
    assert torch.equal(accepted, (torch.tensor(X) == tokens[:, None]).any(1))
    draws = [verifier.sample(P[0], Q[0], np.repeat(X[:1], 200, 0), torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])


# ------------------------------------------------------------------------------ statistics
def _g_test(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of the G-test of ``counts`` against ``probs``; 0 if a zero-probability cell is hit."""
    if counts[probs <= 0].sum() > 0:
        return 0.0
    keep = probs > 0
    if keep.sum() <= 1:
        return 1.0
    obs, exp = counts[keep], probs[keep] * counts.sum()
    g = 2.0 * np.sum(np.where(obs > 0, obs * np.log(np.where(obs > 0, obs, 1.0) / exp), 0.0))
    return float(stats.chi2.sf(g, keep.sum() - 1))


P_STAT = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
Q_STAT = np.array([0.1, 0.4, 0.25, 0.05, 0.2])
N_STAT = 3


@pytest.mark.parametrize("name", NAMES)
def test_sample_agrees_with_conditional(name):
    """G-test of 20000 samples per draft tuple against the exact conditional law."""
    verifier = BASELINES[name]
    law = verifier.law(Q_STAT, N_STAT)
    tuples = law.sample(3, np.random.default_rng(0))
    if name != "rrs_without_replacement" and name != "greedy":
        tuples = np.vstack([tuples, [1, 1, 4], [3, 1, 1]])  # duplicates
    gen = torch.Generator().manual_seed(11)
    for x in tuples:
        probs = verifier.conditional(P_STAT, Q_STAT, x).numpy()
        tokens = verifier.sample(P_STAT, Q_STAT, np.repeat(x[None], 20000, 0), gen).numpy()
        pval = _g_test(np.bincount(tokens, minlength=len(P_STAT)).astype(float), probs)
        assert pval > ALARM, (name, x, pval)


@pytest.mark.parametrize("name", NAMES)
def test_sampled_marginal_and_acceptance(name):
    """Drafts from the law, one sample each: output ~ p (G-test) and acceptance rate (binomial)."""
    verifier = BASELINES[name]
    N = 40000
    drafts = verifier.law(Q_STAT, N_STAT).sample(N, np.random.default_rng(5))
    tokens, accepted = verifier.sample(P_STAT, Q_STAT, drafts, torch.Generator().manual_seed(5), return_accepted=True)
    assert _g_test(np.bincount(tokens.numpy(), minlength=len(P_STAT)).astype(float), P_STAT) > ALARM
    acc = float(verifier.acceptance(P_STAT, Q_STAT, N_STAT))
    assert stats.binomtest(int(accepted.sum()), N, acc).pvalue > ALARM


# ------------------------------------------------------------------------------ bad inputs, registry, drafting law
GOOD_P, GOOD_Q, GOOD_X = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5]), np.array([0, 2])
BAD = {
    "nan": (np.array([np.nan, 0.5, 0.5]), GOOD_Q, GOOD_X, "target"),
    "negative": (GOOD_P, np.array([-0.1, 0.6, 0.5]), GOOD_X, "draft"),
    "unnormalised": (np.array([0.5, 0.3, 0.3]), GOOD_Q, GOOD_X, "target"),
    "vocab mismatch": (GOOD_P, np.array([0.5, 0.5]), GOOD_X, "draft"),
    "token out of range": (GOOD_P, GOOD_Q, np.array([0, 3]), "drafts"),
    "negative token": (GOOD_P, GOOD_Q, np.array([-1, 0]), "drafts"),
    "fractional token": (GOOD_P, GOOD_Q, np.array([0.5, 1.0]), "drafts"),
    "batch mismatch": (np.stack([GOOD_P] * 2), np.stack([GOOD_Q] * 2), np.array([[0, 1]] * 3), "drafts"),
    "3-d drafts": (GOOD_P, GOOD_Q, np.zeros((1, 1, 2), dtype=int), "drafts"),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs_raise(name, case):
    p, q, x, arg = BAD[case]
    verifier = BASELINES[name]
    for call in (verifier.conditional, verifier.sample):
        with pytest.raises(InvalidInputError, match=arg):
            call(p, q, x)
    with pytest.raises(InvalidInputError):
        verifier.conditional(torch.tensor(p), torch.tensor(q), torch.tensor(x))
    if arg != "drafts":
        with pytest.raises(InvalidInputError, match=arg):
            verifier.acceptance(p, q, 2)


def test_registry_and_exports():
    import multidraft.fast as fast

    for name in NAMES:
        assert name in md.list_verifiers()
        v = md.get_verifier(name)
        assert v.name == name and getattr(fast, name).name == name and v.batched


def test_greedy_drafting_law():
    q = np.array([0.1, 0.3, 0.3, 0.2, 0.1])
    law = GreedyDrafting(q, 3)
    drafts, probs = law.tuples()
    assert np.array_equal(drafts[:, :2], np.broadcast_to([1, 2], (3, 2)))  # ties to the lower id
    assert np.allclose(probs, [0.25, 0.5, 0.25]) and set(drafts[:, 2]) == {0, 3, 4}
    sampled = law.sample(1000, np.random.default_rng(0))
    assert np.all(sampled[:, :2] == [1, 2]) and set(sampled[:, 2]) <= {0, 3, 4}
    with pytest.raises(InvalidInputError, match="draft"):
        GreedyDrafting(np.array([0.5, 0.5, 0.0]), 3)


def test_baseline_table_small():
    rows = baseline_table([("small", {"vocab_size": 50, "seed": 0})], ns=(2,), top_k=5)
    (row,) = rows
    assert row["alpha*"] >= max(row[name] for name in NAMES if name not in NEEDS_SUPPORT) - EXACT
    assert row["kseq"] >= row["(1-1/e) alpha*"]
    assert abs(row["greedy"] - row["alpha* greedy"]) <= 1e-9
    assert row["rrs_without_replacement"] <= row["alpha* w/o repl."] + EXACT


# ------------------------------------------------------------------------------ the compiled samplers
CHAIN_NAMES = [name for name in NAMES if name != "canonical"]


def _sparse_problem(V=3000, k=20, seed=2):
    """An LLM-like pair over V tokens with the draft cut to k tokens scattered over the vocabulary."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(V, 0.05))
    q = np.zeros(V)
    support = rng.choice(V, size=k, replace=False)
    q[support] = rng.dirichlet(np.ones(k))
    return p, q


@pytest.mark.parametrize("name", NAMES)
def test_compiled_sampler_follows_the_exact_law(name):
    """The compiled samplers (CPU float64, on the draft support only) against the exact
    conditional law: zero conventions (drafts outside the support, p = 0, p = q, disjoint
    supports) and a sparse support in a larger vocabulary (runs of the final draw)."""
    gen = torch.Generator().manual_seed(13)
    cases = [
        make_problem(5, seed, 0.5, kind)
        for seed, kind in enumerate(["zeros_q", "zeros_p", "equal", "disjoint", "one_hot_q", "ties"])
    ]
    cases.append(_sparse_problem())
    for p, q in cases:
        n = _fit_n(name, q, 3)
        law = BASELINES[name].law(q, n)
        tuples = law.sample(2, np.random.default_rng(1))
        if name not in NEEDS_SUPPORT:
            tuples = np.vstack([tuples, np.full(n, int(np.argmin(q)))])  # a draft q may not produce
        for x in tuples:
            probs = BASELINES[name].conditional(p, q, x).numpy()
            tokens = BASELINES[name].sample(p, q, np.repeat(x[None], 20000, 0), gen).numpy()
            pval = _g_test(np.bincount(tokens, minlength=len(p)).astype(float), probs)
            assert pval > ALARM, (name, x, pval)


def test_chain_samplers_need_no_preparation(monkeypatch):
    """On the CPU in float64 the chain baselines sample without their per-problem
    preparation (K-SEQ's torch bisection over the vocabulary): rho* comes from the support."""
    from multidraft.fast import baselines

    monkeypatch.setattr(baselines.KSeq, "_prepare", lambda *a: (_ for _ in ()).throw(AssertionError("prepared")))
    p, q = make_problem(6, 0, 1.0, "plain")
    for name in CHAIN_NAMES:
        assert BASELINES[name].sample(p, q, [0, 1, 2], torch.Generator().manual_seed(0)).shape == ()


def test_canonical_samples_without_the_torch_preparation(monkeypatch):
    """On the CPU in float64 canonical prepares and samples in one compiled call: neither
    its torch preparation nor its cached state is used."""
    from multidraft.fast import baselines

    fail = lambda *a: (_ for _ in ()).throw(AssertionError("prepared"))  # noqa: E731
    monkeypatch.setattr(baselines.Canonical, "_prepare", fail)
    monkeypatch.setattr(baselines.Canonical, "_prepare_torch", fail)
    p, q = make_problem(6, 0, 1.0, "plain")
    assert BASELINES["canonical"].sample(p, q, [0, 1, 2], torch.Generator().manual_seed(0)).shape == ()


CANONICAL_KINDS = [
    "plain",
    "zeros_p",
    "zeros_q",
    "one_hot_p",
    "one_hot_q",
    "equal",
    "disjoint",
    "ties",
    "tiny",
    "quantised",
]


def _all_conditionals(verifier, p, q, n, state):
    """The exact law given every ordered tuple of n tokens, from a given preparation: (V^n, V)."""
    V = p.shape[1]
    X = torch.tensor(list(itertools.product(range(V), repeat=n)))
    expand = {key: value.expand(len(X), *value.shape[1:]) for key, value in state.items()}
    return verifier._conditional(p.expand(len(X), -1), q.expand(len(X), -1), X, expand)


@pytest.mark.parametrize("kind", CANONICAL_KINDS)
def test_canonical_compiled_preparation_matches_the_torch_formulas(kind):
    """The compiled preparation (the sets of the support, fast/canonical_kernel.py) against
    the torch enumeration of multisets (``_prepare_torch``, the formulas before it): the same
    gamma, weights and induced law, and the same exact law given every tuple, to 1e-12, on
    adversarial pairs (ties, zeros in p or q, one-hot, p = q, disjoint supports, masses of
    1e-30 whose weights are subnormal: P / W overflows unless those sets are credited
    directly), one and several problems at once."""
    verifier = BASELINES["canonical"]
    for seed in range(4):
        for V, n in [(1, 3), (2, 2), (5, 1), (5, 2), (5, 3), (6, 4), (4, 6)]:
            p, q = make_problem(V, seed, 0.5, kind)
            P, Q = torch.tensor(p)[None], torch.tensor(q)[None]
            ours, theirs = verifier._prepare(P, Q, n), verifier._prepare_torch(P, Q, n)
            for key in ("gamma", "weights", "induced"):
                assert torch.allclose(ours[key], theirs[key], atol=EXACT, rtol=0), (kind, seed, V, n, key)
            both = [_all_conditionals(verifier, P, Q, n, state) for state in (ours, theirs)]
            assert float((both[0] - both[1]).abs().max()) <= EXACT, (kind, seed, V, n)
    rows = [make_problem(5, seed, 0.5, kind) for seed in range(3)]
    P, Q = torch.tensor(np.stack([r[0] for r in rows])), torch.tensor(np.stack([r[1] for r in rows]))
    ours, theirs = verifier._prepare(P, Q, 3), verifier._prepare_torch(P, Q, 3)
    for key in ("gamma", "weights", "induced"):
        assert torch.allclose(ours[key], theirs[key], atol=EXACT, rtol=0), (kind, key)


def test_canonical_compiled_preparation_on_a_sparse_support():
    """A support of 12 tokens scattered over 3,000 (the gather by blocks), n = 3: the
    compiled and torch preparations agree to 1e-12."""
    p, q = _sparse_problem(k=12)
    P, Q = torch.tensor(p)[None], torch.tensor(q)[None]
    verifier = BASELINES["canonical"]
    ours, theirs = verifier._prepare(P, Q, 3), verifier._prepare_torch(P, Q, 3)
    for key in ("gamma", "weights", "induced"):
        assert torch.allclose(ours[key], theirs[key], atol=EXACT, rtol=0), key


def test_canonical_beyond_the_compiled_draft_count_is_exact():
    """n above the compiled code's MAX_DRAFTS (k = 2, within the size guard) takes the torch
    preparation and sampler, still exactly lossless."""
    from multidraft.fast.canonical_kernel import MAX_DRAFTS

    n = MAX_DRAFTS + 1
    p, q = np.array([0.3, 0.5, 0.2]), np.array([0.6, 0.4, 0.0])
    verifier = BASELINES["canonical"]
    assert not verifier._compiled(torch.tensor(p)[None], n)
    ev = md.evaluate(verifier, p, q, n, drafting=verifier.law(q, n), order_invariant=True)
    # the torch code's multinomial coefficients exp(lgamma(n + 1) - ...) round to ~1e-12 at n = 513
    assert ev.tv <= 1e-10 and ev.validity_error <= EXACT, ev.summary()
    assert verifier.sample(p, q, [0] * n, torch.Generator().manual_seed(0)).shape == ()


def test_canonical_size_guard_refuses_in_every_path():
    """The size guard C(k + n - 1, n) > max_count refuses the compiled sampler and both
    preparations alike."""
    from multidraft.fast import Canonical
    from multidraft.validation import TooLargeError

    p, q = make_problem(6, 0, 1.0, "plain")  # k = 6, n = 3: C(8, 3) = 56 multisets
    small = Canonical(max_count=55)
    with pytest.raises(TooLargeError):
        small.sample(p, q, [0, 1, 2], torch.Generator().manual_seed(0))
    with pytest.raises(TooLargeError):
        small.conditional(p, q, [0, 1, 2])
    with pytest.raises(TooLargeError):
        small._prepare_torch(torch.tensor(p)[None], torch.tensor(q)[None], 3)
    assert Canonical(max_count=56).sample(p, q, [0, 1, 2]).shape == ()


def test_row_runs_cover_each_problem_once():
    """The compiled samplers hand each problem its contiguous run of tuples."""
    import numpy as np

    from multidraft.fast.chain_kernel import row_runs

    assert row_runs(np.array([0, 0, 1, 3, 3, 3], dtype=np.int64)).tolist() == [0, 2, 3, 6]
    assert row_runs(np.array([2], dtype=np.int64)).tolist() == [0, 1]
    assert row_runs(np.zeros(0, dtype=np.int64)).tolist() == [0]
