"""Hypothesis strategies for verification problems (p, q, n) that find bugs.

:func:`problems` draws a :class:`~multidraft.properties.problem.Problem` in three steps:

1. sizes: n in ``n`` and V in ``vocab``, capped so the exact evaluator enumerates at most
   ``max_tuples`` draft tuples (``V^n`` for i.i.d. and independent drafts, ``V!/(V-n)!``
   without replacement);
2. a *family* builds (p, q) from drawn parameters and a drawn integer seed feeding a numpy
   ``default_rng`` (so every example replays and shrinks):

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
small V and n. The profiles ``quick`` (CI: few examples, no deadline, derandomised) and
``thorough`` (many examples) are registered with :func:`hypothesis.settings.register_profile`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from multidraft.validation import InvalidInputError, check_choice, check_range

from .problem import DRAFTINGS, Problem

#: Default cap on enumerated draft tuples in exact mode.
MAX_TUPLES = 5000

#: Tiny probability used by the ``tiny`` modifier.
TINY = 1e-30

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

QUICK = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                 suppress_health_check=_HEALTH, print_blob=False)
THOROUGH = settings(max_examples=1000, deadline=None, database=None,
                    suppress_health_check=_HEALTH, print_blob=False)
settings.register_profile("quick", QUICK)
settings.register_profile("thorough", THOROUGH)
PROFILES = {"quick": QUICK, "thorough": THOROUGH}


def profile_settings(profile: str) -> settings:
    """The registered settings object of ``profile`` ("quick" or "thorough")."""
    return PROFILES[check_choice(profile, "profile", sorted(PROFILES))]


# ----------------------------------------------------------------------------- sizes

def tuple_count(vocab_size: int, n: int, drafting: str) -> int:
    """Draft tuples the exact evaluator visits for a full-support draft law."""
    return math.perm(vocab_size, n) if drafting == "without_replacement" else vocab_size**n


def _largest_vocab(n: int, vocab: tuple[int, int], max_tuples: int, drafting: str) -> int:
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


# ----------------------------------------------------------------------------- families

def _normalise(x: np.ndarray) -> np.ndarray:
    return x / x.sum()


def _dirichlet(rng: np.random.Generator, size: int, concentration: float) -> np.ndarray:
    # gamma draws can underflow to 0 for small concentrations; keep at least one positive
    g = rng.gamma(concentration, size=size)
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


@st.composite
def _dirichlet_family(draw, V: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    seed = draw(st.integers(0, 2**32 - 1))
    conc = st.sampled_from([1.0, 0.05, 0.3, 5.0, 50.0])
    cp, cq, mix = draw(conc), draw(conc), draw(st.sampled_from([0.0, 0.5, 0.9]))
    rng = np.random.default_rng(seed)
    p = _dirichlet(rng, V, cp)
    q = _normalise(mix * p + (1 - mix) * _dirichlet(rng, V, cq))
    return p, q, f"dirichlet seed={seed} conc_p={cp} conc_q={cq} mix={mix}"


def llm_pair(V: int, seed: int, *, temperature: float, tail: float, correlation: float,
             top_k: int | None, top_p: float | None) -> tuple[np.ndarray, np.ndarray]:
    """An LLM-like pair: logits ``-tail*log(rank) + t_3 noise``, draft correlated, q truncated.

    Draft logits are ``c * z + sqrt(1-c^2) * z'`` with z' an independent copy; both are divided
    by ``temperature`` before the softmax. top-k keeps the k largest q, top-p the smallest
    prefix of q sorted descending with mass >= top_p; q is renormalised.
    """
    rng = np.random.default_rng(seed)

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
    seed = draw(st.integers(0, 2**32 - 1))
    params = dict(
        temperature=draw(st.sampled_from([1.0, 0.3, 0.7, 1.5])),
        tail=draw(st.sampled_from([1.1, 0.5, 2.0])),
        correlation=draw(st.sampled_from([0.9, 0.0, 0.5, 0.99])),
        top_k=draw(st.none() | st.integers(1, V)),
        top_p=draw(st.none() | st.sampled_from([0.5, 0.9])),
    )
    p, q = llm_pair(V, seed, **params)
    return p, q, f"llm seed={seed} " + " ".join(f"{k}={v}" for k, v in params.items())


def tied_pair(V: int, n: int, seed: int, *, split: tuple[int, int], inner: float, eps: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """A pair where two prefixes G1 and G1+G2 of the p/q order tie in ``psi``.

    q ~ Dirichlet(1); ``p(G1) = inner * q(G1)^n``, ``p(G2) = (q(G1)+q(G2))^n - q(G1)^n + eps``
    (clipped to the mass available), the rest to G3, p proportional to q inside each group;
    tokens are then relabelled by a random permutation.
    """
    rng = np.random.default_rng(seed)
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
    seed = draw(st.integers(0, 2**32 - 1))
    a = draw(st.integers(0, V - 1))
    b = draw(st.integers(a + 1, V))
    inner = draw(st.sampled_from([0.5, 0.0, 0.9]))
    eps = draw(st.sampled_from([0.0, 1e-15, -1e-15, 1e-12, 1e-9, -1e-9, 1e-6]))
    p, q = tied_pair(V, n, seed, split=(a, b), inner=inner, eps=eps)
    return p, q, f"tied seed={seed} split=({a}, {b}) inner={inner} eps={eps}"


#: Families, simplest first (hypothesis shrinks towards the first).
FAMILIES = {"weights": _weights_family, "dirichlet": _dirichlet_family, "llm": _llm_family, "tied": _tied_family}


# ----------------------------------------------------------------------------- modifiers

@st.composite
def _modify(draw, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Apply each modifier with probability ~1/8; returns new laws and the names applied."""
    V = len(p)
    applied = []
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)

    def on(name: str) -> bool:
        flag = draw(st.integers(0, 7)) == 7
        if flag:
            applied.append(name)
        return flag

    if on("zeros_p"):
        p = _normalise(np.where((rng.random(V) < 0.4) & (np.arange(V) != np.argmax(p)), 0.0, p))
    if on("zeros_q"):
        q = _normalise(np.where((rng.random(V) < 0.4) & (np.arange(V) != np.argmax(q)), 0.0, q))
    if on("tiny"):
        which = rng.random(V) < 0.4
        which[np.argmax(p)] = which[np.argmax(q)] = False
        target = p if rng.random() < 0.5 else q
        target = _normalise(np.where(which, TINY, target))
        p, q = (target, q) if rng.random() < 0.5 else (p, target)
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


