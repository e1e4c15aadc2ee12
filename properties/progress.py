"""Progress of a check on stderr, and a per-call timeout for the verifier under test.

:class:`Progress` is a tqdm bar with a total and an ETA (shown when stderr is a terminal and
the work lasts over a second) whose postfix moves with every call of the verifier, so a slow
verifier shows movement inside one problem; :meth:`Progress.message` prints a line (the
pre-run estimate of statistical mode) whether or not the bar shows.

:func:`with_timeout` wraps a verifier call so that one call longer than ``seconds`` raises
:class:`VerifierTimeout`. In the main thread of a POSIX process it uses ``SIGALRM`` (the
call is interrupted: Python code at once, compiled code when it returns to Python); elsewhere
the call runs in a daemon thread that is abandoned on timeout (it cannot be stopped, only
left behind).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

#: Seconds between redraws of the per-call postfix.
REDRAW_S = 0.5


class VerifierTimeout(Exception):
    """A single call of the verifier under test ran past the per-call timeout."""


class Progress:
    """A tqdm bar on stderr (``enabled`` and a terminal), or nothing; see the module doc."""

    def __init__(self, enabled: bool, desc: str, total: int | None, unit: str):
        self.enabled = enabled
        self.bar = None
        self.calls, self.label, self._drawn = 0, "", 0.0
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                desc=desc,
                total=total,
                unit=f" {unit}",
                file=sys.stderr,
                disable=None,
                leave=False,
                delay=1.0,
                dynamic_ncols=True,
            )

    def advance(self, count: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def note(self, label: str) -> None:
        """Name what is being done (e.g. the property searched)."""
        self.label = label
        self._postfix(force=True)

    def call(self) -> None:
        """One call of the verifier."""
        self.calls += 1
        self._postfix()

    def _postfix(self, force: bool = False) -> None:
        if self.bar is None:
            return
        now = time.monotonic()
        if force or now - self._drawn >= REDRAW_S:
            self._drawn = now
            self.bar.set_postfix_str(f"{self.label} {self.calls} verifier calls".strip(), refresh=True)

    def message(self, text: str) -> None:
        """A line on stderr (above the bar), shown whenever progress is enabled."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _alarm_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def with_timeout(fn: Callable[..., Any], seconds: float | None, what: str = "verifier") -> Callable[..., Any]:
    """``fn`` wrapped so that one call longer than ``seconds`` raises :class:`VerifierTimeout`.

    ``seconds`` None or <= 0: ``fn`` itself. See the module doc for how the call is stopped.
    """
    if not seconds or seconds <= 0:
        return fn
    message = f"{what}: one call took longer than the per-call timeout of {seconds:g} s"

    def timed(*args: Any, **kwargs: Any) -> Any:
        if _alarm_available():

            def expire(signum: int, frame: Any) -> None:
                raise VerifierTimeout(message)

            previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                return fn(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            raise VerifierTimeout(message)
        if "error" in box:
            raise box["error"]
        return box["value"]

    return timed
