"""The speculative decoder: records, seeding, batching, and block efficiency against the exact value."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from multidraft.decoding import SpeculativeDecoder, accepted_path, tokens_per_call
from multidraft.trees import DraftTree, chain, paths, table_pair
from multidraft.validation import InvalidInputError

sys.path.insert(0, str(Path(__file__).parent / "properties"))
from decoder_gallery import leviathan_chain  # noqa: E402

TARGET, DRAFT = table_pair(3, seed=4, similarity=0.5, concentration=0.5)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def exact_chain_efficiency(target, draft, context, L):
    """E|O| of token-chain verification: 1 + E[accepted], E[acc](c, d) = sum_x min(p, q)(x) (1 + E[acc](c + x, d - 1))."""

    def acc(ctx, d):
        if d == 0:
            return 0.0
        m = np.minimum(target.probs(ctx), draft.probs(ctx))
        return float(sum(m[x] * (1.0 + acc(ctx + (x,), d - 1)) for x in range(len(m)) if m[x] > 0))

    return 1.0 + acc(tuple(context), L)


def test_record_is_consistent_and_tokens_are_exactly_max_tokens():
    dec = SpeculativeDecoder(chain(3), leviathan_chain())
    rec = dec.run(TARGET, DRAFT, (1,), 11, _gen(0))
    assert len(rec.tokens) == 11 and rec.context == (1,)
    flat = [t for b in rec.blocks for t in b.emitted]
    assert rec.tokens == flat[:11] and rec.emitted == len(flat) >= 11
    assert len(flat) - len(rec.blocks[-1].emitted) < 11  # the last block was needed
    for b in rec.blocks:
        assert 1 <= len(b.emitted) <= 4 and len(b.path) == len(b.emitted) - 1
        assert b.nodes == 3 and b.drafted == 3 and b.depth == 3 and b.verifier_s >= 0
    assert dec(TARGET, DRAFT, (1,), 11, _gen(0)) == rec.tokens
    assert dec(TARGET, DRAFT, (1,), 0, _gen(0)) == []


def test_seeded_and_batch_equals_one_by_one():
    dec = SpeculativeDecoder(chain(2), leviathan_chain())
    contexts = [(0,), (1, 2), ()]
    batch = dec.run_batch(TARGET, DRAFT, contexts, 9, [_gen(s) for s in (5, 6, 7)])
    for rec, ctx, s in zip(batch, contexts, (5, 6, 7)):
        alone = dec.run(TARGET, DRAFT, ctx, 9, _gen(s))
        assert rec.tokens == alone.tokens and [b.emitted for b in rec.blocks] == [b.emitted for b in alone.blocks]
    assert dec(TARGET, DRAFT, (0,), 30, _gen(1)) != dec(TARGET, DRAFT, (0,), 30, _gen(2))


@pytest.mark.parametrize("L", [1, 3])
def test_block_efficiency_interval_covers_the_exact_value(L):
    dec = SpeculativeDecoder(chain(L), leviathan_chain())
    seeds = np.random.SeedSequence(11).generate_state(600)
    records = dec.run_batch(TARGET, DRAFT, [(2,)] * 600, 1, [_gen(int(s)) for s in seeds])
    eff = tokens_per_call(records)  # one block per prompt: E|O| at context (2,)
    exact = exact_chain_efficiency(TARGET, DRAFT, (2,), L)
    assert eff.blocks == 600 and eff.prompts == 600
    se = eff.half_width / 1.96
    assert abs(eff.value - exact) < 3.3 * se and eff.half_width < 0.12  # a 99.9% interval


def test_tokens_per_call_is_the_ratio_estimator():
    class R:
        def __init__(self, sizes):
            self.blocks = [None] * len(sizes)
            self.emitted = sum(sizes)

    eff = tokens_per_call([R([1, 2, 3]), R([2, 2])])
    assert eff.value == pytest.approx(10 / 5) and eff.blocks == 5
    one = tokens_per_call([R([1, 3])])
    assert one.value == 2 and np.isnan(one.low)
    with pytest.raises(InvalidInputError, match="records"):
        tokens_per_call([R([])])


def test_text_models_get_one_batched_target_call_per_round():
    from multidraft.workloads.textlm import text_pair

    pair = text_pair("mix80", bpe_vocab=300, max_chars=20_000)
    calls = []

    class Counting:
        vocab_size = pair.target.vocab_size

        def probs(self, context):
            raise AssertionError("probs_batch should be used")

        def probs_batch(self, contexts):
            calls.append(len(contexts))
            return pair.target.probs_batch(contexts)

    dec = SpeculativeDecoder(chain(2), leviathan_chain())
    records = dec.run_batch(Counting(), pair.draft, pair.prompts(4), 6, [_gen(i) for i in range(4)])
    assert all(len(r.tokens) == 6 for r in records)
    assert calls[0] == 4 * 3 and len(calls) == max(len(r.blocks) for r in records)


def test_bad_inputs_and_bad_verifier_output():
    tree = DraftTree.from_paths([[0, 1]])
    assert accepted_path(tree, (0, 1, 2)) == (0, 1) and accepted_path(tree, (2,)) == ()
    with pytest.raises(InvalidInputError, match="not a path"):
        accepted_path(tree, (1, 1))
    with pytest.raises(InvalidInputError, match="expected 1 to"):
        accepted_path(tree, (0, 1, 2, 0))
    with pytest.raises(InvalidInputError, match="structure"):
        SpeculativeDecoder("chain:2", leviathan_chain())

    class ChainOnly:
        def accepts(self, structure):
            return structure.is_chain

        def sample(self, tree, target, draft, generator=None):
            return [0, 0, 0, 0]

    with pytest.raises(InvalidInputError, match="does not accept"):
        SpeculativeDecoder(paths(2, 2), ChainOnly())
    dec = SpeculativeDecoder(chain(1), ChainOnly())
    with pytest.raises(InvalidInputError, match="verifier"):
        dec(TARGET, DRAFT, (), 3, _gen(0))
    with pytest.raises(InvalidInputError, match="max_tokens"):
        dec(TARGET, DRAFT, (), -1, _gen(0))
    with pytest.raises(InvalidInputError, match="generator"):
        dec(TARGET, DRAFT, (), 3, None)


def test_an_int_seed_is_one_generator_for_the_whole_decode():
    dec = SpeculativeDecoder(chain(1), leviathan_chain())
    assert dec(TARGET, DRAFT, (0,), 12, 5) == dec(TARGET, DRAFT, (0,), 12, _gen(5))
