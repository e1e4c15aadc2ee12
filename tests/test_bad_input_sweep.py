"""The bad-input sweep: every CLI option given a bad value exits 2 before any work, with one
line on stderr naming the option and no traceback (with ``--json``: the error as JSON too).

The list below is checked against the parsers themselves, so a new option without a bad-value
case fails :func:`test_every_option_has_a_bad_value_case`.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from multidraft.cli import build_parser, main

CHECK = ["check", "rrs"]
DEVIATION = ["deviation", "rrs"]
SOLVE = ["solve", "--example", "toy"]
FAST = ["bench", "fast", "--quick"]
ACCEPTANCE = ["bench", "acceptance", "--quick"]
TABLE1 = ["bench", "table1", "--quick"]
BUDGET = ["bench", "budget", "--quick"]
SYNTHETIC = ["workload", "synthetic", "--vocab", "50", "--batch", "2"]
TEXT = ["workload", "text", "--positions", "2"]
CHECK_TREE = ["check-tree", "token_chain"]
CHECK_DECODER = ["check-decoder", "traversal@paths:2x2"]
MULTISTEP = ["bench", "multistep", "--quick"]

#: (command prefix, option, bad values); the option is named in the error line.
CASES = [
    (CHECK, "--interface", ["bogus"]),
    (CHECK, "--drafting", ["bogus"]),
    (CHECK, "--n", ["0", "2-x", "3-1", "1-2-3"]),
    (CHECK, "--vocab", ["0", "a"]),
    (CHECK, "--examples", ["-1", "0", "x"]),
    (CHECK, "--samples", ["-1", "1.5"]),
    (CHECK, "--stat-problems", ["0", "-1"]),
    (CHECK, "--profile", ["bogus"]),
    (CHECK, "--seed", ["-1", "x"]),
    (CHECK, "--tol", ["-1", "0", "nan"]),
    (CHECK, "--alpha", ["2", "0", "1", "nan"]),
    (CHECK, "--max-tuples", ["0"]),
    (CHECK, "--backend", ["bogus"]),
    (DEVIATION, "--interface", ["bogus"]),
    (DEVIATION, "--example", ["bogus"]),
    (DEVIATION, "--file", ["/nonexistent/laws.npz"]),
    (DEVIATION, "--problems", ["0", "-1"]),
    (DEVIATION, "--drafting", ["bogus"]),
    (DEVIATION, "--n", ["0", "x"]),
    (DEVIATION, "--vocab", ["0", "1", "1-1"]),
    (DEVIATION, "--samples", ["0", "-5"]),
    (DEVIATION, "--max-tuples", ["0"]),
    (DEVIATION, "--seed", ["-1"]),
    (DEVIATION, "--plot", ["/nonexistent/x.png", "out.txt"]),
    (["solve"], "--example", ["bogus"]),
    (["solve"], "--file", ["/nonexistent/laws.npz"]),
    (SOLVE, "--n", ["0", "x"]),
    (SOLVE, "--drafting", ["bogus"]),
    (SOLVE, "--oracles", ["bogus", ""]),
    (SOLVE, "--lp-form", ["bogus"]),
    (SOLVE, "--row", ["-1", "x"]),
    (FAST, "--out", ["{file}"]),
    (FAST, "--seed", ["-1"]),
    (FAST, "--vocab", ["0", "5"]),
    (FAST, "--rows", ["0"]),
    (FAST, "--cases", ["10:x", "0:2", ""]),
    (FAST, "--batches", ["0", "x"]),
    (FAST, "--throughput-case", ["10", "10:2,10:4"]),
    (FAST, "--big-vocab", ["0"]),
    (FAST, "--repeats", ["0"]),
    (FAST, "--oracle-rows", ["0"]),
    (FAST, "--oracle-limit", ["-1", "0"]),
    (FAST, "--oracle-cases", ["x"]),
    (FAST, "--device", ["foo", "mps"]),
    (FAST, "--big-rows", ["0", "x"]),
    (CHECK, "--timeout", ["0", "-1", "x"]),
    (CHECK, "--temperature", ["-1", "nan"]),
    (CHECK, "--top-k", ["0", "x"]),
    (CHECK, "--top-p", ["0", "1.5"]),
    (CHECK, "--dtype", ["bogus"]),
    (CHECK, "--dtype-tol", ["0", "-1"]),
    (DEVIATION, "--temperature", ["-1"]),
    (DEVIATION, "--top-k", ["0"]),
    (DEVIATION, "--top-p", ["2"]),
    (DEVIATION, "--dtype", ["bogus"]),
    (CHECK_TREE, "--structure", ["bogus", "chain:0", "paths:3"]),
    (CHECK_TREE, "--law", ["bogus"]),
    (CHECK_TREE, "--vocab", ["0", "x"]),
    (CHECK_TREE, "--samples", ["-1"]),
    (CHECK_TREE, "--stat-vocab", ["1"]),
    (CHECK_TREE, "--reference", ["bogus"]),
    (CHECK_TREE, "--tol", ["0", "-1"]),
    (CHECK_TREE, "--alpha", ["0", "1"]),
    (CHECK_TREE, "--seed", ["-1"]),
    (CHECK_DECODER, "--vocab", ["1", "x"]),
    (CHECK_DECODER, "--models", ["0"]),
    (CHECK_DECODER, "--streams", ["0"]),
    (CHECK_DECODER, "--tokens", ["0"]),
    (CHECK_DECODER, "--alpha", ["0", "1"]),
    (CHECK_DECODER, "--seed", ["-1"]),
    (MULTISTEP, "--out", ["{file}"]),
    (MULTISTEP, "--seed", ["-1"]),
    (MULTISTEP, "--draft", ["bogus"]),
    (MULTISTEP, "--temperature", ["0", "-1"]),
    (MULTISTEP, "--bpe-vocab", ["1"]),
    (MULTISTEP, "--contexts", ["0"]),
    (MULTISTEP, "--trees", ["0"]),
    (MULTISTEP, "--chain-lengths", ["x"]),
    (MULTISTEP, "--paths-k", ["x"]),
    (MULTISTEP, "--paths-l", ["x"]),
    (MULTISTEP, "--branching", ["x"]),
    (MULTISTEP, "--delayed", ["x"]),
    (MULTISTEP, "--verifiers", ["bogus"]),
    (MULTISTEP, "--cost-ratio", ["0"]),
    (MULTISTEP, "--target-ms", ["0"]),
    (MULTISTEP, "--ratios", ["x"]),
    (MULTISTEP, "--decode-structure", ["bogus"]),
    (MULTISTEP, "--decode-prompts", ["0"]),
    (MULTISTEP, "--decode-tokens", ["0"]),
    (ACCEPTANCE, "--out", ["{file}"]),
    (ACCEPTANCE, "--seed", ["-1"]),
    (ACCEPTANCE, "--vocab", ["0"]),
    (ACCEPTANCE, "--rows", ["0"]),
    (ACCEPTANCE, "--text-rows", ["0"]),
    (ACCEPTANCE, "--ks", ["0", "x"]),
    (ACCEPTANCE, "--ns", ["0", "x"]),
    (ACCEPTANCE, "--temperatures", ["0", "x"]),
    (ACCEPTANCE, "--workloads", ["foo", "llm,foo"]),
    (ACCEPTANCE, "--correlation", ["2", "-0.1"]),
    (ACCEPTANCE, "--baselines", ["bogus"]),
    (TABLE1, "--out", ["{file}"]),
    (TABLE1, "--seed", ["-1"]),
    (TABLE1, "--vocab", ["0"]),
    (TABLE1, "--rows", ["0"]),
    (TABLE1, "--cases", ["x"]),
    (TABLE1, "--limit", ["0"]),
    (TABLE1, "--deviation-rows", ["-1"]),
    (TABLE1, "--methods", ["bogus"]),
    (BUDGET, "--out", ["{file}"]),
    (BUDGET, "--seed", ["-1"]),
    (BUDGET, "--vocab", ["0"]),
    (BUDGET, "--rows", ["0"]),
    (BUDGET, "--ks", ["x"]),
    (BUDGET, "--ns", ["0"]),
    (BUDGET, "--budgets", ["0"]),
    (BUDGET, "--limit", ["0"]),
    (BUDGET, "--methods", ["bogus"]),
    (SYNTHETIC, "--vocab", ["0", "1"]),
    (SYNTHETIC, "--batch", ["0"]),
    (SYNTHETIC, "--seed", ["-1"]),
    (SYNTHETIC, "--acceptance", ["2", "0"]),
    (SYNTHETIC, "--correlation", ["2"]),
    (SYNTHETIC, "--tol", ["0"]),
    (SYNTHETIC, "--tail", ["0"]),
    (SYNTHETIC, "--tail-spread", ["-1"]),
    (SYNTHETIC, "--out", ["/nonexistent/w.npz", "w.txt"]),
    (SYNTHETIC, "--temperature", ["0"]),
    (SYNTHETIC, "--top-k", ["0"]),
    (SYNTHETIC, "--top-p", ["0", "2"]),
    (SYNTHETIC, "--summary-rows", ["0"]),
    (TEXT, "--positions", ["0"]),
    (TEXT, "--start", ["-1"]),
    (TEXT, "--seed", ["-1"]),
    (TEXT, "--bpe-vocab", ["0"]),
    (TEXT, "--target-order", ["0"]),
    (TEXT, "--draft-order", ["0"]),
    (TEXT, "--out", ["/nonexistent/w.npz"]),
    (TEXT, "--temperature", ["0"]),
    (TEXT, "--top-k", ["0"]),
    (TEXT, "--top-p", ["2"]),
    (TEXT, "--summary-rows", ["0"]),
]
#: Options that take no value (flags) or print and exit: nothing bad to give them.
NO_VALUE = {
    "--help",
    "--version",
    "--json",
    "--no-progress",
    "--quick",
    "--optimal",
    "--no-summary",
    "--quiet",
    "--no-slate",
}


def _walk(prefix: list[str]) -> tuple[tuple[str, ...], argparse.ArgumentParser]:
    """The sub-command path of ``prefix`` (e.g. ``("bench", "fast")``) and its parser."""
    parser, path = build_parser(), ()
    for word in prefix:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            parser, path = subs[0].choices[word], path + (word,)
    return path, parser


def _leaf_parsers(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaf_parsers(child, path + (name,))


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _expand(value: str, tmp_path) -> str:
    if value == "{file}":
        path = tmp_path / "a_file"
        path.write_text("x")
        return str(path)
    return value


PARAMS = [
    pytest.param(prefix, option, value, id=f"{' '.join(prefix[:2])} {option} {value}")
    for prefix, option, values in CASES
    for value in values
]


@pytest.mark.parametrize("prefix, option, value", PARAMS)
def test_bad_option_value_exits_2_with_one_line(prefix, option, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = prefix + [option, _expand(value, tmp_path)]
    code, out, err = _run(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, (argv, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    word = option.lstrip("-")
    assert re.search(rf"{re.escape(word)}|{re.escape(word.replace('-', '_'))}", lines[0]), lines[0]
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("results*"))  # no work was done
    if any(a.option_strings == ["--json"] for a in _walk(prefix)[1]._actions):
        code, out, err = _run(argv + ["--json"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert json.loads(out)["error"] == err.strip()


def test_every_option_has_a_bad_value_case():
    covered = {(_walk(prefix)[0], option) for prefix, option, _ in CASES}
    missing = [
        (path, action.option_strings[-1])
        for path, parser in _leaf_parsers(build_parser())
        for action in parser._actions
        if action.option_strings
        and action.option_strings[-1] not in NO_VALUE
        and (path, action.option_strings[-1]) not in covered
    ]
    assert not missing, missing
