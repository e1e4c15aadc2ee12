"""Drafting laws: how the n draft tokens are drawn.

A drafting law is the joint law ``Q`` of the draft tuple ``x = (x_1..x_n)`` over a
vocabulary of V tokens. Five are supported:

* :class:`IID` -- n independent draws from one draft law q (the main case);
* :class:`WithoutReplacement` -- n sequential draws from q, each renormalised after
  removing the tokens already drawn (needs at least n tokens with q > 0);
* :class:`Independent` -- one draw from each of n different draft laws q_1..q_n;
* :class:`Joint` -- any explicit joint law, a table of shape (V,)*n;
* :class:`GreedyDrafting` -- the n-1 most likely tokens of q, then one draw from the rest
  (Hu et al.; the law of the ``greedy`` baseline).

Every law can enumerate its support exactly (ordered tuples, or the set of distinct tokens
the tuple contains, with probabilities), give ``P(all drafts in H)`` for a token subset H,
and sample. Enumeration refuses sizes above ``max_count`` with :class:`TooLargeError`.

Use :func:`drafting_law` to turn the ``drafting=`` argument of the public functions
(``"iid"``, ``"without_replacement"`` or a law object) into a law bound to its parameters.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .validation import InvalidInputError, TooLargeError, check_choice, check_distribution, check_n, to_numpy

#: Default cap on enumerated tuples or sets (exact methods refuse beyond it).
MAX_ENUMERATION = 2_000_000

#: Support sizes are counted exactly up to this value and reported as "more than" it beyond
#: (so that a huge n or V is refused at once instead of computing ``k**n`` as a big integer).
COUNT_CAP = 2**62


def capped_product(factors: Any) -> int:
    """Product of non-negative integers, or :data:`COUNT_CAP` once it reaches it (stops early)."""
    total = 1
    for factor in factors:
        total *= int(factor)
        if total == 0 or total >= COUNT_CAP:
            return min(total, COUNT_CAP)
    return total


def capped_power(base: int, exp: int) -> int:
    """``base**exp`` for integers >= 0, capped at :data:`COUNT_CAP` without computing it."""
    if base <= 1 or exp == 0:
        return 1 if exp == 0 else base
    return COUNT_CAP if exp * math.log2(base) >= 62 else min(base**exp, COUNT_CAP)


def capped_comb(k: int, j: int) -> int:
    """Binomial ``C(k, j)`` capped at :data:`COUNT_CAP` (partial products ``C(k-j+i, i)`` grow with i)."""
    if j < 0 or j > k:
        return 0
    j = min(j, k - j)
    value = 1
    for i in range(1, j + 1):
        value = value * (k - j + i) // i
        if value >= COUNT_CAP:
            return COUNT_CAP
    return value


def capped_perm(k: int, n: int) -> int:
    """Number of ordered n-tuples of distinct items out of k, capped at :data:`COUNT_CAP`."""
    return 0 if n > k else capped_product(range(k, k - n, -1))


def format_count(count: int) -> str:
    """``count`` with thousands separators, or ``"more than 4.6e18"`` for a capped count."""
    return f"{count:,}" if count < COUNT_CAP else f"more than {float(COUNT_CAP):.2g}"


def refuse_if_too_many(count: int, max_count: int, what: str) -> None:
    """Raise :class:`TooLargeError` when enumerating ``count`` items of ``what`` exceeds ``max_count``."""
    if count > max_count:
        raise TooLargeError(
            f"enumerating {what} would visit {format_count(count)} items, above the limit of {max_count:,}; "
            "use a smaller vocabulary or n, raise max_count, or use the statistical check "
            "(multidraft.properties) instead"
        )


def _aggregate_sets(tuples: np.ndarray, probs: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Group tuples by the set of distinct tokens they contain; sum their probabilities."""
    masks = np.zeros((len(tuples), vocab_size), dtype=bool)
    rows = np.repeat(np.arange(len(tuples)), tuples.shape[1])
    masks[rows, tuples.ravel()] = True
    unique, inverse = np.unique(masks, axis=0, return_inverse=True)
    total = np.zeros(len(unique))
    np.add.at(total, inverse.ravel(), probs)
    return unique, total


