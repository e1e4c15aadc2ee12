"""A small byte-level byte-pair-encoding (BPE) tokenizer, trained from scratch.

Model
-----
Text is first cut into chunks by :data:`PRETOKENIZE` (a GPT-2-style pattern: an optional
leading space plus a run of letters, of digits, or of other symbols; runs of whitespace;
English contractions). The pattern matches every character, so the chunks concatenate back
to the text exactly. Each chunk is a sequence of UTF-8 bytes, i.e. of the 256 base tokens.

Training (Sennrich et al. 2016, on bytes) repeats ``vocab_size - 256`` times: find the
adjacent pair of tokens ``(a, b)`` with the largest count over the chunk multiset, add the
new token ``ab`` (its bytes are ``bytes(a) + bytes(b)``) and replace every occurrence of the
pair. Ties are broken by the smallest ``(a, b)``, so training is deterministic. Pair counts
are maintained incrementally with a lazy max-heap: a merge only touches the chunks that
contain the pair, so training on ~450 kB of text with 3000 tokens takes a few seconds.

Encoding applies the learned merges to each chunk in rank order (lowest rank first);
decoding concatenates the tokens' bytes. Because every token is a byte string and the
pre-tokenizer is lossless, ``decode(encode(s)) == s`` for every ``str`` s.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from multidraft.validation import InvalidInputError

#: Lossless pre-tokenizer: contractions, `` ?letters``, `` ?digits``, `` ?symbols``, whitespace.
PRETOKENIZE = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

#: Number of base tokens (one per byte value).
N_BYTES = 256


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of ``pair`` in ``word`` (left to right)."""
    a, b = pair
    out: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A byte-level BPE tokenizer: ``merges[r] = (a, b)`` creates token ``256 + r``.

    Attributes
    ----------
    merges : list[tuple[int, int]]
        The merges in the order they were learned.
    vocab_size : int
        ``256 + len(merges)``.
    """

    def __init__(self, merges: Iterable[tuple[int, int]]):
        self.merges = [(int(a), int(b)) for a, b in merges]
        self._rank = {pair: r for r, pair in enumerate(self.merges)}
        self._bytes = [bytes([i]) for i in range(N_BYTES)]
        for r, (a, b) in enumerate(self.merges):
            if not (0 <= a < N_BYTES + r and 0 <= b < N_BYTES + r):
                raise InvalidInputError(f"merges: merge {r} = {(a, b)} refers to a token not yet defined")
            self._bytes.append(self._bytes[a] + self._bytes[b])
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return N_BYTES + len(self.merges)

    # --- training ---------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Learn ``vocab_size - 256`` merges from ``text`` (stops early if no pair is left).

        Parameters
        ----------
        text : str
            Training text.
        vocab_size : int
            Target vocabulary size, at least 256.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < N_BYTES:
            raise InvalidInputError(f"vocab_size: expected an integer >= {N_BYTES}, got {vocab_size!r}")
        if not isinstance(text, str):
            raise InvalidInputError(f"text: expected a str, got {type(text).__name__}")
        chunk_counts = Counter(PRETOKENIZE.findall(text))
        words = [tuple(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())

        pair_counts: dict[tuple[int, int], int] = defaultdict(int)
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for wi, (word, f) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += f
                where[pair].add(wi)
        heap = [(-c, pair) for pair, c in pair_counts.items()]
        heapq.heapify(heap)

        merges: list[tuple[int, int]] = []
        for new_id in range(N_BYTES, int(vocab_size)):
            best = None
            while heap:
                neg, pair = heapq.heappop(heap)
                if pair_counts.get(pair, 0) == -neg and -neg > 0:
                    best = pair
                    break
            if best is None:
                break
            merges.append(best)
            touched: set[tuple[int, int]] = set()
            for wi in where.pop(best):
                old, f = words[wi], freqs[wi]
                new = _merge_word(old, best, new_id)
                if new == old:
                    continue
                for pair in zip(old, old[1:]):
                    pair_counts[pair] -= f
                    touched.add(pair)
                for pair in zip(new, new[1:]):
                    pair_counts[pair] += f
                    where[pair].add(wi)
                    touched.add(pair)
                words[wi] = new
            for pair in touched:
                if pair_counts[pair] > 0:
                    heapq.heappush(heap, (-pair_counts[pair], pair))
                else:
                    pair_counts.pop(pair, None)
        return cls(merges)

    # --- encoding ---------------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        word = tuple(chunk.encode("utf-8"))
        while len(word) > 1:
            ranked = [(self._rank[p], p) for p in zip(word, word[1:]) if p in self._rank]
            if not ranked:
                break
            rank, pair = min(ranked)
            word = _merge_word(word, pair, N_BYTES + rank)
        self._cache[chunk] = word
        return word

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``: int64 array of shape (T,)."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text: expected a str, got {type(text).__name__}")
        ids: list[int] = []
        for chunk in PRETOKENIZE.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a token sequence (invalid UTF-8, possible for arbitrary ids, becomes U+FFFD)."""
        try:
            data = b"".join(self._bytes[int(i)] for i in ids)
        except IndexError:
            raise InvalidInputError(f"ids: token ids must lie in [0, {self.vocab_size})") from None
        return data.decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        """The byte string of one token."""
        return self._bytes[int(token)]

    # --- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the merges as JSON ``{"merges": [[a, b], ...]}``."""
        Path(path).write_text(json.dumps({"merges": self.merges}))

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read merges written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        if "merges" not in data:
            raise InvalidInputError(f"{path}: expected a JSON object with key 'merges'")
        return cls(tuple(m) for m in data["merges"])
