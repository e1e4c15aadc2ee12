"""Language models on real text through the ``probs(context)`` contract, drafts of graded quality.

The multi-step tools (decoder, block efficiency, ``bench multistep``) need a target and a
draft *language model*: an object answering ``probs(context) -> (V,) float64`` for any
context tuple. This module builds them from the text workload's pieces (:mod:`.text`: the
pydoc text, its BPE tokenizer, interpolated Kneser-Ney n-gram models, nothing downloaded).

Models
------
A :class:`TextLM` is a mixture of n-gram models, tempered:

    P(. | h) = temper( sum_i w_i P_{n_i}(. | h), T ),    temper(r, T) = r^(1/T) / sum r^(1/T),

with ``P_n`` the order-n Kneser-Ney model trained on the training part of the text, weights
``w_i > 0`` summing to 1 and the sampling temperature ``T`` applied last, as an engine applies
it to the logits of whichever model it samples. Every entry is > 0 (Kneser-Ney smooths
towards uniform). Only the last ``max(n_i) - 1`` tokens of a context matter.

Pairs (:data:`DRAFTS`)
----------------------
The target is always the order-4 model (the text workload's target). Drafts of graded
quality, weakest first:

=========  =====================================  ==========================================
name       draft law                               idea
=========  =====================================  ==========================================
unigram    ``P_1``                                 no context at all
bigram     ``P_2``                                 the text workload's draft
trigram    ``P_3``                                 a closer lower-order model
mix50      ``0.5 P_4 + 0.5 P_2``                   the target interpolated with a weaker model
mix80      ``0.8 P_4 + 0.2 P_2``                   a draft close to the target (distilled-like)
=========  =====================================  ==========================================

so that the single-draft acceptance ``E_h[1 - TV(p(.|h), q(.|h))]`` (measured on held-out
contexts by :func:`pair_acceptance`) spans the range of real model pairs; docs/multistep.md
lists the measured values and the published regimes they resemble.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.validation import InvalidInputError

from .ngram import KneserNeyLM
from .text import text_models
from .transforms import check_temperature, temper_law

#: Order of the target model of every pair.
TARGET_ORDER = 4

#: Laws kept by each model's LRU cache (about 100 MB at V = 3000).
CACHE_SIZE = 4096

#: Draft models: name -> ((order, weight), ...) of the mixture (weights sum to 1).
DRAFTS: dict[str, tuple[tuple[int, float], ...]] = {
    "unigram": ((1, 1.0),),
    "bigram": ((2, 1.0),),
    "trigram": ((3, 1.0),),
    "mix50": ((4, 0.5), (2, 0.5)),
    "mix80": ((4, 0.8), (2, 0.2)),
}


class TextLM:
    """A tempered mixture of n-gram models answering ``probs(context)``.

    Parameters
    ----------
    components : sequence of (KneserNeyLM, weight)
        Fitted models over one vocabulary and their mixture weights (> 0, summing to 1
        within 1e-12).
    temperature : float > 0
        Applied to the mixture (``r^(1/T)`` renormalised); 1 leaves it unchanged.
    name : str
        A label for tables.
    cache_size : int
        Contexts whose laws are kept (LRU); 0 disables the cache.

    Attributes
    ----------
    vocab_size : int
        V.
    context_width : int
        ``max order - 1``: how many of the latest tokens of a context are read.
    """

    def __init__(
        self,
        components: Sequence[tuple[KneserNeyLM, float]],
        temperature: float = 1.0,
        name: str = "lm",
        cache_size: int = CACHE_SIZE,
    ):
        components = list(components)
        if not components:
            raise InvalidInputError("components: expected at least one (model, weight) pair")
        sizes = {model.vocab_size for model, _ in components}
        if len(sizes) != 1:
            raise InvalidInputError(f"components: models over different vocabularies {sorted(sizes)}")
        weights = np.array([float(w) for _, w in components])
        if not np.all(weights > 0) or abs(weights.sum() - 1.0) > 1e-12:
            raise InvalidInputError(f"components: weights must be > 0 and sum to 1, got {weights.tolist()}")
        self.components = [(model, float(w)) for (model, _), w in zip(components, weights)]
        self.temperature = check_temperature(temperature)
        self.vocab_size = sizes.pop()
        self.context_width = max(model.order for model, _ in components) - 1
        self.name = str(name)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        parts = " + ".join(f"{w:g} P{m.order}" for m, w in self.components)
        return f"TextLM({self.name}: {parts}, T={self.temperature:g}, V={self.vocab_size})"

    def _check_context(self, context: Any) -> tuple[int, ...]:
        try:
            ctx = tuple(int(t) for t in context)
        except (TypeError, ValueError):
            raise InvalidInputError(f"context: expected a tuple of token ids, got {context!r}") from None
        if ctx and (min(ctx) < 0 or max(ctx) >= self.vocab_size):
            raise InvalidInputError(f"context: token ids must lie in [0, {self.vocab_size}), got {context!r}")
        return ctx

    def _mixture(self, contexts: np.ndarray) -> np.ndarray:
        """Untempered mixture laws for equal-length contexts (B, W), W <= context_width: (B, V)."""
        laws = np.zeros((contexts.shape[0], self.vocab_size))
        for model, weight in self.components:
            laws += weight * model.laws(contexts)
        return laws

    def probs_batch(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """Next-token laws of B contexts (tuples of any lengths): float64 (B, V), rows > 0 summing to 1.

        Contexts are cut to their last :attr:`context_width` tokens; laws already computed
        are served from an LRU cache of ``cache_size`` contexts (drafted trees revisit the
        same contexts), the others computed in one batched n-gram evaluation per distinct
        (short) length.
        """
        width = self.context_width
        cut = [self._check_context(c) for c in contexts]
        cut = [c[len(c) - min(len(c), width) :] if width else () for c in cut]
        out = np.empty((len(cut), self.vocab_size))
        missing: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(cut):
            law = self._cache.get(c)
            if law is None:
                missing.setdefault(c, []).append(i)
            else:
                self._cache.move_to_end(c)
                out[i] = law
        for length in sorted({len(c) for c in missing}):
            keys = [c for c in missing if len(c) == length]
            laws = self._mixture(np.array(keys, dtype=np.int64).reshape(len(keys), length))
            if self.temperature != 1.0:
                laws = temper_law(laws, self.temperature)
            laws /= laws.sum(axis=1, keepdims=True)
            for key, law in zip(keys, laws):
                out[missing[key]] = law
                if self.cache_size > 0:
                    self._cache[key] = law
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def probs(self, context: Sequence[int]) -> np.ndarray:
        """The next-token law after ``context`` (a tuple of token ids): float64 (V,)."""
        return self.probs_batch([context])[0]


@functools.lru_cache(maxsize=16)
def _fitted(order: int, bpe_vocab: int, max_chars: int | None) -> KneserNeyLM:
    models = text_models(bpe_vocab, TARGET_ORDER, 2, 0.1, max_chars)
    return KneserNeyLM(order, models.tokenizer.vocab_size).fit(models.train_tokens)


@dataclass(frozen=True)
class TextPair:
    """A target and a draft language model on the pydoc text, and the held-out stream.

    Attributes
    ----------
    target, draft : TextLM
    draft_name : str
        A key of :data:`DRAFTS`.
    held_out_tokens : np.ndarray, int64 (T,)
        The held-out BPE stream: prompts (contexts) for decoding are taken from it.
    """

    target: TextLM
    draft: TextLM
    draft_name: str
    held_out_tokens: np.ndarray

    def prompts(self, count: int, length: int = TARGET_ORDER - 1, *, seed: int = 0) -> list[tuple[int, ...]]:
        """``count`` contexts of ``length`` tokens at distinct held-out positions, drawn with ``seed``.

        Positions are drawn without replacement from ``numpy.random.default_rng(seed)``, so
        the prompts are real text contexts, in the same order for every pair and verifier.
        """
        tokens = self.held_out_tokens
        available = len(tokens) - length + 1
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= available:
            raise InvalidInputError(f"count: expected an integer in [1, {available}], got {count!r}")
        starts = np.sort(np.random.default_rng(seed).choice(available, size=int(count), replace=False))
        return [tuple(int(t) for t in tokens[s : s + length]) for s in starts]


def text_pair(
    draft: str = "bigram", *, temperature: float = 1.0, bpe_vocab: int = 3000, max_chars: int | None = None
) -> TextPair:
    """The order-4 target and the draft ``draft`` (a key of :data:`DRAFTS`), both at ``temperature``.

    Parameters
    ----------
    draft : str
        One of ``unigram``, ``bigram``, ``trigram``, ``mix50``, ``mix80`` (module doc).
    temperature : float > 0
        Sampling temperature of both models.
    bpe_vocab : int >= 256
        BPE vocabulary size V.
    max_chars : int, optional
        Train on the first ~``max_chars`` characters only (quick tests).
    """
    if draft not in DRAFTS:
        raise InvalidInputError(f"draft: expected one of {', '.join(DRAFTS)}, got {draft!r}")
    temperature = check_temperature(temperature)
    target = TextLM([(_fitted(TARGET_ORDER, bpe_vocab, max_chars), 1.0)], temperature, name="4-gram")
    parts = [(_fitted(order, bpe_vocab, max_chars), weight) for order, weight in DRAFTS[draft]]
    held = text_models(bpe_vocab, TARGET_ORDER, 2, 0.1, max_chars).held_out_tokens
    return TextPair(target, TextLM(parts, temperature, name=draft), draft, held)


def pair_acceptance(pair: TextPair, contexts: int = 2000, *, seed: int = 0) -> tuple[float, float]:
    """Single-draft acceptance ``E_h[sum_v min(p(v|h), q(v|h))]`` over held-out contexts.

    Averaged over ``contexts`` prompts of :meth:`TextPair.prompts` (seeded); returns
    ``(mean, standard error)``.
    """
    prompts = pair.prompts(contexts, seed=seed)
    p = pair.target.probs_batch(prompts)
    q = pair.draft.probs_batch(prompts)
    accept = np.minimum(p, q).sum(axis=1)
    return float(accept.mean()), float(accept.std(ddof=1) / np.sqrt(len(accept))) if len(accept) > 1 else float("nan")
