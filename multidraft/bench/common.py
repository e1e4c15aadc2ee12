"""Shared helpers of every benchmark: timing, the machine line, markdown tables, plots.

* :func:`timed` -- wall seconds of one complete call (``time.perf_counter`` around it,
  with a device synchronisation before and after for CUDA);
* :func:`summarize_times` -- median and 99th percentile of a list of timings;
* :func:`machine_line` -- platform, CPU count, torch version and threads, device, load, date;
* :class:`Table` -- a markdown table with a title and notes;
* :class:`BenchReport` -- prints each table to stdout and writes it (with the command line and
  the machine line) to ``<out>/<name>.md``; writes PNG plots with :meth:`BenchReport.plot`.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


def synchronizer(device: Any) -> Callable[[], None]:
    """A function that waits for queued work on ``device`` (a no-op on CPU)."""
    dev = torch.device(device or "cpu")
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def timed(fn: Callable[[], Any], sync: Callable[[], None] = lambda: None) -> tuple[Any, float]:
    """Run ``fn()`` once; returns ``(value, wall seconds)`` measured with ``time.perf_counter``."""
    sync()
    start = time.perf_counter()
    value = fn()
    sync()
    return value, time.perf_counter() - start


def summarize_times(seconds: Sequence[float]) -> tuple[float, float]:
    """``(median, p99)`` of ``seconds`` in milliseconds (NaN for an empty list)."""
    if len(seconds) == 0:
        return float("nan"), float("nan")
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 99))


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats with ``digits`` significant digits, NaN as ``-``, strings as they are."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "-"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{max(digits - 1, 0)}e}"
        return f"{value:.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def machine_line(device: Any = "cpu") -> str:
    """One line describing where and when a table was measured."""
    dev = torch.device(device or "cpu")
    where = "cpu"
    if dev.type == "cuda" and torch.cuda.is_available():
        where = f"cuda ({torch.cuda.get_device_name(dev)})"
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        load = "n/a"
    date = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {where}; "
        f"load average {load} (other processes add to it); date {date}"
    )


@dataclass
class Table:
    """A markdown table: ``title``, ``columns``, ``rows`` (cells formatted by :func:`fmt`), ``notes``."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"table {self.name}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Series:
    """One line of a plot: ``label``, ``x`` (numbers or category names), ``y``; optional
    ``notes``, one short text per point written beside it (e.g. the configuration ``(k, n)``)."""

    label: str
    x: Sequence[Any]
    y: Sequence[float]
    style: str = "o-"
    notes: Sequence[str] = ()


class BenchReport:
    """Prints tables to stdout and writes them, with provenance, into ``out``.

    ``command`` is the exact command line that reproduces the run; ``device`` is named in
    the machine line written beside every table.
    """

    def __init__(self, out: str | Path, command: str, device: Any = "cpu"):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.command = command
        self.device = device
        self.written: list[Path] = []

    def table(self, table: Table) -> Path:
        """Print ``table`` (with its provenance) and write it to ``<out>/<name>.md``."""
        text = (
            "\n".join(
                [
                    f"### {table.title}",
                    "",
                    f"command: `{self.command}`",
                    "",
                    machine_line(self.device),
                    "",
                    table.markdown(),
                    "",
                    *[f"- {note}" for note in table.notes],
                ]
            ).rstrip()
            + "\n"
        )
        print(text, flush=True)
        path = self.out / f"{table.name}.md"
        path.write_text(text)
        self.written.append(path)
        return path

    def plot(
        self,
        name: str,
        panels: Sequence[tuple[str, Sequence[Series]]],
        *,
        xlabel: str,
        ylabel: str,
        logx: bool = False,
        logy: bool = False,
        hlines: Sequence[float] = (),
        vlines: Sequence[float] = (),
        vline_label: str = "",
    ) -> Path:
        """Write ``<out>/<name>.png``: one panel per ``(title, series)``, one line per series.

        ``vline_label`` (a format with ``{x}``) labels each vertical line; a series' ``notes``
        are written beside its points.

        Category x values (strings) are placed at 0, 1, 2, ... in first-seen order.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = min(3, len(panels))
        rows = (len(panels) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
        # many lines with the same labels in every panel: one legend beside the figure, where
        # it hides no line (bbox_inches="tight" below keeps it in the picture)
        labels = [[s.label for s in series] for _, series in panels]
        shared_legend = len(labels[0]) > 4 and all(lab == labels[0] for lab in labels)
        for ax, (title, series) in zip(axes.ravel(), panels):
            categories: list[str] = []
            for s in series:
                if any(isinstance(x, str) for x in s.x):
                    categories += [str(x) for x in s.x if str(x) not in categories]
            for s in series:
                xs = [categories.index(str(x)) for x in s.x] if categories else list(s.x)
                ax.plot(xs, list(s.y), s.style, label=s.label, markersize=4)
                for x, y, note in zip(xs, s.y, s.notes):
                    ax.annotate(note, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
            if categories:
                ax.set_xticks(range(len(categories)), categories, rotation=30, fontsize=8)
            for y in hlines:
                ax.axhline(y, color="grey", linestyle=":", linewidth=1)
            for x in vlines:
                ax.axvline(x, color="grey", linestyle=":", linewidth=1)
                if vline_label:
                    ax.annotate(
                        vline_label.format(x=x),
                        (x, 1.0),
                        xycoords=("data", "axes fraction"),
                        rotation=90,
                        va="top",
                        ha="right",
                        fontsize=7,
                        color="grey",
                    )
            ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
            if logx and not categories:
                ax.set_xscale("log")
            if logy:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if not shared_legend:
                ax.legend(fontsize=7)
        for ax in axes.ravel()[len(panels) :]:
            ax.axis("off")
        fig.tight_layout()
        path = self.out / f"{name}.png"
        if shared_legend:
            fig.legend(
                *axes.ravel()[0].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8
            )
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.written.append(path)
        return path
