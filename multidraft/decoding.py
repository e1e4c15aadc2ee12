"""A speculative decoder over any pair of language models: draft a tree, verify, append, repeat.

One *block* from context ``c`` (one target call):

1. draft a tree T from the draft model by a structure (:meth:`multidraft.trees.Branching.sample`,
   with a ``numpy.random.Generator`` seeded once per decode from the caller's
   ``torch.Generator``, so every block draws fresh noise);
2. the target laws at the root and after every node, (N + 1, V) -- computed in one batched
   call when the target model has ``probs_batch(contexts) -> (B, V)`` (the n-gram text models
   do), the analogue of the one target forward that scores the whole tree; the draft laws
   come from the drafting itself (memoised);
3. a tree verifier's sampling interface ``g(tree, target, draft, generator) -> O``, timed
   (wall seconds, ``time.perf_counter``), with the caller's generator;
4. O (an accepted path plus one token, ``1 <= |O| <= depth + 1``) is appended: ``c <- c + O``.

A :class:`SpeculativeDecoder` is itself a decoder in the sense of ``multidraft
check-decoder``: ``decoder(target_lm, draft_lm, context, max_tokens, generator) -> tokens``
(exactly ``max_tokens`` tokens; the last block is cut). :meth:`SpeculativeDecoder.run`
returns the full record (:class:`Decoding`: every block's O, accepted path, tree size and
verifier time) and :meth:`SpeculativeDecoder.run_batch` decodes several prompts in lock
step, one batched target call per round for all of them.

Block efficiency from records: :func:`tokens_per_call` -- the ratio estimator
``sum |O| / blocks`` over prompts, with a 95% interval clustered by prompt (blocks of one
stream are dependent; prompts are independent).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lm import CachedLM, check_context, check_lm, lm_probs, vocab_size_of
from .randomness import as_generator
from .trees import Branching, DraftTree, accepts, as_emitted, tree_sampler_of
from .validation import InvalidInputError

#: z of a two-sided 95% normal interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Block:
    """One verified block.

    Attributes
    ----------
    emitted : tuple of int
        O, the tokens appended (accepted path + one token).
    path : tuple of int
        The tree nodes of the accepted path (``len(emitted) - 1`` of them).
    nodes : int
        N, nodes of the draft tree.
    drafted : int
        Draft tokens drawn (``sum(tree.draws)``: K L for K i.i.d. paths of length L).
    depth : int
        Depth of the draft tree.
    verifier_s : float
        Wall seconds of the verifier call.
    """

    emitted: tuple[int, ...]
    path: tuple[int, ...]
    nodes: int
    drafted: int
    depth: int
    verifier_s: float


@dataclass
class Decoding:
    """The record of one decode: ``context``, the generated ``tokens`` and every ``blocks`` entry."""

    context: tuple[int, ...]
    tokens: list[int] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    @property
    def emitted(self) -> int:
        """Tokens emitted by the blocks (the last block uncut): ``sum |O|``."""
        return sum(len(b.emitted) for b in self.blocks)


def accepted_path(tree: DraftTree, emitted: tuple[int, ...]) -> tuple[int, ...]:
    """The nodes of ``emitted[:-1]`` in ``tree``; refuses an O that is not a path plus one token."""
    if not 1 <= len(emitted) <= tree.depth + 1:
        raise InvalidInputError(f"verifier: emitted {emitted!r}: expected 1 to depth + 1 = {tree.depth + 1} tokens")
    nodes, node = [], -1
    for token in emitted[:-1]:
        node = tree.child_with_token(node, token)
        if node < 0:
            raise InvalidInputError(f"verifier: emitted {emitted!r}, whose prefix is not a path of the draft tree")
        nodes.append(node)
    return tuple(nodes)


def target_laws(target_lm: Any, contexts: list[tuple[int, ...]], vocab_size: int) -> np.ndarray:
    """Target laws at many contexts, (B, V): one ``probs_batch`` call if the model has one."""
    batch = getattr(target_lm, "probs_batch", None)
    if callable(batch):
        laws = np.asarray(batch(contexts), dtype=np.float64)
        if laws.shape != (len(contexts), vocab_size):
            raise InvalidInputError(
                f"target_lm: probs_batch returned shape {laws.shape}, expected ({len(contexts)}, {vocab_size})"
            )
        return laws
    return np.stack([lm_probs(target_lm, c, "target_lm", vocab_size) for c in contexts])


def as_torch_generator(generator: Any) -> Any:
    """The caller's randomness as one ``torch.Generator`` for a whole decode (an int seeds a fresh one).

    Converted once, so that every block draws on the same advancing generator: handing an
    int seed to every block's verifier would replay the same noise block after block.
    """
    if generator is None:
        raise InvalidInputError("generator: expected a seeded torch.Generator (or an int seed), got None")
    return as_generator(generator)


def _seed_from(generator: Any) -> int:
    """A 62-bit seed drawn from a ``torch.Generator``."""
    import torch

    return int(torch.randint(0, 2**62, (1,), generator=generator))


class SpeculativeDecoder:
    """Speculative decoding with a draft ``structure`` and a tree ``verifier`` (module doc).

    Parameters
    ----------
    structure : Branching
        How each block's tree is drafted (``chain(L)``, ``paths(K, L)``, ...).
    verifier : tree verifier
        Anything with the sampling interface ``g(tree, target, draft, generator) -> O`` (or a
        ``.sample`` method); if it declares ``accepts(structure)``, that must hold.
    name : str, optional
        A label (default ``"<verifier>@<structure>"``).

    Examples
    --------
    >>> import torch
    >>> from multidraft.trees import chain, table_pair
    >>> def nss(tree, target, draft, generator):   # sample from p, descend while it is a child
    ...     out, node = [], -1
    ...     while True:
    ...         token = int(torch.multinomial(torch.from_numpy(target[node + 1]), 1, generator=generator))
    ...         out.append(token)
    ...         node = tree.child_with_token(node, token)
    ...         if node < 0 or not len(tree.children(node)):
    ...             return out if node < 0 else out + [int(torch.multinomial(torch.from_numpy(
    ...                 target[node + 1]), 1, generator=generator))]
    >>> target, draft = table_pair(3, seed=0, similarity=0.5)
    >>> decode = SpeculativeDecoder(chain(2), nss)
    >>> tokens = decode(target, draft, (0,), 5, torch.Generator().manual_seed(0))
    >>> len(tokens), all(0 <= t < 3 for t in tokens)
    (5, True)
    """

    def __init__(self, structure: Branching, verifier: Any, name: str | None = None):
        if not isinstance(structure, Branching):
            raise InvalidInputError(
                f"structure: expected a draft structure (chain, paths, branching, delayed), "
                f"got {type(structure).__name__}"
            )
        self.structure = structure
        self.verifier = verifier
        self._sample = tree_sampler_of(verifier)
        if not accepts(verifier, structure):
            raise InvalidInputError(
                f"verifier: {getattr(verifier, 'name', verifier)!r} does not accept structure {structure.name}"
            )
        label = getattr(verifier, "name", None) or getattr(verifier, "__name__", None) or type(verifier).__name__
        self.name = name or f"{label}@{structure.name}"

    def __repr__(self) -> str:
        return f"SpeculativeDecoder({self.name})"

    # ------------------------------------------------------------------ one block
    def drafting_rng(self, generator: Any) -> np.random.Generator:
        """The drafting noise of one decode: a numpy Generator seeded from ``generator`` once."""
        return np.random.default_rng(_seed_from(generator))

    def draft(self, draft_lm: CachedLM, context: tuple[int, ...], rng: np.random.Generator) -> DraftTree:
        """One block's draft tree (``draft_lm`` memoises the draft laws the verifier gets)."""
        return self.structure.sample(draft_lm, context, rng)

    def verify(
        self, tree: DraftTree, target: np.ndarray, draft: np.ndarray, generator: Any
    ) -> tuple[tuple[int, ...], float]:
        """``(O, wall seconds)`` of the verifier on one tree."""
        start = time.perf_counter()
        out = self._sample(tree, target, draft, generator)
        seconds = time.perf_counter() - start
        return as_emitted(out), seconds

    # ------------------------------------------------------------------ decoding
    def __call__(
        self, target_lm: Any, draft_lm: Any, context: Sequence[int], max_tokens: int, generator: Any
    ) -> list[int]:
        """``max_tokens`` tokens after ``context`` (the decoder interface of ``check-decoder``)."""
        return self.run(target_lm, draft_lm, context, max_tokens, generator).tokens

    def run(self, target_lm: Any, draft_lm: Any, context: Sequence[int], max_tokens: int, generator: Any) -> Decoding:
        """Decode one prompt; the :class:`Decoding` record."""
        return self.run_batch(target_lm, draft_lm, [context], max_tokens, [generator])[0]

    def run_batch(
        self,
        target_lm: Any,
        draft_lm: Any,
        contexts: Sequence[Sequence[int]],
        max_tokens: int,
        generators: Sequence[Any],
    ) -> list[Decoding]:
        """Decode B prompts in lock step, prompt b with ``generators[b]``; one record each.

        Each round drafts a tree for every unfinished prompt, then gets the target laws of
        all their nodes in one batched call, then verifies each tree. Prompt b's tokens
        depend only on its own generator (same as decoding it alone).
        """
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 0:
            raise InvalidInputError(f"max_tokens: expected an integer >= 0, got {max_tokens!r}")
        contexts = [check_context(c) for c in contexts]
        if len(generators) != len(contexts):
            raise InvalidInputError(f"generators: expected one per context ({len(contexts)}), got {len(generators)}")
        check_lm(target_lm, "target_lm")
        V = vocab_size_of(draft_lm, "draft_lm")
        generators = [as_torch_generator(g) for g in generators]
        records = [Decoding(c) for c in contexts]
        rngs = [self.drafting_rng(g) for g in generators]
        while True:
            active = [b for b, r in enumerate(records) if len(r.tokens) < max_tokens]
            if not active:
                break
            drafted = []
            rows: list[tuple[int, ...]] = []
            for b in active:
                ctx = records[b].context + tuple(records[b].tokens)
                q_lm = CachedLM(draft_lm, "draft_lm", V)
                tree = self.draft(q_lm, ctx, rngs[b])
                node_contexts = [ctx] + [ctx + tree.path(i) for i in range(tree.size)]
                draft = np.stack([q_lm.probs(c) for c in node_contexts])
                drafted.append((b, tree, draft, len(rows)))
                rows.extend(node_contexts)
            target_all = target_laws(target_lm, rows, V)
            for b, tree, draft, start in drafted:
                target = target_all[start : start + tree.size + 1]
                emitted, seconds = self.verify(tree, target, draft, generators[b])
                if any(t < 0 or t >= V for t in emitted):
                    raise InvalidInputError(f"verifier: emitted {emitted!r}, a token outside [0, {V})")
                path = accepted_path(tree, emitted)
                record = records[b]
                record.blocks.append(Block(emitted, path, tree.size, int(tree.draws.sum()), tree.depth, seconds))
                record.tokens.extend(emitted[: max_tokens - len(record.tokens)])
        return records


