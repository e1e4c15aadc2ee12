"""docs/api.md and docs/cli.md are generated; they must match the code (run python -m multidraft.docgen)."""

from pathlib import Path

from multidraft.docgen import api_markdown, cli_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_api_reference_is_current():
    assert (DOCS / "api.md").read_text() == api_markdown(), "stale: run python -m multidraft.docgen"


def test_command_line_guide_is_current():
    assert (DOCS / "cli.md").read_text() == cli_markdown(), "stale: run python -m multidraft.docgen"
