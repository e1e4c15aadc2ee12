"""(p, q) pairs from real text, fully offline: BPE tokens, a 4-gram target, a 2-gram draft.

Pipeline (every step deterministic)
-----------------------------------
1. Text: CPython's own pydoc topic help, split into training and held-out paragraphs
   (:mod:`.corpus`; 90% / 10% by default).
2. Tokenizer: a byte-level BPE with ``bpe_vocab`` tokens (default 3000) trained on the
   training part (:mod:`.bpe`; well under a second).
3. Models: interpolated Kneser-Ney n-gram models (:mod:`.ngram`) on the training tokens:
   the target of order ``target_order`` (default 4), the draft of order ``draft_order``
   (default 2), so the draft is a genuinely weaker model of the same text.
4. Pairs: on the held-out token stream ``x``, row i is the pair of next-token laws at
   position ``t_i = start + order_max - 1 + i`` (consecutive positions):
   ``p_i = P_target(. | x[:t_i])``, ``q_i = P_draft(. | x[:t_i])``, both over the full BPE
   vocabulary (every entry > 0), then tempered (``p^(1/T)``) and, for q only, top-k/top-p.

The models are cached in-process (:func:`text_models`), so several workloads with different
temperatures or truncations cost one training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from multidraft.validation import InvalidInputError, check_int

from .base import Workload
from .bpe import BPETokenizer
from .corpus import TextSplit, split_text
from .ngram import KneserNeyLM
from .progress import progress_bar
from .transforms import check_temperature, check_top_k, check_top_p, restrict, temper_law

#: Positions whose laws are built together (bounds temporaries to ~2 x 512 x V floats).
ROWS_PER_CHUNK = 512


@dataclass(frozen=True)
class TextModels:
    """The trained pieces behind the text workload."""

    split: TextSplit
    tokenizer: BPETokenizer
    target: KneserNeyLM
    draft: KneserNeyLM
    train_tokens: np.ndarray  # (T_train,) int64
    held_out_tokens: np.ndarray  # (T_held,) int64

    @property
    def first_position(self) -> int:
        """The first held-out position with a full context for both models."""
        return max(self.target.order, self.draft.order) - 1

    @property
    def available_positions(self) -> int:
        """How many consecutive held-out positions can be turned into pairs."""
        return len(self.held_out_tokens) - self.first_position


@functools.lru_cache(maxsize=4)
def text_models(
    bpe_vocab: int = 3000,
    target_order: int = 4,
    draft_order: int = 2,
    held_out: float = 0.1,
    max_chars: int | None = None,
) -> TextModels:
    """Train (or fetch from the in-process cache) the tokenizer and both n-gram models.

    Parameters
    ----------
    bpe_vocab : int >= 256
        BPE vocabulary size V.
    target_order, draft_order : int >= 1
        n-gram orders of the target and draft models.
    held_out : float in (0, 0.5]
        Fraction of paragraphs held out.
    max_chars : int, optional
        Use only the first ~``max_chars`` characters of the text (quick tests).
    """
    bpe_vocab = check_int(bpe_vocab, "bpe_vocab", min_value=256)
    target_order = check_int(target_order, "target_order", min_value=1)
    draft_order = check_int(draft_order, "draft_order", min_value=1)
    split = split_text(held_out, max_chars)
    tokenizer = BPETokenizer.train(split.train, bpe_vocab)
    train_tokens = tokenizer.encode(split.train)
    held_tokens = tokenizer.encode(split.held_out)
    V = tokenizer.vocab_size
    return TextModels(
        split,
        tokenizer,
        KneserNeyLM(target_order, V).fit(train_tokens),
        KneserNeyLM(draft_order, V).fit(train_tokens),
        train_tokens,
        held_tokens,
    )


def text_workload(
    positions: int = 4096,
    *,
    start: int = 0,
    bpe_vocab: int = 3000,
    target_order: int = 4,
    draft_order: int = 2,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    held_out: float = 0.1,
    max_chars: int | None = None,
    progress: bool = False,
) -> Workload:
    """(p, q) pairs at ``positions`` consecutive held-out positions (pipeline in the module doc).

    Parameters
    ----------
    positions : int >= 1
        Number of rows B (at most :attr:`TextModels.available_positions`, ~12,600 with
        the defaults).
    start : int >= 0
        Offset of the first row among the available positions.
    bpe_vocab, target_order, draft_order, held_out, max_chars
        Passed to :func:`text_models`.
    temperature : float > 0
        Applied to both laws (``p^(1/T)`` renormalised).
    top_k, top_p : optional
        Restriction of q (exactly k nonzeros per row with ``top_k``).
    progress : bool
        tqdm bar on stderr for work lasting over ~2 s.

    Returns
    -------
    Workload with float64 (B, V) laws, V = ``bpe_vocab``, and ``meta`` (source
    ``"text:pydoc"``, orders, start, temperature, top_k, top_p, and the held-out
    perplexities ``target_ppl``/``draft_ppl`` of the untempered models on these rows).
    """
    positions = check_int(positions, "positions", min_value=1)
    start = check_int(start, "start", min_value=0)
    temperature = check_temperature(temperature)
    top_p = check_top_p(top_p)
    models = text_models(bpe_vocab, target_order, draft_order, held_out, max_chars)
    V = models.tokenizer.vocab_size
    top_k = check_top_k(top_k, V)
    if start + positions > models.available_positions:
        raise InvalidInputError(
            f"positions: start + positions = {start + positions} exceeds the {models.available_positions} "
            "held-out positions available"
        )
    tokens = models.held_out_tokens
    at = models.first_position + start + np.arange(positions)
    p = np.empty((positions, V))
    q = np.empty((positions, V))
    log_p = log_q = 0.0
    chunks = [at[i : i + ROWS_PER_CHUNK] for i in range(0, positions, ROWS_PER_CHUNK)]
    row = 0
    for chunk in progress_bar(chunks, enabled=progress, desc="n-gram laws"):
        rows = slice(row, row + len(chunk))
        p[rows] = models.target.next_token_laws(tokens, chunk)
        q[rows] = models.draft.next_token_laws(tokens, chunk)
        nxt = tokens[chunk]
        log_p += float(np.log(p[rows][np.arange(len(chunk)), nxt]).sum())
        log_q += float(np.log(q[rows][np.arange(len(chunk)), nxt]).sum())
        if temperature != 1.0:
            p[rows] = temper_law(p[rows], temperature)
            q[rows] = temper_law(q[rows], temperature)
        restrict(q[rows], top_k, top_p, inplace=True)
        row += len(chunk)
    meta = {
        "source": "text:pydoc",
        "bpe_vocab": V,
        "target_order": models.target.order,
        "draft_order": models.draft.order,
        "start": start,
        "temperature": temperature,
        "top_k": top_k or 0,
        "top_p": top_p or 1.0,
        "held_out": float(held_out),
        "max_chars": max_chars or 0,
        "target_ppl": float(np.exp(-log_p / positions)),
        "draft_ppl": float(np.exp(-log_q / positions)),
    }
    return Workload(p, q, meta)
