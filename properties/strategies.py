"""Hypothesis strategies for verification problems (p, q, n) that find bugs.

:func:`problems` draws a :class:`~multidraft.properties.problem.Problem` in three steps:

1. sizes: n in ``n`` and V in ``vocab``, capped so the exact evaluator enumerates at most
   ``max_tuples`` draft tuples (``V^n`` for i.i.d. and independent drafts, ``V!/(V-n)!``
   without replacement);
2. a *family* builds (p, q) from drawn parameters and values drawn through hypothesis
   (:class:`DrawnRandom`: uniforms shrinking to 1/2, permutations to the identity), so every
   example replays and a counterexample shrinks in the law's values, not in a seed:

   ``weights``   p, q from small integer weights drawn directly (shrinks to readable laws);
   ``dirichlet`` Dirichlet laws with concentrations from 0.05 (spiky) to 50 (flat), q a
                 mixture of p and an independent law;
   ``llm``       heavy-tailed logits (Zipf ranks plus Student-t noise), a temperature, a
                 correlated draft, top-k and top-p truncation of q;
   ``tied``      exact or near ties between minimising subsets: three groups of tokens with
                 p proportional to q inside each, and ``p(G2) = (q(G1)+q(G2))^n - q(G1)^n``
                 so the prefixes ``G1`` and ``G1+G2`` of the p/q order give the same value of
                 ``psi(H) = p(H) - q(H)^n`` (then an optional tiny perturbation ``eps``);
3. *modifiers*, each drawn on or off: zeros in p or q, tiny entries (1e-30), one-hot p or
   q, q = p, disjoint supports. Laws are renormalised after every step (float64).

Families are listed simplest first, so a failing example shrinks towards ``weights`` with
small V and n.

Composable pieces (in the manner of ``hypothesis.extra.numpy``): :func:`laws` (one law),
:func:`pairs` (p, q), :func:`drafting_laws` (a bound drafting law), and :func:`problems`
built from them. The profiles ``quick`` (CI: few examples, no deadline, derandomised) and
``thorough`` (many examples) are settings objects (:data:`PROFILES`); importing this module
registers nothing: :func:`register_profiles` registers them with hypothesis by name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from scipy import stats

from multidraft.validation import InvalidInputError, check_choice, check_range

from .problem import DRAFTINGS, Problem

#: Default cap on enumerated draft tuples in exact mode.
MAX_TUPLES = 5000

#: Tiny probability used by the ``tiny`` modifier.
TINY = 1e-30

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

QUICK = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=_HEALTH, print_blob=False
)
THOROUGH = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=_HEALTH, print_blob=False)
PROFILES = {"quick": QUICK, "thorough": THOROUGH}


def register_profiles() -> None:
    """Register :data:`PROFILES` with hypothesis (``settings.load_profile("quick")`` then works)."""
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def profile_settings(profile: str) -> settings:
    """The registered settings object of ``profile`` ("quick" or "thorough")."""
    return PROFILES[check_choice(profile, "profile", sorted(PROFILES))]


# ----------------------------------------------------------------------------- sizes


def tuple_count(vocab_size: int, n: int, drafting: str) -> int:
    """Draft tuples the exact evaluator visits for a full-support draft law."""
    return math.perm(vocab_size, n) if drafting == "without_replacement" else vocab_size**n


def largest_vocab(n: int, vocab: tuple[int, int], max_tuples: int, drafting: str) -> int:
    v = vocab[1]
    while v > vocab[0] and tuple_count(v, n, drafting) > max_tuples:
        v -= 1
    return v


def feasible_ns(n: tuple[int, int], vocab: tuple[int, int], max_tuples: int, drafting: str) -> list[int]:
    """The numbers of drafts in ``n`` whose draft tuples fit ``max_tuples`` at the smallest usable V."""
    out = []
    for k in range(n[0], n[1] + 1):
        v_min = max(vocab[0], k) if drafting == "without_replacement" else vocab[0]
        if v_min <= vocab[1] and tuple_count(v_min, k, drafting) <= max_tuples:
            out.append(k)
    return out


def sizes_for(
    n: tuple[int, int], vocab: tuple[int, int], max_tuples: int, drafting: str, law_factory: Any = None
) -> list[int]:
    """The numbers of drafts in ``n`` that fit ``max_tuples`` with some V in ``vocab``.

    Raises InvalidInputError when none does.
    """
    ns = feasible_ns(n, vocab, max_tuples, drafting)
    if not ns and drafting == "without_replacement" and n[0] > vocab[1]:
        raise InvalidInputError(
            f"n: drafting without replacement needs V >= n, got n >= {n[0]} with V <= {vocab[1]}; "
            "lower n or raise the vocabulary"
        )
    if not ns:
        raise InvalidInputError(
            f"max_tuples: no n in {n} fits {max_tuples} tuples with V >= {vocab[0]}; "
            "lower n or the vocabulary, or raise max_tuples"
        )
    return ns


def finish_problem(
    p: np.ndarray,
    q: np.ndarray,
    n: int,
    drafting: str,
    origin: str,
    law_factory: Any = None,
    stack: np.ndarray | None = None,
) -> Problem:
    """A :class:`Problem` from a pair made for ``drafting``: q repaired or stacked as the law needs.

    Without replacement (and a verifier's own law) q gets at least n positive tokens
    (:func:`_repair_without_replacement`); independent drafting uses ``stack`` (n, V) if given,
    else n copies of q.
    """
    if drafting == "without_replacement" or law_factory is not None:
        q = _repair_without_replacement(q, n)
    elif drafting == "independent":
        q = np.stack([q] * n) if stack is None else stack
    return Problem(
        np.ascontiguousarray(p, dtype=np.float64),
        np.ascontiguousarray(q, dtype=np.float64),
        n,
        drafting,
        origin,
        law_factory,
    )


# ----------------------------------------------------------------------------- drawn randomness

#: Vectors longer than this are drawn from a numpy Generator seeded by a drawn integer (one
#: value per entry would overrun hypothesis's buffer); up to it every entry is drawn itself.
DRAWN_MAX = 64
#: Drawn uniforms lie in [U_EDGE, 1 - U_EDGE] and shrink towards 1/2 (the median).
U_EDGE = 1e-6


class DrawnRandom:
    """The part of ``numpy.random.Generator`` the families use, with values drawn by hypothesis.

    Every uniform is ``1/2 + s`` with s a drawn float (so it shrinks to the median), a
    Gamma or Student-t value is the inverse CDF of one, a permutation is drawn by
    ``st.permutations`` (shrinking to the identity), an integer or a choice by ``st.integers``
    / ``st.sampled_from``. A counterexample therefore shrinks in the law's values themselves,
    not in a seed. Vectors longer than :data:`DRAWN_MAX` come from a drawn seed instead.
    """

    def __init__(self, draw: Any):
        self.draw = draw

    def _fallback(self) -> np.random.Generator:
        return np.random.default_rng(self.draw(st.integers(0, 2**32 - 1)))

    def _uniforms(self, size: int) -> np.ndarray:
        if size > DRAWN_MAX:
            return self._fallback().uniform(U_EDGE, 1 - U_EDGE, size)
        half = 0.5 - U_EDGE
        return 0.5 + np.array(self.draw(st.lists(st.floats(-half, half), min_size=size, max_size=size)), float)

    def random(self, size: int | None = None) -> Any:
        return float(self._uniforms(1)[0]) if size is None else self._uniforms(size)

    def gamma(self, shape: float, size: int) -> np.ndarray:
        return stats.gamma.ppf(self._uniforms(size), shape)

    def standard_t(self, df: float, size: int) -> np.ndarray:
        return stats.t.ppf(self._uniforms(size), df)

    def permutation(self, size: int) -> np.ndarray:
        if size > DRAWN_MAX:
            return self._fallback().permutation(size)
        return np.array(self.draw(st.permutations(range(size))), dtype=np.int64)

    def integers(self, low: int, high: int | None = None) -> int:
        low, high = (0, low) if high is None else (low, high)
        return self.draw(st.integers(low, high - 1))

    def choice(self, options: Any) -> Any:
        return self.draw(st.sampled_from(list(options)))


def _source(rng: Any) -> Any:
    """A Generator-like source: an int seeds numpy's ``default_rng``; a source is used as is."""
    return np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng


# ----------------------------------------------------------------------------- families


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / x.sum()


def _dirichlet(rng: Any, size: int, concentration: float) -> np.ndarray:
    # gamma values can underflow to 0 for small concentrations; keep at least one positive
    g = np.asarray(rng.gamma(concentration, size=size), float)
    if g.sum() <= 0:
        g[rng.integers(size)] = 1.0
    return _normalise(g)


@st.composite
def _weights_family(draw, V: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    ints = st.lists(st.integers(0, 8), min_size=V, max_size=V)
    wp, wq = np.array(draw(ints), float), np.array(draw(ints), float)
    wp[0] += wp.sum() == 0
    wq[0] += wq.sum() == 0
    return _normalise(wp), _normalise(wq), f"weights p~{wp.astype(int).tolist()} q~{wq.astype(int).tolist()}"


#: Concentrations of the ``dirichlet`` family, the flat-ish one first (it shrinks to it).
CONCENTRATIONS = (1.0, 0.05, 0.3, 5.0, 50.0)


@st.composite
def _dirichlet_family(draw, V: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    rng = DrawnRandom(draw)
    conc = st.sampled_from(CONCENTRATIONS)
    cp, cq, mix = draw(conc), draw(conc), draw(st.sampled_from([0.0, 0.5, 0.9]))
    p = _dirichlet(rng, V, cp)
    q = _normalise(mix * p + (1 - mix) * _dirichlet(rng, V, cq))
    return p, q, f"dirichlet conc_p={cp} conc_q={cq} mix={mix}"


def llm_pair(
    V: int, seed: Any, *, temperature: float, tail: float, correlation: float, top_k: int | None, top_p: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """An LLM-like pair: logits ``-tail*log(rank) + t_3 noise``, draft correlated, q truncated.

    Draft logits are ``c * z + sqrt(1-c^2) * z'`` with z' an independent copy; both are divided
    by ``temperature`` before the softmax. top-k keeps the k largest q, top-p the smallest
    prefix of q sorted descending with mass >= top_p; q is renormalised. ``seed``: an int
    (numpy's ``default_rng``) or a Generator-like source such as :class:`DrawnRandom`.
    """
    rng = _source(seed)

    def logits() -> np.ndarray:
        return -tail * np.log(rng.permutation(V) + 1.0) + rng.standard_t(3, size=V)

    z = logits()
    zq = correlation * z + math.sqrt(max(0.0, 1 - correlation**2)) * logits()

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp((x - x.max()) / temperature)
        return _normalise(e)

    p, q = softmax(z), softmax(zq)
    order = np.argsort(-q, kind="stable")
    keep = np.zeros(V, dtype=bool)
    k = V if top_k is None else min(top_k, V)
    if top_p is not None:
        k = min(k, int(np.searchsorted(np.cumsum(q[order]), top_p) + 1))
    keep[order[:k]] = True
    return p, _normalise(np.where(keep, q, 0.0))


@st.composite
def _llm_family(draw, V: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    params = dict(
        temperature=draw(st.sampled_from([1.0, 0.3, 0.7, 1.5])),
        tail=draw(st.sampled_from([1.1, 0.5, 2.0])),
        correlation=draw(st.sampled_from([0.9, 0.0, 0.5, 0.99])),
        top_k=draw(st.none() | st.integers(1, V)),
        top_p=draw(st.none() | st.sampled_from([0.5, 0.9])),
    )
    p, q = llm_pair(V, DrawnRandom(draw), **params)
    return p, q, "llm " + " ".join(f"{k}={v}" for k, v in params.items())


def tied_pair(
    V: int, n: int, seed: Any, *, split: tuple[int, int], inner: float, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """A pair where two prefixes G1 and G1+G2 of the p/q order tie in ``psi``.

    q ~ Dirichlet(1); ``p(G1) = inner * q(G1)^n``, ``p(G2) = (q(G1)+q(G2))^n - q(G1)^n + eps``
    (clipped to the mass available), the rest to G3, p proportional to q inside each group;
    tokens are then relabelled by a random permutation. ``seed`` as in :func:`llm_pair`.
    """
    rng = _source(seed)
    a, b = split
    q = _dirichlet(rng, V, 1.0)
    groups = [np.arange(a), np.arange(a, b), np.arange(b, V)]
    Q1, Q2 = q[groups[0]].sum(), q[groups[1]].sum()
    m1 = inner * Q1**n
    m2 = min(max((Q1 + Q2) ** n - Q1**n + eps, 0.0), 1.0 - m1)
    masses = [m1, m2, 1.0 - m1 - m2]
    p = np.zeros(V)
    for g, m in zip(groups, masses):
        if len(g):
            p[g] = m * q[g] / q[g].sum()
    if len(groups[2]) == 0:  # no third group to absorb the rest: give it to G2
        p[groups[1]] += masses[2] * q[groups[1]] / q[groups[1]].sum()
    perm = rng.permutation(V)
    return _normalise(p[perm]), _normalise(q[perm])


@st.composite
def _tied_family(draw, V: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    a = draw(st.integers(0, V - 1))
    b = draw(st.integers(a + 1, V))
    inner = draw(st.sampled_from([0.5, 0.0, 0.9]))
    eps = draw(st.sampled_from([0.0, 1e-15, -1e-15, 1e-12, 1e-9, -1e-9, 1e-6]))
    p, q = tied_pair(V, n, DrawnRandom(draw), split=(a, b), inner=inner, eps=eps)
    return p, q, f"tied split=({a}, {b}) inner={inner} eps={eps}"


#: Families, simplest first (hypothesis shrinks towards the first).
FAMILIES = {"weights": _weights_family, "dirichlet": _dirichlet_family, "llm": _llm_family, "tied": _tied_family}


# ----------------------------------------------------------------------------- modifiers

#: The edge-case modifiers, in the order they are applied.
MODIFIERS = ("zeros_p", "zeros_q", "tiny", "one_hot_p", "one_hot_q", "equal", "disjoint")


def _modifier_names(modifiers: Any) -> tuple[str, ...]:
    """``True``: all of :data:`MODIFIERS`; ``False``: none; else the names given (validated)."""
    if modifiers is True or modifiers is False:
        return MODIFIERS if modifiers else ()
    names = tuple(modifiers)
    unknown = [m for m in names if m not in MODIFIERS]
    if unknown:
        raise InvalidInputError(f"modifiers: expected True, False or a subset of {list(MODIFIERS)}, got {modifiers!r}")
    return names


@st.composite
def _modify(
    draw, p: np.ndarray, q: np.ndarray, enabled: tuple[str, ...] = MODIFIERS
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Apply each enabled modifier with probability ~1/8; returns new laws and the names applied."""
    V = len(p)
    applied = []
    rng = DrawnRandom(draw)

    def on(name: str) -> bool:
        if name not in enabled:
            return False
        flag = draw(st.integers(0, 7)) == 7
        if flag:
            applied.append(name)
        return flag

    def some(V: int) -> np.ndarray:  # about 40% of the tokens; shrinks to none
        return np.array(draw(st.lists(st.integers(0, 4), min_size=V, max_size=V))) >= 3

    if on("zeros_p"):
        p = _normalise(np.where(some(V) & (np.arange(V) != np.argmax(p)), 0.0, p))
    if on("zeros_q"):
        q = _normalise(np.where(some(V) & (np.arange(V) != np.argmax(q)), 0.0, q))
    if on("tiny"):
        which = some(V)
        which[np.argmax(p)] = which[np.argmax(q)] = False
        in_p, in_target = draw(st.booleans()), draw(st.booleans())
        target = _normalise(np.where(which, TINY, p if in_p else q))
        p, q = (target, q) if in_target else (p, target)
    if on("one_hot_p"):
        p = np.eye(V)[rng.integers(V)]
    if on("one_hot_q"):
        q = np.eye(V)[rng.integers(V)]
    if on("equal"):
        q = p.copy()
    if on("disjoint") and V >= 2:
        perm = rng.permutation(V)
        half = rng.integers(1, V)
        mask = np.zeros(V, dtype=bool)
        mask[perm[:half]] = True
        wp, wq = np.where(mask, p, 0.0), np.where(mask, 0.0, q)
        p = _normalise(wp) if wp.sum() > 0 else _normalise(mask.astype(float))
        q = _normalise(wq) if wq.sum() > 0 else _normalise((~mask).astype(float))
    return p, q, applied


@st.composite
def _independent_stack(draw, q: np.ndarray, n: int) -> np.ndarray:
    """n draft laws: q mixed with independent Dirichlet(0.5) laws at drawn weights 0, 0.3 or 1."""
    rng = DrawnRandom(draw)
    rows = []
    for _ in range(n):
        w = rng.choice([0.0, 0.3, 1.0])
        rows.append(_normalise((1 - w) * q + w * _dirichlet(rng, len(q), 0.5)))
    return np.stack(rows)


# ----------------------------------------------------------------------------- composable strategies


@st.composite
def pairs(
    draw, vocab_size: int, n: int = 1, families: tuple[str, ...] = tuple(FAMILIES), modifiers: Any = True
) -> tuple[np.ndarray, np.ndarray]:
    """A pair (p, q) of float64 laws over ``vocab_size`` tokens: a family, then the modifiers.

    ``n`` tunes the ``tied`` family (its ties are between ``q(H)^n`` terms); ``modifiers``:
    True (all of :data:`MODIFIERS`), False, or the names to apply.
    """
    return tuple(draw(_pair(vocab_size, n, families, modifiers))[:2])


@st.composite
def _pair(draw, V: int, n: int, families: tuple[str, ...], modifiers: Any) -> tuple[np.ndarray, np.ndarray, str]:
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise InvalidInputError(f"families: expected a non-empty subset of {list(FAMILIES)}, got {families!r}")
    enabled = _modifier_names(modifiers)
    family = draw(st.sampled_from(families))
    p, q, origin = draw(FAMILIES[family](V, n))
    if enabled:
        p, q, applied = draw(_modify(p, q, enabled))
        if applied:
            origin += " +" + "+".join(applied)
    return p, q, origin


def laws(
    vocab_size: int, families: tuple[str, ...] = tuple(FAMILIES), modifiers: Any = True, min_positive: int = 1
) -> st.SearchStrategy[np.ndarray]:
    """One float64 law (V,): the target of :func:`pairs` (zeros, ties, tiny entries included).

    ``min_positive``: at least this many positive entries (1% uniform is mixed in otherwise).
    """
    return pairs(vocab_size, 1, families, modifiers).map(lambda pq: _repair_without_replacement(pq[0], min_positive))


#: Drafting laws :func:`drafting_laws` draws.
LAW_KINDS = ("iid", "without_replacement", "independent", "joint")


@st.composite
def drafting_laws(draw, vocab_size: int, n: int, kinds: tuple[str, ...] = LAW_KINDS) -> Any:
    """A bound :class:`~multidraft.drafting.DraftingLaw` of one of ``kinds`` over V tokens, n drafts.

    i.i.d. and without replacement from a drawn law (at least n positive tokens for the
    latter; requires ``vocab_size >= n``); independent from n drawn laws; joint from small
    integer weights on the V^n cells (many zeros and ties).
    """
    from multidraft.drafting import IID, Independent, Joint, WithoutReplacement

    kind = draw(st.sampled_from(kinds))
    if kind == "iid":
        return IID(draw(laws(vocab_size)), n)
    if kind == "without_replacement":
        return WithoutReplacement(draw(laws(vocab_size, min_positive=n)), n)
    if kind == "independent":
        return Independent(np.stack([draw(laws(vocab_size)) for _ in range(n)]))
    if kind != "joint":
        raise InvalidInputError(f"kinds: expected a subset of {LAW_KINDS}, got {kind!r}")
    w = np.array(draw(st.lists(st.integers(0, 3), min_size=vocab_size**n, max_size=vocab_size**n)), float)
    w[0] += w.sum() == 0
    return Joint(_normalise(w).reshape((vocab_size,) * n))


def _repair_without_replacement(q: np.ndarray, n: int) -> np.ndarray:
    """Without replacement needs n tokens with q > 0: mix in 1% uniform if short."""
    if np.count_nonzero(q) >= n:
        return q
    return _normalise(0.99 * q + 0.01 / len(q))


@st.composite
def problems(
    draw,
    drafting: str = "iid",
    n: tuple[int, int] | int = (1, 8),
    vocab: tuple[int, int] | int = (2, 8),
    max_tuples: int = MAX_TUPLES,
    families: tuple[str, ...] = tuple(FAMILIES),
    modifiers: Any = True,
    law_factory: Any = None,
) -> Problem:
    """Draw a :class:`Problem` (see the module docstring).

    Parameters
    ----------
    drafting : {"iid", "without_replacement", "independent"}
    n, vocab : int or (lo, hi)
        Ranges (inclusive) of the number of drafts and the vocabulary size.
    max_tuples : int
        Cap on enumerated draft tuples; V is lowered (and large n skipped) to respect it.
    families : tuple of str
        Subset of :data:`FAMILIES` to draw from.
    modifiers : bool or tuple of str
        Apply the edge-case modifiers (all of :data:`MODIFIERS`: zeros, tiny, one-hot, equal,
        disjoint), none, or the ones named.
    law_factory : callable, optional
        ``law_factory(q, n) -> DraftingLaw`` for a drafting law named ``drafting`` outside
        :data:`DRAFTINGS` (sized like i.i.d. drafting, q repaired to n tokens like without
        replacement).
    """
    if law_factory is None:
        check_choice(drafting, "drafting", DRAFTINGS)
    n_range, v_range = check_range(n, "n"), check_range(vocab, "vocab")
    ns = sizes_for(n_range, v_range, max_tuples, drafting, law_factory)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise InvalidInputError(f"families: expected a non-empty subset of {list(FAMILIES)}, got {families!r}")
    k = draw(st.sampled_from(ns))
    needs_n_tokens = drafting == "without_replacement" or law_factory is not None
    v_lo = max(v_range[0], k) if needs_n_tokens else v_range[0]
    V = draw(st.integers(v_lo, max(v_lo, largest_vocab(k, (v_lo, v_range[1]), max_tuples, drafting))))
    p, q, origin = draw(_pair(V, k, families, modifiers))
    stack = None
    if drafting == "independent":
        stack = draw(_independent_stack(q, k))
    return finish_problem(p, q, k, drafting, origin, law_factory, stack)


def problem_tuples(
    n: tuple[int, int] | int = (1, 4),
    vocab: tuple[int, int] | int = (1, 6),
    *,
    drafting: str = "iid",
    max_tuples: int | None = None,
    **kwargs: Any,
) -> st.SearchStrategy:
    """:func:`problems` as plain ``(p, q, n)`` tuples (for tests of solvers rather than verifiers).

    ``max_tuples`` defaults to ``vocab_hi ** n_hi``: every size in the ranges is drawn.
    """
    n_range, v_range = check_range(n, "n"), check_range(vocab, "vocab")
    cap = v_range[1] ** n_range[1] if max_tuples is None else max_tuples
    return problems(drafting=drafting, n=n_range, vocab=v_range, max_tuples=cap, **kwargs).map(
        lambda pr: (pr.target, pr.draft, pr.n)
    )
