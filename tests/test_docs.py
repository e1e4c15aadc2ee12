"""Every ```python snippet in README.md and docs/*.md runs (snippets of one file share a namespace)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("path", [f for f in FILES if SNIPPET.search(f.read_text())], ids=lambda p: p.name)
def test_snippets_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace: dict = {"__name__": "__docs__"}
    for number, code in enumerate(SNIPPET.findall(path.read_text()), start=1):
        try:
            exec(compile(code, f"{path.name}[snippet {number}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name} snippet {number} failed: {type(exc).__name__}: {exc}\n{code}")