def _independent_stack(q: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n draft laws: q mixed with independent Dirichlet laws at weights 0, 0.3 or 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        w = rng.choice([0.0, 0.3, 1.0])
        rows.append(_normalise((1 - w) * q + w * _dirichlet(rng, len(q), 0.5)))
    return np.stack(rows)


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
    modifiers: bool = True,
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
    modifiers : bool
        Apply the edge-case modifiers (zeros, tiny, one-hot, equal, disjoint).
    law_factory : callable, optional
        ``law_factory(q, n) -> DraftingLaw`` for a drafting law named ``drafting`` outside
        :data:`DRAFTINGS` (sized like i.i.d. drafting, q repaired to n tokens like without
        replacement).
    """
    if law_factory is None:
        check_choice(drafting, "drafting", DRAFTINGS)
    n_range, v_range = check_range(n, "n"), check_range(vocab, "vocab")
    ns = feasible_ns(n_range, v_range, max_tuples, drafting)
    if not ns and drafting == "without_replacement" and n_range[0] > v_range[1]:
        raise InvalidInputError(
            f"n: drafting without replacement needs V >= n, got n >= {n_range[0]} with V <= {v_range[1]}; "
            "lower n or raise the vocabulary")
    if not ns:
        raise InvalidInputError(
            f"max_tuples: no n in {n_range} fits {max_tuples} tuples with V >= {v_range[0]}; "
            "lower n or the vocabulary, or raise max_tuples")
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise InvalidInputError(f"families: expected a non-empty subset of {list(FAMILIES)}, got {families!r}")
    k = draw(st.sampled_from(ns))
    needs_n_tokens = drafting == "without_replacement" or law_factory is not None
    v_lo = max(v_range[0], k) if needs_n_tokens else v_range[0]
    V = draw(st.integers(v_lo, max(v_lo, _largest_vocab(k, (v_lo, v_range[1]), max_tuples, drafting))))
    family = draw(st.sampled_from(families))
    p, q, origin = draw(FAMILIES[family](V, k))
    if modifiers:
        p, q, applied = draw(_modify(p, q))
        if applied:
            origin += " +" + "+".join(applied)
    if drafting == "without_replacement" or law_factory is not None:
        q = _repair_without_replacement(q, k)
    elif drafting == "independent":
        stack_seed = draw(st.integers(0, 2**16))
        q = _independent_stack(q, k, stack_seed)
        origin += f" stack_seed={stack_seed}"
    return Problem(np.ascontiguousarray(p, dtype=np.float64), np.ascontiguousarray(q, dtype=np.float64),
                   k, drafting, origin, law_factory)
