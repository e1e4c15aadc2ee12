"""Serving inputs in the checker: sampling parameters on p and q, dtype rounding and its deviation row."""

from __future__ import annotations

import gallery
import numpy as np
import torch

from multidraft.cli import main
from multidraft.logits import SamplingParams, process_probs
from multidraft.properties import verifier_suite
from multidraft.properties.problem import Problem
from multidraft.properties.serving import rounded, serving_problem


def test_serving_problem_processes_then_rounds_both_laws():
    p, q = np.array([0.52, 0.3, 0.17, 0.01]), np.array([0.1, 0.2, 0.3, 0.4])
    params = SamplingParams(0.7, 3, None)
    out = serving_problem(Problem(p, q, 2), params, "bfloat16")
    for law, raw in ((out.target, p), (out.draft, q)):
        r = rounded(process_probs(raw, params=params), torch.bfloat16)
        assert np.array_equal(law, r / r.sum())  # the float64 law of the rounded inputs
    assert out.target[3] == 0.0 and "bfloat16" in out.origin


def test_too_few_tokens_left_for_the_drafting_law_is_skipped():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.6, 0.3, 0.1])
    assert serving_problem(Problem(p, q, 3, "without_replacement"), SamplingParams(top_k=1), None) is None


def test_dtype_deviation_is_reported_separately_from_the_algorithm():
    report = verifier_suite(gallery.uniforms_rrs, interface="uniforms", examples=5, dtype="bfloat16")
    assert report["lossless"].status == "pass" and report["lossless"].worst <= 1e-12  # algorithm: exact
    row = report["dtype_deviation"]
    assert row.status == "info" and 1e-5 < row.worst < 0.05 and "bfloat16" in row.detail
    strict = verifier_suite(gallery.uniforms_rrs, interface="uniforms", examples=5, dtype="bfloat16", dtype_tol=1e-6)
    assert strict["dtype_deviation"].status == "fail" and not strict.passed


def test_float32_inputs_cost_rounding_only():
    report = verifier_suite(gallery.uniforms_rrs, interface="uniforms", examples=5, dtype="float32")
    assert report["dtype_deviation"].worst < 1e-6


def test_a_verifier_refusing_low_precision_inputs_is_a_finding():
    report = verifier_suite("rrs", examples=5, dtype="bfloat16")
    row = report["dtype_deviation"]
    assert row.status == "fail" and "bfloat16" in row.detail


def test_sampling_parameters_reach_the_checked_problems():
    report = verifier_suite(gallery.rrs, interface="conditional", examples=10, temperature=0.0)
    report.raise_if_failed()
    assert np.count_nonzero(report["lossless"].problem.target) == 1  # greedy: one-hot targets


def test_cli_serving_options(capsys):
    assert main(["check", "gallery:rrs", "--examples", "5", "--top-k", "2", "--top-p", "0.9", "--no-progress"]) == 0
    assert main(["check", "gallery:rrs", "--top-p", "2"]) == 2
    assert "--top-p" in capsys.readouterr().err  # named as the option, while parsing
    assert main(["deviation", "gallery:rrs", "--example", "toy", "--temperature", "0.5", "--dtype", "float16"]) == 0
    assert "float16" in capsys.readouterr().out
