"""Issue 15: every bad input gets a clear error, nothing prints a wrong answer (one test per item)."""

from __future__ import annotations

import json
import re

import faulty
import numpy as np
import pytest
import torch

import multidraft as md
from multidraft.cli import main
from multidraft.fast import global_resolution, greedy, rrs
from multidraft.properties import verifier_suite
from multidraft.properties.adapters import resolve
from multidraft.properties.deviation import measure_deviation
from multidraft.properties.problem import Problem
from multidraft.reference import optimal_acceptance, solve_lp, solve_maxflow
from multidraft.validation import InvalidInputError, check_distribution

P, Q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------- silent wrong answers


def test_1_given_problems_are_checked_for_a_conditional_verifier():
    report = verifier_suite(faulty.lossy, interface="conditional", problems=[(P, Q, 2)])
    assert not report.passed and report["lossless"].status == "fail" and report["lossless"].problems == 1
    assert verifier_suite(md.get_verifier("rrs"), interface="conditional", problems=[(P, Q, 2)]).passed


def test_1_given_problems_are_validated():
    with pytest.raises(InvalidInputError, match=r"problems\[0\] target: entries must be finite"):
        verifier_suite(faulty.lossy, interface="conditional", problems=[([np.nan, 1.0], [0.5, 0.5], 2)])
    with pytest.raises(InvalidInputError, match=r"problems\[0\].*vocabulary size"):
        verifier_suite(faulty.lossy, interface="conditional", problems=[([0.5, 0.5], [0.2, 0.3, 0.5], 2)])
    with pytest.raises(InvalidInputError, match="problems: expected at least one"):
        verifier_suite(faulty.lossy, interface="conditional", problems=[])


def test_2_nan_output_is_invalid_not_a_tv(capsys):
    code, out, err = _run(["deviation", "faulty:returns_nan", "--example", "toy"], capsys)
    assert code == 1 and "INVALID" in out and "TV = nan" not in out and not err.strip()


def test_3_deviation_samples_must_be_positive():
    spec = resolve(md.get_verifier("rrs"))
    with pytest.raises(InvalidInputError, match="samples: expected an integer >= 1, got 0"):
        measure_deviation(spec, Problem(P, Q, 2), samples=0)


# ----------------------------------------------------------------- crashes and wrong exits


def test_4_unnormalised_advice_is_followable():
    with pytest.raises(InvalidInputError) as info:
        check_distribution([0.5, 0.6], "target")
    assert "normalize=True" not in str(info.value) and "divide it by its sum" in str(info.value)


def _float32_pair(V=7, seed=0):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(V)), rng.dirichlet(np.ones(V))
    return p.astype(np.float32), q.astype(np.float32)


def test_5_float32_laws_are_accepted_by_every_entry_point_with_one_rule():
    p32, q32 = _float32_pair()
    p64, q64 = (
        p32.astype(np.float64) / p32.astype(np.float64).sum(),
        q32.astype(np.float64) / q32.astype(np.float64).sum(),
    )
    assert abs(p32.astype(np.float64).sum() - 1) > 1e-9 or abs(q32.astype(np.float64).sum() - 1) > 1e-9
    alpha = float(optimal_acceptance(p64, q64, 2).alpha_star)
    values = [
        float(optimal_acceptance(p32, q32, 2).alpha_star),
        solve_lp(p32, q32, 2).alpha_star,
        float(np.mean(solve_maxflow(p32, q32, 2).bounds)),
        float(global_resolution(p32, q32, 2).kept[0]),
        float(global_resolution(torch.from_numpy(p32), torch.from_numpy(q32), 2).kept[0]),
    ]
    np.testing.assert_allclose(values, alpha, atol=1e-8)
    ev32, ev64 = md.evaluate(rrs, p32, q32, 2), md.evaluate(rrs, p64, q64, 2)
    assert ev32.acceptance == pytest.approx(ev64.acceptance, abs=1e-12) and ev32.tv < 1e-12
    off = p32.copy()
    off[0] += np.float32(5e-5)  # beyond the float32 tolerance 1e-5
    for call in (
        lambda: optimal_acceptance(off, q32, 2),
        lambda: solve_lp(off, q32, 2),
        lambda: solve_maxflow(off, q32, 2),
        lambda: global_resolution(off, q32, 2),
        lambda: md.evaluate(md.get_verifier("rrs"), off, q32, 2),
    ):
        with pytest.raises(InvalidInputError, match="target: entries must sum to 1 within 1e-05"):
            call()


