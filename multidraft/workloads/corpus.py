"""Real English text available offline in every CPython: the pydoc topic help.

``pydoc_data.topics.topics`` maps ~80 help topics (``"assert"``, ``"numbers"``, ...) to the
reference-manual sections behind ``help("topic")``: about 465,000 characters (65,000
words) of English prose with code examples, shipped with CPython itself, so nothing is
downloaded.

Split
-----
The topics are sorted by name and cut into paragraphs (at blank lines). Paragraph ``i``
is *held out* when ``i % period == period - 1`` with ``period = round(1 / held_out)``
(every 10th paragraph for ``held_out = 0.1``), so both parts cover every topic. Each part
is returned as one string, paragraphs joined by a blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multidraft.validation import InvalidInputError

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class TextSplit:
    """Training and held-out text (``train``, ``held_out``) and the paragraph counts."""

    train: str
    held_out: str
    n_train_paragraphs: int
    n_held_out_paragraphs: int


def pydoc_paragraphs() -> list[str]:
    """The paragraphs of ``pydoc_data.topics.topics``, topics sorted by name."""
    from pydoc_data.topics import topics

    paragraphs: list[str] = []
    for name in sorted(topics):
        paragraphs.extend(p.strip("\n") for p in _PARAGRAPH_BREAK.split(topics[name]) if p.strip())
    return paragraphs


def split_text(held_out: float = 0.1, max_chars: int | None = None) -> TextSplit:
    """Split the pydoc text into training and held-out parts (see the module doc).

    Parameters
    ----------
    held_out : float in (0, 0.5]
        Fraction of paragraphs held out (every ``round(1/held_out)``-th paragraph).
    max_chars : int, optional
        Use only the first paragraphs, up to about this many characters in all (for tests).
    """
    if not (isinstance(held_out, (int, float)) and 0 < held_out <= 0.5):
        raise InvalidInputError(f"held_out: expected a fraction in (0, 0.5], got {held_out!r}")
    if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1000):
        raise InvalidInputError(f"max_chars: expected an integer >= 1000 (or None), got {max_chars!r}")
    paragraphs = pydoc_paragraphs()
    if max_chars is not None:
        kept, total = [], 0
        for p in paragraphs:
            if total >= max_chars:
                break
            kept.append(p)
            total += len(p) + 2
        paragraphs = kept
    period = max(2, round(1.0 / held_out))
    train = [p for i, p in enumerate(paragraphs) if i % period != period - 1]
    test = [p for i, p in enumerate(paragraphs) if i % period == period - 1]
    return TextSplit("\n\n".join(train), "\n\n".join(test), len(train), len(test))
