"""Text language models through probs(context): mixtures, temperature, batching, graded drafts."""

import numpy as np
import pytest

from multidraft.validation import InvalidInputError
from multidraft.workloads.ngram import KneserNeyLM
from multidraft.workloads.textlm import DRAFTS, TextLM, pair_acceptance, text_pair
from multidraft.workloads.transforms import temper_law

SMALL = {"bpe_vocab": 400, "max_chars": 40_000}


@pytest.fixture(scope="module")
def pairs():
    return {name: text_pair(name, **SMALL) for name in DRAFTS}


def test_probs_is_the_mixture_of_the_ngram_laws_and_batches_agree(pairs):
    pair = pairs["mix50"]
    (p4, w4), (p2, w2) = pair.draft.components
    ctx = pair.prompts(1)[0] + (5, 7)
    expected = w4 * p4.laws(np.array([ctx[-3:]]))[0] + w2 * p2.laws(np.array([ctx[-1:]]))[0]
    np.testing.assert_allclose(pair.draft.probs(ctx), expected / expected.sum(), rtol=1e-13, atol=1e-16)
    # mixed lengths in one batch (including the empty context and ones shorter than the width)
    contexts = [(), (3,), (3, 4), ctx, (9, 9, 9, 9, 9)]
    batch = pair.draft.probs_batch(contexts)
    for row, c in zip(batch, contexts):
        np.testing.assert_allclose(row, pair.draft.probs(c), rtol=1e-14, atol=1e-17)
    assert (batch > 0).all() and np.allclose(batch.sum(axis=1), 1, atol=1e-14)


def test_only_the_last_width_tokens_matter(pairs):
    lm = pairs["bigram"].target
    assert lm.context_width == 3
    np.testing.assert_array_equal(lm.probs((1, 2, 3, 4, 5)), lm.probs((9, 3, 4, 5)))


def test_temperature_is_applied_after_mixing():
    base = text_pair("mix80", **SMALL)
    cold = text_pair("mix80", temperature=0.5, **SMALL)
    ctx = base.prompts(1, seed=3)[0]
    np.testing.assert_allclose(
        cold.draft.probs(ctx), temper_law(base.draft.probs(ctx)[None], 0.5)[0], rtol=1e-12, atol=1e-300
    )
    assert cold.target.probs(ctx).max() >= base.target.probs(ctx).max()


def test_graded_drafts_span_the_acceptance_range(pairs):
    accept = {name: pair_acceptance(pair, 300)[0] for name, pair in pairs.items()}
    assert accept["unigram"] < accept["bigram"] < accept["mix50"] < accept["mix80"] < 1.0
    assert accept["bigram"] < accept["trigram"]
    # the same target in every pair, and a draft equal to the target accepts everything
    same = TextLM(pairs["bigram"].target.components, name="copy")
    prompts = pairs["bigram"].prompts(20)
    p = pairs["bigram"].target.probs_batch(prompts)
    np.testing.assert_array_equal(p, same.probs_batch(prompts))
    np.testing.assert_array_equal(p, pairs["unigram"].target.probs_batch(prompts))


def test_prompts_are_seeded_real_contexts(pairs):
    pair = pairs["bigram"]
    a, b = pair.prompts(5, seed=1), pair.prompts(5, seed=1)
    assert a == b and a != pair.prompts(5, seed=2) and all(len(c) == 3 for c in a)
    text = pair.held_out_tokens.tolist()
    assert all(any(tuple(text[i : i + 3]) == c for i in range(len(text) - 2)) for c in a)


def test_bad_inputs_name_the_argument(pairs):
    lm = pairs["bigram"].target
    with pytest.raises(InvalidInputError, match="draft"):
        text_pair("fivegram", **SMALL)
    with pytest.raises(InvalidInputError, match="context"):
        lm.probs((0, lm.vocab_size))
    with pytest.raises(InvalidInputError, match="context"):
        lm.probs("ab")
    with pytest.raises(InvalidInputError, match="temperature"):
        text_pair("bigram", temperature=0, **SMALL)
    with pytest.raises(InvalidInputError, match="weights"):
        TextLM([(lm.components[0][0], 0.5)])
    with pytest.raises(InvalidInputError, match="vocabularies"):
        TextLM([(lm.components[0][0], 0.5), (KneserNeyLM(1, 7).fit(np.arange(7)), 0.5)])
    with pytest.raises(InvalidInputError, match="count"):
        pairs["bigram"].prompts(0)


def test_the_cache_returns_the_same_laws_and_stays_bounded(pairs):
    lm = pairs["mix50"].draft
    fresh = TextLM(lm.components, name="nocache", cache_size=0)
    small = TextLM(lm.components, name="small", cache_size=3)
    contexts = [(1, 2, 3), (4, 5, 6), (1, 2, 3), (7,), (0, 1, 2, 3), (8, 8, 8)] * 2
    np.testing.assert_array_equal(small.probs_batch(contexts), fresh.probs_batch(contexts))
    assert len(small._cache) == 3 and len(fresh._cache) == 0
