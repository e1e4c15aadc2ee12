"""The ``multidraft`` command line: one sub-command per module in :mod:`multidraft.commands`.

Each sub-command module defines ``add_parser(subparsers)`` (registering its arguments and
help) and ``run(args) -> int`` (the exit status).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .validation import InvalidInputError

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("solve", "check", "deviation", "bench", "workload")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multidraft",
        description=(
            "Oracles, fast solvers and a checker for optimal multi-draft speculative sampling. "
            "Given a target law p, a draft law q and n drafts: the best acceptance possible "
            "(solve), a fast exact verifier (bench), and whether a verifier is lossless and "
            "optimal (check)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"multidraft.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except InvalidInputError as exc:
        print(f"multidraft {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
