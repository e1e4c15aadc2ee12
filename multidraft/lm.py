"""Language models for multi-step verification: the protocol and small built-in models.

A *language model* is any object with ``probs(context: tuple[int, ...]) -> array[V]``: the
law of the next token after ``context`` (a tuple of token ids), float, summing to 1. That
is all the tree verifiers, the evaluator, the oracle and the checkers need. An optional
attribute ``vocab_size`` saves one call.

Built in:

* :class:`TableLM` -- a seeded random *context-dependent* table for small V and depth:
  every context gets its own law, drawn lazily and deterministically from
  ``(seed, salt, context)`` (so a bug that reads the wrong row, or draws a bonus token from
  the wrong context, changes the output law). Options make it adversarial: a small
  ``concentration`` gives peaked, near one-hot laws; ``sparsity`` zeroes entries (at least
  one kept); ``ties`` quantises probabilities so that equal values recur.
* :class:`BlendLM` -- ``(1 - weight) * base + weight * other`` context by context (a draft
  close to its target).
* :class:`ConstantLM` -- one law for every context (the token-level case; it hides the
  context bugs above, so the checkers never use it alone).
* :func:`table_pair` -- a (target, draft) pair of table models with one seed.

Adapters for the n-gram text models of the workloads live in the app layer
(:mod:`multidraft.workloads`), since the core imports no app module.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from .validation import InvalidInputError, check_distribution

#: Tag mixed into the seed sequence of :class:`TableLM` (keeps its streams apart from others).
_TABLE_TAG = 0x7AB1E


@runtime_checkable
class LanguageModel(Protocol):
    """``probs(context) -> (V,)`` float: the next-token law after ``context``."""

    def probs(self, context: tuple[int, ...]) -> Any: ...


def check_context(context: Any, name: str = "context") -> tuple[int, ...]:
    """Validate a context: a sequence of non-negative integer token ids; returns a tuple."""
    if isinstance(context, (str, bytes)) or not hasattr(context, "__iter__"):
        raise InvalidInputError(f"{name}: expected a tuple of token ids, got {context!r}")
    out = []
    for token in context:
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)) or int(token) < 0:
            raise InvalidInputError(
                f"{name}: token ids must be non-negative integers, got {token!r} in {tuple(context)!r}"
            )
        out.append(int(token))
    return tuple(out)


def check_lm(lm: Any, name: str) -> Any:
    """Refuse an object without a callable ``probs`` (the language-model protocol)."""
    if not callable(getattr(lm, "probs", None)):
        raise InvalidInputError(
            f"{name}: expected a language model, an object with probs(context: tuple[int, ...]) -> array[V], "
            f"got {type(lm).__name__}"
        )
    return lm


def lm_probs(lm: Any, context: tuple[int, ...], name: str, vocab_size: int | None = None) -> np.ndarray:
    """``lm.probs(context)`` validated: a float64 law of shape (V,) (and V = ``vocab_size`` if given)."""
    law = check_distribution(lm.probs(context), f"{name}.probs({context!r})", batched=False)
    if vocab_size is not None and law.shape[0] != vocab_size:
        raise InvalidInputError(
            f"{name}.probs({context!r}): vocabulary size {law.shape[0]} does not match {vocab_size}"
        )
    return law


def vocab_size_of(lm: Any, name: str, context: tuple[int, ...] = ()) -> int:
    """V of a language model: its ``vocab_size`` attribute, else the length of ``probs(context)``."""
    check_lm(lm, name)
    size = getattr(lm, "vocab_size", None)
    if isinstance(size, (int, np.integer)) and size >= 1:
        return int(size)
    return int(lm_probs(lm, context, name).shape[0])


class CachedLM:
    """Memoise ``lm.probs`` (validated, float64) by context: the enumerators call it many times."""

    def __init__(self, lm: Any, name: str, vocab_size: int | None = None):
        self.lm = check_lm(lm, name)
        self.name = name
        self.vocab_size = vocab_size_of(lm, name) if vocab_size is None else vocab_size
        self._table: dict[tuple[int, ...], np.ndarray] = {}

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        law = self._table.get(context)
        if law is None:
            law = lm_probs(self.lm, context, self.name, self.vocab_size)
            law.setflags(write=False)
            self._table[context] = law
        return law


def cached(lm: Any, name: str, vocab_size: int | None = None) -> CachedLM:
    """``lm`` wrapped in a :class:`CachedLM` (itself if it already is one)."""
    return lm if isinstance(lm, CachedLM) else CachedLM(lm, name, vocab_size)


class TableLM:
    """A seeded random context-dependent model: every context has its own law.

    ``probs(context)`` is a Dirichlet(``concentration``) draw seeded by
    ``(seed, salt, len(context), *context)``: deterministic, independent across contexts,
    created on first use (so any depth works; only the contexts visited cost memory).

    Parameters
    ----------
    vocab_size : int >= 1
    seed : int
    concentration : float > 0
        Dirichlet parameter; 0.2 gives peaked laws with tiny entries, 5 near-uniform ones.
    sparsity : float in [0, 1)
        Each entry is zeroed with this probability (the largest is always kept).
    ties : int, optional
        Round every law to multiples of ``1/ties`` (a largest-remainder rounding that
        keeps the sum exactly 1), so equal probabilities recur.
    salt : int
        Separates two models built with the same seed (a target and its draft).

    Examples
    --------
    >>> lm = TableLM(3, seed=1)
    >>> lm.probs((0, 2)).shape, bool(abs(lm.probs(()).sum() - 1) < 1e-12)
    ((3,), True)
    """

    def __init__(
        self,
        vocab_size: int,
        seed: int = 0,
        *,
        concentration: float = 1.0,
        sparsity: float = 0.0,
        ties: int | None = None,
        salt: int = 0,
    ):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
            raise InvalidInputError(f"vocab_size: expected an integer >= 1, got {vocab_size!r}")
        if not (np.isfinite(concentration) and concentration > 0):
            raise InvalidInputError(f"concentration: expected a positive number, got {concentration!r}")
        if not (0.0 <= sparsity < 1.0):
            raise InvalidInputError(f"sparsity: expected a number in [0, 1), got {sparsity!r}")
        if ties is not None and (isinstance(ties, bool) or not isinstance(ties, (int, np.integer)) or ties < 1):
            raise InvalidInputError(f"ties: expected an integer >= 1 or None, got {ties!r}")
        self.vocab_size = int(vocab_size)
        self.seed, self.salt = int(seed), int(salt)
        self.concentration, self.sparsity, self.ties = float(concentration), float(sparsity), ties
        self._table: dict[tuple[int, ...], np.ndarray] = {}

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v in (
                ("concentration", self.concentration),
                ("sparsity", self.sparsity),
                ("ties", self.ties),
                ("salt", self.salt),
            )
            if v != {"concentration": 1.0, "sparsity": 0.0, "ties": None, "salt": 0}[k]
        )
        return f"TableLM({self.vocab_size}, seed={self.seed}{extra})"

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        context = tuple(int(t) for t in context)
        law = self._table.get(context)
        if law is None:
            law = self._draw(context)
            law.setflags(write=False)
            self._table[context] = law
        return law

    def _draw(self, context: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng([_TABLE_TAG, self.seed, self.salt, len(context), *context])
        law = rng.dirichlet(np.full(self.vocab_size, self.concentration))
        if self.sparsity > 0:
            keep = rng.random(self.vocab_size) >= self.sparsity
            keep[int(np.argmax(law))] = True
            law = np.where(keep, law, 0.0)
        law = law / law.sum()
        if self.ties is not None:
            law = _round_to_grid(law, self.ties)
        return law


def _round_to_grid(law: np.ndarray, steps: int) -> np.ndarray:
    """Largest-remainder rounding of a law to multiples of 1/steps (keeps the largest entry > 0)."""
    scaled = law * steps
    units = np.floor(scaled).astype(np.int64)
    short = steps - int(units.sum())
    order = np.argsort(-(scaled - units), kind="stable")
    units[order[:short]] += 1
    if units.sum() == 0:  # pragma: no cover - impossible: the units sum to steps >= 1
        units[int(np.argmax(law))] = steps
    return units / steps


class BlendLM:
    """``(1 - weight) * base.probs(c) + weight * other.probs(c)`` for every context c."""

    def __init__(self, base: Any, other: Any, weight: float):
        if not (0.0 <= weight <= 1.0):
            raise InvalidInputError(f"weight: expected a number in [0, 1], got {weight!r}")
        self.base, self.other, self.weight = check_lm(base, "base"), check_lm(other, "other"), float(weight)
        self.vocab_size = vocab_size_of(base, "base")

    def __repr__(self) -> str:
        return f"BlendLM({self.base!r}, {self.other!r}, weight={self.weight!r})"

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        a = lm_probs(self.base, context, "base", self.vocab_size)
        b = lm_probs(self.other, context, "other", self.vocab_size)
        return (1.0 - self.weight) * a + self.weight * b


class ConstantLM:
    """The same law after every context (the token-level case)."""

    def __init__(self, law: Any):
        self.law = check_distribution(law, "law", batched=False)
        self.law.setflags(write=False)
        self.vocab_size = int(self.law.shape[0])

    def __repr__(self) -> str:
        return f"ConstantLM({self.law.tolist()!r})"

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        return self.law


def table_pair(
    vocab_size: int,
    seed: int = 0,
    *,
    similarity: float = 0.0,
    concentration: float = 1.0,
    sparsity: float = 0.0,
    ties: int | None = None,
) -> tuple[Any, Any]:
    """A (target, draft) pair of context-dependent table models from one seed.

    The draft is its own :class:`TableLM` (another salt), blended with the target by
    ``similarity`` (0: unrelated, 1: equal to the target). ``concentration``, ``sparsity``
    and ``ties`` apply to both tables.

    Examples
    --------
    >>> target, draft = table_pair(3, seed=0, similarity=0.5)
    >>> target.probs((1,)).shape == draft.probs((1,)).shape == (3,)
    True
    """
    options = {"concentration": concentration, "sparsity": sparsity, "ties": ties}
    target = TableLM(vocab_size, seed, salt=0, **options)
    own = TableLM(vocab_size, seed, salt=1, **options)
    if similarity == 0.0:
        return target, own
    return target, BlendLM(own, target, similarity)