def test_7_a_raising_sampler_is_one_failure_with_its_traceback(capsys):
    code, out, err = _run(
        ["check", "faulty:raising_sampler", "--samples", "1000", "--stat-problems", "2", "--no-progress"], capsys
    )
    assert code == 1 and "Traceback (most recent" not in err
    assert out.count("FAIL ") == 1 and "ZeroDivisionError: the user's bug" in out
    assert "faulty.py" in out and "_user_helper" in out
    code, out, err = _run(["deviation", "faulty:raising_sampler", "--problems", "1", "--samples", "1000"], capsys)
    assert code == 1 and "Traceback (most recent" not in err and "the user's bug" in out and "_user_helper" in out


def test_9_deviation_honours_the_verifiers_own_drafting_law(capsys):
    code, out, err = _run(["deviation", "greedy", "--example", "toy"], capsys)
    assert code == 0 and "drafting=greedy" in out and "lossless" in out, err


def test_10_non_callable_target_exits_2_up_front(capsys):
    code, out, err = _run(["check", "numpy:pi", "--interface", "conditional"], capsys)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1 and "not a verifier" in err


def test_11_acceptance_has_a_guard_and_greedy_refuses_like_its_law():
    with pytest.raises(InvalidInputError, match="n: at most 4096"):
        rrs.acceptance(P, Q, 10**6)
    assert float(rrs.acceptance(P, Q, 4096)) == pytest.approx(1.0)  # reaches the fixed point quickly
    with pytest.raises(InvalidInputError, match="greedy drafting of n=4 drafts needs at least 4 tokens"):
        greedy.law(Q, 4)
    with pytest.raises(InvalidInputError, match="greedy drafting of n=4 drafts needs at least 4 tokens"):
        greedy.acceptance(P, Q, 4)


def test_11_rrs_acceptance_fixed_point_equals_the_plain_recursion():
    from multidraft.fast.baselines import residual

    rng = np.random.default_rng(3)
    for V in (2, 4, 9):
        for _ in range(5):
            p, q = rng.dirichlet(np.full(V, 0.4)), rng.dirichlet(np.full(V, 0.4))
            for n in (1, 3, 40):
                r, miss = torch.tensor(p)[None], 1.0
                for _ in range(n):
                    miss *= max(0.0, 1 - float(torch.minimum(r, torch.tensor(q)[None]).sum()))
                    r = residual(r, torch.tensor(q)[None])
                assert float(rrs.acceptance(p, q, n)) == pytest.approx(1 - miss, abs=1e-12)


