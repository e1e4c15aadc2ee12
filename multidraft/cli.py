"""The ``multidraft`` command line: one sub-command per module in :mod:`multidraft.commands`.

Each sub-command module defines ``add_parser(subparsers)`` (registering its arguments and
help) and ``run(args) -> int`` (the exit status).

Bad input never gives a traceback: every option is checked while the command line is parsed
(``type=`` functions from :mod:`multidraft.validation`), and an :class:`InvalidInputError`
raised later (a file, a verifier) is reported the same way: exit status 2 and one line on
stderr, ``multidraft COMMAND: error: ...`` naming the option or argument; with ``--json`` the
same error is also printed on stdout as ``{"error": ..., "exit_status": 2}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from . import __version__
from .validation import InvalidInputError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("solve", "check", "check-tree", "check-decoder", "deviation", "bench", "workload")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (and JSON with ``--json``)."""

    #: Whether the command line asked for ``--json`` (set by :func:`main` before parsing).
    json_errors = False

    def error(self, message: str):  # type: ignore[override]
        fail(f"{self.prog}: error: {message}", json_too=Parser.json_errors)


def fail(line: str, *, json_too: bool) -> None:
    """Report a bad input: ``line`` on stderr (and as JSON on stdout), exit status 2."""
    print(line, file=sys.stderr)
    if json_too:
        print(json.dumps({"error": line, "exit_status": 2}))
    raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="multidraft",
        description=(
            "Oracles, fast solvers and a checker for optimal multi-draft speculative sampling. "
            "Given a target law p, a draft law q and n drafts: the best acceptance possible "
            "(solve), a fast exact verifier (bench), and whether a verifier is lossless and "
            "optimal (check)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"multidraft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"multidraft.commands.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    Parser.json_errors = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        try:
            return int(args.run(args) or 0)
        except InvalidInputError as exc:
            fail(f"multidraft {args.command}: error: {exc}", json_too=bool(getattr(args, "json", False)))
    except SystemExit as exc:  # argparse's --help/--version (0) and bad input (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
