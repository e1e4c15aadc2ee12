"""Smoke tests of ``multidraft bench``: each benchmark in --quick mode writes its tables and plots.

These check that the commands run end to end and that the tables have the documented
columns; they time nothing (benchmarks are commands, not timed tests).
"""

from __future__ import annotations

import pytest

from multidraft.cli import main

#: benchmark -> {table file: columns it must have}, and the plots it must write.
EXPECTED = {
    "fast": (
        {
            "fast_per_token": [
                "(k, n)",
                "median ms",
                "p99 ms",
                "success",
                "worst gap",
                "published GR 1e-4 ms (success)",
            ],
            "fast_throughput": [
                "B",
                "V",
                "threads",
                "tokens/s",
                "read p, q s",
                "bound tokens/s",
                "ratio to bound",
                "success",
            ],
            "fast_speedup": ["max-flow median ms", "GR median ms", "speed-up (median)"],
            "fast_scaling": ["sweep", "(k, n)", "work k (n/2+1)", "median ms", "read p, q ms", "median / read"],
        },
        ["fast_per_token", "fast_throughput", "fast_scaling"],
    ),
    "acceptance": (
        {
            "acceptance_alpha": ["workload", "T", "k", "n=1", "n=2"],
            "acceptance_baselines": ["baseline", "n", "llm: rows at alpha*", "llm: mean acc / mean alpha*"],
        },
        ["acceptance_alpha"],
    ),
    "table1": (
        {
            "table1": [
                "(k, n)",
                "method",
                "median ms",
                "p99 ms",
                "success",
                "deviation (exact)",
                "published ms (success)",
            ]
        },
        ["table1"],
    ),
    "budget": (
        {
            "budget": ["budget ms", "method", "best mean acceptance", "published GR / max-flow"],
            "budget_points": ["method", "k", "n", "median ms", "mean acceptance"],
        },
        ["budget"],
    ),
}


def header(path) -> list[str]:
    line = next(row for row in path.read_text().splitlines() if row.startswith("| "))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.mark.parametrize("bench", list(EXPECTED))
def test_quick_run_writes_tables_and_plots(bench, tmp_path, capsys):
    args = ["bench", bench, "--quick", "--no-progress", "--out", str(tmp_path)]
    if bench == "acceptance":
        args += ["--workloads", "llm"]  # the text workload's models take ~2 s to train; covered by tests/workloads
    assert main(args) == 0
    out = capsys.readouterr().out
    tables, plots = EXPECTED[bench]
    for name, columns in tables.items():
        path = tmp_path / f"{name}.md"
        text = path.read_text()
        assert "command: `multidraft bench " + bench in text and "--quick" in text
        assert "machine:" in text and "torch" in text and "date" in text
        assert set(columns) <= set(header(path)), header(path)
        assert text.split("\n\n")[3] in out  # the same table was printed
    for name in plots:
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if bench in ("table1", "budget"):  # methods with their own drafting law are marked, not passed off as i.i.d.
        from multidraft import get_verifier, list_verifiers

        text = (tmp_path / f"{bench}.md").read_text()
        marked = [
            (name, d)
            for name in list_verifiers()
            if (d := getattr(get_verifier(name), "drafting", "iid") or "iid") != "iid"
        ]
        assert marked  # greedy and rrs_without_replacement draw their own way
        for name, drafting in marked:
            assert f"| {name} ({drafting} drafting) |" in text
        assert "another drafting law" in text
    if bench == "fast":  # global resolution reaches alpha* on every quick row
        rows = [row for row in (tmp_path / "fast_per_token.md").read_text().splitlines() if row.startswith("| (1")]
        assert rows and all("| 100% |" in row for row in rows)


def test_cuda_request_without_cuda_skips(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "fast", "--quick", "--device", "cuda", "--out", str(tmp_path)]) == 0
    assert "no CUDA device" in capsys.readouterr().out


def test_bad_option_is_an_error(tmp_path, capsys):
    assert main(["bench", "table1", "--quick", "--cases", "10-2", "--out", str(tmp_path)]) == 2
    assert "cases" in capsys.readouterr().err


def test_acceptance_compares_only_the_chosen_baselines(tmp_path, capsys):
    assert (
        main(["bench", "acceptance", "--quick", "--no-progress", "--baselines", "rrs,nss", "--out", str(tmp_path)]) == 0
    )
    text = (tmp_path / "acceptance_baselines.md").read_text()
    assert "| rrs |" in text and "| nss |" in text and "| kseq |" not in text
    assert main(["bench", "acceptance", "--quick", "--baselines", "rrs,nope", "--out", str(tmp_path)]) == 2
    assert "baselines: unknown ['nope']" in capsys.readouterr().err


def test_stage_breakdown_runs_and_adds_up():
    """``python -m multidraft.bench.stages``' timer: every stage measured, ``other`` is the
    total minus the stages, on a small vocabulary, one row per call and batched."""
    from multidraft.bench.problems import draw_drafts, llm_problems
    from multidraft.bench.stages import STAGES, stage_times

    problems = llm_problems(3, 600, 10, seed=0)
    drafts = draw_drafts(problems.draft, 2, 0)
    for batched in (False, True):
        medians = stage_times(problems.target, problems.draft, drafts, 2, batched=batched, passes=1)
        assert all(medians[name] > 0 for name in STAGES)
        assert medians["other"] == pytest.approx(medians["total"] - sum(medians[name] for name in STAGES[2:]))
