"""Decoders for the decoder checker's tests: correct ones and two bugs found in public code.

All are ``decode(target_lm, draft_lm, context, max_tokens, generator) -> tokens``.

* ``autoregressive`` -- tokens drawn from the target one by one (exact by construction);
* ``chain_decoder`` / ``chain3_decoder`` -- :class:`~multidraft.decoding.SpeculativeDecoder`
  with Leviathan's token-chain verifier written out here (chain of 2 / 3 tokens);
* ``reused_noise`` -- the same decoder, but the drafting noise is drawn once per decode and
  *reused in every block* (each block alone is still lossless: a bug only the stream shows);
* ``wrong_bonus`` -- after a full accept, the bonus token is drawn from the target's law at
  the *parent* of the last drafted token (the wrong context), not after it.
"""

from __future__ import annotations

import numpy as np
import torch

from multidraft.decoding import SpeculativeDecoder, _seed_from
from multidraft.trees import chain


def _draw(law: np.ndarray, generator: torch.Generator) -> int:
    return int(torch.multinomial(torch.from_numpy(np.array(law, dtype=np.float64)), 1, generator=generator))


def leviathan_chain(bonus_row: str = "leaf"):
    """Token-chain verification of a drafted chain; ``bonus_row="parent"`` is the bug."""

    def verify(tree, target, draft, generator):
        out, node = [], -1
        while True:
            kids = tree.children(node)
            if not len(kids):
                row = node + 1 if bonus_row == "leaf" else int(tree.parents[node]) + 1
                return out + [_draw(target[row], generator)]
            child = int(kids[0])
            x = int(tree.tokens[child])
            p, q = target[node + 1], draft[node + 1]
            if float(torch.rand((), generator=generator, dtype=torch.float64)) < min(1.0, p[x] / q[x]):
                out.append(x)
                node = child
                continue
            residual = np.maximum(p - q, 0.0)
            return out + [_draw(residual / residual.sum(), generator)]

    verify.__name__ = f"leviathan_chain_{bonus_row}"
    return verify


def autoregressive(target_lm, draft_lm, context, max_tokens, generator):
    out = []
    for _ in range(max_tokens):
        out.append(_draw(target_lm.probs(tuple(context) + tuple(out)), generator))
    return out


class ReusedNoiseDecoder(SpeculativeDecoder):
    """Draws its drafting seed once per decode and re-creates the same noise at every block."""

    def drafting_rng(self, generator):
        return _seed_from(generator)

    def draft(self, draft_lm, context, rng):
        return self.structure.sample(draft_lm, context, np.random.default_rng(rng))


chain_decoder = SpeculativeDecoder(chain(2), leviathan_chain())
chain3_decoder = SpeculativeDecoder(chain(3), leviathan_chain())
reused_noise = ReusedNoiseDecoder(chain(2), leviathan_chain())
wrong_bonus = SpeculativeDecoder(chain(2), leviathan_chain("parent"))
