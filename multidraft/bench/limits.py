"""Run a call with a wall-clock limit, so that a slow oracle cannot hang a benchmark.

The call runs in a forked child process (it inherits the parent's imports and data, nothing
is pickled on the way in); the child times the call itself with ``time.perf_counter`` and
sends back a small picklable result. If no answer arrives within the limit the child is
killed and the outcome is ``"> limit"``. A refusal by an oracle's size guard
(:class:`~multidraft.validation.TooLargeError`) is reported as ``"refused"``.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multidraft.validation import TooLargeError

#: Seconds allowed on top of the limit for the fork and the answer to travel.
SLACK_S = 5.0


@dataclass
class Outcome:
    """``status`` is ``"ok"``, ``"> limit"``, ``"refused"`` or ``"error"``; ``value`` the call's result."""

    status: str
    value: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _child(conn: Any, fn: Callable[[], Any]) -> None:
    try:
        conn.send(("ok", fn(), ""))
    except TooLargeError as exc:
        conn.send(("refused", None, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never swallowed
        conn.send(("error", None, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def call_with_limit(fn: Callable[[], Any], limit_s: float) -> Outcome:
    """Run ``fn()`` in a forked process; give up after ``limit_s + SLACK_S`` seconds.

    ``fn`` should measure its own time and return it with its result, so that the fork and
    the transfer are not counted.
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(limit_s + SLACK_S):
            status, value, message = parent.recv()
            return Outcome(status, value, message)
        return Outcome("> limit", message=f"no answer within {limit_s:g} s")
    except EOFError:
        return Outcome("error", message=f"the child process died (exit code {proc.exitcode})")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
