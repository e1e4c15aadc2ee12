"""Kneser-Ney n-gram laws: valid, and equal to a direct dictionary implementation."""

from collections import Counter

import numpy as np
import pytest

from multidraft.validation import InvalidInputError
from multidraft.workloads.ngram import KneserNeyLM

V = 7
STREAM = np.random.default_rng(0).choice(V, size=400, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1, 0.0])


def _direct_kn(tokens, order, vocab_size, discounts):
    """Interpolated Kneser-Ney written from the formula with dictionaries (slow, obvious)."""
    tokens = list(map(int, tokens))
    grams = [Counter(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)) for k in range(order + 2)]
    counts = {}
    for k in range(1, order + 1):
        if k == order:
            counts[k] = dict(grams[k])
        else:
            cont = Counter(g[1:] for g in grams[k + 1])
            counts[k] = dict(cont)

    def prob(word, context):
        k = len(context) + 1
        if k == 1:
            c1, D = counts[1], discounts[0]
            tot = sum(c1.values())
            return max(c1.get((word,), 0) - D, 0) / tot + D * len(c1) / tot / vocab_size
        followers = {g[-1]: c for g, c in counts[k].items() if g[:-1] == tuple(context)}
        lower = prob(word, context[1:])
        if not followers:
            return lower
        tot, D = sum(followers.values()), discounts[k - 1]
        return max(followers.get(word, 0) - D, 0) / tot + D * len(followers) / tot * lower

    return prob


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_laws_match_direct_formula(order):
    lm = KneserNeyLM(order, V).fit(STREAM)
    prob = _direct_kn(STREAM, order, V, lm.discounts)
    contexts = np.array([[0, 1, 2], [6, 6, 6], [3, 3, 1], [5, 0, 0], [1, 2, 0]])
    laws = lm.laws(contexts)
    for row, ctx in zip(laws, contexts):
        used = list(ctx[len(ctx) - (order - 1) :]) if order > 1 else []
        expected = np.array([prob(w, used) for w in range(V)])
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-15)


def test_laws_valid_on_a_real_stream():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 50, size=3000)
    for order in (2, 4):
        lm = KneserNeyLM(order, 60).fit(tokens)  # tokens 50..59 never seen: still positive
        laws = lm.next_token_laws(tokens, np.arange(3, 500))
        assert laws.shape == (497, 60) and (laws > 0).all()
        np.testing.assert_allclose(laws.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert all(0 < d < 1 for d in lm.discounts)


def test_higher_order_fits_training_text_better():
    tokens = np.tile(np.arange(5), 100)  # a deterministic cycle: a bigram already predicts it
    ll1 = KneserNeyLM(1, 5).fit(tokens).log_likelihood(tokens, np.arange(3, 400)).mean()
    ll3 = KneserNeyLM(3, 5).fit(tokens).log_likelihood(tokens, np.arange(3, 400)).mean()
    assert ll3 > ll1 and ll3 > np.log(0.9)


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="order"):
        KneserNeyLM(0, 5)
    with pytest.raises(InvalidInputError, match="tokens"):
        KneserNeyLM(2, 5).fit(np.array([0, 9, 1]))
    with pytest.raises(InvalidInputError, match="model"):
        KneserNeyLM(2, 5).laws(np.zeros((1, 1), dtype=int))
    with pytest.raises(InvalidInputError, match="positions"):
        KneserNeyLM(3, 5).fit(np.arange(5)).next_token_laws(np.arange(5), np.array([1]))