@dataclass(frozen=True)
class Efficiency:
    """Tokens per target call from decoding records, with a 95% interval.

    ``value = sum_b |O_b| / #blocks`` over all prompts (the last block of each prompt
    uncut); ``low``/``high`` from the delta method for a ratio of per-prompt sums (prompts
    independent): ``var = sum_i (y_i - value x_i)^2 / (n (n - 1) xbar^2)``, ``y_i`` the tokens
    and ``x_i`` the blocks of prompt i. With one prompt the interval is NaN.
    """

    value: float
    low: float
    high: float
    blocks: int
    prompts: int

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)


def tokens_per_call(records: Sequence[Decoding]) -> Efficiency:
    """The block efficiency of decoding records (:class:`Efficiency`)."""
    y = np.array([r.emitted for r in records], dtype=np.float64)
    x = np.array([len(r.blocks) for r in records], dtype=np.float64)
    if x.sum() == 0:
        raise InvalidInputError("records: no blocks were decoded")
    value = float(y.sum() / x.sum())
    n = len(records)
    if n < 2:
        return Efficiency(value, float("nan"), float("nan"), int(x.sum()), n)
    se = float(np.sqrt(np.sum((y - value * x) ** 2) / (n * (n - 1))) / x.mean())
    return Efficiency(value, value - Z95 * se, value + Z95 * se, int(x.sum()), n)
