"""``multidraft check`` and ``multidraft deviation`` end to end through ``multidraft.cli.main``."""

from __future__ import annotations

import json

from multidraft.cli import main


def test_check_passes_a_correct_verifier(capsys):
    assert main(["check", "gallery:rrs", "--examples", "20", "--no-progress"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_check_fails_a_wrong_verifier_with_a_snippet(capsys):
    assert main(["check", "gallery:target_draft_swapped", "--examples", "20", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "from gallery import target_draft_swapped" in out and "target = np.array([" in out


def test_check_json_parses(capsys):
    code = main(
        ["check", "gallery:first_draft_sampler", "--samples", "5000", "--stat-problems", "2", "--json", "--no-progress"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["passed"] is False
    assert {r["name"] for r in report["results"]} >= {"output_law", "acceptance_bound"}


def test_check_sampling_without_samples_defaults(capsys):
    assert main(["check", "gallery:p_sampler", "--samples", "20000", "--stat-problems", "2", "--no-progress"]) == 0


def test_bad_target_is_an_input_error(capsys):
    assert main(["check", "gallery:no_such_thing"]) == 2
    assert "no attribute" in capsys.readouterr().err


def test_deviation_exact_and_plot(tmp_path, capsys):
    out = tmp_path / "dev.png"
    assert main(["deviation", "gallery:target_draft_swapped", "--example", "toy", "--plot", str(out)]) == 1  # found
    text = capsys.readouterr().out
    assert out.stat().st_size > 1000 and "exact TV" in text and "DEVIATES" in text
    assert (
        text.strip().splitlines()[-1].startswith("deviation: gallery:target_draft_swapped: 1 of 1 problem(s) deviate")
    )


def test_deviation_sampled_json(capsys):
    assert main(["deviation", "gallery:p_sampler", "--problems", "1", "--samples", "20000", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["problems"]
    assert rows[0]["method"] == "sampled" and rows[0]["interval"][0] <= rows[0]["tv"] + 1e-12


def test_progress_bar_on_a_terminal(monkeypatch):
    """On a terminal, a long check shows a tqdm bar on stderr: examples of a known total (so an ETA),
    the current property, and a count of verifier calls that moves inside a problem."""
    import io
    import sys
    import time

    import gallery

    from multidraft.properties import CheckConfig, check

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    calls = []

    def slow_rrs(target, draft, drafts):  # the bar appears after 1 s
        if not calls:
            time.sleep(1.2)
        calls.append(1)
        return gallery.rrs(target, draft, drafts)

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert check(slow_rrs, CheckConfig(examples=5, progress=True), interface="conditional").passed
    out = err.getvalue()
    assert "checking slow_rrs" in out and "examples" in out and "verifier calls" in out
    import re

    total = int(re.search(r"\d+/(\d+) \[", out).group(1))
    assert total > 5  # the slate and the 5 examples, for every required property


def test_target_module_in_working_directory(tmp_path, monkeypatch, capsys):
    """`multidraft check mymodule:f` finds mymodule.py in the working directory, as `python -m` would."""
    import sys

    (tmp_path / "my_verifier_module.py").write_text(
        "import numpy as np\n\ndef f(target, draft, drafts):\n    return np.asarray(target, float)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert main(["check", "my_verifier_module:f", "--examples", "5", "--no-progress"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_deviation_unreadable_file_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "laws.json"
    path.write_text("{not json")
    assert main(["deviation", "nss", "--file", str(path)]) == 2
    assert f"file: could not read {path}" in capsys.readouterr().err
