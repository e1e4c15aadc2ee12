"""`multidraft solve`: text and JSON output, skipped oracles, bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multidraft.cli import main
from multidraft.reference import optimal_acceptance


def run_json(capsys, *argv) -> dict:
    assert main(["solve", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_toy_all_oracles_agree(capsys):
    report = run_json(capsys, "--example", "toy")
    oracles = report["oracles"]
    assert set(oracles) == {"closed", "lp", "maxflow"}
    alpha = report["alpha_star"]
    assert oracles["lp"]["value"] == pytest.approx(alpha, abs=1e-9)
    lo, hi = oracles["maxflow"]["interval"]
    assert lo <= alpha + 1e-15 and alpha - 1e-15 <= hi
    assert abs(oracles["lp"]["certificate_gap"]) <= 1e-9
    assert report["h_min"] == [1, 2, 4, 5] and report["h_max"] == [1, 2, 4, 5]


def test_text_output(capsys):
    assert main(["solve", "--example", "equal", "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert "alpha* = 1.000000000000000" in out and "interval" in out and "certificate gap" in out


def test_too_large_oracles_are_skipped_not_crashed(capsys):
    report = run_json(capsys, "--example", "llm-topk", "--lp-form", "tuples")
    assert report["oracles"]["lp"]["status"].startswith("skipped (")
    assert report["oracles"]["maxflow"]["status"] == "ok"
    assert report["alpha_star_from"] == "closed"


def test_file_input_without_replacement(tmp_path, capsys):
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.2, 0.6])
    path = tmp_path / "laws.npz"
    np.savez(path, target=p, draft=q)
    report = run_json(capsys, "--file", str(path), "--n", "2", "--drafting", "without_replacement")
    assert report["oracles"]["closed"]["status"].startswith("skipped")
    assert report["oracles"]["lp"]["value"] == pytest.approx(report["oracles"]["maxflow"]["value"], abs=1e-9)
    iid = run_json(capsys, "--file", str(path), "--n", "2", "--oracles", "closed")
    assert iid["alpha_star"] == pytest.approx(float(optimal_acceptance(p, q, 2).alpha_star))


@pytest.mark.parametrize(
    "argv", [["--example", "nope"], ["--example", "toy", "--oracles", "lp,foo"], ["--example", "toy", "--n", "0"]]
)
def test_bad_arguments_exit_2(argv, capsys):
    assert main(["solve", *argv]) == 2
    assert "error" in capsys.readouterr().err


def test_file_without_n_asks_for_it(tmp_path, capsys):
    path = tmp_path / "laws.npy"
    np.save(path, np.array([[0.5, 0.5], [0.5, 0.5]]))
    assert main(["solve", "--file", str(path)]) == 2
    assert "--n" in capsys.readouterr().err


@pytest.mark.parametrize("name, text", [("bad.json", "{not json"), ("list.json", "[1, 2]"), ("bad.npz", "garbage")])
def test_unreadable_files_are_input_errors(tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert main(["solve", "--file", str(path), "--n", "2"]) == 2
    assert f"file: could not read {path}" in capsys.readouterr().err


def test_huge_n_skips_the_enumerating_oracles(capsys):
    report = run_json(capsys, "--example", "toy", "--n", "1000000")
    assert report["alpha_star_from"] == "closed"
    for name in ("lp", "maxflow"):
        assert "more than 4.6e+18 items" in report["oracles"][name]["status"]


@pytest.mark.parametrize("n", [2.5, 0, -1])
def test_bad_n_inside_a_file_is_an_input_error(tmp_path, capsys, n):
    path = tmp_path / "laws.json"
    path.write_text(f'{{"target": [0.5, 0.5], "draft": [0.5, 0.5], "n": {n}}}')
    assert main(["solve", "--file", str(path)]) == 2
    assert "n: expected an integer number of drafts" in capsys.readouterr().err
