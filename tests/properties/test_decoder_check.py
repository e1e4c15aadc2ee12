"""The decoder check: correct decoders pass; reused drafting noise and a wrong bonus law fail; CLI exits."""

import json

import decoder_gallery as G
import pytest
import torch

from multidraft.cli import main
from multidraft.properties.decoder import DecoderCheckConfig, check_decoder
from multidraft.validation import InvalidInputError

SMALL = DecoderCheckConfig(models=2, streams=700, tokens=4)


@pytest.mark.parametrize("decoder", [G.autoregressive, G.chain_decoder])
def test_correct_decoders_pass(decoder):
    report = check_decoder(decoder, SMALL)
    assert report.passed and report.reproducible and len(report.pairs) == 2
    assert all(p.test.prefixes >= 3 for p in report.pairs)


def test_reused_drafting_noise_fails_although_every_block_is_lossless():
    report = check_decoder(G.reused_noise, SMALL)
    assert not report.passed and report.reproducible
    assert min(p.test.p_value for p in report.pairs) < 1e-9
    assert "worst prefixes" in report.render()


def test_bonus_from_the_wrong_context_fails_at_the_bonus_position():
    report = check_decoder(G.wrong_bonus, SMALL)
    assert not report.passed
    failing = [p for p in report.pairs if not p.passed]
    # chain of 2: a full accept puts the bonus at position 3 (index 2)
    assert all(max(range(4), key=lambda j: p.test.by_depth[j][0]) == 2 for p in failing)


def test_malformed_and_irreproducible_decoders_fail():
    short = check_decoder(lambda t, d, c, m, g: [0], DecoderCheckConfig(models=1, streams=10))
    assert not short.passed and "expected at least" in short.problems[0]

    def global_rng(target_lm, draft_lm, context, max_tokens, generator):
        return G.autoregressive(target_lm, draft_lm, context, max_tokens, None)

    torch.manual_seed(0)
    noisy = check_decoder(global_rng, DecoderCheckConfig(models=1, streams=200))
    assert not noisy.reproducible and not noisy.passed
    with pytest.raises(InvalidInputError, match="decoder"):
        check_decoder(3)
    with pytest.raises(InvalidInputError, match="tokens"):
        DecoderCheckConfig(vocab=(2, 40), tokens=5)


def test_cli_exit_codes_and_json(capsys):
    args = ["--models", "1", "--streams", "300", "--no-progress"]
    assert main(["check-decoder", "decoder_gallery:chain_decoder", *args]) == 0
    assert main(["check-decoder", "block_verification@chain:2", *args]) == 0
    capsys.readouterr()
    assert main(["check-decoder", "decoder_gallery:wrong_bonus", *args, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False and data["pairs"][0]["passed"] is False and data["pairs"][0]["worst"]
    for bad in (
        ["nope@chain:2"],
        ["decoder_gallery:missing"],
        ["spectr@tree:3"],
        ["decoder_gallery:chain_decoder", "--vocab", "1"],
    ):
        assert main(["check-decoder", *bad, *args]) == 2
    assert "decoder" in capsys.readouterr().err
