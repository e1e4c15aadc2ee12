"""The byte-level BPE tokenizer: lossless round trip, deterministic training, persistence."""

import numpy as np
import pytest

from multidraft.validation import InvalidInputError
from multidraft.workloads.bpe import PRETOKENIZE, BPETokenizer
from multidraft.workloads.corpus import split_text

SPLIT = split_text(0.1, max_chars=60_000)
TOKENIZER = BPETokenizer.train(SPLIT.train, 800)

ODD = [
    "",
    " ",
    "\n\n\t  x",
    "don't   stop\r\n",
    "naïve café — 東京 🙂",
    "a" * 50,
    "x = f(y)  # ok\n",
    "\x00\x01 bytes",
    "  trailing spaces   ",
    "'ll 've 're 's",
]


def test_vocab_size_and_compression():
    assert TOKENIZER.vocab_size == 800
    ids = TOKENIZER.encode(SPLIT.held_out)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 800
    assert len(SPLIT.held_out) / len(ids) > 2.5  # merges do compress English


def test_round_trip_on_held_out_text():
    assert TOKENIZER.decode(TOKENIZER.encode(SPLIT.held_out)) == SPLIT.held_out


@pytest.mark.parametrize("text", ODD)
def test_round_trip_on_odd_strings(text):
    assert "".join(PRETOKENIZE.findall(text)) == text
    assert TOKENIZER.decode(TOKENIZER.encode(text)) == text


def test_training_is_deterministic_and_saves(tmp_path):
    again = BPETokenizer.train(SPLIT.train, 800)
    assert again.merges == TOKENIZER.merges
    TOKENIZER.save(tmp_path / "merges.json")
    loaded = BPETokenizer.load(tmp_path / "merges.json")
    assert loaded.merges == TOKENIZER.merges
    assert np.array_equal(loaded.encode(SPLIT.held_out[:2000]), TOKENIZER.encode(SPLIT.held_out[:2000]))


def test_merges_are_frequent_pairs():
    # the first merge is the most frequent adjacent byte pair of the training chunks
    from collections import Counter

    counts = Counter()
    for chunk in PRETOKENIZE.findall(SPLIT.train):
        b = chunk.encode()
        counts.update(zip(b, b[1:]))
    top = max(counts.values())
    assert counts[TOKENIZER.merges[0]] == top


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="vocab_size"):
        BPETokenizer.train("abc", 10)
    with pytest.raises(InvalidInputError, match="text"):
        TOKENIZER.encode(b"bytes")
    with pytest.raises(InvalidInputError, match="merges"):
        BPETokenizer([(300, 1)])
