"""cvxpy+highspy and OR-Tools must import (and solve) in either order.

OR-Tools bundles its own libhighs.so.1; if highspy carries a different HiGHS, whichever is
imported second fails with an undefined-symbol ImportError. Each order runs in a fresh
interpreter, since a process can only load the library once.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CVXPY_HIGHS = """
import cvxpy as cp, highspy
x = cp.Variable(2, nonneg=True)
cp.Problem(cp.Maximize(cp.sum(x)), [x <= 1]).solve(solver=cp.HIGHS)
assert abs(x.value.sum() - 2) < 1e-9
highspy.Highs()
"""

ORTOOLS = """
from ortools.graph.python import max_flow
from ortools.linear_solver import pywraplp
smf = max_flow.SimpleMaxFlow()
smf.add_arc_with_capacity(0, 1, 3)
assert smf.solve(0, 1) == smf.OPTIMAL and smf.optimal_flow() == 3
"""


@pytest.mark.parametrize(
    "first, second", [(CVXPY_HIGHS, ORTOOLS), (ORTOOLS, CVXPY_HIGHS)], ids=["cvxpy-then-ortools", "ortools-then-cvxpy"]
)
def test_both_import_orders_work(first, second):
    out = subprocess.run([sys.executable, "-c", first + second], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_both_oracles_in_one_process():
    code = (
        "from multidraft.reference import solve_lp, solve_maxflow\n"
        "p, q = [0.6, 0.4], [0.5, 0.5]\n"
        "assert abs(solve_maxflow(p, q, 2).acceptance - solve_lp(p, q, 2).alpha_star) < 1e-9\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
