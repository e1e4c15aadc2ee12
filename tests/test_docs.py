"""The snippets in README.md and docs/*.md run.

* every ```python block runs (the blocks of one file share a namespace, in order), and in
  the files of ``STANDALONE`` a block that starts with an import -- one that looks
  self-contained to a reader -- also runs alone, in a fresh namespace;
* every ``>>>`` example of docs/api.md runs: api.md is generated from the docstrings of the
  public API (``multidraft.docgen``), so the examples are run as doctests of those very
  docstrings, in their modules' namespaces, and their number is checked against api.md;
* every command line shown in the docs (indented ``multidraft ...`` lines, ``multidraft``
  calls in ```bash blocks, and the ``command: `multidraft ...` `` provenance line beside
  each benchmark table) is accepted
  by the command-line parser. Those are parsed, not run: most are minutes-long benchmarks;
  the commands themselves are exercised by tests/bench, tests/workloads and the CLI tests;
* no doc hides a snippet in a form the tests above would not collect (```py, ```pycon,
  ``>>>`` outside api.md).
"""

import doctest
import importlib
import inspect
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)
COMMAND = re.compile(r"^(?: {4}|command: `)(multidraft [^`#\n]*)", re.MULTILINE)
BASH = re.compile(r"```(?:bash|sh|console)\n(.*?)```", re.DOTALL)
HIDDEN = re.compile(r"^```(?:py|pycon|python3|ipython|pytb)\s*$", re.MULTILINE)


def _starts_with_import(code: str) -> bool:
    first = next((line for line in code.splitlines() if line.strip() and not line.startswith("#")), "")
    return first.startswith(("import ", "from "))


#: Docs whose import-led blocks must each run alone (checking.md: users paste its blocks one by one).
STANDALONE = ("checking.md",)


@pytest.mark.parametrize("path", [f for f in FILES if f.name in STANDALONE], ids=lambda p: p.name)
def test_self_contained_looking_snippets_run_alone(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for number, code in enumerate(SNIPPET.findall(path.read_text()), start=1):
        if not _starts_with_import(code):
            continue
        try:
            exec(compile(code, f"{path.name}[snippet {number}]", "exec"), {"__name__": "__docs__"})
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name} snippet {number} does not run alone: {type(exc).__name__}: {exc}\n{code}")


@pytest.mark.parametrize("path", [f for f in FILES if SNIPPET.search(f.read_text())], ids=lambda p: p.name)
def test_snippets_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace: dict = {"__name__": "__docs__"}
    for number, code in enumerate(SNIPPET.findall(path.read_text()), start=1):
        try:
            exec(compile(code, f"{path.name}[snippet {number}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{path.name} snippet {number} failed: {type(exc).__name__}: {exc}\n{code}")


def _api_doctests() -> list[doctest.DocTest]:
    from multidraft.docgen import API_MODULES

    finder = doctest.DocTestFinder(recurse=False)
    tests = []
    for name in API_MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if not (callable(obj) or inspect.isclass(obj)):
                continue  # api.md shows no docstring for ready instances
            home = importlib.import_module(getattr(obj, "__module__", None) or name)
            tests += [t for t in finder.find(obj, f"{name}.{attr}", module=False, globs=dict(vars(home))) if t.examples]
    return tests


def test_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tests = _api_doctests()
    shown = (ROOT / "docs" / "api.md").read_text().count("\n>>> ")
    assert sum(len(t.examples) for t in tests) == shown, "api.md is stale or an example was not collected"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failed = []
    for test in tests:
        if runner.run(test, out=lambda s: failed.append(s)).failed:
            failed.append(f"^ in {test.name}")
    assert not failed, "\n".join(failed)


def _command_lines() -> list[tuple[str, str]]:
    out = []
    for path in FILES:
        if path.name in ("api.md", "cli.md"):  # generated; cli.md holds --help output, not commands
            continue
        text = path.read_text()
        lines = [m.group(1).strip() for m in COMMAND.finditer(text)]
        for block in BASH.findall(text):  # e.g. README's `... && pip install -e . && multidraft check ...`
            lines += [part.strip() for part in re.split(r"&&|\n", block) if part.strip().startswith("multidraft ")]
        out += [(path.name, line) for line in lines if "<" not in line]  # skip `multidraft bench <name> --quick`
    return list(dict.fromkeys(out))


def test_the_command_pattern_finds_the_documented_commands():
    names = {name for name, _ in _command_lines()}
    assert {"README.md", "benchmarks.md", "checking.md", "workloads.md"} <= names, names


@pytest.mark.parametrize("where,line", _command_lines(), ids=lambda x: x if len(x) < 60 else x[:57] + "...")
def test_command_lines_parse(where, line):
    from multidraft.cli import build_parser

    argv = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports the bad option on stderr
        pytest.fail(f"{where}: `{line}` is not accepted by the parser (exit {exc.code})")
    assert getattr(args, "run", None) is not None, f"{where}: `{line}` names no runnable command"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_snippet_escapes_collection(path):
    text = path.read_text()
    assert not HIDDEN.search(text), f"{path.name}: a code block in a form test_snippets_run does not run"
    if path.name != "api.md":
        assert "\n>>> " not in text, f"{path.name}: a >>> example outside ```python blocks is not run"
