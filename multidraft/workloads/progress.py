"""One progress-bar factory: tqdm on stderr (a terminal), shown only if the work lasts over ~2 s."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

#: Seconds before a bar appears (short jobs print nothing).
DELAY_S = 2.0


def progress_bar(iterable: Iterable[T], *, enabled: bool, desc: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr when ``enabled`` and stderr is a terminal."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, delay=DELAY_S, leave=False, disable=None)
