"""``multidraft bench fast|acceptance|table1|budget``: benchmarks that print tables and write plots.

Each benchmark lives in :mod:`multidraft.bench` (one module each) and defines ``HELP``,
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args, report) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from multidraft.validation import check_output_path, cli_int, cli_type

BENCHMARKS = ("fast", "acceptance", "table1", "budget", "multistep")


def _module(name: str):
    return importlib.import_module(f"multidraft.bench.{name}")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmarks: time per token, throughput, optimal acceptance, Table 1/2 analogues",
        description=(
            "Benchmarks that print markdown tables and write them (.md) with PNG plots into --out.\n"
            "Every table states the command line, the machine and the date. --quick runs in seconds."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name in BENCHMARKS:
        module = _module(name)
        bench = sub.add_parser(
            name, help=module.HELP, description=module.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        bench.add_argument(
            "--out",
            default="results",
            type=cli_type(check_output_path, directory=True, keep_text=True),
            help="folder for the .md tables and .png plots (default results/)",
        )
        bench.add_argument(
            "--seed", type=cli_int(min_value=0), default=0, help="seed of the workloads and of the samplers (default 0)"
        )
        bench.add_argument("--quick", action="store_true", help="a seconds-long smoke run (small sizes)")
        bench.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
        module.add_arguments(bench)
        bench.set_defaults(run=run, _parser=bench)


def run(args: argparse.Namespace) -> int:
    from multidraft.bench.common import BenchReport
    from multidraft.bench.options import command_line

    module = _module(args.benchmark)
    module.resolve_options(args)
    report = BenchReport(args.out, command_line(args), device=getattr(args, "device", "cpu"))
    return int(module.run(args, report) or 0)
