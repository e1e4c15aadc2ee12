"""Checking a whole speculative decoder: is its token stream the target's, block after block?

A *decoder* is a callable ``decode(target_lm, draft_lm, context, max_tokens, generator) ->
tokens``: it generates at least ``max_tokens`` tokens after ``context`` (a tuple of ids)
from the two language models (``probs(context) -> (V,)``), drawing all its randomness from
``generator`` (a seeded ``torch.Generator``). Lossless means: the tokens have the target's
sequence law, whatever the draft. Bugs that keep every single block lossless -- noise or a
cache reused across blocks, a bonus token drawn after the wrong context -- only show in the
joint law of tokens from *several* blocks, so the check looks at the stream.

The check (statistical)
-----------------------
On ``models`` generated context-dependent pairs (:func:`multidraft.lm.table_pair`: every
context its own target and draft law; peaked laws so that prefixes repeat; drafts from
unrelated to close; small V), per pair:

1. ``streams`` independent decodes of ``tokens`` = M tokens from one context, stream i with
   ``torch.Generator().manual_seed(s_i)``, ``s_i`` from ``numpy.random.SeedSequence([seed,
   pair, i])``;
2. the chain-rule G-test of their first M tokens against the target's sequence law
   (:func:`multidraft.properties.sequences.sequence_g_test`): one p-value per pair, and the
   per-prefix terms that locate a fault (the prefix, the position of the token, which token
   is over-represented).

Bonferroni over the pairs: each pair's test runs at level ``alpha / models``, so a correct
decoder fails the check with probability at most ``alpha`` (default 1e-6; up to the
chi-square approximation, measured in tests/properties/test_sequences.py). Besides, and not
statistical: **reproducible** (the same seed gives the same tokens, checked on the first
pair's first streams) and **well-formed** (integer ids in [0, V), at least M of them).

An exact mode (every random draw of the decoder controlled) would need a controlled-uniform
harness; it is not part of this check.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from multidraft.lm import table_pair
from multidraft.validation import InvalidInputError

from .sequences import SequenceTest, sequence_g_test

#: Default family-wise false-alarm rate of the decoder check.
ALPHA = 1e-6
#: Streams compared by the reproducibility check.
REPRO_STREAMS = 20
#: The generated pairs, cycled: (draft similarity to the target, Dirichlet concentration).
PAIR_SHAPES = ((0.0, 0.5), (0.5, 0.3), (0.8, 0.5), (0.3, 1.0))


@dataclass
class DecoderCheckConfig:
    """Settings of :func:`check_decoder`.

    vocab : (lo, hi)
        Vocabulary sizes of the generated pairs (cycled over the pairs).
    models : int
        Generated (target, draft) pairs.
    streams : int
        Decodes per pair (S).
    tokens : int
        M, the tokens tested per stream (should span several blocks of the decoder).
    alpha : float
        Family-wise false-alarm rate.
    seed : int
    """

    vocab: tuple[int, int] = (2, 3)
    models: int = 3
    streams: int = 4000
    tokens: int = 4
    alpha: float = ALPHA
    seed: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.vocab
        if not (isinstance(lo, int) and isinstance(hi, int) and 2 <= lo <= hi):
            raise InvalidInputError(f"vocab: expected sizes 2 <= lo <= hi, got {self.vocab!r}")
        for name, lowest in (("models", 1), ("streams", 10), ("tokens", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise InvalidInputError(f"{name}: expected an integer >= {lowest}, got {value!r}")
        if not (0.0 < self.alpha < 1.0):
            raise InvalidInputError(f"alpha: expected a number in (0, 1), got {self.alpha!r}")
        if hi**self.tokens > 10**6:
            raise InvalidInputError(f"tokens: V^M = {hi}^{self.tokens} sequences is too many to test (max 10^6)")


@dataclass
class PairResult:
    """The verdict on one generated pair: its description, the test and the per-pair level."""

    pair: int
    description: str
    context: tuple[int, ...]
    level: float
    test: SequenceTest

    @property
    def passed(self) -> bool:
        return self.test.p_value >= self.level


@dataclass
class DecoderReport:
    """All verdicts of one decoder check."""

    decoder: str
    config: DecoderCheckConfig
    pairs: list[PairResult] = field(default_factory=list)
    reproducible: bool = True
    problems: list[str] = field(default_factory=list)  # well-formedness / reproducibility failures

    @property
    def passed(self) -> bool:
        return self.reproducible and not self.problems and all(p.passed for p in self.pairs)

    def render(self) -> str:
        c = self.config
        lines = [
            f"decoder check of {self.decoder}: {'PASS' if self.passed else 'FAIL'}",
            f"{c.models} generated pairs x {c.streams} streams, first {c.tokens} tokens; family-wise "
            f"false-alarm rate {c.alpha:g} (level {c.alpha / c.models:.2g} per pair), seed {c.seed}",
            "",
        ]
        head = ("pair", "model", "G", "df", "p-value", "verdict", "G by position", "TV detectable (90%)")
        rows = [head]
        for p in self.pairs:
            t = p.test
            rows.append(
                (
                    str(p.pair),
                    p.description,
                    f"{t.statistic:.1f}",
                    str(t.df),
                    f"{t.p_value:.2g}",
                    "PASS" if p.passed else "FAIL",
                    " ".join(f"{g:.0f}/{d}" for g, d in t.by_depth),
                    f"{t.detectable(p.level):.2g}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(f"reproducible (same seed, same tokens): {'yes' if self.reproducible else 'NO'}")
        for problem in self.problems:
            lines.append(f"problem: {problem}")
        for p in self.pairs:
            if not p.passed:
                lines.append(f"pair {p.pair} ({p.description}, context {p.context}): worst prefixes")
                lines += [f"  {term.describe()}" for term in p.test.worst]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return str(x)
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        return clean(
            {
                "decoder": self.decoder,
                "passed": self.passed,
                "config": asdict(self.config),
                "reproducible": self.reproducible,
                "problems": self.problems,
                "pairs": [
                    {
                        "pair": p.pair,
                        "model": p.description,
                        "context": list(p.context),
                        "level": p.level,
                        "passed": p.passed,
                        **asdict(p.test),
                    }
                    for p in self.pairs
                ],
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def generated_pair(index: int, config: DecoderCheckConfig) -> tuple[Any, Any, tuple[int, ...], str]:
    """Pair ``index`` of a check: (target, draft, context, description), deterministic in the config."""
    lo, hi = config.vocab
    V = lo + index % (hi - lo + 1)
    similarity, concentration = PAIR_SHAPES[index % len(PAIR_SHAPES)]
    seed = int(np.random.SeedSequence([config.seed, index, 0xDEC]).generate_state(1)[0])
    target, draft = table_pair(V, seed, similarity=similarity, concentration=concentration)
    rng = np.random.default_rng(seed)
    context = tuple(int(t) for t in rng.integers(0, V, size=index % 3))
    return target, draft, context, f"V={V} table, similarity {similarity:g}, concentration {concentration:g}"


def stream_seed(config: DecoderCheckConfig, pair: int, stream: int) -> int:
    """The seed of stream ``stream`` of pair ``pair`` (module doc)."""
    return int(np.random.SeedSequence([config.seed, pair, stream]).generate_state(1)[0] >> 1)


def _decode(
    decoder: Callable[..., Any], target: Any, draft: Any, context: tuple[int, ...], tokens: int, seed: int
) -> Any:
    import torch

    return decoder(target, draft, context, tokens, torch.Generator().manual_seed(seed))


def _as_tokens(value: Any) -> tuple[int, ...] | None:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like is malformed
        return None
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu" and not np.all(arr == np.round(arr))):
        return None
    return tuple(int(t) for t in arr)


def check_decoder(
    decoder: Callable[..., Any],
    config: DecoderCheckConfig | None = None,
    *,
    name: str | None = None,
    progress: bool = False,
) -> DecoderReport:
    """Check ``decoder`` statistically on generated pairs (module doc); returns a :class:`DecoderReport`."""
    config = config or DecoderCheckConfig()
    if not callable(decoder):
        raise InvalidInputError(
            f"decoder: expected a callable decode(target_lm, draft_lm, context, max_tokens, "
            f"generator), got {type(decoder).__name__}"
        )
    report = DecoderReport(name or getattr(decoder, "__name__", type(decoder).__name__), config)
    level = config.alpha / config.models
    for index in range(config.models):
        target, draft, context, description = generated_pair(index, config)
        V = target.vocab_size
        streams = []
        iterator: Any = range(config.streams)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc=f"pair {index}", file=sys.stderr, disable=None, leave=False, delay=2.0)
        for i in iterator:
            out = _as_tokens(_decode(decoder, target, draft, context, config.tokens, stream_seed(config, index, i)))
            if out is None or len(out) < config.tokens or (out and (min(out) < 0 or max(out) >= V)):
                report.problems.append(
                    f"pair {index}, stream {i}: decode returned {out!r}, expected at least "
                    f"{config.tokens} token ids in [0, {V})"
                )
                return report
            streams.append(out)
        if index == 0:
            again = [
                _as_tokens(_decode(decoder, target, draft, context, config.tokens, stream_seed(config, 0, i)))
                for i in range(min(REPRO_STREAMS, config.streams))
            ]
            report.reproducible = all(a == b for a, b in zip(again, streams))
        test = sequence_g_test(streams, target, context, config.tokens, vocab_size=V)
        report.pairs.append(PairResult(index, description, context, level, test))
    return report
