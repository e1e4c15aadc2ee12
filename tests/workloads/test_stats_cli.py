"""Workload summaries and the ``multidraft workload`` command."""

import numpy as np
import pytest

from multidraft.cli import main
from multidraft.reference import optimal_acceptance
from multidraft.workloads import llm_like_batch, load_workload, summarize


def test_summary_matches_the_oracle_row_by_row():
    w = llm_like_batch(20, 300, correlation=0.85, top_k=30, seed=9)
    s = summarize(w.target, w.draft, (1, 2, 4))
    assert s.rows == 20 and s.vocab_size == 300 and s.draft_support == 30
    assert s.alpha_star[1] == pytest.approx(s.acceptance, abs=1e-12)
    assert s.alpha_star[2] == pytest.approx(
        float(optimal_acceptance(w.target, w.draft, 2).alpha_star.mean()), abs=1e-12
    )
    assert s.acceptance <= s.alpha_star[2] <= s.alpha_star[4] <= 1
    assert "alpha* (n = 4)" in s.format()
    assert summarize(w.target, w.draft, (2,), max_rows=5).rows == 5


def test_cli_synthetic_writes_a_loadable_file(tmp_path, capsys):
    out = tmp_path / "w.npz"
    rc = main(
        [
            "workload",
            "synthetic",
            "--vocab",
            "1000",
            "--batch",
            "8",
            "--acceptance",
            "0.7",
            "--top-k",
            "100",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "mean 1 - TV" in text and "alpha* (n = 2)" in text and "alpha* (n = 4)" in text
    w = load_workload(out)
    assert w.target.shape == (8, 1000) and ((w.draft > 0).sum(axis=1) == 100).all()
    assert w.meta["seed"] == 3 and w.meta["requested_acceptance"] == 0.7
    assert abs(np.minimum(w.target, w.draft).sum(axis=1).mean() - 0.7) <= 1e-3


def test_cli_text_writes_a_loadable_file(tmp_path, capsys):
    out = tmp_path / "t.npz"
    rc = main(
        [
            "workload",
            "text",
            "--positions",
            "64",
            "--temperature",
            "0.8",
            "--top-k",
            "50",
            "--out",
            str(out),
            "--no-summary",
        ]
    )
    assert rc == 0
    w = load_workload(out)
    assert w.target.shape == (64, 3000) and w.meta["source"] == "text:pydoc"


def test_cli_errors_are_reported_with_status_2(capsys):
    rc = main(["workload", "synthetic", "--vocab", "100", "--batch", "2", "--top-k", "500"])
    assert rc == 2
    assert "top_k" in capsys.readouterr().err