def test_12_deviation_reports_validity_a_verdict_and_a_summary(capsys):
    code, out, _ = _run(["deviation", "faulty:unnormalised", "--example", "toy"], capsys)
    lines = out.strip().splitlines()
    assert code == 1 and "INVALID" in lines[0] and "validity" in out.lower()
    assert lines[-1] == "deviation: faulty:unnormalised: 1 of 1 problem(s) deviate (1 with invalid output)"
    code, out, _ = _run(["deviation", "rrs", "--problems", "2", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and [p["verdict"] for p in data["problems"]] == ["lossless", "lossless"]
    assert data["summary"].startswith("deviation: rrs: no deviation found on 2 problem(s)")


# ----------------------------------------------------------------- lower


def test_13_solve_reads_workload_files_with_a_row(tmp_path, capsys):
    from multidraft.workloads import llm_like_batch, save_workload

    w = llm_like_batch(3, 20, seed=1)
    path = save_workload(tmp_path / "w.npz", w.target, w.draft)
    code, out, err = _run(["solve", "--file", str(path), "--n", "2", "--row", "1", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["alpha_star"] == pytest.approx(
        float(optimal_acceptance(w.target[1], w.draft[1], 2).alpha_star)
    )
    code, out, err = _run(["solve", "--file", str(path), "--n", "2", "--row", "3"], capsys)
    assert code == 2 and "row: " in err and "holds 3 rows" in err


def test_15_global_resolution_and_plan_refuse_bad_arguments_clearly():
    plan = global_resolution(P, Q, 2)
    cases = [
        (lambda: global_resolution(P, Q, 2, dtype=torch.int64), "dtype: expected torch.float64"),
        (lambda: global_resolution(P, Q, 2, dtype=torch.float16), "dtype: expected torch.float64"),
        (lambda: global_resolution(P, Q, 2, device="bogus"), "device: expected a torch device"),
        (lambda: global_resolution(np.zeros((0, 3)), np.zeros((0, 3)), 2), "target: expected at least one law"),
        (lambda: plan.conditional(np.zeros((0, 2), int)), "drafts: expected at least one draft tuple"),
        (lambda: plan.sample(np.array([0, 1]), generator=42), "generator: expected a torch.Generator"),
        (lambda: plan.sample(np.array([0, 1]), generator=np.random.default_rng(0)), "generator: expected"),
    ]
    if not torch.cuda.is_available():
        cases.append((lambda: global_resolution(P, Q, 2, device="cuda"), "device: cuda requested but CUDA"))
    for call, message in cases:
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            call()
    assert float(global_resolution(P, Q, 2, dtype="float64").kept[0]) == pytest.approx(float(plan.kept[0]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=0), "alpha: expected a finite number in (0, 1), got 0"),
        (dict(alpha=float("nan")), "alpha: expected a finite number in (0, 1), got nan"),
        (dict(alpha=2), "alpha: expected a finite number in (0, 1), got 2"),
        (dict(tol=-1), "tol: expected a finite number > 0, got -1"),
        (dict(examples=-1), "examples: expected an integer >= 1, got -1"),
        (dict(samples=-1), "samples: expected an integer >= 0, got -1"),
        (dict(stat_problems=0), "stat_problems: expected an integer >= 1, got 0"),
        (dict(seed=-1), "seed: expected an integer >= 0, got -1"),
        (dict(vocab=1), "vocab: expected an integer >= 2, got 1"),
        (dict(profile="bogus"), "profile: expected one of"),
        (dict(backend="bogus"), "backend: expected one of"),
    ],
)
def test_16_verifier_suite_is_validated_like_the_cli(kwargs, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        verifier_suite(faulty.lossy, interface="conditional", **kwargs)


def test_17_messages_say_what_is_wrong(capsys):
    with pytest.raises(InvalidInputError, match="verifier: returned None"):
        md.evaluate(faulty.returns_none, P, Q, 2)
    spec = resolve(faulty.nan_tokens_sampler, "sampling")
    with pytest.raises(InvalidInputError, match="non-finite tokens"):
        measure_deviation(spec, Problem(P, Q, 2), samples=100)
    spec = resolve(faulty.float_tokens_sampler, "sampling")
    with pytest.raises(InvalidInputError, match="non-integer token 0.5"):
        measure_deviation(spec, Problem(P, Q, 2), samples=100)
    with pytest.raises(InvalidInputError, match="is a float, not a verifier"):
        resolve(3.14)
    with pytest.raises(InvalidInputError, match="without replacement needs V >= n"):
        verifier_suite(md.get_verifier("rrs_without_replacement"), n=(5, 6), vocab=(2, 4))
    code, _, err = _run(["check", "rrs", "--vocab", "0"], capsys)
    assert code == 2 and "drafts" not in err


def test_19_docgen_help_writes_nothing(monkeypatch, capsys):
    from pathlib import Path

    from multidraft import docgen

    writes = []
    monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: writes.append(self))
    with pytest.raises(SystemExit) as info:
        docgen.main(["--help"])
    assert info.value.code == 0 and not writes and "Regenerate docs" in capsys.readouterr().out


def test_19_version_empty_workload_and_uncomputable_solve(tmp_path, capsys):
    from multidraft.workloads import load_workload

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"multidraft {md.__version__}"
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="not a readable .npz archive"):
        load_workload(empty)
    code, out, err = _run(
        ["solve", "--example", "toy", "--drafting", "without_replacement", "--oracles", "closed"], capsys
    )
    assert code == 2 and "closed form needs i.i.d. drafts" in err and not out