class DraftingLaw(ABC):
    """A joint law of n draft tokens over V tokens, bound to its parameters."""

    #: Short name used on the command line and in reports.
    name: str = "law"
    #: True if Q is invariant under permuting the draft positions.
    exchangeable: bool = False

    def __init__(self, vocab_size: int, n: int):
        self.vocab_size = int(vocab_size)
        self.n = int(n)

    @property
    @abstractmethod
    def draft_argument(self) -> np.ndarray:
        """What a verifier receives as ``draft``: q (V,), stacked q_k (n, V) or the table."""

    @abstractmethod
    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        """All draft tuples with positive probability.

        Returns ``(drafts, probs)``: int64 array (M, n) and float64 array (M,) summing to 1.
        """

    def multisets(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        """Law of the sorted draft tuple (the multiset of drafts), for an exchangeable law.

        Returns ``(multisets, probs)``: int64 (M, n) with ascending rows and float64 (M,),
        each the total probability of the tuples that sort to it. This default groups
        :meth:`tuples`; :class:`IID` enumerates multisets directly.
        """
        drafts, probs = self.tuples(max_count)
        keys, inverse = np.unique(np.sort(drafts, axis=1), axis=0, return_inverse=True)
        return keys.astype(np.int64), np.bincount(inverse.ravel(), weights=probs, minlength=len(keys))

    def sets(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        """Law of the set S of distinct draft tokens.

        Returns ``(masks, probs)``: bool array (M, V) (row m is the indicator of one set)
        and float64 array (M,) summing to 1.
        """
        drafts, probs = self.tuples(max_count)
        return _aggregate_sets(drafts, probs, self.vocab_size)

    def prob_all_in(self, subsets: np.ndarray) -> np.ndarray:
        """``P(all drafts in H)`` for each row H of a bool array (K, V); returns (K,)."""
        masks, probs = self.sets()
        subsets = np.atleast_2d(np.asarray(subsets, dtype=bool))
        outside = masks.astype(np.float64) @ (~subsets).T.astype(np.float64)  # (M, K)
        return probs @ (outside == 0)

    @abstractmethod
    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``size`` independent draft tuples; returns int64 (size, n)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(V={self.vocab_size}, n={self.n})"


class IID(DraftingLaw):
    """n i.i.d. draws from q: ``Q(x) = prod_i q(x_i)``."""

    name = "iid"
    exchangeable = True

    def __init__(self, draft: Any, n: int):
        self.q = check_distribution(draft, "draft", batched=False)
        super().__init__(self.q.shape[0], check_n(n))
        self.support = np.flatnonzero(self.q > 0)

    @property
    def draft_argument(self) -> np.ndarray:
        return self.q

    def multisets(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        """Sorted tuples (multisets) with their multinomial probabilities, (M, n) and (M,)."""
        k, n = len(self.support), self.n
        refuse_if_too_many(capped_comb(k + n - 1, n), max_count, "draft multisets")
        combos = np.array(list(itertools.combinations_with_replacement(self.support, n)), dtype=np.int64)
        combos = combos.reshape(-1, n)
        # multinomial coefficient n! / prod m_t! from run lengths of the sorted tuple:
        # dividing by the position of each entry within its run divides by prod m_t!
        log_coef = np.full(len(combos), math.lgamma(n + 1))
        run = np.ones(len(combos))
        for t in range(1, n):
            run = np.where(combos[:, t] == combos[:, t - 1], run + 1, 1.0)
            log_coef -= np.log(run)
        probs = np.exp(log_coef) * np.prod(self.q[combos], axis=1)
        return combos, probs

    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        k, n = len(self.support), self.n
        refuse_if_too_many(capped_power(k, n), max_count, "draft tuples")
        grids = np.array(list(itertools.product(self.support, repeat=n)), dtype=np.int64).reshape(-1, n)
        return grids, np.prod(self.q[grids], axis=1)

    def sets(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        combos, probs = self.multisets(max_count)
        return _aggregate_sets(combos, probs, self.vocab_size)

    def prob_all_in(self, subsets: np.ndarray) -> np.ndarray:
        subsets = np.atleast_2d(np.asarray(subsets, dtype=bool))
        return (subsets.astype(np.float64) @ self.q) ** self.n

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(self.vocab_size, size=(size, self.n), p=self.q).astype(np.int64)


class WithoutReplacement(DraftingLaw):
    """n sequential draws from q without replacement.

    ``Q(x) = prod_i q(x_i) / (1 - q(x_1) - ... - q(x_{i-1}))`` for distinct x_i.
    """

    name = "without_replacement"
    exchangeable = False  # the ordered tuple law is not symmetric; its set law is what matters

    def __init__(self, draft: Any, n: int):
        self.q = check_distribution(draft, "draft", batched=False)
        super().__init__(self.q.shape[0], check_n(n))
        self.support = np.flatnonzero(self.q > 0)
        if len(self.support) < self.n:
            raise InvalidInputError(
                f"draft: drawing n={self.n} drafts without replacement needs at least {self.n} "
                f"tokens with q > 0, got {len(self.support)}"
            )

    @property
    def draft_argument(self) -> np.ndarray:
        return self.q

    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        k, n = len(self.support), self.n
        refuse_if_too_many(capped_perm(k, n), max_count, "draft tuples")
        perms = np.array(list(itertools.permutations(self.support, n)), dtype=np.int64).reshape(-1, n)
        qs = self.q[perms]
        before = np.concatenate([np.zeros((len(perms), 1)), np.cumsum(qs, axis=1)[:, :-1]], axis=1)
        return perms, np.prod(qs / self._remaining(perms, 1.0 - before), axis=1)

    def _remaining(self, perms: np.ndarray, remaining: np.ndarray) -> np.ndarray:
        """Mass left before each draw, ``q(tokens not drawn yet)``, accurate to rounding.

        ``1 - (mass drawn)`` cancels when little mass is left (relative error ~1e-16 / left);
        where less than half is left it is recomputed as a direct sum over the complement.
        """
        rows = np.flatnonzero((remaining < 0.5).any(axis=1))
        q = self.q[self.support]
        position = np.full(self.vocab_size, -1)
        position[self.support] = np.arange(len(self.support))
        block = max(1, 2**20 // max(len(q), 1))
        for start in range(0, len(rows), block):
            chunk = rows[start : start + block]
            taken = np.zeros((len(chunk), len(q)), dtype=bool)
            for i in range(self.n):
                remaining[chunk, i] = np.where(taken, 0.0, q).sum(axis=1)
                taken[np.arange(len(chunk)), position[perms[chunk, i]]] = True
        return remaining

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        # Gumbel top-n is exactly sequential sampling without replacement.
        with np.errstate(divide="ignore"):
            logq = np.log(self.q)
        keys = logq[None, :] + rng.gumbel(size=(size, self.vocab_size))
        return np.argsort(-keys, axis=1, kind="stable")[:, : self.n].astype(np.int64)


class Independent(DraftingLaw):
    """One draw from each of n draft laws: ``Q(x) = prod_i q_i(x_i)``.

    Parameters
    ----------
    drafts : array-like, shape (n, V)
        Row i is the law of draft i.
    """

    name = "independent"
    exchangeable = False

    def __init__(self, drafts: Any):
        shape = to_numpy(drafts, "drafts").shape
        if len(shape) != 2:
            raise InvalidInputError(f"drafts: expected n draft laws stacked as shape (n, V), got shape {shape}")
        if shape[0] == 0:
            raise InvalidInputError(f"drafts: expected at least one draft law (n >= 1), got shape {shape}")
        self.qs = check_distribution(drafts, "drafts")
        super().__init__(self.qs.shape[1], self.qs.shape[0])

    @property
    def draft_argument(self) -> np.ndarray:
        return self.qs

    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        supports = [np.flatnonzero(row > 0) for row in self.qs]
        refuse_if_too_many(capped_product(len(s) for s in supports), max_count, "draft tuples")
        grids = np.array(list(itertools.product(*supports)), dtype=np.int64).reshape(-1, self.n)
        return grids, np.prod(self.qs[np.arange(self.n), grids], axis=1)

    def prob_all_in(self, subsets: np.ndarray) -> np.ndarray:
        subsets = np.atleast_2d(np.asarray(subsets, dtype=bool))
        return np.prod(subsets.astype(np.float64) @ self.qs.T, axis=1)

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        cols = [rng.choice(self.vocab_size, size=size, p=row) for row in self.qs]
        return np.stack(cols, axis=1).astype(np.int64)


class Joint(DraftingLaw):
    """An explicit joint law of the n drafts: a table of shape (V,)*n summing to 1."""

    name = "joint"

    def __init__(self, table: Any):
        arr = np.asarray(check_distribution(np.asarray(table, dtype=np.float64).reshape(-1), "table", batched=False))
        shape = np.shape(table)
        if len(shape) < 1 or len(set(shape)) != 1:
            raise InvalidInputError(f"table: expected a joint law of shape (V,)*n, got shape {shape}")
        self.table = arr.reshape(shape)
        super().__init__(shape[0], len(shape))
        self.exchangeable = (
            all(
                np.array_equal(self.table, np.transpose(self.table, perm))
                for perm in itertools.permutations(range(self.n))
            )
            if self.n <= 6
            else False
        )

    @property
    def draft_argument(self) -> np.ndarray:
        return self.table

    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        idx = np.argwhere(self.table > 0)
        refuse_if_too_many(len(idx), max_count, "draft tuples")
        return idx.astype(np.int64), self.table[tuple(idx.T)]

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        flat = rng.choice(self.table.size, size=size, p=self.table.ravel())
        return np.stack(np.unravel_index(flat, self.table.shape), axis=1).astype(np.int64)


def check_greedy_support(nonzero: int, n: int) -> None:
    """Greedy drafting of n drafts needs n tokens with q > 0 (n - 1 fixed, one sampled).

    Raises
    ------
    InvalidInputError
        If ``nonzero < n``.
    """
    if int(nonzero) < n:
        raise InvalidInputError(
            f"draft: greedy drafting of n={n} drafts needs at least {n} tokens with q > 0, got {int(nonzero)}"
        )


class GreedyDrafting(DraftingLaw):
    """Greedy drafting (Hu et al., ICLR 2025): the top n-1 tokens of q, then one sampled.

    ``x_1..x_{n-1} = T`` (the n-1 most likely tokens of q, ties to the lower id), and
    ``x_n ~ q' = q restricted to the complement of T, renormalised``. Needs at least n
    tokens with q > 0.
    """

    name = "greedy"
    exchangeable = False

    def __init__(self, draft: Any, n: int):
        self.q = check_distribution(draft, "draft", batched=False)
        super().__init__(self.q.shape[0], check_n(n))
        check_greedy_support(np.count_nonzero(self.q), self.n)
        self.top = np.argsort(-self.q, kind="stable")[: self.n - 1]
        rest = self.q.copy()
        rest[self.top] = 0.0
        self.last = rest / rest.sum()

    @property
    def draft_argument(self) -> np.ndarray:
        return self.q

    def tuples(self, max_count: int = MAX_ENUMERATION) -> tuple[np.ndarray, np.ndarray]:
        last = np.flatnonzero(self.last > 0)
        refuse_if_too_many(len(last), max_count, "draft tuples")
        drafts = np.concatenate([np.broadcast_to(self.top, (len(last), self.n - 1)), last[:, None]], axis=1)
        return drafts.astype(np.int64), self.last[last]

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        last = rng.choice(self.vocab_size, size=size, p=self.last)
        return np.concatenate([np.broadcast_to(self.top, (size, self.n - 1)), last[:, None]], axis=1).astype(np.int64)


DRAFTING_NAMES = ("iid", "without_replacement")


def drafting_law(drafting: Any, draft: Any, n: Any) -> DraftingLaw:
    """Bind the ``drafting=`` argument of a public function to its parameters.

    Parameters
    ----------
    drafting : {"iid", "without_replacement"} or DraftingLaw
        A name (built from ``draft`` and ``n``) or a law object (``Independent``, ``Joint``,
        or an already bound ``IID``/``WithoutReplacement``), whose own n must equal ``n``.
    draft : array-like (V,)
        The draft law q for named laws; ignored by law objects.
    n : int
        Number of drafts.
    """
    if isinstance(drafting, DraftingLaw):
        if n is not None and check_n(n) != drafting.n:
            raise InvalidInputError(f"n: {n} does not match the drafting law's n={drafting.n}")
        return drafting
    if drafting is None:
        drafting = "iid"
    check_choice(
        drafting,
        "drafting",
        DRAFTING_NAMES,
        hint="or a DraftingLaw object (IID, WithoutReplacement, Independent, Joint)",
    )
    return IID(draft, n) if drafting == "iid" else WithoutReplacement(draft, n)


#: Draft tuples drawn by :func:`check_law` to test a law's ``sample``.
LAW_SAMPLE_CHECK = 16


def check_law(law: Any, vocab_size: int, n: int, name: str = "law", max_count: int = MAX_ENUMERATION) -> DraftingLaw:
    """Validate a drafting law made by user code (e.g. a verifier's ``law(draft, n)``).

    Checks, each with its own message naming ``name``: it is a :class:`DraftingLaw`; its
    ``vocab_size`` and ``n`` are those of the problem; ``tuples()`` gives an integer array
    (M, n) of tokens inside ``[0, vocab_size)`` and probabilities (M,) that are finite,
    non-negative and sum to 1 (within 1e-9); ``sample(16, rng)`` gives integer tokens (16, n)
    inside the vocabulary. Returns the law.

    Raises
    ------
    InvalidInputError
        Naming the first fault found.
    """
    if not isinstance(law, DraftingLaw):
        raise InvalidInputError(
            f"{name}: expected a DraftingLaw (IID, WithoutReplacement, Independent, Joint or a subclass), "
            f"got {type(law).__name__}"
        )
    if law.vocab_size != vocab_size:
        raise InvalidInputError(f"{name}: vocabulary size {law.vocab_size} does not match the target's {vocab_size}")
    if law.n != n:
        raise InvalidInputError(f"{name}: has n = {law.n} drafts, expected n = {n}")
    drafts, probs = law.tuples(max_count)
    drafts, probs = np.asarray(drafts), np.asarray(probs)
    if drafts.ndim != 2 or drafts.shape[1] != n or probs.shape != (drafts.shape[0],):
        raise InvalidInputError(
            f"{name}: tuples() must give drafts (M, {n}) and probabilities (M,), got shapes {drafts.shape} and "
            f"{probs.shape}"
        )
    _check_tokens(drafts, vocab_size, f"{name}: tuples()")
    bad = ~np.isfinite(probs)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInputError(f"{name}: probability {probs[i]} of draft tuple {tuple(drafts[i])} is not finite")
    if (probs < 0).any():
        i = int(np.argmax(probs < 0))
        raise InvalidInputError(f"{name}: probability {probs[i]!r} of draft tuple {tuple(drafts[i])} is negative")
    total = float(probs.sum())
    if abs(total - 1.0) > 1e-9:
        raise InvalidInputError(f"{name}: probabilities of the draft tuples sum to {total!r}, expected 1 (within 1e-9)")
    sampled = np.asarray(law.sample(LAW_SAMPLE_CHECK, np.random.default_rng(0)))
    if sampled.shape != (LAW_SAMPLE_CHECK, n):
        raise InvalidInputError(
            f"{name}: sample({LAW_SAMPLE_CHECK}, rng) gave shape {sampled.shape}, expected ({LAW_SAMPLE_CHECK}, {n})"
        )
    _check_tokens(sampled, vocab_size, f"{name}: sample()")
    return law


def _check_tokens(drafts: np.ndarray, vocab_size: int, where: str) -> None:
    if drafts.size and drafts.dtype.kind not in "iu":
        raise InvalidInputError(f"{where} gave {drafts.dtype} draft tokens, expected integers")
    outside = (drafts < 0) | (drafts >= vocab_size)
    if outside.any():
        raise InvalidInputError(
            f"{where} gave token {int(drafts[outside][0])}, outside the vocabulary [0, {vocab_size})"
        )
