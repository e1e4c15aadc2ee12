"""``multidraft bench multistep --quick``: every table and plot, values within their bounds; bad options exit 2."""

from multidraft.cli import main

TABLES = {
    "multistep_pairs": ["draft", "mixture", "acceptance", "+- (1 SE)"],
    "multistep_chains": ["L", "token_chain", "block_verification", "nss_tree", "traversal"],
    "multistep_paths_spectr": ["K", "L=1", "L=2"],
    "multistep_trees": ["structure", "nodes", "spec_infer"],
    "multistep_speedup": [
        "structure",
        "verifier",
        "block eff.",
        "verifier ms (median)",
        "drafted tokens",
        "speed-up (tokens)",
        "speed-up (depth)",
        "published",
    ],
    "multistep_best": ["verifier", "best structure (tokens)"],
    "multistep_matched": ["verifier", "ours (mean over structures)", "published", "rank published"],
    "multistep_decoding": ["verifier", "decoded tokens per call", "single-block estimate at text contexts"],
    "multistep_exact": ["structure", "verifier", "exact block eff.", "estimate", "inside"],
}


def _rows(path):
    lines = [row for row in path.read_text().splitlines() if row.startswith("| ")]
    split = [[c.strip() for c in row.strip("|").split("|")] for row in lines]
    return split[0], split[1:]


def test_quick_run_writes_every_table_and_plot(tmp_path, capsys):
    assert main(["bench", "multistep", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "command: `multidraft bench multistep" in out
    for name, columns in TABLES.items():
        head, rows = _rows(tmp_path / f"{name}.md")
        assert all(c in head for c in columns), (name, head)
        assert rows
    for plot in ("multistep_efficiency", "multistep_speedup"):
        assert (tmp_path / f"{plot}.png").stat().st_size > 1000
    head, rows = _rows(tmp_path / "multistep_chains.md")
    for row in rows:  # E|O| of a chain of length L lies in [1, L + 1]
        L = int(row[0])
        for cell in row[1:]:
            if cell != "-":
                assert 1.0 <= float(cell.split(" +- ")[0]) <= L + 1
    head, rows = _rows(tmp_path / "multistep_exact.md")
    assert sum(r[head.index("inside")] == "yes" for r in rows) >= len(rows) - 2


def test_bad_options_exit_2(tmp_path, capsys):
    for bad in (["--verifiers", "nope"], ["--contexts", "0"], ["--paths-k", "x"]):
        assert main(["bench", "multistep", "--quick", "--no-progress", "--out", str(tmp_path), *bad]) == 2
    assert "error" in capsys.readouterr().err
